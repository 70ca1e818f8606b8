"""Retention policies over HTTP (GET/PUT per room kind) and on their page: the tenant admin
writes, the auditor reads, everyone else is refused; bad input is a 400 that changes nothing."""

import pytest

from audit.models import AuditRecord
from audit.retention_models import RetentionPolicy
from tests.api_contract import assert_error, user

POLICIES = "/api/v1/t/acme/retention-policies/"


def test_the_admin_reads_and_sets_policies(demo, api):
    api.as_user(user("acme.admin"))
    listed = api.get(POLICIES)
    assert listed.status_code == 200
    assert {(p["room_kind"], p["days"]) for p in listed.json()["results"]} == {("partner", None), ("internal", None)}
    put = api.put(POLICIES + "partner/", {"days": 180}, format="json")
    assert put.status_code == 200, put.content
    assert put.json()["days"] == 180 and put.json()["updated_by"] == "acme.admin"
    assert api.get(POLICIES + "partner/").json()["days"] == 180
    # the same again changes nothing and audits nothing new
    api.put(POLICIES + "partner/", {"days": 180}, format="json")
    assert AuditRecord.objects.filter(action="retention_policy.change").count() == 1
    # forever again
    assert api.put(POLICIES + "partner/", {"days": None}, format="json").json()["days"] is None
    changes = list(AuditRecord.objects.filter(action="retention_policy.change").order_by("seq").values_list("before", "after"))
    assert changes == [({"room_kind": "partner", "days": None}, {"room_kind": "partner", "days": 180}),
                       ({"room_kind": "partner", "days": 180}, {"room_kind": "partner", "days": None})]
    assert changes and AuditRecord.objects.filter(action="retention_policy.change").first().actor_label == "acme.admin"


@pytest.mark.parametrize("payload, field", [
    ({"days": 0}, "days"), ({"days": -5}, "days"), ({"days": 36501}, "days"), ({"days": "30"}, "days"),
    ({"days": 30.5}, "days"), ({"days": True}, "days"), ({"days": [30]}, "days"), ({}, "days"),
    ({"days": 30, "room_kind": "partner"}, "room_kind"), ([30], None), ("30", None),
])
def test_bad_policy_input_is_a_400_and_changes_nothing(demo, api, payload, field):
    api.as_user(user("acme.admin"))
    response = api.put(POLICIES + "partner/", payload, format="json")
    assert_error(response, 400)
    if field:
        assert field in response.json()["error"]["fields"], response.json()
    assert not RetentionPolicy.objects.exists()
    assert not AuditRecord.objects.filter(action__startswith="retention").exists()  # (a login is audited)


@pytest.mark.parametrize("kind", ["spaceship", "PARTNER", "partner2", "x" * 300])
def test_an_unknown_room_kind_is_a_400(demo, api, kind):
    api.as_user(user("acme.admin"))
    assert_error(api.put(f"{POLICIES}{kind}/", {"days": 30}, format="json"), 400)
    assert_error(api.get(f"{POLICIES}{kind}/"), 400)
    assert not RetentionPolicy.objects.exists()


@pytest.mark.parametrize("username, read, write", [
    ("acme.admin", 200, 200), ("acme.auditor", 200, 403), ("acme.buyer", 403, 403), ("acme.finance", 403, 403),
    ("supa.rep", 403, 403), ("bank.officer", 403, 403), ("globex.buyer", 404, 404),
])
def test_who_may_read_and_write_policies(demo, api, username, read, write):
    api.as_user(user(username))
    assert api.get(POLICIES).status_code == read
    assert api.get(POLICIES + "partner/").status_code == read
    assert api.put(POLICIES + "partner/", {"days": 30}, format="json").status_code == write
    assert RetentionPolicy.objects.filter(days=30).exists() == (write == 200)


def test_anonymous_is_401(demo, api):
    assert api.get(POLICIES).status_code == 401


# --- the page --------------------------------------------------------------------------------


def test_the_admin_sets_a_policy_on_the_page(demo, client):
    client.force_login(user("acme.admin"))
    page = client.get("/t/acme/retention/").content.decode()
    assert page.count('data-testid="retention-form"') == 2 and 'data-testid="purge-empty"' in page
    assert client.post("/t/acme/retention/", {"room_kind": "partner", "days": "90"}).status_code == 302
    assert RetentionPolicy.objects.get(room_kind="partner").days == 90
    page = client.get("/t/acme/retention/").content.decode()
    assert 'data-room-kind="partner" data-days="90"' in page
    assert client.post("/t/acme/retention/", {"room_kind": "partner", "days": ""}).status_code == 302
    assert RetentionPolicy.objects.get(room_kind="partner").days is None


@pytest.mark.parametrize("form", [
    {"room_kind": "partner", "days": "0"}, {"room_kind": "partner", "days": "-1"}, {"room_kind": "partner", "days": "abc"},
    {"room_kind": "partner", "days": "99999"}, {"room_kind": "spaceship", "days": "30"}, {"days": "30"},
])
def test_the_page_says_what_is_wrong(demo, client, form):
    client.force_login(user("acme.admin"))
    response = client.post("/t/acme/retention/", form)
    assert response.status_code == 400 and 'data-testid="retention-errors"' in response.content.decode()
    assert not RetentionPolicy.objects.exists()


def test_the_auditor_reads_the_page_without_forms(demo, client):
    client.force_login(user("acme.auditor"))
    page = client.get("/t/acme/retention/").content.decode()
    assert 'data-testid="retention-table"' in page and 'data-testid="retention-read-only"' in page
    assert "<form" not in page.split('data-testid="retention-title"', 1)[1]
    assert client.post("/t/acme/retention/", {"room_kind": "partner", "days": "30"}).status_code == 403
    assert not RetentionPolicy.objects.exists()


@pytest.mark.parametrize("username", ["acme.buyer", "supa.rep", "bank.officer"])
def test_other_members_may_not_open_the_page(demo, client, username):
    client.force_login(user(username))
    assert client.get("/t/acme/retention/").status_code == 403


def test_the_page_lists_purges_and_speaks_chinese(demo, client, monkeypatch):
    from audit import retention
    from tests.audit.test_retention import OLD, days_ago, set_policy
    from tests.messaging.helpers import post, room_of

    room = room_of("acme", "sup-a")
    with days_ago(monkeypatch, OLD):
        post("acme.buyer", room, "old")
    set_policy("partner", 30)
    retention.retention_sweep_tenant(tenant_id=room.tenant_id)
    client.force_login(user("acme.admin"))
    page = client.get("/t/acme/retention/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-testid="purge-row"' in page and "保留策略" in page and "30 天" in page


def test_the_nav_links_the_section_for_admin_and_auditor_only(demo, client):
    for username, shown in (("acme.admin", True), ("acme.auditor", True), ("acme.buyer", False)):
        client.force_login(user(username))
        assert ('data-testid="nav-retention"' in client.get("/t/acme/").content.decode()) is shown, username

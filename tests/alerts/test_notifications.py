"""The header's bell: what it counts (the reader's unread notices in the tenant), the API behind it
(notifications/, notifications/count/, notifications/read/), and the count in every page's header."""

import pytest

from alerts.models import Notification
from tests.alerts.test_alerts import raise_alert
from tests.api_contract import assert_error, user

pytestmark = pytest.mark.django_db

BASE = "/api/v1/t/acme/notifications/"


def unread(username, tenant="acme"):
    return Notification.objects.filter(user__username=username, tenant__slug=tenant, read_at__isnull=True)


def bell_count(html):
    return int(html.split('data-testid="bell-count" data-count="', 1)[1].split('"', 1)[0])


def test_the_bell_counts_my_unread_notices_and_nobody_elses(demo, api, client):
    for key in ("a", "b", "c"):
        raise_alert(demo, key=key)
    raise_alert(demo, key="g", tenant="globex")  # another tenant's: not counted in acme
    assert unread("acme.warehouse").count() == 3
    api.as_user(user("acme.warehouse"))
    assert api.get(BASE + "count/").json() == {"unread": 3}
    client.force_login(user("acme.warehouse"))
    assert bell_count(client.get("/t/acme/").content.decode()) == 3
    # A reader the alerts are not addressed to has a silent bell
    client.force_login(user("acme.buyer"))
    html = client.get("/t/acme/").content.decode()
    assert bell_count(html) == 0 and 'data-testid="bell-count" data-count="0" hidden' in html


def test_marking_some_read_leaves_the_others(demo, api):
    for key in ("a", "b", "c"):
        raise_alert(demo, key=key)
    first, second, third = unread("acme.warehouse").order_by("pk")
    api.as_user(user("acme.warehouse"))
    answer = api.post(BASE + "read/", {"ids": [first.pk, third.pk]}, format="json")
    assert answer.status_code == 200 and answer.json() == {"marked": 2, "unread": 1}
    assert list(unread("acme.warehouse")) == [second]
    listed = api.get(BASE + "?unread=1").json()["results"]
    assert [n["id"] for n in listed] == [second.pk]
    # Marking again changes nothing
    assert api.post(BASE + "read/", {"ids": [first.pk]}, format="json").json() == {"marked": 0, "unread": 1}
    assert api.post(BASE + "read/", {}, format="json").json() == {"marked": 1, "unread": 0}


def test_another_persons_notice_is_never_marked(demo, api):
    raise_alert(demo)  # to acme.warehouse and supa.rep
    theirs = unread("supa.rep").get()
    api.as_user(user("acme.warehouse"))
    assert api.post(BASE + "read/", {"ids": [theirs.pk]}, format="json").json()["marked"] == 0
    assert unread("supa.rep").count() == 1
    # nor one of another tenant, through this tenant or that one
    raise_alert(demo, key="g", tenant="globex")
    globex = unread("supa.rep", "globex").get()
    api.as_user(user("supa.rep"))
    assert api.post(BASE + "read/", {"ids": [globex.pk]}, format="json").json()["marked"] == 0
    assert unread("supa.rep", "globex").count() == 1
    api.as_user(user("acme.warehouse"))
    assert_error(api.post("/api/v1/t/globex/notifications/read/", {}, format="json"), 404)
    assert_error(api.get("/api/v1/t/globex/notifications/count/"), 404)
    assert unread("supa.rep", "globex").count() == 1


@pytest.mark.parametrize("body", [
    {"ids": "1"}, {"ids": ["x"]}, {"ids": [0]}, {"ids": [2**63]}, {"ids": list(range(1, 502))}, {"ids": [None]},
    ["not", "an", "object"],
])
def test_bad_read_requests_are_400_and_change_nothing(demo, api, body):
    raise_alert(demo)
    api.as_user(user("acme.warehouse"))
    assert_error(api.post(BASE + "read/", body, format="json"), 400)
    assert unread("acme.warehouse").count() == 1


def test_the_list_is_paginated_newest_first(demo, api):
    for key in "abcde":
        raise_alert(demo, key=key)
    api.as_user(user("acme.warehouse"))
    page = api.get(BASE + "?unread=1&page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    ids = [n["id"] for n in page["results"]]
    assert ids == sorted(ids, reverse=True)


def test_anonymous_readers_get_401(demo, api):
    assert api.get(BASE + "count/").status_code in (401, 403)
    assert api.post(BASE + "read/", {}, format="json").status_code in (401, 403)


def test_the_bell_says_99_plus_from_100_on(demo, client):
    warehouse, acme = user("acme.warehouse"), demo["tenants"]["acme"]
    Notification.objects.bulk_create(
        [Notification(tenant=acme, user=warehouse, kind="alert", text=f"n{i}") for i in range(105)])
    client.force_login(warehouse)
    html = client.get("/t/acme/").content.decode()
    assert bell_count(html) == 100 and ">99+</span>" in html

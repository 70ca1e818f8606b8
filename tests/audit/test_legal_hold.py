"""Legal holds: what the retention sweep never destroys (an admin's hold on a room or a record, a
message linked to an open or disputed financing application or to an invoice pledged to one), the
holds' API and page, and their audit records."""

import pytest
from django.utils import timezone

from audit import retention
from audit.models import AuditRecord
from audit.retention_models import LegalHold
from finance import services as finance_services
from finance.retention import financing_applications_held
from messaging.chain import chain_verify
from messaging.models import Message
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.models import Tenant
from tests.api_contract import assert_error, user
from tests.audit.test_retention import OLD, days_ago, set_policy
from tests.finance.factories import apply, approve, confirmed_receivable, disburse, funder_approved
from tests.messaging.helpers import post, room_of

HOLDS = "/api/v1/t/acme/legal-holds/"


def acme():
    return Tenant.objects.get(slug="acme")


def place(**kwargs):
    admin = user("acme.admin")
    return retention.legal_hold_place(tenant=acme(), actor=admin, context=tenant_context_for(admin, acme()),
                                      reason=kwargs.pop("reason", "litigation"), **kwargs)


def sweep():
    return retention.retention_sweep_tenant(tenant_id=acme().pk)


def destroyed(message):
    return Message.objects.get(pk=message.pk).destroyed_at is not None


@pytest.fixture
def room(demo):
    return room_of("acme", "sup-a")


def test_an_admin_hold_on_a_room_keeps_its_messages_until_released(room, monkeypatch):
    with days_ago(monkeypatch, OLD):
        old = post("acme.buyer", room, "held words")
    set_policy("partner", 30)
    hold = place(room=room)
    assert sweep() == 0 and not destroyed(old)
    assert chain_verify(room).ok
    # Released (with a reason): the next sweep destroys it
    admin = user("acme.admin")
    retention.legal_hold_release(tenant=acme(), actor=admin, context=tenant_context_for(admin, acme()), hold=hold,
                                 reason="case closed")
    assert sweep() == 1 and destroyed(old) and chain_verify(room).ok
    actions = list(AuditRecord.objects.filter(tenant=acme(), object_kind="legal_hold").values_list("action", "after"))
    assert [a for a, _ in actions] == ["legal_hold.place", "legal_hold.release"]
    assert actions[1][1]["released"] is True and actions[1][1]["release_reason"] == "case closed"


def test_an_admin_hold_on_a_record_keeps_the_messages_linked_to_it(room, monkeypatch):
    from tests.finance.factories import received_po

    po = received_po()
    with days_ago(monkeypatch, OLD):
        linked = post("acme.buyer", room, "about the PO", subject={"kind": "purchase_order", "id": po.number})
        other = post("acme.buyer", room, "about nothing")
    set_policy("partner", 30)
    place(subject_kind="purchase_order", subject_ref=po.number)
    assert sweep() == 1
    assert not destroyed(linked) and destroyed(other)
    assert chain_verify(room).ok


def test_a_message_linked_to_an_open_financing_application_is_kept(demo, monkeypatch):
    # Given an open (requested) application and a chat message about it, in the supplier's room
    application = apply([confirmed_receivable()], "900.00")
    room = room_of("acme", "sup-a")
    with days_ago(monkeypatch, OLD):
        about = post("supa.rep", room, "融资材料", subject={"kind": "financing_application", "id": application.pk})
        invoice_ref = str(application.receivables.first().invoice_id)
        about_invoice = post("supa.rep", room, "发票", subject={"kind": "invoice", "id": invoice_ref})
        plain = post("supa.rep", room, "hello")
    set_policy("partner", 30)
    sweep()
    assert not destroyed(about) and not destroyed(about_invoice) and destroyed(plain)
    # When the application is withdrawn (closed), its messages are no longer held
    rep = user("supa.rep")
    finance_services.financing_withdraw(tenant=acme(), actor=rep, context=tenant_context_for(rep, acme()),
                                        application=application, reason="no longer needed")
    sweep()
    assert destroyed(about) and destroyed(about_invoice)
    assert chain_verify(room).ok


def test_open_or_disputed_means_every_live_state(demo):
    def held():
        return set(financing_applications_held(tenant=acme().pk))

    application = apply([confirmed_receivable()], "900.00")
    assert application.state == "requested" and held() == {str(application.pk)}
    application = approve(application, "acme.finance")
    assert application.state == "core_review" and held() == {str(application.pk)}
    application = approve(application, "acme.cfo")
    assert application.state == "funder_review" and held() == {str(application.pk)}
    disburse(approve(application, "bank.officer"))
    application.refresh_from_db()
    assert application.state == "disbursed" and held() == {str(application.pk)}
    type(application).objects.filter(pk=application.pk).update(state="overdue", overdue_at=timezone.now())
    assert held() == {str(application.pk)}
    type(application).objects.filter(pk=application.pk).update(state="repaid", repaid_at=timezone.now())
    assert held() == set()
    # disputed, even from repaid: held again until settled
    finance_services.financing_dispute(tenant=acme(), actor=user("bank.officer"),
                                       context=tenant_context_for(user("bank.officer"), acme()),
                                       application=application, reason="not received")
    assert held() == {str(application.pk)}


def test_a_disputed_repaid_applications_messages_survive_the_sweep_until_settled(demo, monkeypatch):
    # Given a repaid application, and old chat about it and about its invoice, in the supplier's room
    application = funder_approved()
    disburse(application)
    finance, rep = user("acme.finance"), user("supa.rep")
    finance_services.financing_repay(tenant=acme(), actor=finance, context=tenant_context_for(finance, acme()),
                                     application=application)
    room = room_of("acme", "sup-a")
    with days_ago(monkeypatch, OLD):
        about = post("supa.rep", room, "还款金额有争议", subject={"kind": "financing_application", "id": application.pk})
        invoice_ref = str(application.receivables.first().invoice_id)
        about_invoice = post("supa.rep", room, "发票金额", subject={"kind": "invoice", "id": invoice_ref})
        plain = post("supa.rep", room, "hello")
    set_policy("partner", 30)
    # When the applicant disputes the repayment, the sweep keeps what is linked to it
    finance_services.financing_dispute(tenant=acme(), actor=rep, context=tenant_context_for(rep, acme()),
                                       application=application, reason="还款少了 100")
    sweep()
    assert not destroyed(about) and not destroyed(about_invoice) and destroyed(plain)
    assert chain_verify(room).ok
    # Then, settled back to repaid, the next sweep destroys them: they are old enough
    application = finance_services.financing_dispute_settle(
        tenant=acme(), actor=finance, context=tenant_context_for(finance, acme()), application=application,
        resolution="银行回单显示已足额还款")
    assert application.state == "repaid"
    sweep()
    assert destroyed(about) and destroyed(about_invoice)
    assert chain_verify(room).ok


# --- the API ---------------------------------------------------------------------------------


def test_the_admin_places_lists_and_releases_holds(room, api):
    api.as_user(user("acme.admin"))
    created = api.post(HOLDS, {"room": room.pk, "reason": "诉讼保全"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["room"] == room.pk and body["active"] is True and body["placed_by"] == "acme.admin"
    record = api.post(HOLDS, {"subject": {"kind": "purchase_order", "id": "PO-1"}, "reason": "audit"}, format="json")
    assert record.status_code == 201 and record.json()["subject"] == {"kind": "purchase_order", "id": "PO-1"}
    listed = api.get(HOLDS).json()["results"]
    assert {h["id"] for h in listed} == {body["id"], record.json()["id"]}
    released = api.post(f"{HOLDS}{body['id']}/release/", {"reason": "done"}, format="json")
    assert released.status_code == 200 and released.json()["active"] is False
    assert released.json()["release_reason"] == "done" and released.json()["released_by"] == "acme.admin"
    assert [h["id"] for h in api.get(HOLDS + "?active=true").json()["results"]] == [record.json()["id"]]
    assert [h["id"] for h in api.get(HOLDS + "?active=false").json()["results"]] == [body["id"]]
    assert api.get(f"{HOLDS}{body['id']}/").json()["active"] is False
    # released twice: a conflict, nothing changed
    assert_error(api.post(f"{HOLDS}{body['id']}/release/", {"reason": "again"}, format="json"), 409)
    assert AuditRecord.objects.filter(action="legal_hold.release").count() == 1


@pytest.mark.parametrize("payload, field", [
    ({"reason": "x"}, "room"),  # neither room nor record
    ({"room": 1, "subject": {"kind": "purchase_order", "id": "PO-1"}, "reason": "x"}, "room"),  # both
    ({"subject": {"kind": "spaceship", "id": "1"}, "reason": "x"}, "subject_kind"),
    ({"subject": {"kind": "purchase_order", "id": ""}, "reason": "x"}, "subject"),
    ({"subject": {"kind": "purchase_order"}, "reason": "x"}, "subject"),
    ({"subject": "PO-1", "reason": "x"}, "subject"),
    ({"room": "abc", "reason": "x"}, "room"),
    ({"room": True, "reason": "x"}, "room"),
    ({"room": 10**12, "reason": "x"}, "room"),  # no such room
    ({"room": None, "reason": "x"}, "room"),
    ({"room": "ROOM", "reason": ""}, "reason"),
    ({"subject": {"kind": "purchase_order", "id": "PO-1"}}, "reason"),
    ({"subject": {"kind": "purchase_order", "id": "PO-1"}, "reason": "   "}, "reason"),
    ({"subject": {"kind": "purchase_order", "id": "PO-1"}, "reason": 5}, "reason"),
    ({"subject": {"kind": "purchase_order", "id": "PO-1"}, "reason": "x" * 2001}, "reason"),
    ({"subject": {"kind": "purchase_order", "id": "PO-1"}, "reason": "x", "extra": 1}, "extra"),
])
def test_bad_hold_input_is_a_400_and_changes_nothing(room, api, payload, field):
    api.as_user(user("acme.admin"))
    if payload.get("room") == "ROOM":
        payload = {**payload, "room": room.pk}
    response = api.post(HOLDS, payload, format="json")
    assert_error(response, 400)
    assert field in response.json()["error"]["fields"], response.json()
    assert not LegalHold.objects.exists() and not AuditRecord.objects.filter(object_kind="legal_hold").exists()


def test_another_tenants_room_cannot_be_held(room, api):
    globex_room = room_of("globex", "sup-a")
    api.as_user(user("acme.admin"))
    assert_error(api.post(HOLDS, {"room": globex_room.pk, "reason": "x"}, format="json"), 400)
    assert not LegalHold.objects.exists()


def test_release_needs_a_reason(room, api):
    hold = place(room=room)
    api.as_user(user("acme.admin"))
    for payload in ({}, {"reason": ""}, {"reason": 3}, {"reason": "ok", "more": 1}):
        assert_error(api.post(f"{HOLDS}{hold.pk}/release/", payload, format="json"), 400)
    assert LegalHold.objects.get(pk=hold.pk).active


@pytest.mark.parametrize("username, read, write", [
    ("acme.auditor", 200, 403), ("acme.buyer", 403, 403), ("acme.finance", 403, 403), ("supa.rep", 403, 403),
    ("globex.buyer", 404, 404),
])
def test_who_may_read_and_write_holds(room, api, username, read, write):
    hold = place(room=room)
    api.as_user(user(username))
    assert api.get(HOLDS).status_code == read
    assert api.get(f"{HOLDS}{hold.pk}/").status_code == read
    assert api.post(HOLDS, {"room": room.pk, "reason": "x"}, format="json").status_code == write
    assert api.post(f"{HOLDS}{hold.pk}/release/", {"reason": "x"}, format="json").status_code == write
    assert LegalHold.objects.count() == 1 and LegalHold.objects.get().active


# --- the page --------------------------------------------------------------------------------


def test_the_holds_page_places_and_releases_for_the_admin(room, client):
    client.force_login(user("acme.admin"))
    page = client.get("/t/acme/retention/holds/").content.decode()
    assert 'data-testid="hold-form"' in page and 'data-testid="holds-empty"' in page
    response = client.post("/t/acme/retention/holds/", {"target": "room", "room": room.pk, "reason": "诉讼"})
    assert response.status_code == 302
    hold = LegalHold.objects.get()
    page = client.get("/t/acme/retention/holds/").content.decode()
    assert 'data-testid="hold-row"' in page and "诉讼" in page and 'data-testid="hold-release-form"' in page
    assert client.post(f"/t/acme/retention/holds/{hold.pk}/release/", {"reason": ""}).status_code == 400
    assert client.post(f"/t/acme/retention/holds/{hold.pk}/release/", {"reason": "结案"}).status_code == 302
    assert not LegalHold.objects.get().active


@pytest.mark.parametrize("form, error", [
    ({"target": "room", "room": "", "reason": "x"}, "Unknown room."),
    ({"target": "record", "subject_kind": "purchase_order", "subject_ref": "", "reason": "x"}, "Hold either"),
    ({"target": "record", "subject_kind": "nope", "subject_ref": "1", "reason": "x"}, "Unknown subject kind."),
    ({"target": "record", "subject_kind": "purchase_order", "subject_ref": "PO-1", "reason": ""}, "Give a reason"),
])
def test_the_holds_page_says_what_is_wrong(room, client, form, error):
    client.force_login(user("acme.admin"))
    response = client.post("/t/acme/retention/holds/", form)
    assert response.status_code == 400 and error in response.content.decode()
    assert not LegalHold.objects.exists()


def test_the_auditor_reads_holds_without_forms(room, client):
    place(room=room)
    client.force_login(user("acme.auditor"))
    page = client.get("/t/acme/retention/holds/").content.decode()
    assert 'data-testid="hold-row"' in page and 'data-testid="holds-read-only"' in page
    assert "<form" not in page.split('data-testid="holds-title"', 1)[1]
    assert client.post("/t/acme/retention/holds/", {"target": "room", "room": room.pk, "reason": "x"}).status_code == 403
    hold = LegalHold.objects.get()
    assert client.post(f"/t/acme/retention/holds/{hold.pk}/release/", {"reason": "x"}).status_code == 403
    client.force_login(user("acme.buyer"))
    assert client.get("/t/acme/retention/holds/").status_code == 403


def test_the_holds_page_in_chinese(room, client):
    client.force_login(user("acme.admin"))
    page = client.get("/t/acme/retention/holds/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "法律保留" in page and "放置保留" in page

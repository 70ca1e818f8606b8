"""Every audited act lands in its tenant's audit log, before → after, with no secret in it; an act
that fails leaves no record; the chain still verifies after all of them."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from alerts import services as alert_services
from audit.chain import audit_chain_verify
from audit.models import AuditRecord
from finance import services as finance_services
from orders.models import IllegalTransition
from orders.services.receipts import quality_hold_release, receipt_create
from scm_portal.tenancy import services as tenancy
from scm_portal.tenancy.models import Membership, Organization
from scm_portal.tenancy.roles import Role
from tests.api_contract import user
from tests.factories import UserFactory
from tests.finance import factories as fin
from tests.orders.factories_logistics import confirmed_po, context_of, ship
from tests.orders.helpers import create, make_catalogue, move

pytestmark = pytest.mark.django_db


def records(tenant, **filters):
    return list(AuditRecord.objects.filter(tenant=tenant, **filters).order_by("seq"))


def actions(tenant, **filters):
    return [r.action for r in records(tenant, **filters)]


def last(tenant, action):
    return AuditRecord.objects.filter(tenant=tenant, action=action).order_by("-seq").first()


class TestStateTransitions:
    def test_purchase_order_lifecycle(self, demo):
        make_catalogue(demo)
        acme = demo["tenants"]["acme"]
        order = create()
        order = move("send", order, "acme.buyer")
        order = move("confirm", order, "supa.rep", answers=[{"line": 1, "promised_date": "2026-12-30"}])
        order = move("accept_change", order, "acme.buyer")
        order = move("cancel", order, "acme.buyer", reason="no longer needed")
        assert actions(acme, object_kind="purchase_order", object_ref=order.number) == [
            "purchase_order.send", "purchase_order.request_change", "purchase_order.accept_change",
            "purchase_order.cancel",
        ]
        send, change, accept, cancel = records(acme, object_ref=order.number)
        assert (send.before, send.after["state"], send.actor_label) == ({"state": "draft"}, "sent", "acme.buyer")
        assert change.before == {"state": "sent"} and change.after["state"] == "change_requested"
        assert change.after["changes"] == [{"line": 1, "answer": "change"}] and change.actor_label == "supa.rep"
        assert accept.after["state"] == "confirmed" and cancel.after["state"] == "cancelled"
        assert audit_chain_verify(acme).ok

    def test_a_refused_transition_leaves_no_record(self, demo):
        make_catalogue(demo)
        acme = demo["tenants"]["acme"]
        order = move("send", create(), "acme.buyer")
        before = AuditRecord.objects.filter(tenant=acme).count()
        with pytest.raises(IllegalTransition):  # sent already
            move("send", order, "acme.buyer")
        assert AuditRecord.objects.filter(tenant=acme).count() == before

    def test_shipment_receipt_and_quality_hold(self, demo):
        acme, orgs = demo["tenants"]["acme"], demo["organizations"]
        order = confirmed_po(acme, orgs["sup-a"], lines=((10, "SKU-L1"),))
        shipment = ship(acme, order)
        assert last(acme, "purchase_order.ship").before == {"state": "confirmed"}
        assert last(acme, "purchase_order.ship").after["shipment"] == shipment.number
        assert last(acme, "shipment.create").object_ref == shipment.number
        actor, context = context_of("acme.warehouse", acme)
        receipt_create(tenant=acme, actor=actor, context=context, order=order,
                       lines=[{"line": 1, "quantity": 10, "inspection": "fail", "lot": "LOT-9"}])
        received = last(acme, "purchase_order.receive")
        assert (received.before, received.after["state"]) == ({"state": "shipped"}, "received")
        hold = last(acme, "quality_hold.hold")
        assert hold.after == {"state": "held", "purchase_order": order.number, "lot": "LOT-9"}
        from orders.models import QualityHold

        quality_hold_release(tenant=acme, actor=actor, context=context, hold=QualityHold.objects.get(pk=hold.object_ref),
                             reason="re-inspected")
        released = last(acme, "quality_hold.release")
        assert (released.before, released.after["state"], released.actor_label) == ({"state": "held"}, "released", "acme.warehouse")
        assert audit_chain_verify(acme).ok

    def test_invoice_receivable_and_financing(self, demo):
        acme = demo["tenants"]["acme"]
        receivable = fin.confirmed_receivable("1000.00")
        assert last(acme, "invoice.create").after["amount"] == "1000.00"
        confirm = last(acme, "receivable.confirm")
        assert (confirm.object_ref, confirm.before, confirm.after["state"]) == (str(receivable.pk), {"state": "pending"}, "confirmed")
        application = fin.apply([receivable], "700.00")
        for username in ("acme.finance", "acme.cfo", "bank.officer"):
            application = fin.approve(application, username)
        fin.disburse(application)
        actor, context = fin.ctx("acme.finance")
        application.refresh_from_db()
        finance_services.financing_repay(tenant=acme, actor=actor, context=context, application=application)
        trail = records(acme, object_kind="financing_application", object_ref=str(application.pk))
        assert [(r.action, (r.before or {}).get("state"), r.after["state"]) for r in trail] == [
            ("financing_application.apply", None, "requested"),
            ("financing_application.approve", "requested", "core_review"),
            ("financing_application.approve", "core_review", "funder_review"),
            ("financing_application.approve", "funder_review", "funder_review"),
            ("financing_application.disburse", "funder_review", "disbursed"),
            ("financing_application.repay", "disbursed", "repaid"),
        ]
        assert [r.actor_label for r in trail] == ["supa.rep", "acme.finance", "acme.cfo", "bank.officer", "bank.officer",
                                                  "acme.finance"]
        assert trail[0].after["amount"] == "700.00"  # money as a string, never a float

    def test_overdue_is_the_systems_act(self, demo):
        acme = demo["tenants"]["acme"]
        application = fin.funder_approved()
        fin.disburse(application)
        finance_services.financing_overdue_sweep(today=application.maturity_date + timezone.timedelta(days=1))
        overdue = last(acme, "financing_application.overdue")
        assert overdue.actor_id is None and overdue.after["state"] == "overdue"

    def test_alert_acts_of_a_person_are_audited_the_systems_are_not(self, demo):
        acme = demo["tenants"]["acme"]
        alert, _created = alert_services.alert_raise(
            tenant=acme, kind="low_stock", severity=20, dedupe_key="k-audit", title="SKU-9", subject_kind="sku",
            subject_ref="SKU-9", partner=demo["organizations"]["sup-a"], core_audience=("warehouse",))
        assert not AuditRecord.objects.filter(tenant=acme, object_kind="alert").exists()
        actor, context = context_of("acme.warehouse", acme)
        for service in (alert_services.alert_acknowledge, alert_services.alert_start, alert_services.alert_resolve):
            alert = service(tenant=acme, actor=actor, context=context, alert=alert)
        assert [(r.action, r.before, r.after["state"]) for r in records(acme, object_kind="alert")] == [
            ("alert.acknowledge", {"state": "open"}, "acknowledged"),
            ("alert.start", {"state": "acknowledged"}, "in_progress"),
            ("alert.resolve", {"state": "in_progress"}, "resolved"),
        ]


class TestPermissionsAndMemberships:
    def test_membership_and_partnership_changes(self, demo):
        acme = demo["tenants"]["acme"]
        admin = user("acme.admin")
        newcomer = UserFactory(username="new.planner")
        membership = tenancy.membership_create(tenant=acme, actor=admin, user=newcomer, organization=acme.organization,
                                               role=Role.PLANNER)
        tenancy.membership_create(tenant=acme, actor=admin, user=newcomer, organization=acme.organization, role=Role.PLANNER)
        tenancy.membership_set_active(tenant=acme, actor=admin, membership=membership, active=False)
        created, suspended = records(acme, object_kind="membership", object_ref=str(membership.pk))  # the repeat: no record
        assert created.action == "membership.create" and created.actor_label == "acme.admin"
        assert created.after == {"active": True, "user": "new.planner", "organization": "acme", "role": "planner"}
        assert (suspended.action, suspended.before, suspended.after["active"]) == ("membership.suspend", {"active": True}, False)

        partnership = acme.partnerships.get(organization__slug="sup-b")
        tenancy.partnership_set_active(tenant=acme, actor=admin, partnership=partnership, active=False)
        record = last(acme, "partnership.suspend")
        assert (record.object_ref, record.before, record.after) == ("sup-b", {"active": True}, {"active": False, "kind": "supplier"})

    def test_invitations_sent_accepted_declined_without_their_token(self, demo):
        acme = demo["tenants"]["acme"]
        admin = user("acme.admin")
        invitee = UserFactory(username="invited.one")
        invitation, token = tenancy.invitation_create_member(tenant=acme, actor=admin, invitee="invited.one",
                                                             organization=acme.organization, role=Role.BUYER)
        tenancy.invitation_accept(invitation=invitation, actor=invitee)
        other, other_token = tenancy.invitation_create_partner(tenant=acme, actor=admin, organization_slug="newco",
                                                               kind="supplier")
        Organization.objects.create(slug="newco", name="NewCo", kind="supplier")
        rep = UserFactory(username="newco.rep")
        tenancy.membership_create(tenant=demo["tenants"]["globex"], actor=None, user=rep,
                                  organization=demo["tenants"]["globex"].organization, role=Role.BUYER)
        trail = records(acme, object_kind="invitation")
        assert [(r.object_ref, r.action) for r in trail] == [
            (str(invitation.pk), "invitation.create"), (str(invitation.pk), "invitation.accept"),
            (str(other.pk), "invitation.create"),
        ]
        assert trail[0].after["invitee"] == "invited.one" and trail[1].actor_label == "invited.one"
        assert last(acme, "membership.create").after["user"] == "invited.one"
        dumped = json.dumps([[r.before, r.after] for r in records(acme)])
        assert token not in dumped and other_token not in dumped and invitation.token_hash not in dumped
        tenancy.invitation_revoke(tenant=acme, actor=admin, invitation=other)
        assert last(acme, "invitation.revoke").before == {"state": "pending"}

    def test_declined_invitation(self, demo):
        acme = demo["tenants"]["acme"]
        invitee = UserFactory(username="shy.one")
        invitation, _token = tenancy.invitation_create_member(tenant=acme, actor=user("acme.admin"), invitee="shy.one",
                                                              organization=acme.organization, role=Role.BUYER)
        tenancy.invitation_decline(invitation=invitation, actor=invitee)
        record = last(acme, "invitation.decline")
        assert (record.actor_label, record.after) == ("shy.one", {"state": "declined"})

    def test_escalation_policy_and_replenishment_rule_changes(self, demo):
        acme = demo["tenants"]["acme"]
        admin = user("acme.admin")
        levels = [{"after_seconds": 60, "roles": ["planner"], "users": [], "channels": ["in_app"]}]
        policy = alert_services.escalation_policy_save(tenant=acme, actor=admin, name="p", kind="", min_severity=10,
                                                       levels=levels, active=True)
        alert_services.escalation_policy_save(tenant=acme, actor=admin, policy=policy, active=False)
        created, updated = records(acme, object_kind="escalation_policy")
        assert created.before is None and created.after["levels"] == levels
        assert updated.before["active"] is True and updated.after["active"] is False

        from inventory.services import rule_upsert
        from tests.orders.factories_logistics import sku_of, warehouse_of

        sku, warehouse = sku_of(acme, "SKU-R1"), warehouse_of(acme)
        rule_upsert(tenant=acme, actor=admin, sku=sku, warehouse=warehouse, safety_stock=10, reorder_point=20)
        rule_upsert(tenant=acme, actor=admin, sku=sku, warehouse=warehouse, safety_stock=5)
        first, second = records(acme, object_kind="replenishment_rule")
        assert first.action == "replenishment_rule.create" and first.object_ref == f"SKU-R1@{warehouse.code}"
        assert (second.before["safety_stock"], second.after["safety_stock"]) == (10, 5)


class TestLogins:
    def test_login_and_logout_go_to_each_tenant_of_the_user(self, demo, client):
        acme, globex = demo["tenants"]["acme"], demo["tenants"]["globex"]
        response = client.post("/accounts/login/", {"username": "supa.rep", "password": "demo12345"},
                               REMOTE_ADDR="10.0.0.7")  # a rep of acme and of globex
        assert response.status_code == 302
        for tenant in (acme, globex):
            record = last(tenant, "auth.login")
            assert (record.actor_label, record.object_ref, record.ip) == ("supa.rep", "supa.rep", "10.0.0.7")
        client.post("/accounts/logout/")
        assert last(acme, "auth.logout").actor_label == "supa.rep" and last(globex, "auth.logout")

    def test_token_login_is_a_login(self, demo, api):
        response = api.post("/api/v1/auth/token/", {"username": "acme.auditor", "password": "demo12345"}, format="json")
        assert response.status_code == 200
        assert last(demo["tenants"]["acme"], "auth.login").actor_label == "acme.auditor"
        assert not AuditRecord.objects.filter(tenant=demo["tenants"]["globex"], actor_label="acme.auditor").exists()

    def test_failed_login_of_a_known_user_names_the_account_never_the_password(self, demo, client):
        acme = demo["tenants"]["acme"]
        client.post("/accounts/login/", {"username": "acme.buyer", "password": "wrong-password-123"})
        record = last(acme, "auth.login_failed")
        assert record.object_ref == "acme.buyer" and record.actor_id is None
        assert "wrong-password-123" not in json.dumps([record.before, record.after, record.object_ref])

    def test_failed_login_of_an_unknown_name_goes_nowhere(self, demo, client):
        count = AuditRecord.objects.count()
        client.post("/accounts/login/", {"username": "my-secret-password", "password": "x"})
        assert AuditRecord.objects.count() == count

    def test_a_login_of_a_user_without_membership_is_not_recorded(self, demo, client):
        UserFactory(username="loner", password="demo12345")
        count = AuditRecord.objects.count()
        assert not Membership.objects.filter(user__username="loner").exists()
        assert client.post("/accounts/login/", {"username": "loner", "password": "demo12345"}).status_code == 302
        assert AuditRecord.objects.count() == count


def test_the_chain_of_every_tenant_verifies_after_all_of_it(demo):
    fin.funder_approved()
    for tenant in demo["tenants"].values():
        assert audit_chain_verify(tenant).ok


def test_audit_record_refuses_nothing_it_is_given_but_stores_json(demo):
    # A Decimal or a date in a before/after is stored as the string JSON gives back (the hash holds).
    from datetime import date
    from decimal import Decimal

    from audit.services import audit_record

    acme = demo["tenants"]["acme"]
    record = audit_record(tenant=acme, actor=None, action="x.y", after={"d": date(2026, 1, 2), "m": Decimal("1.10")})
    record.refresh_from_db()
    assert record.after == {"d": "2026-01-02", "m": "1.10"}
    assert audit_chain_verify(acme).ok
    with pytest.raises(ValidationError):
        tenancy.membership_create(tenant=acme, actor=None, user=user("acme.buyer"), organization=acme.organization,
                                  role="nonsense")


class TestSecondFactor:
    def test_enrolment_is_recorded_without_its_secret(self, demo):
        from scm_portal.tenancy import totp

        acme = demo["tenants"]["acme"]
        secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        totp.totp_enroll(user=user("acme.finance"), secret=secret)
        record = last(acme, "auth.totp_enroll")
        assert record.actor_label == "acme.finance" and record.object_ref == "acme.finance"
        assert secret not in json.dumps([r.before for r in records(acme)] + [r.after for r in records(acme)])

    def test_a_failed_code_is_recorded_and_a_good_one_is_not(self, demo, api):
        import pyotp

        from scm_portal.tenancy.demo import DEFAULT_TOTP_SECRET

        acme = demo["tenants"]["acme"]
        api.as_user(user("acme.cfo"))
        assert api.post("/api/v1/auth/totp/", {"code": "000000"}, format="json").status_code == 400
        failed = last(acme, "auth.totp_failed")
        assert failed.actor_label == "acme.cfo" and "000000" not in json.dumps([failed.before, failed.after])
        count = AuditRecord.objects.filter(tenant=acme, action="auth.totp_failed").count()
        assert api.post("/api/v1/auth/totp/", {"code": pyotp.TOTP(DEFAULT_TOTP_SECRET).now()}, format="json").status_code == 200
        assert AuditRecord.objects.filter(tenant=acme, action="auth.totp_failed").count() == count

"""Finance approvers follow the supplier's room, where financing is talked through
(scm_portal.tenancy.services FOLLOWERS_BY_KIND): their queue and the application page show what the
supplier says there about the application, what they write there reaches the supplier, the cards
addressed to other roles there (stock alerts) stay out of their sight, and databases from before
this get the follow through the data migration tenancy 0004."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from alerts.models import Notification
from messaging.models import Message, Room
from messaging.selectors import room_list
from scm_portal.tenancy import services as tenancy
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.models import Partnership, PartnershipGroupObjectPermission, Tenant
from scm_portal.tenancy.roles import role_group_name
from tests.api_contract import user
from tests.finance.factories import apply, confirmed_receivable
from tests.finance.test_actions import APPROVE, REJECT, buttons, card, verify
from tests.inventory.helpers import ingest, movement, stock_world
from tests.messaging.helpers import post, room_of

pytestmark = pytest.mark.django_db

F = "/t/acme/financing/"
MIGRATION = "0004_finance_approvers_follow_suppliers"


def rooms(username, tenant="acme"):
    who, tenant = user(username), Tenant.objects.get(slug=tenant)
    return {room.pk for room in room_list(who, tenant, context=tenant_context_for(who, tenant))}


def listed(api, username, room):
    response = api.as_user(user(username)).get(f"/api/v1/t/{room.tenant.slug}/rooms/{room.pk}/messages/")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_finance_approvers_follow_every_supplier_and_the_funder(demo):
    for username in ("acme.finance", "acme.cfo"):
        assert {room_of("acme", "sup-a").pk, room_of("acme", "sup-b").pk, room_of("acme", "bank").pk} <= rooms(username)
    # a supplier partner made from now on is followed by them as well
    acme = demo["tenants"]["acme"]
    newcomer = tenancy.organization_create(slug="sup-new", name="新供应商", kind="supplier")
    tenancy.partnership_create(tenant=acme, actor=None, organization=newcomer, kind="supplier")
    Room.objects.get_or_create(tenant=acme, kind="partner", partnership=Partnership.objects.get(organization=newcomer),
                               defaults={"name": "新供应商"})
    assert room_of("acme", "sup-new").pk in rooms("acme.finance")


def test_the_approvers_read_and_write_in_the_suppliers_room_about_the_application(demo, client):
    application = apply([confirmed_receivable()], "900.00")
    # Given the supplier's rep asks about it from the application page (it goes to the supplier's room)
    client.force_login(user("supa.rep"))
    assert client.post(f"{F}{application.pk}/comment/", {"body": "请尽快审批,月底要付工资"}).status_code == 302
    asked = Message.objects.get(kind="chat", subject_ref=str(application.pk), sender__username="supa.rep")
    assert asked.room == room_of("acme", "sup-a")

    # Then both approvers see it with the amounts: in their queue, and on the application's page
    for username in ("acme.finance", "acme.cfo"):
        client.force_login(user(username))
        queue = client.get(F + "approvals/").content.decode()
        item = queue.split(f'data-testid="fa-queue-item" data-id="{application.pk}"')[1].split("</article>")[0]
        assert "请尽快审批,月底要付工资" in item and "900.00" in item
        assert "请尽快审批,月底要付工资" in client.get(f"{F}{application.pk}/").content.decode()

    # And an approver's answer goes to the supplier's room, where the supplier reads it
    client.force_login(user("acme.finance"))
    assert client.post(f"{F}{application.pk}/comment/", {"body": "已收到,今天处理"}).status_code == 302
    answer = Message.objects.get(kind="chat", subject_ref=str(application.pk), sender__username="acme.finance")
    assert answer.room == room_of("acme", "sup-a")
    client.force_login(user("supa.rep"))
    assert "已收到,今天处理" in client.get(f"{F}{application.pk}/").content.decode()


def test_the_approvers_are_offered_the_buttons_on_the_suppliers_card_too_and_the_supplier_is_not(demo, api):
    application = apply([confirmed_receivable()], "900.00")
    verify("acme.finance")
    supplier_card = card(application, "requested", org="sup-a")
    assert buttons(api, "acme.finance", supplier_card) == {APPROVE: True, REJECT: True}
    assert buttons(api, "supa.rep", supplier_card) == {}
    assert buttons(api, "acme.buyer", supplier_card) == {}  # follows the room, decides nothing


def test_cards_addressed_to_other_roles_in_the_suppliers_room_stay_out_of_the_approvers_sight(demo, api):
    # Given a stock alert of sup-a (addressed to warehouse, buyer, planner...) and a chat line in its room
    stock_world(demo, safety=500, reorder=0, opening=600)
    ingest(demo["tenants"]["acme"], [movement(delta=-200)])
    room = room_of("acme", "sup-a")
    post("supa.rep", room, "下周一到货")

    def low_stock(username):
        return [m for m in listed(api, username, room) if (m["payload"] or {}).get("kind") == "low_stock"]

    assert low_stock("acme.warehouse") and low_stock("supa.rep")
    # Then the approvers read the room's conversation but not the stock cards, and are not told of the alert
    for username in ("acme.finance", "acme.cfo"):
        assert "下周一到货" in [m["body"] for m in listed(api, username, room)]
        assert low_stock(username) == []
        assert not Notification.objects.filter(user__username=username, alert__kind="low_stock").exists()


# --- the data migration --------------------------------------------------------------------------


def migration_apps():
    """The models as they were at the migration (the historical models it runs with)."""
    return MigrationLoader(connection).project_state(("tenancy", MIGRATION)).apps


def approver_grants():
    return set(PartnershipGroupObjectPermission.objects.filter(
        group__name__endswith=":finance_approver", permission__codename="follow_partnership",
        content_object__kind="supplier").values_list("group__name", "content_object_id"))


def test_the_migration_grants_the_follow_on_existing_supplier_partnerships_and_reverses(demo):
    migration = importlib.import_module(f"scm_portal.tenancy.migrations.{MIGRATION}")
    suppliers = list(Partnership.objects.filter(kind="supplier").values_list("tenant_id", "pk"))
    expected = {(role_group_name(tenant_id, "finance_approver"), pk) for tenant_id, pk in suppliers}
    assert len(expected) >= 3  # acme's sup-a and sup-b, globex's sup-a
    # Given a database from before: no approver group follows a supplier, one approver follows sup-a himself
    PartnershipGroupObjectPermission.objects.filter(group__name__endswith=":finance_approver",
                                                    content_object__kind="supplier").delete()
    acme = demo["tenants"]["acme"]
    sup_a = Partnership.objects.get(tenant=acme, organization__slug="sup-a")
    tenancy.partnership_follow(tenant=acme, actor=None, partnership=sup_a, user=user("acme.cfo"))
    assert approver_grants() == set() and room_of("acme", "sup-b").pk not in rooms("acme.finance")
    others = set(PartnershipGroupObjectPermission.objects.values_list("pk", flat=True))

    # When it migrates forward (twice: a second run changes nothing)
    migration.grant(migration_apps(), None)
    migration.grant(migration_apps(), None)

    # Then each tenant's approver group follows each of its suppliers, and nothing else changed
    assert approver_grants() == expected
    assert others <= set(PartnershipGroupObjectPermission.objects.values_list("pk", flat=True))
    assert {room_of("acme", "sup-a").pk, room_of("acme", "sup-b").pk} <= rooms("acme.finance")
    assert room_of("globex", "sup-a").pk not in rooms("acme.finance")  # another tenant's supplier, never

    # And migrating back takes exactly those grants away: the funder's and a user's own follow stay
    migration.revoke(migration_apps(), None)
    assert approver_grants() == set()
    assert set(PartnershipGroupObjectPermission.objects.values_list("pk", flat=True)) == others
    assert room_of("acme", "sup-b").pk not in rooms("acme.finance") and room_of("acme", "bank").pk in rooms("acme.finance")
    assert room_of("acme", "sup-a").pk in rooms("acme.cfo")


def test_the_migration_on_a_database_without_partnerships_does_nothing(db):
    migration = importlib.import_module(f"scm_portal.tenancy.migrations.{MIGRATION}")
    migration.grant(migration_apps(), None)
    migration.revoke(migration_apps(), None)
    assert not PartnershipGroupObjectPermission.objects.exists()


def test_an_approver_reading_both_rooms_sees_each_card_once(demo, client):
    application = apply([confirmed_receivable()], "900.00")
    cards = Message.objects.filter(subject_kind="financing_application", subject_ref=str(application.pk), kind="event")
    assert {m.room_id for m in cards} == {room_of("acme", "sup-a").pk, room_of("acme", "bank").pk}
    for username in ("acme.finance", "supa.rep", "bank.officer"):
        client.force_login(user(username))
        html = client.get(f"{F}{application.pk}/").content.decode()
        assert html.count('data-testid="fa-message" data-kind="event"') == 1, username
    client.force_login(user("acme.finance"))
    queue = client.get(F + "approvals/").content.decode()
    assert queue.count('data-testid="fa-message" data-kind="event"') == 1 and "Conversation (1 message)" in queue

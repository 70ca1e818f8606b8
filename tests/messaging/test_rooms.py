"""Who sees which room: partner rooms per supplier, internal rooms, direct grants."""

import pytest
from guardian.shortcuts import assign_perm

from messaging.models import Room
from messaging.selectors import room_list
from scm_portal.tenancy import services as tenancy_services
from scm_portal.tenancy.models import Membership, Partnership
from tests.api_contract import TenantCreateChecks, assert_error, user
from tests.messaging.helpers import post, room_of

pytestmark = pytest.mark.django_db


def names(username, tenant="acme"):
    u = user(username)
    from scm_portal.tenancy.models import Tenant

    from scm_portal.tenancy.access import tenant_context_for

    tenant = Tenant.objects.get(slug=tenant)
    return sorted(r.name for r in room_list(u, tenant, context=tenant_context_for(u, tenant)))


class TestRoomsEndpoint(TenantCreateChecks):
    path = "rooms/"
    viewer = "acme.buyer"
    no_role_user = "acme.buyer"
    model = Room
    create_payload = {"name": "采购小组", "team_role": "buyer"}

    def foreign_object_id(self, demo):
        return room_of("globex", "sup-a").pk

    def own_object_id(self, demo):
        return room_of("acme", "sup-a").pk

    # Rooms are not paginated (a user sees tens): the shared list check expects {"results"}.
    def test_viewer_lists_and_reads_own_tenant(self, demo, api):
        api.as_user(user(self.viewer))
        rows = api.get(self.url()).json()
        assert self.own_object_id(demo) in [r["id"] for r in rows]
        assert api.get(self.url(pk=self.own_object_id(demo))).status_code == 200

    def test_object_of_another_tenant_is_404_under_own_tenant(self, demo, api):
        api.as_user(user(self.viewer))
        foreign = self.foreign_object_id(demo)
        assert_error(api.get(self.url(pk=foreign)), 404, "not_found")
        assert foreign not in [r["id"] for r in api.get(self.url()).json()]


def test_a_room_per_partner_is_opened_with_the_partnership(demo):
    assert Room.objects.filter(tenant__slug="acme", kind="partner").count() == 3
    assert Room.objects.filter(tenant__slug="globex", kind="partner").count() == 1
    assert Room.objects.filter(kind="internal").count() == 2  # one per tenant


def test_each_role_sees_the_rooms_it_follows(demo):
    assert names("supa.rep") == ["华东零部件有限公司"]
    assert names("supa.rep", "globex") == ["华东零部件有限公司"]
    assert names("supb.rep") == ["南方包装材料厂"]
    assert names("bank.officer") == ["江南商业银行（演示）"]
    assert names("acme.buyer") == sorted(["华东零部件有限公司", "南方包装材料厂", "内部协同 · Internal"])
    # finance approvers: the funder's room, and the suppliers' (financing is talked through there)
    assert names("acme.finance") == sorted(["华东零部件有限公司", "南方包装材料厂", "江南商业银行（演示）", "内部协同 · Internal"])
    assert len(names("acme.auditor")) == 4
    assert names("globex.buyer", "globex") == sorted(["华东零部件有限公司", "内部协同 · Internal"])


def test_suspending_a_partnership_closes_its_room_to_everyone(demo):
    Partnership.objects.filter(tenant__slug="acme", organization__slug="sup-a").update(active=False)
    assert names("supa.rep") == []
    assert "华东零部件有限公司" not in names("acme.buyer")


def test_direct_follow_and_room_grants(demo):
    acme = demo["tenants"]["acme"]
    assert "江南商业银行（演示）" not in names("acme.buyer")
    tenancy_services.partnership_follow(
        tenant=acme, actor=None, partnership=Partnership.objects.get(tenant=acme, organization__slug="bank"),
        user=user("acme.buyer"),
    )
    assert "江南商业银行（演示）" in names("acme.buyer")
    assign_perm("messaging.view_room", user("acme.planner"), room_of("acme", "sup-b"))
    assert "南方包装材料厂" in names("acme.planner")


def test_team_rooms_are_for_their_role(demo, api):
    api.as_user(user("acme.admin"))
    response = api.post("/api/v1/t/acme/rooms/", {"name": "仓库班组", "team_role": "warehouse"}, format="json")
    assert response.status_code == 201, response.content
    assert "仓库班组" in names("acme.warehouse")
    assert "仓库班组" not in names("acme.buyer")
    assert "仓库班组" not in names("supa.rep")


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "x" * 201}, {"name": "ok", "team_role": "supplier_rep"}, {"name": "ok", "extra": 1}]
)
def test_bad_room_creation_is_400(demo, api, body):
    api.as_user(user("acme.admin"))
    before = Room.objects.count()
    assert_error(api.post("/api/v1/t/acme/rooms/", body, format="json"), 400)
    assert Room.objects.count() == before


def test_unread_counts_follow_read_marks_and_visibility(demo, api):
    room = room_of("acme", "sup-a")
    post("supa.rep", room, "第一条")
    post("supa.rep", room, "第二条")
    post("acme.buyer", room, "内部备注", internal=True)
    api.as_user(user("acme.buyer"))
    row = next(r for r in api.get("/api/v1/t/acme/rooms/").json() if r["id"] == room.pk)
    assert row["unread"] == 2  # own messages never count
    assert api.post(f"/api/v1/t/acme/rooms/{room.pk}/read/", {"seq": 1}, format="json").status_code == 200
    row = next(r for r in api.get("/api/v1/t/acme/rooms/").json() if r["id"] == room.pk)
    assert row["unread"] == 1
    api.as_user(user("acme.warehouse"))
    row = next(r for r in api.get("/api/v1/t/acme/rooms/").json() if r["id"] == room.pk)
    assert row["unread"] == 3  # the internal note counts for core staff
    api.as_user(user("supa.rep"))
    row = next(r for r in api.get("/api/v1/t/acme/rooms/").json() if r["id"] == room.pk)
    assert row["unread"] == 0  # the supplier never sees the internal note


def test_unread_counts_stop_at_the_cap(demo, api, client):
    from messaging.selectors import UNREAD_COUNT_CAP
    from messaging.services import event_post_many

    room = room_of("acme", "sup-a")
    event_post_many([{"tenant": room.tenant, "room": room, "body": f"事件 {i}"} for i in range(UNREAD_COUNT_CAP + 5)])
    room.refresh_from_db()
    api.as_user(user("acme.buyer"))
    row = next(r for r in api.get("/api/v1/t/acme/rooms/").json() if r["id"] == room.pk)
    assert row["unread"] == UNREAD_COUNT_CAP  # "100 or more", never the 105 counted one by one
    client.force_login(user("acme.buyer"))
    page = client.get("/t/acme/rooms/").content.decode()
    assert f'data-count="{UNREAD_COUNT_CAP}"' in page and ">99+<" in page
    assert api.post(f"/api/v1/t/acme/rooms/{room.pk}/read/", {"seq": room.last_seq - 3}, format="json").status_code == 200
    row = next(r for r in api.get("/api/v1/t/acme/rooms/").json() if r["id"] == room.pk)
    assert row["unread"] == 3  # below the cap the count is exact again


@pytest.mark.parametrize("body", [{"seq": -1}, {"seq": "x"}, {}, {"seq": 99}, {"seq": 1, "more": True}])
def test_bad_read_marks_are_400(demo, api, body):
    room = room_of("acme", "sup-a")
    post("supa.rep", room, "一条")
    api.as_user(user("acme.buyer"))
    assert_error(api.post(f"/api/v1/t/acme/rooms/{room.pk}/read/", body, format="json"), 400)


def test_room_list_query_count_does_not_grow_with_rooms(demo, api, django_assert_max_num_queries):
    acme = demo["tenants"]["acme"]
    for i in range(10):
        from messaging.services import room_create_internal

        room_create_internal(tenant=acme, actor=None, name=f"Team {i}")
    api.as_user(user("acme.buyer"))
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/t/acme/rooms/").json()) == 13


def test_membership_loss_hides_rooms(demo):
    Membership.objects.filter(user__username="acme.buyer").update(active=False)
    assert names("acme.buyer") == []

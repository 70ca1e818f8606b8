"""The chat POST path: its statement budget, and room access through the request's tenant context
answering exactly like the generic choke point (every demo user x every room, after the access
changes that matter: partnership deactivated, follow grants revoked, direct grants, team rooms)."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm, remove_perm

from messaging import services
from messaging.access import access_room
from messaging.models import Message, Room
from scm_portal.tenancy import services as tenancy_services
from scm_portal.tenancy.access import access_tenant_context, tenant_context_for
from scm_portal.tenancy.models import Partnership, Tenant
from scm_portal.tenancy.roles import Role
from tests.api_contract import assert_error, user
from tests.messaging.helpers import internal_room, post, room_of

pytestmark = pytest.mark.django_db


def url(room):
    return f"/api/v1/t/{room.tenant.slug}/rooms/{room.pk}/messages/"


def visible_rooms():
    """{(username, tenant slug): room ids} through the generic choke point, after checking that
    the context forms (queryset and the compiled access helper) answer the same for every room."""
    rooms = list(Room.objects.all())
    answers = {}
    for tenant in Tenant.objects.all():
        for someone in get_user_model().objects.all():
            generic = set(
                Room.objects.for_tenant(tenant).visible_to(someone, "view").values_list("pk", flat=True)
            )
            context = tenant_context_for(someone, tenant)
            if not context.memberships:
                assert generic == set(), (someone.username, tenant.slug)
                continue
            in_context = set(
                Room.objects.for_tenant(tenant).visible_to(someone, "view", context=context).values_list("pk", flat=True)
            )
            assert in_context == generic, (someone.username, tenant.slug)
            for room in rooms:
                try:
                    found = access_room(someone, tenant, room.pk, context)
                except Http404:
                    found = None
                assert (found is not None) == (room.pk in generic), (someone.username, tenant.slug, room.name)
                if found is not None:
                    assert (found.pk, found.tenant_id, found.kind, found.partnership_id, found.last_seq) == (
                        room.pk, room.tenant_id, room.kind, room.partnership_id, room.last_seq
                    )
            answers[(someone.username, tenant.slug)] = generic
    return answers


def test_room_access_in_context_matches_the_generic_rule(demo):
    answers = visible_rooms()
    assert answers[("supa.rep", "acme")] == {room_of("acme", "sup-a").pk}
    assert room_of("acme", "sup-b").pk in answers[("acme.buyer", "acme")]


def test_a_deactivated_partnership_closes_its_room_to_its_people_in_both_forms(demo):
    acme = demo["tenants"]["acme"]
    room = room_of("acme", "sup-a")
    partnership = Partnership.objects.get(tenant=acme, organization__slug="sup-a")
    tenancy_services.partnership_set_active(tenant=acme, actor=None, partnership=partnership, active=False)
    answers = visible_rooms()
    assert ("supa.rep", "acme") not in answers  # no active membership left in acme
    assert room.pk not in answers[("acme.buyer", "acme")]  # core staff stop following an inactive partner
    assert answers[("supa.rep", "globex")] == {room_of("globex", "sup-a").pk}


def test_revoked_follow_grants_close_the_room_in_both_forms(demo):
    acme = demo["tenants"]["acme"]
    room = room_of("acme", "sup-b")
    partnership = room.partnership
    before = visible_rooms()
    assert room.pk in before[("acme.buyer", "acme")]
    group = tenancy_services.role_group(tenant=acme, role=Role.BUYER)
    remove_perm("tenancy.follow_partnership", group, partnership)
    after = visible_rooms()
    assert room.pk not in after[("acme.buyer", "acme")]
    # A personal follow opens it again for that one user; revoking it closes it again.
    tenancy_services.partnership_follow(tenant=acme, actor=None, partnership=partnership, user=user("acme.buyer"))
    assert room.pk in visible_rooms()[("acme.buyer", "acme")]
    tenancy_services.partnership_follow(
        tenant=acme, actor=None, partnership=partnership, user=user("acme.buyer"), follow=False
    )
    assert room.pk not in visible_rooms()[("acme.buyer", "acme")]


def test_direct_grants_and_team_rooms_answer_the_same(demo):
    acme = demo["tenants"]["acme"]
    internal = internal_room("acme")
    team = services.room_create_internal(tenant=acme, actor=user("acme.admin"), name="仓库组", team_role=Role.WAREHOUSE)
    assign_perm("messaging.view_room", user("supb.rep"), internal)
    assign_perm("messaging.view_room", user("globex.buyer"), internal)  # no membership in acme: no access
    answers = visible_rooms()
    assert team.pk in answers[("acme.warehouse", "acme")]
    assert team.pk not in answers[("acme.buyer", "acme")]
    assert internal.pk in answers[("supb.rep", "acme")]
    assert internal.pk not in answers[("supa.rep", "acme")]
    assert ("globex.buyer", "acme") not in answers


def test_message_visibility_in_context_matches_the_generic_rule(full_demo):
    acme = full_demo["tenants"]["acme"]
    room = room_of("acme", "sup-a")
    post("acme.buyer", room, "内部备注", internal=True)
    with transaction.atomic():
        services.event_post(tenant=acme, room=room, body="仓库与计划可见", core_audience=[Role.WAREHOUSE, Role.PLANNER])
        services.event_post(tenant=acme, room=room, body="只给采购", recipient=user("acme.buyer"))
    for tenant in Tenant.objects.all():
        for someone in get_user_model().objects.all():
            context = tenant_context_for(someone, tenant)
            generic = set(Message.objects.for_tenant(tenant).visible_to(someone).values_list("pk", flat=True))
            if not context.memberships:
                assert generic == set()
                continue
            in_context = set(
                Message.objects.for_tenant(tenant).visible_to(someone, context=context).values_list("pk", flat=True)
            )
            assert in_context == generic, (someone.username, tenant.slug)


def test_access_room_refuses_a_context_of_another_tenant(demo):
    supa = user("supa.rep")
    with pytest.raises(ValueError):
        access_room(supa, demo["tenants"]["globex"], room_of("globex", "sup-a").pk, access_tenant_context(supa, "acme"))


def test_a_huge_room_id_is_a_404_not_a_server_error(demo, api):
    api.as_user(user("supa.rep"))
    response = api.post(f"/api/v1/t/acme/rooms/{10**30}/messages/", {"body": "x"}, format="json")
    assert_error(response, 404, "not_found")


def test_checks_keep_their_order_401_404_403(demo, api):
    room = room_of("acme", "sup-a")
    assert_error(api.post(url(room), {"body": "x"}, format="json"), 401)
    api.as_user(user("globex.buyer"))  # not a member of acme
    assert_error(api.post(url(room), {"body": "x"}, format="json"), 404)
    api.as_user(user("supb.rep"))  # a member, another partner's room
    assert_error(api.post(url(room), {"body": "x"}, format="json"), 404)
    api.as_user(user("acme.auditor"))  # sees the room, may not write
    assert_error(api.post(url(room), {"body": "x"}, format="json"), 403)
    api.as_user(user("supa.rep"))
    assert_error(api.post(url(room), {"body": "x", "internal": True}, format="json"), 403)
    assert not Message.objects.filter(room=room).exists()


def test_a_chat_post_costs_at_most_eight_statements(demo, api, django_assert_max_num_queries):
    room = room_of("acme", "sup-a")
    api.as_user(user("supa.rep"))
    assert api.post(url(room), {"body": "先热身"}, format="json").status_code == 201
    # token, tenant context, room, savepoint (the test's transaction), room lock, room head, insert, release
    with django_assert_max_num_queries(8):
        response = api.post(url(room), {"body": "周四发货"}, format="json")
    assert response.status_code == 201
    frame = response.json()
    assert frame["seq"] == 2 and frame["attachments"] == [] and frame["body"] == "周四发货"


def test_the_callers_tenant_context_spares_every_membership_read(demo):
    room = room_of("acme", "sup-a")
    supa = user("supa.rep")
    context = access_tenant_context(supa, "acme")
    with CaptureQueriesContext(connection) as queries:
        services.message_post(tenant=room.tenant, actor=supa, context=context, room=room, body="hi")
        services.message_post(tenant=room.tenant, actor=supa, context=context, room=room, body="/stock SKU-1001")
    assert not any("tenancy_membership" in q["sql"] for q in queries.captured_queries)
    assert Message.objects.filter(room=room, kind="bot", recipient=supa).exists()  # the bot answered with it too


def test_a_replayed_client_id_frame_still_lists_its_attachment(demo, api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    room = room_of("acme", "sup-a")
    api.as_user(user("supa.rep"))
    upload = api.post(
        f"/api/v1/t/acme/rooms/{room.pk}/attachments/",
        {"file": SimpleUploadedFile("a.txt", b"hello"), "body": "见附件", "client_id": "up-1"},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    assert [a["name"] for a in upload.json()["attachments"]] == ["a.txt"]
    replay = api.post(url(room), {"body": "见附件", "client_id": "up-1"}, format="json")
    assert replay.status_code == 200
    assert [a["name"] for a in replay.json()["attachments"]] == ["a.txt"]


@pytest.mark.django_db
def test_a_sockets_rooms_are_the_rooms_the_user_may_see(full_demo):
    """load_socket_access builds its room set with the memberships it has just read (the context
    form); it must answer as the generic rule does, for every user in every tenant."""
    from realtime.access_state import load_socket_access
    from scm_portal.tenancy.models import Tenant

    checked = 0
    for tenant in Tenant.objects.all():
        for member in get_user_model().objects.all():
            access = load_socket_access(member, tenant_id=tenant.id)
            expected = set(Room.objects.for_tenant(tenant).visible_to(member, "view").values_list("pk", flat=True))
            if access is None:
                assert not expected, (member.username, tenant.slug)
            else:
                assert access.room_ids == expected, (member.username, tenant.slug)
                checked += 1
    assert checked >= 10


def test_a_posted_message_is_an_urgent_publish(demo, api, monkeypatch, django_capture_on_commit_callbacks):
    """Someone is waiting for it: after commit the posting thread waits until the frame is sent,
    rather than keeping the server loop from sending it (realtime._group_send_many)."""
    import realtime

    handed = []
    monkeypatch.setattr(realtime, "_group_send_many", lambda events, urgent=False: handed.append((events, urgent)))
    room = room_of("acme", "sup-a")
    api.as_user(user("supa.rep"))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(url(room), {"body": "加急"}, format="json").status_code == 201
    [(events, urgent)] = handed
    assert urgent and [group for group, _event in events] == [f"room.{room.pk}"]


def test_a_socket_send_costs_eight_round_trips(demo_tx):
    """From the frame to the COMMIT, one statement at a time: the tenant context, the room, the
    BEGIN, the room lock, the client_id lookup, the room head, the insert, the COMMIT. A repeated
    send costs the reads up to the lookup, then ends; a conflicting one rolls back."""
    from messaging.services import Conflict
    from realtime.access_state import load_socket_access
    from realtime.consumers import _post
    from tests.pg_trace import libpq_trace, round_trips

    room, supa = room_of("acme", "sup-a"), user("supa.rep")
    access = load_socket_access(supa, tenant_id=room.tenant_id)
    assert _post(supa, access, {"room": room.pk, "body": "先热身", "client_id": "c-1"}) == (1, True)
    frame = {"room": room.pk, "body": "周四发货", "client_id": "c-2"}
    with libpq_trace() as lines:
        assert _post(supa, access, frame) == (2, True)
    assert round_trips(lines) == 8, [line[3][:100] for line in lines if line[0] == "F"]
    with libpq_trace() as lines:
        assert _post(supa, access, frame) == (2, False)
    assert round_trips(lines) == 6, [line[3][:100] for line in lines if line[0] == "F"]
    with pytest.raises(Conflict):
        _post(supa, access, {**frame, "body": "周五发货"})
    assert list(Message.objects.filter(room=room).values_list("seq", "body")) == [(1, "先热身"), (2, "周四发货")]
    room.refresh_from_db()
    assert room.last_seq == 2

"""The sealed read path of TenantScopedViewSet: whatever a subclass builds in
`safely_get_queryset`, the base applies the tenant and the user's visibility after it."""

import re
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db.models import Count
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import mixins, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory, force_authenticate

from inventory import selectors as inventory_selectors
from inventory.api import serializers as inventory_serializers
from inventory.api.views import StockViewSet
from inventory.models import StockLevel
from messaging import selectors as messaging_selectors
from alerts import selectors as alerts_selectors
from alerts.api import serializers as alert_serializers
from alerts.api.views import AlertViewSet
from alerts.models import Alert
from alerts.services import alert_raise
from messaging.api import serializers as messaging_serializers
from messaging.api.views import RoomViewSet
from messaging.models import MessageQuerySet, Room
from scm_portal.api.viewsets import TenantContextMixin, TenantScopedViewSet
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.querysets import TenantQuerySet
from tests.api_contract import assert_error, user

pytestmark = pytest.mark.django_db

USERS = ["acme.buyer", "acme.warehouse", "supa.rep", "acme.auditor"]


@pytest.fixture
def world(full_demo):
    """The full demo plus an alert of sup-b in acme and one in globex, so that every model here
    has rows of acme a partner may not see and rows of the other tenant."""
    orgs, tenants = full_demo["organizations"], full_demo["tenants"]
    alert_raise(tenant=tenants["acme"], kind="low_stock", severity=30, dedupe_key="sealed-supb", title="sup-b's",
                partner=orgs["sup-b"], core_audience=["buyer"], subject_kind="sku", subject_ref="SKU-2001")
    alert_raise(tenant=tenants["globex"], kind="low_stock", severity=30, dedupe_key="sealed-globex", title="globex's",
                partner=orgs["sup-a"], core_audience=["buyer"], subject_kind="sku", subject_ref="GX-5001")
    return full_demo


def visible_ids(model, username, tenant="acme"):
    from scm_portal.tenancy.models import Tenant

    rows = model.objects.for_tenant(Tenant.objects.get(slug=tenant)).visible_to(user(username))
    return set(rows.values_list("pk", flat=True))


def call(viewset, username, actions=None, **kwargs):
    view = viewset.as_view(actions or {"get": "list"})
    request = APIRequestFactory().get("/")
    force_authenticate(request, user=user(username))
    response = view(request, tenant="acme", **kwargs)
    response.render()
    return response


class RoomIdSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    message_count = serializers.IntegerField()


class EveryRoom(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Tries to widen: every room of every tenant, annotated and ordered."""

    model = Room
    serializer_class = RoomIdSerializer
    pagination_class = None

    def safely_get_queryset(self, queryset):
        return Room.objects.all().select_related("partnership").annotate(message_count=Count("messages")).order_by("pk")


class TestWhatASubclassReturnsIsScopedAfter:
    @pytest.mark.parametrize("username", USERS)
    def test_every_row_of_every_tenant_yields_only_the_tenants_visible_rows(self, world, username):
        body = call(EveryRoom, username).data
        assert {row["id"] for row in body} == visible_ids(Room, username)
        assert visible_ids(Room, username) < set(Room.objects.values_list("pk", flat=True))  # something to hide
        # The subclass's annotation and ordering survive the scoping.
        assert [row["id"] for row in body] == sorted(row["id"] for row in body)
        for row in body:
            assert row["message_count"] == Room.objects.get(pk=row["id"]).messages.count()

    def test_the_other_tenants_rows_of_a_member_of_both_stay_out(self, world):
        # supa.rep sees sup-a's room in globex too; under /t/acme/ only acme's.
        supa_rooms = set(Room.objects.visible_to(user("supa.rep")).values_list("pk", flat=True))
        globex_room = Room.objects.get(tenant__slug="globex", partnership__organization__slug="sup-a").pk
        assert globex_room in supa_rooms
        assert globex_room not in {row["id"] for row in call(EveryRoom, "supa.rep").data}
        assert call(EveryRoom, "supa.rep", {"get": "retrieve"}, pk=globex_room).status_code == 404

    def test_a_row_the_user_may_not_see_is_404_on_the_detail_route(self, world):
        internal = Room.objects.get(tenant__slug="acme", kind="internal").pk
        assert call(EveryRoom, "supa.rep", {"get": "retrieve"}, pk=internal).status_code == 404
        assert call(EveryRoom, "acme.buyer", {"get": "retrieve"}, pk=internal).status_code == 200

    def test_a_queryset_of_another_tenant_yields_nothing(self, world):
        class GlobexRooms(EveryRoom):
            def safely_get_queryset(self, queryset):
                return Room.objects.for_tenant(world["tenants"]["globex"]).annotate(message_count=Count("messages"))

        assert call(GlobexRooms, "supa.rep").data == []

    def test_a_queryset_of_another_model_is_refused(self, world):
        class Confused(EveryRoom):
            def safely_get_queryset(self, queryset):
                return Alert.objects.all()

        with pytest.raises(TypeError, match="must be of Room, not Alert"):
            call(Confused, "acme.buyer")


class TestTheGuard:
    @pytest.mark.parametrize("name", ["get_queryset", "get_object", "filter_queryset"])
    def test_overriding_a_sealed_method_fails_at_class_creation(self, name):
        with pytest.raises(TypeError, match=f"overrides {name}"):
            type("Leaky", (TenantScopedViewSet,), {"model": Room, name: lambda self, *args: Room.objects.all()})

    def test_a_mixin_listed_before_the_base_is_caught_too(self):
        class Unscoped:
            def get_queryset(self):
                return Room.objects.all()

        with pytest.raises(TypeError, match="overrides get_queryset"):
            type("Leaky", (Unscoped, TenantScopedViewSet), {"model": Room})


class TestDangerously:
    def test_dangerously_get_queryset_bypasses_visibility_but_never_the_tenant(self, world):
        class AllRoomsOfTheTenant(EveryRoom):
            def dangerously_get_queryset(self):
                return Room.objects.annotate(message_count=Count("messages"))

        ids = {row["id"] for row in call(AllRoomsOfTheTenant, "supa.rep").data}
        assert ids == set(Room.objects.filter(tenant__slug="acme").values_list("pk", flat=True))
        assert ids > visible_ids(Room, "supa.rep")


# --- the viewsets that build their own rows ---------------------------------------------------

@contextmanager
def scoping_forgotten():
    """for_tenant() and visible_to() quietly return every row: what a viewset builds meanwhile is
    as unscoped as a bug could make it."""
    def every_row(self, *args, **kwargs):
        return self.all()

    with mock.patch.object(TenantQuerySet, "for_tenant", every_row), \
         mock.patch.object(TenantQuerySet, "visible_to", every_row), \
         mock.patch.object(MessageQuerySet, "visible_to", every_row):
        yield


@pytest.fixture
def forgetful(monkeypatch):
    """Runs a viewset's own safely_get_queryset with scoping forgotten (the base's is untouched)."""
    def apply(viewset):
        own = viewset.safely_get_queryset

        def safely_get_queryset(self, queryset):
            with scoping_forgotten():
                return own(self, queryset)

        monkeypatch.setattr(viewset, "safely_get_queryset", safely_get_queryset)
    return apply


def test_the_fault_is_real(world):
    """What the viewsets call really returns other tenants' rows when scoping is forgotten."""
    supa, acme = user("supa.rep"), world["tenants"]["acme"]
    both = {acme.pk, world["tenants"]["globex"].pk}
    context = tenant_context_for(supa, acme)
    with scoping_forgotten():
        assert {level.tenant_id for level in inventory_selectors.stock_level_list(supa, acme, context=context)} == both
        alerts = alerts_selectors.alert_list(user=supa, tenant=acme, context=context)
        assert {alert.tenant_id for alert in alerts} == both
        assert {room.tenant_id for room in messaging_selectors.room_list(supa, acme, context=context)} == both


@pytest.mark.parametrize("username", USERS)
def test_stock_list_is_scoped_whatever_the_viewset_builds(world, api, forgetful, username):
    forgetful(StockViewSet)
    api.as_user(user(username))
    body = api.get("/api/v1/t/acme/stock/").json()
    expected = StockLevel.objects.filter(pk__in=visible_ids(StockLevel, username))
    assert sorted((row["sku"], row["warehouse"]) for row in body["results"]) == sorted(
        expected.values_list("sku__code", "warehouse__code")
    )
    if username == "supa.rep":  # sup-b's SKUs are not hers
        assert {row["sku"] for row in body["results"]} == {"SKU-1001", "SKU-1002"}


@pytest.mark.parametrize("username", USERS)
def test_alerts_are_scoped_whatever_the_viewset_builds(world, api, forgetful, username):
    forgetful(AlertViewSet)
    api.as_user(user(username))
    visible = visible_ids(Alert, username)
    assert {row["id"] for row in api.get("/api/v1/t/acme/alerts/").json()["results"]} == visible
    hidden = set(Alert.objects.values_list("pk", flat=True)) - visible
    assert hidden  # globex's alert at least
    for pk in hidden:
        assert_error(api.get(f"/api/v1/t/acme/alerts/{pk}/"), 404, "not_found")
        assert_error(api.post(f"/api/v1/t/acme/alerts/{pk}/ack/"), 404, "not_found")
    assert Alert.objects.filter(pk__in=hidden, acknowledged_at__isnull=False).count() == 0


@pytest.mark.parametrize("username", USERS)
def test_rooms_are_scoped_whatever_the_viewset_builds(world, api, forgetful, username):
    forgetful(RoomViewSet)
    api.as_user(user(username))
    visible = visible_ids(Room, username)
    assert {row["id"] for row in api.get("/api/v1/t/acme/rooms/").json()} == visible
    hidden = set(Room.objects.values_list("pk", flat=True)) - visible
    assert hidden
    for pk in hidden:
        assert_error(api.get(f"/api/v1/t/acme/rooms/{pk}/"), 404, "not_found")
        assert_error(api.post(f"/api/v1/t/acme/rooms/{pk}/read/", {"seq": 1}, format="json"), 404, "not_found")
        assert_error(api.get(f"/api/v1/t/acme/rooms/{pk}/chain/"), 404, "not_found")


# --- the same answers as the selectors that pages and the bot read, at the same cost ------------

@pytest.mark.parametrize("username", USERS)
def test_stock_alerts_and_rooms_answer_what_the_selectors_read_in_three_statements(
    world, api, django_assert_num_queries, username
):
    reader, acme = user(username), world["tenants"]["acme"]
    api.as_user(reader)
    context = tenant_context_for(reader, acme)
    levels = inventory_selectors.stock_level_list(reader, acme, context=context).order_by("-pk")
    alerts = alerts_selectors.alert_list(user=reader, tenant=acme, context=context).order_by("-pk")
    rooms = messaging_selectors.room_list(reader, acme, context=context)
    one_page = {"next": None, "previous": None}
    expected = {
        "stock/": {"results": inventory_serializers.StockLevelSerializer(levels, many=True).data, **one_page},
        "alerts/": {"results": alert_serializers.AlertSerializer(alerts, many=True).data, **one_page},
        "rooms/": messaging_serializers.RoomSerializer(rooms, many=True).data,
    }
    assert levels and alerts and rooms
    for path, data in expected.items():
        # The token and the user, the tenant context, the rows.
        with django_assert_num_queries(3):
            response = api.get(f"/api/v1/t/acme/{path}")
        assert response.status_code == 200
        assert response.content == JSONRenderer().render(data), path


# --- every API view under a tenant resolves it --------------------------------------------------

TENANT_ROUTE = re.compile(r"api/v1/\^?t/(<slug:tenant>|\(\?P<tenant>)")


def _tenant_views(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _tenant_views(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and TENANT_ROUTE.match(route):
            yield route, getattr(entry.callback, "cls", None) or entry.callback.view_class


def test_every_api_view_under_a_tenant_resolves_it_and_lists_only_through_the_seal():
    views = list(_tenant_views(get_resolver().url_patterns))
    assert len(views) > 20
    for route, view in views:
        assert issubclass(view, TenantContextMixin), route
        if hasattr(view, "list") or hasattr(view, "retrieve"):
            assert issubclass(view, TenantScopedViewSet), route

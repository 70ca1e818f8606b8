"""The purchase-order API (CONTRACT.md, "Orders and logistics"): thin views over
orders.services.purchase_orders and orders.selectors, looked up by the PO's `number`.

Batch errors (POST purchase-orders/batch/) name each bad PO by its index in the list, and a bad
line by its index in the PO: `{"error": {"code": "validation_error", "message": "...",
"fields": {"purchase_orders": {"3": {"lines": {"0": {"unit_price": ["..."]}}}}}}}` (400); a PO
that would change one already sent: the same shape with code `po_not_editable` (409). Nothing is
applied unless every PO is.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from orders import selectors
from orders.api import serializers as s
from orders.api.base import OrdersErrorsMixin
from orders.models import ChangeState, PurchaseOrder, PurchaseOrderState
from orders.services import purchase_orders as services
from scm_portal.api.pagination import CursorPagination
from scm_portal.api.parsers import BodyRefused
from scm_portal.api.viewsets import TenantScopedViewSet


class PurchaseOrderPagination(CursorPagination):
    ordering = "-pk"  # served by the (tenant, supplier, id) and (tenant, state, id) indexes


def _body(request, allowed):
    """The request's JSON object restricted to `allowed` keys; no body is {}."""
    data = request.data
    if data in (None, "") or (hasattr(data, "keys") and not data and not isinstance(data, dict)):
        return {}
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    unknown = {str(key): ["Unknown field."] for key in data if key not in allowed}
    if unknown:
        raise exceptions.ValidationError(unknown, code="unknown_field")
    return data


@extend_schema_view(
    list=extend_schema(parameters=[
        OpenApiParameter("state", str, description="Only POs in this state."),
        OpenApiParameter("supplier", str, description="Only this supplier's POs (its slug)."),
    ], responses=s.PurchaseOrderRowSerializer(many=True)),
    retrieve=extend_schema(responses=s.PurchaseOrderDetailSerializer),
    create=extend_schema(request=s.PurchaseOrderInputSerializer, responses={201: s.PurchaseOrderDetailSerializer}),
    update=extend_schema(request=s.PurchaseOrderUpsertSerializer,
                         responses={200: s.PurchaseOrderDetailSerializer, 201: s.PurchaseOrderDetailSerializer}),
)
class PurchaseOrderViewSet(OrdersErrorsMixin, TenantScopedViewSet):
    model = PurchaseOrder
    serializer_class = s.PurchaseOrderDetailSerializer
    pagination_class = PurchaseOrderPagination
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
    http_method_names = ["get", "post", "put", "head", "options"]
    action_permissions = {"batch": "add", "send": "view", "confirm": "view", "accept_change": "view",
                          "reject_change": "view", "cancel": "view", "update": "view"}

    def safely_get_queryset(self, queryset):
        state = supplier = None
        if self.action == "list":
            params = self.request.query_params
            state, supplier = params.get("state"), params.get("supplier")
            if state and state not in PurchaseOrderState.values:
                raise exceptions.ValidationError({"state": ["No such state."]})
        queryset = selectors.purchase_order_list_from(queryset, context=self.tenant_context, state=state, supplier=supplier)
        return selectors.purchase_order_list_rows(queryset) if self.action == "list" else queryset

    # --- reads ------------------------------------------------------------------------------
    def list(self, request, tenant=None):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([s.purchase_order_list_row(row) for row in page])

    def _detail(self, order):
        lines = list(order.lines.select_related("sku").order_by("line"))
        pending = {c.line_id: c for c in order.changes.filter(state=ChangeState.PENDING)}
        history = list(order.events.select_related("actor").order_by("at", "pk"))
        return s.purchase_order_detail(order, lines, pending, history)

    def _fresh(self, order):
        return PurchaseOrder.objects.for_tenant(self.tenant).select_related("supplier", "warehouse").get(pk=order.pk)

    def retrieve(self, request, tenant=None, number=None):
        return Response(self._detail(self.get_object()))

    # --- writes -----------------------------------------------------------------------------
    def create(self, request, tenant=None):
        order = services.purchase_order_create(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                               data=request.data, source="api")
        return Response(self._detail(self._fresh(order)), status=status.HTTP_201_CREATED)

    def update(self, request, tenant=None, number=None):
        """The ERP's upsert: creates or updates the PO with all its lines; idempotent on `number`."""
        order, outcome = services.purchase_order_upsert(tenant=self.tenant, actor=request.user,
                                                        context=self.tenant_context, number=number, data=request.data)
        code = status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK
        return Response(self._detail(self._fresh(order)), status=code)

    @extend_schema(request=s.PurchaseOrderBatchSerializer, responses={201: s.BatchResultSerializer})
    @action(detail=False, methods=["post"], url_path="batch")
    def batch(self, request, tenant=None):
        try:
            rows = request.data
        except BodyRefused as refused:
            raise refused.in_row_errors("purchase_orders") from None
        if isinstance(rows, dict) and set(rows) == {"purchase_orders"}:
            rows = rows["purchase_orders"]
        results = services.purchase_order_upsert_many(tenant=self.tenant, actor=request.user,
                                                      context=self.tenant_context, rows=rows)
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        for _order, outcome in results:
            counts[outcome] += 1
        return Response({**counts, "purchase_orders": [{"number": order.number, "state": order.state, "outcome": outcome}
                                                       for order, outcome in results]},
                        status=status.HTTP_201_CREATED)

    def _move(self, service, **kwargs):
        order = service(tenant=self.tenant, actor=self.request.user, context=self.tenant_context,
                        order=self.get_object(), **kwargs)
        return Response(self._detail(self._fresh(order)))

    @extend_schema(request=None, responses=s.PurchaseOrderDetailSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request, tenant=None, number=None):
        _body(request, set())
        return self._move(services.purchase_order_send)

    @extend_schema(request=s.ConfirmSerializer, responses=s.PurchaseOrderDetailSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request, tenant=None, number=None):
        body = _body(request, {"lines"})
        return self._move(services.purchase_order_confirm, answers=body.get("lines"))

    @extend_schema(request=s.DecideSerializer, responses=s.PurchaseOrderDetailSerializer)
    @action(detail=True, methods=["post"], url_path="accept-change")
    def accept_change(self, request, tenant=None, number=None):
        return self._move(services.purchase_order_accept_change, lines=_body(request, {"lines"}).get("lines"))

    @extend_schema(request=s.DecideSerializer, responses=s.PurchaseOrderDetailSerializer)
    @action(detail=True, methods=["post"], url_path="reject-change")
    def reject_change(self, request, tenant=None, number=None):
        return self._move(services.purchase_order_reject_change, lines=_body(request, {"lines"}).get("lines"))

    @extend_schema(request=s.CancelSerializer, responses=s.PurchaseOrderDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, tenant=None, number=None):
        return self._move(services.purchase_order_cancel, reason=_body(request, {"reason"}).get("reason", ""))

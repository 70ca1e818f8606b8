"""The logistics API: shipments (ASN), their positions and delivery notes, shipping and receiving a
PO, quality holds. Thin views: the services in orders/services/ do every write and every check
of state; the views resolve the tenant and the record (404 for foreign or invisible ones) and
turn a refused state into 409 with its code."""

from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.models import IllegalTransition, Position, PurchaseOrder, QualityHold, Shipment, ShipmentLine
from orders.services.positions import position_ingest
from orders.services.receipts import quality_hold_release, receipt_create
from orders.services.shipments import LogisticsConflict, shipment_create, shipment_eta_update
from scm_portal.api.errors import Conflict
from scm_portal.api.parsers import BodyRefused
from scm_portal.api.viewsets import TenantContextMixin, TenantScopedViewSet


class LogisticsConflicts:
    """A refused state (IllegalTransition, LogisticsConflict) answers 409 with its code."""

    def handle_exception(self, exc):
        if isinstance(exc, (IllegalTransition, LogisticsConflict)):
            exc = Conflict(detail=str(exc), code=exc.code)
        return super().handle_exception(exc)


def _body(request, rows_name=None):
    try:
        return request.data
    except BodyRefused as refused:
        raise (refused.in_row_errors(rows_name) if rows_name else refused) from None


class ShipmentLineSerializer(serializers.Serializer):
    purchase_order = serializers.CharField(source="order_line.order.number")
    line = serializers.IntegerField(source="order_line.line")
    sku = serializers.CharField(source="order_line.sku.code")
    quantity = serializers.IntegerField()
    # The receiving result of the PO line (what the supplier sees of its goods).
    received_quantity = serializers.IntegerField(source="order_line.received_quantity")
    accepted_quantity = serializers.IntegerField(source="order_line.accepted_quantity")
    rejected_quantity = serializers.IntegerField(source="order_line.rejected_quantity")


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    supplier = serializers.CharField(source="supplier.slug")
    state = serializers.CharField()
    carrier = serializers.CharField()
    # The carrier partner the shipment is assigned to (its dispatchers post its positions), or null.
    carrier_organization = serializers.CharField(source="carrier_organization.slug", read_only=True, allow_null=True,
                                                 default=None)
    tracking_number = serializers.CharField()
    eta = serializers.DateTimeField(allow_null=True)
    route = serializers.JSONField()
    last_position = serializers.SerializerMethodField()
    deviating = serializers.BooleanField()
    lines = ShipmentLineSerializer(many=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_last_position(self, shipment):
        if shipment.last_position_at is None:
            return None
        return {"lat": shipment.last_lat, "lon": shipment.last_lon, "at": shipment.last_position_at.isoformat()}


class PositionSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    at = serializers.DateTimeField()


class ShipmentCreateSerializer(serializers.Serializer):
    """For the schema only: the service checks the body itself (per-row errors)."""

    purchase_order = serializers.CharField(required=False)
    lines = serializers.ListField(child=serializers.DictField(), required=False)
    carrier = serializers.CharField(required=False)
    carrier_organization = serializers.SlugField(required=False, help_text="a carrier partner's slug")
    tracking_number = serializers.CharField(required=False)
    route = serializers.ListField(child=serializers.DictField(), required=False)
    eta = serializers.DateTimeField(required=False)


class ShipmentUpdateSerializer(serializers.Serializer):
    """For the schema only: a new ETA (null clears it)."""

    eta = serializers.DateTimeField(allow_null=True)


class QualityHoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    purchase_order = serializers.CharField(source="order.number")
    line = serializers.IntegerField(source="order_line.line")
    sku = serializers.CharField(source="sku.code")
    lot = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField()
    release_reason = serializers.CharField()
    released_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def shipment_lines_prefetch():
    return Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line__order", "order_line__sku").order_by("pk"))


class ShipmentViewSet(LogisticsConflicts, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """shipments/ GET, POST; shipments/{id}/ GET, PATCH {"eta"}; shipments/{id}/positions/ GET, POST;
    shipments/positions/ POST (positions of several shipments); shipments/{id}/note.pdf GET."""

    model = Shipment
    serializer_class = ShipmentSerializer
    action_permissions = {"positions": "view", "note": "view", "bulk_positions": "view"}

    def safely_get_queryset(self, queryset):
        return queryset.select_related("supplier", "carrier_organization").prefetch_related(shipment_lines_prefetch())

    @extend_schema(request=ShipmentCreateSerializer, responses={201: ShipmentSerializer})
    def create(self, request, tenant=None):
        data = _body(request)
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send one shipment object."]})
        unknown = set(data) - set(ShipmentCreateSerializer().fields)
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown}, code="unknown_field")
        shipment = shipment_create(tenant=self.tenant, actor=request.user, context=self.tenant_context, **data)
        shipment = _shipment_read(shipment.pk)
        return Response(ShipmentSerializer(shipment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ShipmentUpdateSerializer, responses=ShipmentSerializer)
    def partial_update(self, request, tenant=None, pk=None):
        """A new ETA: the supplier's reps, the carrier's dispatchers, the core's logistics roles
        (403 for a role that only sees the shipment); `shipment_late` follows it at once."""
        shipment = self.get_object()  # 403 unless the user may change it
        data = _body(request)
        if not isinstance(data, dict) or "eta" not in data:
            raise serializers.ValidationError({"eta": ["Send {\"eta\"}: an ISO 8601 date and time, or null."]})
        unknown = set(data) - {"eta"}
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown}, code="unknown_field")
        shipment_eta_update(tenant=self.tenant, actor=request.user, context=self.tenant_context, shipment=shipment,
                            eta=data["eta"])
        return Response(ShipmentSerializer(_shipment_read(shipment.pk)).data)

    @property
    def required_permission(self):
        if self.action == "positions" and self.request.method == "POST":
            return "change"  # get_object answers 403 to a role that only sees the shipment
        return super().required_permission

    @extend_schema(methods=["GET"], responses=PositionSerializer(many=True))
    @extend_schema(methods=["POST"], request=PositionSerializer(many=True), responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get", "post"], url_path="positions")
    def positions(self, request, tenant=None, pk=None):
        shipment = self.get_object()  # POST: 403 unless the user may change it
        if request.method == "GET":
            positions = Position.objects.for_tenant(self.tenant).filter(shipment=shipment).order_by("-at", "-id")
            page = self.paginator.paginate_queryset(positions.only("lat", "lon", "at", "id"), request, view=self)
            return self.paginator.get_paginated_response(PositionSerializer(page, many=True).data)
        result = position_ingest(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                 rows=_body(request, "rows"), shipment=shipment)
        return Response(result, status=status.HTTP_201_CREATED)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT}, operation_id="t_shipments_bulk_positions_create")
    @action(detail=False, methods=["post"], url_path="positions", url_name="bulk-positions")
    def bulk_positions(self, request, tenant=None):
        """Positions of several shipments at once: [{"shipment", "lat", "lon", "at"}]."""
        result = position_ingest(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                 rows=_body(request, "rows"))
        return Response(result, status=status.HTTP_201_CREATED)

    # Routed as the contract names it, without a trailing slash (orders/api/logistics_urls.py).
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def note(self, request, tenant=None, pk=None):
        from orders.delivery_note import delivery_note_pdf

        shipment = self.get_object()
        pdf = delivery_note_pdf(shipment, lines=list(shipment.lines.all()), tenant=self.tenant)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{shipment.number or shipment.pk}.pdf"'
        return response


def _shipment_read(pk):
    """A shipment just written by the service (already checked), as the API shows it."""
    return (Shipment.objects.select_related("supplier", "carrier_organization")
            .prefetch_related(shipment_lines_prefetch()).get(pk=pk))


def _purchase_order(view, number):
    """The PO `number` of the URL's tenant if the user may see it; 404 otherwise."""
    order = (PurchaseOrder.objects.for_tenant(view.tenant).visible_to(view.request.user, "view", context=view.tenant_context)
             .filter(number=number).first())
    if order is None:
        raise Http404
    return order


class PurchaseOrderShipView(LogisticsConflicts, TenantContextMixin, APIView):
    """purchase-orders/{number}/ship/ POST: the supplier ships the PO's open lines, or
    {"lines": [{"line", "quantity"}]}, with optional carrier, carrier_organization, tracking_number,
    route and eta."""

    model = PurchaseOrder  # what the URL's number names (the schema crawler probes with its rows)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: ShipmentSerializer})
    def post(self, request, tenant=None, number=None):
        order = _purchase_order(self, number)
        data = _body(request) or {}
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send an object."]})
        unknown = set(data) - {"lines", "carrier", "carrier_organization", "tracking_number", "route", "eta"}
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown}, code="unknown_field")
        lines = data.pop("lines", None)
        if lines is not None:
            if not isinstance(lines, list):
                raise serializers.ValidationError({"lines": ["lines is a list of {\"line\", \"quantity\"}."]})
            lines = [{**row, "purchase_order": order.number} if isinstance(row, dict) else row for row in lines]
            shipment = shipment_create(tenant=self.tenant, actor=request.user, context=self.tenant_context, lines=lines, **data)
        else:
            shipment = shipment_create(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                       purchase_order=order.number, **data)
        shipment = _shipment_read(shipment.pk)
        return Response(ShipmentSerializer(shipment).data, status=status.HTTP_201_CREATED)


class PurchaseOrderReceiveView(LogisticsConflicts, TenantContextMixin, APIView):
    """purchase-orders/{number}/receive/ POST {"lines": [{"line", "quantity", "inspection", "lot"}]}
    or an empty body (everything shipped, inspected pass): the core warehouse roles only."""

    model = PurchaseOrder  # what the URL's number names (the schema crawler probes with its rows)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, tenant=None, number=None):
        order = _purchase_order(self, number)
        data = _body(request) or {}
        if not isinstance(data, dict) or not set(data) <= {"lines"}:
            raise serializers.ValidationError({"non_field_errors": ["Send {\"lines\": [...]} or nothing."]})
        receipts = receipt_create(tenant=self.tenant, actor=request.user, context=self.tenant_context, order=order,
                                  lines=data.get("lines"))
        lines = {line.pk: line for line in order.lines.all()}
        return Response({
            "purchase_order": order.number,
            "state": PurchaseOrder.objects.values_list("state", flat=True).get(pk=order.pk),
            "receipts": [{"id": r.pk, "line": lines[r.order_line_id].line, "quantity": r.quantity,
                          "inspection": r.inspection, "lot": r.lot} for r in receipts],
            "lines": [{"line": line.line, "shipped_quantity": line.shipped_quantity,
                       "received_quantity": line.received_quantity, "accepted_quantity": line.accepted_quantity,
                       "rejected_quantity": line.rejected_quantity} for line in lines.values()],
        }, status=status.HTTP_201_CREATED)


class QualityHoldViewSet(LogisticsConflicts, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """quality-holds/ GET; quality-holds/{id}/ GET; quality-holds/{id}/release/ POST {"reason"}."""

    model = QualityHold
    serializer_class = QualityHoldSerializer
    action_permissions = {"release": "change"}

    def safely_get_queryset(self, queryset):
        return queryset.select_related("order", "order_line", "sku")

    @extend_schema(request=OpenApiTypes.OBJECT, responses=QualityHoldSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, tenant=None, pk=None):
        hold = self.get_object()  # 403 unless PO_RECEIVERS
        data = _body(request) or {}
        if not isinstance(data, dict) or not set(data) <= {"reason"}:
            raise serializers.ValidationError({"reason": ["Send {\"reason\"}."]})
        hold = quality_hold_release(tenant=self.tenant, actor=request.user, context=self.tenant_context, hold=hold,
                                    reason=data.get("reason"))
        hold = QualityHold.objects.select_related("order", "order_line", "sku").get(pk=hold.pk)
        return Response(QualityHoldSerializer(hold).data)

"""Purchase orders and their lines, the supplier's answers per line, and the PO's history.

A PO belongs to a tenant and is addressed to one supplier organisation (a partner of the
tenant). The core enterprise's buyers write it; the supplier's reps answer it; both see it.
Quantities are whole units, as stock levels are; prices are Decimal in the PO's currency.
Shipments, positions, receipts and quality holds live beside these (logistics).
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from scm_portal.tenancy.models import Organization, Tenant
from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import CORE_ROLES, Role

# Who writes a PO on the core side (create, send, cancel, answer change requests).
PO_WRITERS = frozenset({Role.BUYER, Role.COORDINATOR, Role.TENANT_ADMIN})
# Who receives goods against a PO (receipts, inspections, quality holds).
PO_RECEIVERS = frozenset({Role.WAREHOUSE, Role.COORDINATOR, Role.TENANT_ADMIN})
# The supplier side: reps of the PO's supplier confirm, answer per line and ship.
PO_SUPPLIER_ROLES = frozenset({Role.SUPPLIER_REP})


def supplier_visible(partner_field, **core):
    """Core staff see every row of their tenant (and do `core`'s actions); the supplier's reps see
    the rows of their own POs and shipments, through `partner_field`."""
    return AccessPolicy(core={"view": CORE_ROLES, **core}, partner={"view": PO_SUPPLIER_ROLES}, partner_field=partner_field)


# A PO's lines, change requests and history: seen with the PO, written only through its services.
PO_PART_ACCESS = supplier_visible("order__supplier")


class PurchaseOrderState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    CHANGE_REQUESTED = "change_requested", _("Change requested")
    CONFIRMED = "confirmed", _("Confirmed")
    SHIPPED = "shipped", _("Shipped")
    RECEIVED = "received", _("Received")
    CANCELLED = "cancelled", _("Cancelled")


S = PurchaseOrderState
# Every legal move of a PO's state; anything else answers 409 `illegal_transition`.
# confirmed → confirmed and shipped → shipped are partial shipments and receipts counted per line.
PO_TRANSITIONS = {
    S.DRAFT: {S.SENT, S.CANCELLED},
    S.SENT: {S.CONFIRMED, S.CHANGE_REQUESTED, S.CANCELLED},
    S.CHANGE_REQUESTED: {S.SENT, S.CONFIRMED, S.CANCELLED},
    S.CONFIRMED: {S.SHIPPED, S.CANCELLED},
    S.SHIPPED: {S.SHIPPED, S.RECEIVED},
    S.RECEIVED: set(),
    S.CANCELLED: set(),
}
del S


class IllegalTransition(Exception):
    """A PO move its state does not allow; the API answers 409 with `code`."""

    def __init__(self, message, *, code="illegal_transition", fields=None):
        super().__init__(message)
        self.code = code
        self.fields = fields or {}  # per-row reasons of a batch (orders.services.purchase_orders)


def check_po_transition(order, to_state):
    """Raises IllegalTransition unless `order` may move from its state to `to_state` (call it
    with the PO row locked, so the state read is the one written over)."""
    if to_state not in PO_TRANSITIONS[PurchaseOrderState(order.state)]:
        raise IllegalTransition(
            _("Purchase order %(number)s is %(state)s; it cannot become %(target)s.") % {
                "number": order.number, "state": PurchaseOrderState(order.state).label,
                "target": PurchaseOrderState(to_state).label},
        )


class OrderSettings(models.Model):
    """A tenant's thresholds for the order and logistics rules (one row per tenant, defaults
    when absent)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="order_settings")
    # A PO sent and not confirmed this long raises `po_unconfirmed`.
    po_unconfirmed_after = models.DurationField(default=timedelta(hours=48))
    # Farther than this from the planned route for two positions in a row is a detour.
    route_deviation_meters = models.PositiveIntegerField(default=5000)
    # Stationary this long away from the route's stops is an abnormal stop.
    abnormal_stop_minutes = models.PositiveIntegerField(default=60)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(core={"view": CORE_ROLES, "change": {Role.TENANT_ADMIN, Role.COORDINATOR}})


class PurchaseOrder(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    number = models.CharField(max_length=64)  # the ERP's number, e.g. PO-20231026
    supplier = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)  # ISO 4217
    state = models.CharField(max_length=20, choices=PurchaseOrderState.choices, default=PurchaseOrderState.DRAFT)
    note = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # When a sent PO still unconfirmed raises `po_unconfirmed` (a timer row swept by beat); null
    # once confirmed, cancelled or alerted.
    confirm_due_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=20, default="api")  # api | erp | page | demo
    version = models.PositiveIntegerField(default=1)  # bumped by every change of the PO or its lines
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    # Core staff see every PO of their tenant; a supplier's reps see the POs addressed to them.
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES, "add": PO_WRITERS, "change": PO_WRITERS},
        partner={"view": PO_SUPPLIER_ROLES},
        partner_field="supplier",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "number"], name="po_number_unique")]
        indexes = [
            # A supplier's PO list, newest first (by id: the API's cursor), and the buyers' list
            # filtered by state: a page of 50 reads 50 index entries at 10^6 POs (bench/orders.py).
            models.Index(fields=["tenant", "supplier", "-id"], name="po_supplier_newest"),
            models.Index(fields=["tenant", "state", "-id"], name="po_state_newest"),
            models.Index(fields=["confirm_due_at"], condition=Q(confirm_due_at__isnull=False), name="po_confirm_due"),
        ]

    def __str__(self):
        return self.number


class LineStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACCEPTED = "accepted", _("Accepted")
    CHANGE_REQUESTED = "change_requested", _("Change requested")
    BACKORDERED = "backordered", _("Back-ordered")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class PurchaseOrderLine(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    line = models.PositiveIntegerField()  # 1, 2, ... within the PO (the ERP's line number)
    sku = models.ForeignKey("inventory.SKU", on_delete=models.PROTECT, related_name="+")
    quantity = models.BigIntegerField()
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    requested_date = models.DateField()
    promised_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=LineStatus.choices, default=LineStatus.OPEN)
    shipped_quantity = models.BigIntegerField(default=0)
    received_quantity = models.BigIntegerField(default=0)  # accepted + rejected at receiving
    accepted_quantity = models.BigIntegerField(default=0)  # passed inspection, into stock
    rejected_quantity = models.BigIntegerField(default=0)  # failed inspection, on hold

    objects = TenantQuerySet.as_manager()
    access_policy = PO_PART_ACCESS

    class Meta:
        ordering = ["order", "line"]
        constraints = [
            models.UniqueConstraint(fields=["order", "line"], name="po_line_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="po_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="po_line_price_not_negative"),
            models.CheckConstraint(
                condition=Q(shipped_quantity__gte=0) & Q(received_quantity__gte=0)
                & Q(accepted_quantity__gte=0) & Q(rejected_quantity__gte=0),
                name="po_line_counts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(received_quantity=F("accepted_quantity") + F("rejected_quantity")),
                name="po_line_received_is_accepted_plus_rejected",
            ),
            models.CheckConstraint(condition=Q(received_quantity__lte=F("shipped_quantity")), name="po_line_received_not_past_shipped"),
        ]
        indexes = [models.Index(fields=["tenant", "sku"])]

    def __str__(self):
        return f"{self.order_id}/{self.line}"


class LineAnswer(models.TextChoices):
    ACCEPT = "accept", _("Accept")
    CHANGE = "change", _("Accept with changes")
    BACKORDER = "backorder", _("Back-order")
    REJECT = "reject", _("Reject")


class ChangeState(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class LineChange(models.Model):
    """The supplier's answer to one line when it is not a plain accept: proposed date, quantity or
    price, a back-order or a rejection. The buyer accepts or rejects it, line by line."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="changes")
    line = models.ForeignKey(PurchaseOrderLine, on_delete=models.CASCADE, related_name="changes")
    answer = models.CharField(max_length=10, choices=LineAnswer.choices)
    promised_date = models.DateField(null=True, blank=True)
    quantity = models.BigIntegerField(null=True, blank=True)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    note = models.TextField(blank=True, default="")
    state = models.CharField(max_length=10, choices=ChangeState.choices, default=ChangeState.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = PO_PART_ACCESS

    class Meta:
        constraints = [
            # One open question per line at a time.
            models.UniqueConstraint(fields=["line"], condition=Q(state="pending"), name="line_change_one_pending"),
            models.CheckConstraint(condition=Q(quantity__isnull=True) | Q(quantity__gt=0), name="line_change_quantity_positive"),
        ]


class PurchaseOrderEvent(models.Model):
    """The PO's history: one row per transition or change, in order (`history` in the API)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=30)  # create, update, send, confirm, request_change, accept_change, ...
    from_state = models.CharField(max_length=20, blank=True, default="")
    to_state = models.CharField(max_length=20, blank=True, default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    access_policy = PO_PART_ACCESS

    class Meta:
        ordering = ["order", "at", "id"]
        indexes = [models.Index(fields=["tenant", "order", "at"])]


# ---------------------------------------------------------------------------------------------
# Logistics: shipments (advance ship notices, 送货单), GPS positions, receipts, quality holds.

# Who sees and handles shipments on the core side (besides every core role's view).
LOGISTICS_ROLES = frozenset({Role.LOGISTICS, Role.WAREHOUSE, Role.COORDINATOR, Role.TENANT_ADMIN})


class ShipmentState(models.TextChoices):
    IN_TRANSIT = "in_transit", _("In transit")
    DELIVERED = "delivered", _("Delivered")  # received, fully or in part
    CANCELLED = "cancelled", _("Cancelled")


class CarrierAccessPolicy(AccessPolicy):
    """The supplier's rules (AccessPolicy), and besides them the dispatchers of the carrier
    organisation a shipment is assigned to (`carrier_field`) may do `carrier`'s actions on it:
    a carrier's role counts against that field only, never against the supplier's."""

    def __init__(self, *, carrier, carrier_field, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "carrier", carrier)
        object.__setattr__(self, "carrier_field", carrier_field)

    def roles(self, action):
        return super().roles(action) | frozenset(self.carrier.get(action, ()))

    def _carrier_policy(self):
        # The carrier's rule is a partner rule of its own field: AccessPolicy's, not a copy of it.
        return AccessPolicy(partner=self.carrier, partner_field=self.carrier_field)

    def condition(self, model, user, action):
        return super().condition(model, user, action) | self._carrier_policy().condition(model, user, action)

    def condition_in_context(self, model, user, action, context):
        supplier_side = super().condition_in_context(model, user, action, context)
        if not supplier_side:  # Q(): every row of the tenant (core staff); `|` would narrow it
            return supplier_side
        return supplier_side | self._carrier_policy().condition_in_context(model, user, action, context)


# The carrier side: dispatchers of the carrier organisation a shipment is assigned to see it and
# post its positions (and its ETA).
SHIPMENT_CARRIER_ROLES = frozenset({Role.CARRIER_DISPATCHER})


class Shipment(models.Model):
    """An advance ship notice: lines and part quantities of one or more POs of one supplier."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # The delivery note's number, printed as its barcode: ASN-<id>, set when the shipment is created.
    number = models.CharField(max_length=40, blank=True, default="")
    supplier = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    carrier = models.CharField(max_length=200, blank=True, default="")
    # The carrier partner organisation the shipment is assigned to (its dispatchers post positions).
    carrier_organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT,
                                             related_name="+")
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    route = models.JSONField(default=list, blank=True)  # planned route: [{"lat", "lon"}, ...]
    eta = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=ShipmentState.choices, default=ShipmentState.IN_TRANSIT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The latest position by its own time (positions may arrive out of order).
    last_lat = models.FloatField(null=True, blank=True)
    last_lon = models.FloatField(null=True, blank=True)
    last_position_at = models.DateTimeField(null=True, blank=True)
    # The route's stops ([[lat, lon], ...]: its first and last point and those marked "stop"):
    # standing still near one is not an abnormal stop.
    stops = models.JSONField(default=list, blank=True)
    # The route's segment index (RouteCell rows): the grid's cell size in degrees and the distance
    # it was built for; a tenant threshold above that distance rebuilds it (orders.geo).
    route_cell_deg = models.FloatField(null=True, blank=True)
    route_margin_meters = models.PositiveIntegerField(default=0)
    # The rules' state, advanced by each batch of positions newer than the last one:
    # positions in a row off the route, whether a detour is under way (its alert raised), and
    # where and since when the truck has stood still (and whether that stop was alerted).
    off_route_streak = models.PositiveIntegerField(default=0)
    deviating = models.BooleanField(default=False)
    stop_lat = models.FloatField(null=True, blank=True)
    stop_lon = models.FloatField(null=True, blank=True)
    stop_since = models.DateTimeField(null=True, blank=True)
    stop_alerted = models.BooleanField(default=False)
    # When `shipment_late` is next checked by the sweep (orders.shipment_late_sweep): the start of
    # the day after the earliest due date of its lines, in the tenant's time zone, while it is in
    # transit and not yet late; null once late (its alert raised) or no longer in transit.
    late_check_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    access_policy = CarrierAccessPolicy(
        core={"view": CORE_ROLES, "change": LOGISTICS_ROLES},
        partner={"view": PO_SUPPLIER_ROLES, "add": PO_SUPPLIER_ROLES, "change": PO_SUPPLIER_ROLES},
        partner_field="supplier",
        carrier={"view": SHIPMENT_CARRIER_ROLES, "change": SHIPMENT_CARRIER_ROLES},
        carrier_field="carrier_organization",
    )

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "supplier", "-created_at"], name="shipment_supplier_recent"),
            models.Index(fields=["tenant", "state"], name="shipment_state"),
            models.Index(fields=["tenant", "carrier_organization", "-created_at"], name="shipment_carrier_recent",
                         condition=Q(carrier_organization__isnull=False)),
            models.Index(fields=["late_check_at"], condition=Q(late_check_at__isnull=False), name="shipment_late_check"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], condition=~Q(number=""), name="shipment_number_unique"),
        ]

    def __str__(self):
        return self.number or f"shipment {self.pk}"


class RouteCell(models.Model):
    """One cell of a shipment's route index: the route's segments that pass within the index's
    distance of the cell, as flat [lat1, lon1, lat2, lon2, ...]. A position is checked against
    the segments of its own cell only, so the work per position does not grow with the route."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="route_cells", db_index=False)
    cell = models.BigIntegerField()  # orders.geo.cell_key
    segments = models.BinaryField()

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES},
        partner={"view": PO_SUPPLIER_ROLES},
        partner_field="shipment__supplier",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shipment", "cell"], name="route_cell_unique")]


class ShipmentLine(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="shipment_lines")
    quantity = models.BigIntegerField()

    objects = TenantQuerySet.as_manager()
    access_policy = supplier_visible("shipment__supplier")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order_line"], name="shipment_line_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shipment_line_quantity_positive"),
        ]


class Position(models.Model):
    """A GPS fix of a shipment's truck. Out-of-order arrivals are kept in their own time order."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="positions", db_index=False)
    lat = models.FloatField()
    lon = models.FloatField()
    at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = supplier_visible("shipment__supplier")

    class Meta:
        indexes = [models.Index(fields=["shipment", "at"], name="position_shipment_at")]
        constraints = [
            models.CheckConstraint(condition=Q(lat__gte=-90, lat__lte=90) & Q(lon__gte=-180, lon__lte=180), name="position_in_range"),
        ]


class Inspection(models.TextChoices):
    PASS = "pass", _("Pass")
    FAIL = "fail", _("Fail")


class Receipt(models.Model):
    """A goods receipt of one PO line: what arrived, its inspection and its lot."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="receipts")
    order_line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipts")
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.PROTECT, related_name="receipts")
    quantity = models.BigIntegerField()
    inspection = models.CharField(max_length=4, choices=Inspection.choices)
    lot = models.CharField(max_length=64, blank=True, default="")
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    # The supplier sees the receiving result of its own POs.
    access_policy = supplier_visible("order__supplier", add=PO_RECEIVERS)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="receipt_quantity_positive")]
        indexes = [models.Index(fields=["tenant", "order"], name="receipt_order")]


class QualityHoldState(models.TextChoices):
    HELD = "held", _("On hold")
    RELEASED = "released", _("Released")


class QualityHold(models.Model):
    """A lot held after a failed inspection: further receipt of the lot is blocked until released."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="quality_holds")
    order_line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="quality_holds")
    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="quality_holds")
    sku = models.ForeignKey("inventory.SKU", on_delete=models.PROTECT, related_name="+")
    lot = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=QualityHoldState.choices, default=QualityHoldState.HELD)
    reason = models.TextField(blank=True, default="")  # why it was held
    release_reason = models.TextField(blank=True, default="")
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = supplier_visible("order__supplier", change=PO_RECEIVERS)

    class Meta:
        constraints = [
            # A held lot of a SKU is blocked for every PO until released: one open hold per lot.
            models.UniqueConstraint(fields=["tenant", "sku", "lot"], condition=Q(state="held"), name="quality_hold_one_per_lot"),
        ]

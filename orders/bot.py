"""Bot intents about purchase orders, registered from OrdersConfig.ready() (register()):

- `po_status`: "/po PO-20231026", "what is the status of PO-20231026", "PO-20231026 什么状态";
- `po_logistics`: "/eta PO-20231026", "@bot 帮我查一下PO-20231026的物流状态", "where is PO-20231026":
  the PO's shipments, carrier, tracking number, last position, ETA, late or on its way;
- `po_to_confirm`: "我的待确认订单" / "my POs to confirm": the POs awaiting the asker, as the
  dashboard's "POs awaiting me" defines them (orders.selectors.purchase_order_list_awaiting): for
  a supplier's rep the POs sent to their organisation; for the buyer's side the change requests
  to answer and the drafts to send.

Every answer is written in the asker's language (`answer_language`) and read through the
tenancy choke point with the asker's TenantContext: a PO of another tenant or another supplier
is answered exactly as a PO that does not exist.
"""

import functools
import re
import zoneinfo

from django.db.models import Min
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messaging import registry
from orders.models import (
    LineStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Shipment,
    ShipmentState,
)
from orders.selectors import AWAITING_ANSWER, AWAITING_CONFIRM, AWAITING_SEND, purchase_order_list_awaiting
from scm_portal.tenancy.roles import CORE_ROLES

# A PO number as people type it in a sentence: "PO-" and the ERP's number, glued to Chinese
# text or not ("查一下PO-20231026的物流"): no \b, which CJK characters would defeat.
PO_NUMBER = re.compile(r"(?<![A-Za-z0-9_-])(PO-[A-Za-z0-9][A-Za-z0-9_./-]{0,59})(?<![./-])", re.IGNORECASE)
NUMBER_MAX = 64  # PurchaseOrder.number
LIST_LIMIT = 10
S = PurchaseOrderState

# What the PO waits for next, per state (the answer's last line).
NEXT_STEP = {
    S.DRAFT: gettext_lazy("The buyer has not sent it yet."),
    S.SENT: gettext_lazy("Waiting for the supplier to confirm it."),
    S.CHANGE_REQUESTED: gettext_lazy("The supplier proposed changes; waiting for the buyer's answer."),
    S.CONFIRMED: gettext_lazy("Confirmed; waiting for shipment."),
    S.SHIPPED: gettext_lazy("Shipped; waiting for receipt."),
    S.RECEIVED: gettext_lazy("Received."),
    S.CANCELLED: gettext_lazy("Cancelled."),
}


def answer_language(*, user, tenant):
    """The language the bot answers `user` in. Orders' intents decide it here and nowhere else:
    users have no saved language of their own yet, so it is the tenant's default; once they
    do, theirs comes first."""
    return tenant.default_language


def _in_askers_language(handler):
    """Runs an intent handler with the asker's language active."""

    @functools.wraps(handler)
    def answer(*, tenant, user, room, text, match, context):
        with translation.override(answer_language(user=user, tenant=tenant)):
            return handler(tenant=tenant, user=user, room=room, text=text, match=match, context=context)

    return answer


def _number_in(text, *, command):
    """The PO number a question names: "PO-…" anywhere, or (after a command) its first word."""
    found = PO_NUMBER.search(text or "")
    if found:
        number = found.group(1)
        return "PO-" + number[3:] if number[:3].upper() == "PO-" else number
    if command:
        words = (text or "").split()
        if words:
            return words[0][:NUMBER_MAX + 1]
    return None


def _visible_po(*, tenant, user, context, number):
    """The PO `number` if the asker may see it; None when it is missing or not theirs alike."""
    if len(number) > NUMBER_MAX:
        return None
    return (
        PurchaseOrder.objects.for_tenant(tenant).visible_to(user, context=context)
        .select_related("supplier").filter(number=number).first()
    )


def _not_found(number):
    # One sentence for "no such PO" and "not yours": nothing tells them apart.
    return _("I found no purchase order %(number)s.") % {"number": number}


def _local(moment, tenant):
    return timezone.localtime(moment, zoneinfo.ZoneInfo(tenant.time_zone)).strftime("%Y-%m-%d %H:%M")


def _headline(po):
    return f"**{po.number}** · {po.supplier.name} · {PurchaseOrderState(po.state).label}"


def _lines_summary(*, tenant, user, context, po):
    lines = list(
        PurchaseOrderLine.objects.for_tenant(tenant).visible_to(user, context=context).filter(order=po)
        .exclude(status=LineStatus.CANCELLED).annotate(due=Coalesce("promised_date", "requested_date"))
        .values_list("quantity", "shipped_quantity", "received_quantity", "due")
    )
    if not lines:
        return []
    ordered = sum(row[0] for row in lines)
    shipped = sum(row[1] for row in lines)
    received = sum(row[2] for row in lines)
    first_due = min(row[3] for row in lines)
    return [
        _("%(count)d lines: %(ordered)d ordered, %(shipped)d shipped, %(received)d received") % {
            "count": len(lines), "ordered": ordered, "shipped": shipped, "received": received},
        _("First due date: %(date)s") % {"date": first_due.isoformat()},
    ]


def _shipments(*, tenant, user, context, po):
    """The PO's shipments the asker may see, oldest first, each with the earliest due date of the
    PO's lines it carries."""
    return list(
        Shipment.objects.for_tenant(tenant).visible_to(user, context=context)
        .filter(lines__order_line__order=po)
        .annotate(due=Min(Coalesce("lines__order_line__promised_date", "lines__order_line__requested_date")))
        .order_by("created_at", "pk")
    )


def _shipment_status(shipment, tenant, now):
    """Delivered, cancelled, late (the ETA is past, or past the promised date) or on its way."""
    if shipment.state == ShipmentState.DELIVERED:
        return _("delivered")
    if shipment.state == ShipmentState.CANCELLED:
        return _("cancelled")
    if shipment.eta is not None:
        eta_day = timezone.localtime(shipment.eta, zoneinfo.ZoneInfo(tenant.time_zone)).date()
        if shipment.eta < now:
            return _("late: the ETA has passed")
        if shipment.due is not None and eta_day > shipment.due:
            return _("late: the ETA is after the promised date %(date)s") % {"date": shipment.due.isoformat()}
    return _("on its way")


def _shipment_line(shipment, tenant, now):
    parts = [shipment.carrier or _("carrier not given")]
    if shipment.tracking_number:
        parts.append(_("tracking %(number)s") % {"number": shipment.tracking_number})
    parts.append(_shipment_status(shipment, tenant, now))
    parts.append(_("ETA %(at)s") % {"at": _local(shipment.eta, tenant)} if shipment.eta else _("no ETA"))
    if shipment.last_position_at:
        parts.append(_("last position %(at)s") % {"at": _local(shipment.last_position_at, tenant)})
    else:
        parts.append(_("no position yet"))
    return "- " + " · ".join(str(part) for part in parts)


def _po_answer(*, tenant, user, text, match, context, logistics):
    # A command ("/po 4500012345") may name a number without the "PO-" prefix; a sentence may not.
    command = match is not None and "command" in match.re.groupindex
    number = _number_in(text, command=command)
    if not number:
        return _("Which purchase order? For example: `/po PO-20231026`.")
    po = _visible_po(tenant=tenant, user=user, context=context, number=number)
    if po is None:
        return _not_found(number)
    lines = [_headline(po), ""]
    if not logistics:
        lines += [f"- {line}" for line in _lines_summary(tenant=tenant, user=user, context=context, po=po)]
        lines.append(f"- {NEXT_STEP[PurchaseOrderState(po.state)]}")
    shipments = _shipments(tenant=tenant, user=user, context=context, po=po)
    now = timezone.now()
    if shipments:
        lines += ["", _("Shipments:")] if not logistics else [_("Shipments:")]
        lines += [_shipment_line(shipment, tenant, now) for shipment in shipments]
    elif logistics:
        lines.append(_("No shipment yet. %(next)s") % {"next": NEXT_STEP[PurchaseOrderState(po.state)]})
    return "\n".join(str(line) for line in lines)


@_in_askers_language
def po_status_answer(*, tenant, user, room, text, match, context):
    """A PO's state, its lines in sum, what it waits for, and its shipments in one line each."""
    return _po_answer(tenant=tenant, user=user, text=text, match=match, context=context, logistics=False)


@_in_askers_language
def po_logistics_answer(*, tenant, user, room, text, match, context):
    """A PO's shipments: carrier, tracking number, late or on its way, ETA, last position."""
    return _po_answer(tenant=tenant, user=user, text=text, match=match, context=context, logistics=True)


def _listing(title, orders, *, with_supplier):
    lines = [title]
    for po in orders:
        parts = [f"**{po.number}**", str(PurchaseOrderState(po.state).label)]
        if with_supplier:
            parts.append(po.supplier.name)
        if po.first_due:
            parts.append(_("due %(date)s") % {"date": po.first_due.isoformat()})
        lines.append("- " + " · ".join(parts))
    return lines


# The sections of /pending, in this order: what the reader is to do with each PO.
PENDING_TITLES = {
    AWAITING_CONFIRM: gettext_lazy("Purchase orders waiting for your confirmation:"),
    AWAITING_ANSWER: gettext_lazy("Purchase orders whose proposed changes wait for your answer:"),
    AWAITING_SEND: gettext_lazy("Drafts waiting to be sent:"),
}


@_in_askers_language
def po_to_confirm_answer(*, tenant, user, room, text, match, context):
    """POs waiting for the asker (orders.selectors.purchase_order_list_awaiting, the dashboard's
    definition): a supplier's rep confirms what was sent to their organisation; the buyer's side
    answers the change requests and sends the drafts."""
    orders = purchase_order_list_awaiting(user, tenant, context=context, limit=LIST_LIMIT)
    if not orders:
        return _("No purchase orders are waiting for your answer. 👍")
    shown = orders[:LIST_LIMIT]
    # The supplier's name where the asker deals with more than one (the core's staff always).
    with_supplier = len({po.supplier_id for po in shown}) > 1 or bool(context.roles & CORE_ROLES)
    sections = []
    for awaiting, title in PENDING_TITLES.items():
        rows = [po for po in shown if po.awaiting == awaiting]
        if rows:
            sections.append("\n".join(_listing(str(title), rows, with_supplier=with_supplier)))
    if len(orders) > LIST_LIMIT:
        sections.append(_("… and more: see the purchase order list."))
    return "\n\n".join(sections)


PO = r"(PO-[A-Za-z0-9][A-Za-z0-9_./-]{0,59})"


def register():
    """/po, /eta and /pending; called from OrdersConfig.ready(). Logistics comes before the
    status so that "PO-… 的物流状态" is a logistics question."""
    registry.register_intent(
        "po_logistics",
        command="/eta",
        patterns=[
            re.compile(PO + r".{0,12}?(物流|发货|运输|到货|到哪|在哪|预计|ETA)", re.IGNORECASE),
            re.compile(r"(物流|运输|到货|logistics|shipment|shipping|tracking|eta\b|where is|when will)"
                       r".{0,40}?" + PO, re.IGNORECASE),
        ],
        handler=po_logistics_answer,
        usage="/eta PO-20231026",
        help_text=gettext_lazy("the shipments of a purchase order: carrier, tracking, ETA, late or on its way"),
        examples=["@bot 帮我查一下PO-20231026的物流状态", "@bot where is PO-20231026"],
    )
    registry.register_intent(
        "po_status",
        command="/po",
        patterns=[
            re.compile(PO + r".{0,12}?(状态|进度|怎么样|确认了吗)", re.IGNORECASE),
            re.compile(r"(status|state|progress)\s+of\s+" + PO, re.IGNORECASE),
            re.compile(PO + r"\s*(status|state)\b", re.IGNORECASE),
        ],
        handler=po_status_answer,
        usage="/po PO-20231026",
        help_text=gettext_lazy("the state of a purchase order, its lines and shipments"),
        examples=["@bot PO-20231026 什么状态", "@bot what is the status of PO-20231026"],
    )
    registry.register_intent(
        "po_to_confirm",
        command="/pending",
        patterns=[
            re.compile(r"(待确认|待答复|待回复|待处理)的?(采购)?(订单|PO)", re.IGNORECASE),
            re.compile(r"\b(POs?|purchase orders?|orders?)\s+(to confirm|awaiting|waiting|pending)", re.IGNORECASE),
        ],
        handler=po_to_confirm_answer,
        usage="/pending",
        help_text=gettext_lazy("the purchase orders waiting for your confirmation or answer"),
        examples=["@bot 我的待确认订单", "@bot my POs to confirm"],
    )

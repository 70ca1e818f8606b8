"""Purchase-order pages: the list and one PO, for the buyers and for a supplier's reps (their
portal: the same pages show them only their POs, with the forms to answer them).

Thin views: reads through orders.selectors, writes through orders.services.purchase_orders (the
same checks as the API: 404 for a PO the reader may not see, 403 for the wrong role, 409 for a
move the state does not allow). The detail page keeps itself current over the tenant socket
(static/portal/portal.js, Portal.liveParts): a message about the PO re-reads the page's live part.
"""

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from messaging.frames import message_body
from messaging.models import Room, RoomKind
from messaging.sanitize import render_markdown
from messaging.services import message_post
from orders import selectors
from orders.models import (
    PO_RECEIVERS,
    PO_SUPPLIER_ROLES,
    PO_WRITERS,
    ChangeState,
    IllegalTransition,
    LineAnswer,
    LineStatus,
    PurchaseOrder,
    QualityHold,
)
from orders.models import PurchaseOrderState as S
from orders.services import purchase_orders as services
from orders.services.receipts import quality_hold_release
from orders.services.shipments import LogisticsConflict
from scm_portal.tenancy.roles import CORE_ROLES, is_read_only
from scm_portal.tenancy.views import tenant_page

PAGE_SIZE = 50
MOVES = {"send", "confirm", "accept-change", "reject-change", "cancel", "comment", "release-hold"}


class ListFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "")] + S.choices)
    supplier = forms.SlugField(required=False, max_length=50)
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


@tenant_page
def purchase_order_list_page(request):
    if not request.tenant_context.roles & PurchaseOrder.access_policy.roles("view"):
        return render(request, "403.html", status=403)  # a funder or carrier has no POs here
    form = ListFilterForm(request.GET)
    params = form.cleaned_data if form.is_valid() else {"state": "", "supplier": "", "before": None}
    context = request.tenant_context
    orders = selectors.purchase_order_list(request.user, request.tenant, context=context,
                                           state=params["state"] or None, supplier=params["supplier"] or None)
    if params["before"]:
        orders = orders.filter(pk__lt=params["before"])  # keyset pages: fast at any depth
    page = list(orders[:PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    is_core = bool(context.roles & CORE_ROLES)
    return render(request, "orders/po_list.html", {
        "orders": page, "older": page[-1].pk if more else None, "filters": params, "states": S.choices,
        "is_core": is_core, "is_supplier": bool(context.organizations(PO_SUPPLIER_ROLES)),
    })


def _detail_context(request, order, error=None):
    context = request.tenant_context
    lines = list(order.lines.select_related("sku").order_by("line"))
    pending = {c.line_id: c for c in order.changes.filter(state=ChangeState.PENDING)}
    for line in lines:
        line.pending_change = pending.get(line.pk)
    is_writer = bool(context.roles & PO_WRITERS)
    is_supplier = order.supplier_id in context.organizations(PO_SUPPLIER_ROLES)
    room = (Room.objects.for_tenant(request.tenant).visible_to(request.user, context=context)
            .filter(kind=RoomKind.PARTNER, partnership__organization_id=order.supplier_id).first())
    return {
        "order": order, "lines": lines, "error": error,
        "history": list(order.events.select_related("actor").order_by("at", "pk")),
        "holds": list(order.quality_holds.select_related("sku", "order_line", "released_by").order_by("pk")),
        "may_release": bool(context.roles & PO_RECEIVERS) and not is_read_only(context.roles),
        # Each message in the reader's language (a keyed card), as the room shows it; a tombstone's notice.
        "conversation": [(message, render_markdown(message_body(message)))
                         for message in selectors.purchase_order_conversation(order, request.user, context=context)],
        "room": room,
        "may_comment": not is_read_only(context.roles),  # the auditor reads the conversation, never writes
        "may_send": is_writer and order.state == S.DRAFT,
        "may_cancel": is_writer and order.state in (S.DRAFT, S.SENT, S.CHANGE_REQUESTED, S.CONFIRMED),
        "may_decide": is_writer and order.state == S.CHANGE_REQUESTED and bool(pending),
        "may_confirm": is_supplier and order.state == S.SENT,
        "answers": LineAnswer.choices,
        "open_status": LineStatus.OPEN,
    }


def _order_or_404(request, number):
    order = selectors.purchase_order_get(request.user, request.tenant, number, context=request.tenant_context)
    if order is None:
        raise Http404
    return order


@tenant_page
def purchase_order_detail_page(request, number):
    order = _order_or_404(request, number)
    template = "orders/_po_live.html" if request.GET.get("part") == "live" else "orders/po_detail.html"
    return render(request, template, _detail_context(request, order))


def _answers(request, order):
    """The confirm form's answers: one per open line; a plain accept needs no answer."""
    answers = []
    for line in order.lines.filter(status=LineStatus.OPEN).order_by("line"):
        answer = request.POST.get(f"answer_{line.line}", LineAnswer.ACCEPT)
        item = {"line": line.line, "answer": answer}
        date = request.POST.get(f"promised_date_{line.line}", "").strip()
        quantity = request.POST.get(f"quantity_{line.line}", "").strip()
        price = request.POST.get(f"unit_price_{line.line}", "").strip()
        if date:
            item["promised_date"] = date
        if quantity:
            item["quantity"] = int(quantity) if quantity.isdigit() and len(quantity) < 19 else quantity
        if price:
            item["unit_price"] = price
        if answer != LineAnswer.ACCEPT or len(item) > 2:
            answers.append(item)
    return answers


def _lines(request):
    numbers = request.POST.getlist("line")
    return [int(n) for n in numbers if n.isdigit() and len(n) < 10] or None


@tenant_page
def purchase_order_move_page(request, number, move):
    if move not in MOVES:
        raise Http404
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    order = _order_or_404(request, number)
    who = {"tenant": request.tenant, "actor": request.user, "context": request.tenant_context, "order": order}
    try:
        if move == "send":
            services.purchase_order_send(**who)
        elif move == "confirm":
            services.purchase_order_confirm(**who, answers=_answers(request, order))
        elif move == "accept-change":
            services.purchase_order_accept_change(**who, lines=_lines(request))
        elif move == "reject-change":
            services.purchase_order_reject_change(**who, lines=_lines(request))
        elif move == "cancel":
            services.purchase_order_cancel(**who, reason=request.POST.get("reason", "")[:2000])
        elif move == "release-hold":
            _release_hold(request, order)
        else:
            _comment(request, order)
    except ValidationError as error:
        return _refused(request, order, error, 400)
    except (IllegalTransition, LogisticsConflict) as error:
        return _refused(request, order, error, 409)
    return redirect("orders:detail", tenant=request.tenant.slug, number=order.number)


def _release_hold(request, order):
    """Releases one of the PO's quality holds with the form's reason (the receiving roles: 403
    for others; a hold not of this PO is 404)."""
    pk = request.POST.get("hold", "")
    hold = (QualityHold.objects.for_tenant(request.tenant).visible_to(request.user, context=request.tenant_context)
            .filter(order=order, pk=int(pk)).first() if pk.isascii() and pk.isdigit() and len(pk) < 19 else None)
    if hold is None:
        raise Http404
    quality_hold_release(tenant=request.tenant, actor=request.user, context=request.tenant_context, hold=hold,
                         reason=request.POST.get("reason", ""))


def _comment(request, order):
    """A chat message in the supplier's room, linked to the PO."""
    room = _detail_context(request, order)["room"]
    if room is None:
        raise PermissionDenied
    message_post(tenant=request.tenant, actor=request.user, context=request.tenant_context, room=room,
                 body=request.POST.get("body", ""), subject={"kind": "purchase_order", "id": order.number})


def _refused(request, order, error, status):
    if isinstance(error, ValidationError):
        messages = []
        for field, items in (error.message_dict.items() if hasattr(error, "error_dict") else [("", error.messages)]):
            messages += [f"{field}: {m}" if field and field != "__all__" else m for m in items]
        fields = getattr(error, "fields", None)
        if fields:
            messages = [_describe(fields)]
        text = "; ".join(messages)
    else:
        text = str(error)
    order = _order_or_404(request, order.number)
    return render(request, "orders/po_detail.html", _detail_context(request, order, error=text), status=status)


def _describe(fields, prefix=""):
    parts = []
    for key, value in fields.items():
        label = f"{prefix}{key}"
        if isinstance(value, dict):
            parts.append(_describe(value, f"{label}."))
        else:
            parts.append(f"{label}: {' '.join(str(v) for v in value)}")
    return "; ".join(parts)


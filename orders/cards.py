"""Every text of a purchase order's event cards, in one place.

A card is a message key, its parameters and the body rendered from them in the active language
(the services render it in the tenant's language when they post; a reader's language can render
it again from the key and parameters kept in the message's payload, `payload["card"]`). The
buttons a card carries are named here too; whether a reader may press one is decided by the
action's handler when it is pressed (orders.actions), never by the card.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Action names (registered in OrdersConfig.ready() through orders.actions.register_actions).
ACTION_CONFIRM = "po_confirm"
ACTION_ACCEPT_CHANGE = "po_accept_change"
ACTION_REJECT_CHANGE = "po_reject_change"

# Button labels: bilingual by design, as a card is stored once and read by both sides of a room.
ACTION_LABELS = {
    ACTION_CONFIRM: "确认订单 / Confirm order",
    ACTION_ACCEPT_CHANGE: "接受变更 / Accept changes",
    ACTION_REJECT_CHANGE: "拒绝变更 / Reject changes",
}

TEXTS = {
    "purchase_order.sent": gettext_lazy(
        "**Purchase order %(number)s** was sent by %(who)s: %(lines)d line(s), %(total)s %(currency)s. "
        "Please confirm it."),
    "purchase_order.confirmed": gettext_lazy("**Purchase order %(number)s** was confirmed by %(who)s."),
    "purchase_order.change_requested": gettext_lazy(
        "**Purchase order %(number)s**: %(who)s answered with changes. The buyer accepts or rejects them."),
    "purchase_order.changes_decided": gettext_lazy(
        "**Purchase order %(number)s**: %(who)s decided on the supplier's changes."),
    "purchase_order.cancelled": gettext_lazy("**Purchase order %(number)s** was cancelled by %(who)s."),
}

# One whole sentence per kind of line answer, so that every language words it its own way.
CHANGE_TEXTS = {
    "change": gettext_lazy("Line %(line)d: %(what)s"),
    "backorder": gettext_lazy("Line %(line)d: back-ordered%(when)s"),
    "reject": gettext_lazy("Line %(line)d: rejected by the supplier"),
}
# The line under a card once its button was pressed (action_press posts it).
PRESS_TEXTS = {
    ACTION_CONFIRM: gettext_lazy("%(who)s confirmed purchase order %(number)s."),
    ACTION_ACCEPT_CHANGE: gettext_lazy("%(who)s accepted the changes to purchase order %(number)s."),
    ACTION_REJECT_CHANGE: gettext_lazy("%(who)s rejected the changes to purchase order %(number)s."),
}
DECISION_TEXTS = {
    "accepted": gettext_lazy("Line %(line)d: change accepted"),
    "rejected": gettext_lazy("Line %(line)d: change rejected"),
}


@dataclass(frozen=True)
class Card:
    key: str
    params: dict
    body: str
    actions: tuple = field(default_factory=tuple)

    def payload(self, order):
        return {"purchase_order": order.number, "state": order.state,
                "card": {"key": self.key, "params": self.params}}


def _who(actor):
    return (actor.get_full_name() or actor.username) if actor is not None else _("the system")


def _money(value):
    value = Decimal(value)
    return f"{value:,.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:,}"


def _change_what(change):
    parts = []
    if change.get("promised_date"):
        parts.append(_("date %(date)s") % {"date": change["promised_date"]})
    if change.get("quantity") is not None:
        parts.append(_("quantity %(quantity)s") % {"quantity": change["quantity"]})
    if change.get("unit_price") is not None:
        parts.append(_("unit price %(price)s") % {"price": change["unit_price"]})
    return ", ".join(parts)


def card_render(key, params):
    """The card's body in the active language, from its key and parameters."""
    body = str(TEXTS[key]) % params
    lines = []
    for change in params.get("changes", ()):
        answer = change["answer"]
        if answer == "change":
            lines.append(str(CHANGE_TEXTS["change"]) % {"line": change["line"], "what": _change_what(change)})
        elif answer == "backorder":
            when = (" " + _("until %(date)s") % {"date": change["promised_date"]}) if change.get("promised_date") else ""
            lines.append(str(CHANGE_TEXTS["backorder"]) % {"line": change["line"], "when": when})
        else:
            lines.append(str(CHANGE_TEXTS["reject"]) % {"line": change["line"]})
    for decision in params.get("decisions", ()):
        lines.append(str(DECISION_TEXTS[decision["decision"]]) % {"line": decision["line"]})
    if lines:
        body += "\n\n" + "\n".join(f"- {line}" for line in lines)
    return body


def _card(key, params, actions=()):
    return Card(key=key, params=params, body=card_render(key, params), actions=tuple(actions))


def purchase_order_sent_card(order, *, actor, lines):
    """The PO reached the supplier: "确认订单" for the supplier's reps."""
    total = sum((Decimal(line.quantity) * line.unit_price for line in lines), Decimal(0))
    params = {"number": order.number, "who": _who(actor), "lines": len(lines), "total": _money(total),
              "currency": order.currency}
    return _card("purchase_order.sent", params, [ACTION_CONFIRM])


def purchase_order_confirmed_card(order, *, actor):
    return _card("purchase_order.confirmed", {"number": order.number, "who": _who(actor)})


def purchase_order_change_requested_card(order, *, actor, changes):
    """The supplier's answers other than accept; the buyer accepts or rejects them."""
    params = {"number": order.number, "who": _who(actor), "changes": [
        {"line": c.line.line, "answer": c.answer,
         "promised_date": c.promised_date.isoformat() if c.promised_date else None,
         "quantity": c.quantity, "unit_price": str(c.unit_price) if c.unit_price is not None else None}
        for c in changes]}
    return _card("purchase_order.change_requested", params, [ACTION_ACCEPT_CHANGE, ACTION_REJECT_CHANGE])


def purchase_order_changes_decided_card(order, *, actor, decisions, pending):
    """The buyer's decisions; the buttons stay while other changes are pending, and "确认订单"
    comes back when a rejection sends the PO back to the supplier."""
    params = {"number": order.number, "who": _who(actor),
              "decisions": [{"line": line, "decision": decision} for line, decision in decisions]}
    actions = [ACTION_ACCEPT_CHANGE, ACTION_REJECT_CHANGE] if pending else []
    if order.state == "sent":
        actions = [ACTION_CONFIRM]
    return _card("purchase_order.changes_decided", params, actions)


def purchase_order_cancelled_card(order, *, actor):
    return _card("purchase_order.cancelled", {"number": order.number, "who": _who(actor)})


def purchase_order_press_text(action, *, actor, order):
    """The outcome line of a pressed PO button, in the active language."""
    return str(PRESS_TEXTS[action]) % {"who": _who(actor), "number": order.number}

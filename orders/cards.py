"""Every text of a purchase order's event cards, in one place.

A card is stored as a key and its parameters (messaging.texts): each reader reads it in their
own language, and the body kept beside it is its rendering in the tenant's language. The buttons
a card carries are named here too; who is offered one, and whether it is pressable now, is the
action's `available` (orders.actions), read from the PO's state; the handler decides again when
it is pressed.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext_lazy

from messaging.texts import Text, register_text

# Action names (registered in OrdersConfig.ready() through orders.actions.register_actions).
ACTION_CONFIRM = "po_confirm"
ACTION_ACCEPT_CHANGE = "po_accept_change"
ACTION_REJECT_CHANGE = "po_reject_change"
# Shipping and receiving: "确认收货" on a shipped PO's cards (a press receives everything shipped,
# inspected pass), and a link to the PO's page to release a quality hold (it needs a reason).
ACTION_RECEIVE = "po_receive"
ACTION_RELEASE_HOLD = "quality_hold_release"

# Button labels: one language each, shown in the reader's.
ACTION_LABELS = {
    ACTION_CONFIRM: gettext_lazy("Confirm order"),
    ACTION_ACCEPT_CHANGE: gettext_lazy("Accept changes"),
    ACTION_REJECT_CHANGE: gettext_lazy("Reject changes"),
    ACTION_RECEIVE: gettext_lazy("Confirm receipt"),
    ACTION_RELEASE_HOLD: gettext_lazy("Release the hold…"),
}

TEXTS = {
    "orders.po.sent": gettext_lazy(
        "**Purchase order {number}** was sent by {who}: {lines} line(s), {total} {currency}. Please confirm it."),
    "orders.po.confirmed": gettext_lazy("**Purchase order {number}** was confirmed by {who}."),
    "orders.po.change_requested": gettext_lazy(
        "**Purchase order {number}**: {who} answered with changes. The buyer accepts or rejects them.\n\n{lines}"),
    "orders.po.changes_decided": gettext_lazy(
        "**Purchase order {number}**: {who} decided on the supplier's changes.\n\n{lines}"),
    "orders.po.cancelled": gettext_lazy("**Purchase order {number}** was cancelled by {who}."),
    # A line of a card's list (not words: nothing to translate).
    "orders.po.bullet": "- {item}",
    "orders.po.system": gettext_lazy("the system"),
    # One whole sentence per kind of line answer, so that every language words it its own way.
    "orders.po.line.change": gettext_lazy("Line {line}: {what}"),
    "orders.po.line.backorder": gettext_lazy("Line {line}: back-ordered"),
    "orders.po.line.backorder_until": gettext_lazy("Line {line}: back-ordered until {date}"),
    "orders.po.line.reject": gettext_lazy("Line {line}: rejected by the supplier"),
    "orders.po.line.accepted": gettext_lazy("Line {line}: change accepted"),
    "orders.po.line.rejected": gettext_lazy("Line {line}: change rejected"),
    # What a change proposes, and how a language lists two or three of them.
    "orders.po.what.date": gettext_lazy("date {date}"),
    "orders.po.what.quantity": gettext_lazy("quantity {quantity}"),
    "orders.po.what.price": gettext_lazy("unit price {price}"),
    "orders.po.list.2": gettext_lazy("{a}, {b}"),
    "orders.po.list.3": gettext_lazy("{a}, {b}, {c}"),
    # Shipping and receiving (orders.services.shipments, receipts), linked to the PO.
    "orders.shipment.dispatched": gettext_lazy(
        "**Shipment {shipment}** of purchase order {number} was dispatched by {who}. Carrier: {carrier}; "
        "ETA: {eta}.\n\n{lines}"),
    "orders.shipment.line": gettext_lazy("Line {line}: {quantity} shipped"),
    "orders.shipment.not_given": gettext_lazy("not given"),
    "orders.receipt.received": gettext_lazy("**Purchase order {number}**: {who} received goods. {outcome}\n\n{lines}"),
    "orders.receipt.received_shipment": gettext_lazy(
        "**Purchase order {number}**: {who} received goods of shipment {shipment}. {outcome}\n\n{lines}"),
    "orders.receipt.line": gettext_lazy("Line {line}: {accepted} accepted, {rejected} rejected"),
    "orders.receipt.line_lot": gettext_lazy("Line {line}, lot {lot}: {accepted} accepted, {rejected} rejected"),
    "orders.receipt.outcome.received": gettext_lazy("The purchase order is received in full."),
    "orders.receipt.outcome.partial": gettext_lazy("More of it is still to be received."),
    "orders.hold.held": gettext_lazy(
        "**Quality hold**: lot {lot} of {sku} failed inspection at receiving of purchase order {number}, line "
        "{line} ({quantity} held). Further receipt of the lot is blocked until it is released with a reason."),
    "orders.hold.released": gettext_lazy(
        "**Quality hold released**: lot {lot} of {sku} (purchase order {number}) was released by {who}. "
        "Reason: {reason}"),
    # The line under a card once its button was pressed (action_press posts it).
    f"orders.po.pressed.{ACTION_CONFIRM}": gettext_lazy("{who} confirmed purchase order {number}."),
    f"orders.po.pressed.{ACTION_ACCEPT_CHANGE}": gettext_lazy("{who} accepted the changes to purchase order {number}."),
    f"orders.po.pressed.{ACTION_REJECT_CHANGE}": gettext_lazy("{who} rejected the changes to purchase order {number}."),
    f"orders.po.pressed.{ACTION_RECEIVE}": gettext_lazy("{who} received the goods shipped on purchase order {number}."),
}


def register_texts():
    """Called from OrdersConfig.ready()."""
    for key, template in TEXTS.items():
        register_text(key, template)


@dataclass(frozen=True)
class Card:
    text: Text
    actions: tuple = field(default_factory=tuple)
    extra: dict = field(default_factory=dict)  # more of the payload: the shipment, the hold

    def payload(self, order):
        # `card` repeats the message's `text` for clients of the contract's earlier form.
        return {"purchase_order": order.number, "state": order.state, "card": self.text.stored(), **self.extra}


def _who(actor):
    return (actor.get_full_name() or actor.username) if actor is not None else Text("orders.po.system")


def _money(value):
    value = Decimal(value)
    return f"{value:,.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:,}"


def _listed(parts):
    if len(parts) == 1:
        return parts[0]
    return Text(f"orders.po.list.{len(parts)}", dict(zip("abc", parts)))


def _change_line(change):
    """One supplier answer as a nested Text (change: a dict of purchase_order_change_requested_card's)."""
    line, answer = change["line"], change["answer"]
    if answer == "change":
        parts = []
        if change.get("promised_date"):
            parts.append(Text("orders.po.what.date", {"date": change["promised_date"]}))
        if change.get("quantity") is not None:
            parts.append(Text("orders.po.what.quantity", {"quantity": change["quantity"]}))
        if change.get("unit_price") is not None:
            parts.append(Text("orders.po.what.price", {"price": change["unit_price"]}))
        item = Text("orders.po.line.change", {"line": line, "what": _listed(parts)})
    elif answer == "backorder":
        item = (Text("orders.po.line.backorder_until", {"line": line, "date": change["promised_date"]})
                if change.get("promised_date") else Text("orders.po.line.backorder", {"line": line}))
    else:
        item = Text("orders.po.line.reject", {"line": line})
    return Text("orders.po.bullet", {"item": item})


def purchase_order_sent_card(order, *, actor, lines):
    """The PO reached the supplier: "Confirm order" for the supplier's reps."""
    total = sum((Decimal(line.quantity) * line.unit_price for line in lines), Decimal(0))
    params = {"number": order.number, "who": _who(actor), "lines": len(lines), "total": _money(total),
              "currency": order.currency}
    return Card(Text("orders.po.sent", params), (ACTION_CONFIRM,))


def purchase_order_confirmed_card(order, *, actor):
    return Card(Text("orders.po.confirmed", {"number": order.number, "who": _who(actor)}))


def purchase_order_change_requested_card(order, *, actor, changes):
    """The supplier's answers other than accept; the buyer accepts or rejects them."""
    answers = [{"line": c.line.line, "answer": c.answer,
                "promised_date": c.promised_date.isoformat() if c.promised_date else None,
                "quantity": c.quantity, "unit_price": str(c.unit_price) if c.unit_price is not None else None}
               for c in changes]
    text = Text("orders.po.change_requested", {"number": order.number, "who": _who(actor),
                                               "lines": [_change_line(answer) for answer in answers]})
    return Card(text, (ACTION_ACCEPT_CHANGE, ACTION_REJECT_CHANGE))


def purchase_order_changes_decided_card(order, *, actor, decisions, pending):
    """The buyer's decisions; the buttons stay while other changes are pending, and "Confirm
    order" comes back when a rejection sends the PO back to the supplier."""
    lines = [Text("orders.po.bullet", {"item": Text(f"orders.po.line.{decision}", {"line": line})})
             for line, decision in decisions]
    actions = (ACTION_ACCEPT_CHANGE, ACTION_REJECT_CHANGE) if pending else ()
    if order.state == "sent":
        actions = (ACTION_CONFIRM,)
    return Card(Text("orders.po.changes_decided", {"number": order.number, "who": _who(actor), "lines": lines}), actions)


def purchase_order_cancelled_card(order, *, actor):
    return Card(Text("orders.po.cancelled", {"number": order.number, "who": _who(actor)}))


def purchase_order_press_text(action, *, actor, order):
    """The outcome line of a pressed PO button, read in each reader's language."""
    return Text(f"orders.po.pressed.{action}", {"who": _who(actor), "number": order.number})


def shipment_dispatched_card(order, *, shipment, actor, lines, eta):
    """A shipment left with lines of `order` ([{"line", "quantity"}]); `eta`: the ETA as the
    tenant reads it (text) or None. "Confirm receipt" for the receiving roles while the PO is shipped."""
    not_given = Text("orders.shipment.not_given")
    bullets = [Text("orders.po.bullet", {"item": Text("orders.shipment.line", {"line": row["line"], "quantity": row["quantity"]})})
               for row in lines]
    text = Text("orders.shipment.dispatched", {
        "shipment": shipment.number, "number": order.number, "who": _who(actor), "carrier": shipment.carrier or not_given,
        "eta": eta or not_given, "lines": bullets})
    return Card(text, (ACTION_RECEIVE,), {"shipment": shipment.pk, "shipment_number": shipment.number})


def receipt_card(order, *, actor, shipment_number, lines):
    """Goods of `order` received: per line and lot what was accepted and rejected ([{"line", "lot",
    "accepted", "rejected"}]). "Confirm receipt" stays while more remains to receive."""
    bullets = []
    for row in lines:
        params = {"line": row["line"], "accepted": row["accepted"], "rejected": row["rejected"]}
        item = (Text("orders.receipt.line_lot", {**params, "lot": row["lot"]}) if row["lot"]
                else Text("orders.receipt.line", params))
        bullets.append(Text("orders.po.bullet", {"item": item}))
    complete = order.state == "received"
    outcome = Text("orders.receipt.outcome.received" if complete else "orders.receipt.outcome.partial")
    params = {"number": order.number, "who": _who(actor), "outcome": outcome, "lines": bullets}
    if shipment_number:
        text = Text("orders.receipt.received_shipment", {**params, "shipment": shipment_number})
    else:
        text = Text("orders.receipt.received", params)
    extra = {"receipt": [{"line": row["line"], "lot": row["lot"], "accepted": row["accepted"],
                          "rejected": row["rejected"]} for row in lines]}
    if shipment_number:
        extra["shipment_number"] = shipment_number
    return Card(text, () if complete else (ACTION_RECEIVE,), extra)


def quality_hold_card(order, *, hold, sku_code, line, quantity, url):
    """A lot put on hold at receiving: "Release the hold…" opens the PO's page at the hold (the
    release needs a reason), for the receiving roles while it is held."""
    text = Text("orders.hold.held", {"lot": hold.lot, "sku": sku_code, "number": order.number, "line": line,
                                     "quantity": quantity})
    return Card(text, (ACTION_RELEASE_HOLD,), {"quality_hold": hold.pk, "lot": hold.lot, "sku": sku_code, "url": url})


def quality_hold_released_card(order, *, hold, sku_code, actor):
    text = Text("orders.hold.released", {"lot": hold.lot, "sku": sku_code, "number": order.number, "who": _who(actor),
                                         "reason": hold.release_reason})
    return Card(text, (), {"quality_hold": hold.pk, "lot": hold.lot, "sku": sku_code})


def purchase_order_card_state(state, supplier_id, held=()):
    """What the buttons of a PO's cards are decided from (the `purchase_order` subject's state,
    orders.actions): the PO's state, its supplier and the ids of its quality holds still held;
    no user's."""
    return {"state": state, "supplier": supplier_id, "held": sorted(held)}

"""The purchase-order API's bodies and answers.

Bodies are checked by orders.services.purchase_orders (check_purchase_order_rows and the
answers' check), in one pass for a batch of 1,000 POs: the serializers here document them in
the OpenAPI schema. Answers are built by the plain functions below (a page of 50 POs, a PO with
its lines and history), money as strings.
"""

from decimal import Decimal

from rest_framework import serializers

from orders.models import LineAnswer


def money(value):
    """A Decimal as the contract's string: at least two decimals, no trailing zeros past them."""
    if value is None:
        return None
    value = Decimal(value)
    two = value.quantize(Decimal("0.01"))
    return str(two) if two == value else str(value.normalize())


def purchase_order_row(order):
    return {
        "number": order.number, "state": order.state, "supplier": order.supplier.slug,
        "warehouse": order.warehouse.code, "currency": order.currency, "version": order.version,
        "created_at": order.created_at.isoformat(),
        "sent_at": order.sent_at.isoformat() if order.sent_at else None,
        "confirmed_at": order.confirmed_at.isoformat() if order.confirmed_at else None,
    }


def purchase_order_list_row(row):
    """A row of orders.selectors.purchase_order_list_rows, as purchase_order_row answers a PO."""
    return {
        "number": row["number"], "state": row["state"], "supplier": row["supplier__slug"],
        "warehouse": row["warehouse__code"], "currency": row["currency"], "version": row["version"],
        "created_at": row["created_at"].isoformat(),
        "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
        "confirmed_at": row["confirmed_at"].isoformat() if row["confirmed_at"] else None,
    }


def purchase_order_line_row(line, pending=None):
    row = {
        "line": line.line, "sku": line.sku.code, "quantity": line.quantity, "shipped_quantity": line.shipped_quantity,
        "received_quantity": line.received_quantity, "unit_price": money(line.unit_price),
        "requested_date": line.requested_date.isoformat(),
        "promised_date": line.promised_date.isoformat() if line.promised_date else None,
        "status": line.status,
    }
    row["pending_change"] = None if pending is None else {
        "answer": pending.answer, "promised_date": pending.promised_date.isoformat() if pending.promised_date else None,
        "quantity": pending.quantity, "unit_price": money(pending.unit_price), "note": pending.note,
    }
    return row


def purchase_order_detail(order, lines, pending, history):
    """`pending`: {line id: its pending LineChange}."""
    return {
        **purchase_order_row(order), "note": order.note,
        "lines": [purchase_order_line_row(line, pending.get(line.pk)) for line in lines],
        "history": [{"action": e.action, "from_state": e.from_state, "to_state": e.to_state,
                     "actor": e.actor.username if e.actor_id else None, "at": e.at.isoformat(), "details": e.details}
                    for e in history],
    }


class LineSerializer(serializers.Serializer):
    line = serializers.IntegerField(required=False, min_value=1, help_text="Defaults to the line's place, from 1.")
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1)
    unit_price = serializers.CharField(help_text='A decimal string such as "12.50" (at most 4 decimals); never a number.')
    requested_date = serializers.DateField()
    promised_date = serializers.DateField(required=False, allow_null=True)


class PurchaseOrderInputSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=64, help_text="The ERP's number, e.g. PO-20231026 (letters, digits, . _ -).")
    supplier = serializers.CharField(help_text="The supplier organisation's slug.")
    warehouse = serializers.CharField(help_text="The warehouse's code.")
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. CNY.")
    note = serializers.CharField(required=False, allow_blank=True)
    lines = LineSerializer(many=True)


class PurchaseOrderUpsertSerializer(PurchaseOrderInputSerializer):
    number = serializers.CharField(max_length=64, required=False, help_text="Optional; must equal the path's.")


class PurchaseOrderBatchSerializer(serializers.Serializer):
    purchase_orders = PurchaseOrderInputSerializer(many=True, help_text="1 to 1,000 POs (or send the list itself).")


class BatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    purchase_orders = serializers.ListField(child=serializers.DictField())


class PurchaseOrderRowSerializer(serializers.Serializer):
    number = serializers.CharField()
    state = serializers.CharField()
    supplier = serializers.CharField()
    warehouse = serializers.CharField()
    currency = serializers.CharField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    confirmed_at = serializers.DateTimeField(allow_null=True)


class PurchaseOrderDetailSerializer(PurchaseOrderRowSerializer):
    note = serializers.CharField()
    lines = serializers.ListField(child=serializers.DictField())
    history = serializers.ListField(child=serializers.DictField())


class AnswerSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    answer = serializers.ChoiceField(choices=LineAnswer.choices, required=False,
                                     help_text="Defaults to change when a date, quantity or price is given, else accept.")
    promised_date = serializers.DateField(required=False)
    quantity = serializers.IntegerField(required=False, min_value=1)
    unit_price = serializers.CharField(required=False)
    note = serializers.CharField(required=False)


class ConfirmSerializer(serializers.Serializer):
    lines = AnswerSerializer(many=True, required=False, help_text="Lines not named are accepted; no body accepts all.")


class DecideSerializer(serializers.Serializer):
    lines = serializers.ListField(child=serializers.IntegerField(), required=False,
                                  help_text="Line numbers; none: every pending change.")


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True)

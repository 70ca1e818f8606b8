"""What inventory's alerts, notices and bot answers say (messaging.texts): keys and templates,
registered from InventoryConfig.ready(), and the alert kinds' `render` (alerts.registry), which
builds an alert's title and body from its payload, so each reader reads them in their language.
"""

from django.utils.translation import gettext_lazy as _

from messaging.texts import Text, register_text

TEXTS = {
    "inventory.low_stock.title": _("{sku} in {wh} is below safety stock: {new} < {safety}"),
    "inventory.reorder_point.title": _("{sku} in {wh} reached its reorder point: {new} ≤ {point}"),
    "inventory.step_drop.title": _("{sku} in {wh} fell by another {step} (now {new})"),
    "inventory.velocity.title": _("{sku} in {wh} is being used unusually fast: {recent} in {hours}h (usual ≈ {usual:.0f})"),
    "inventory.suggestion": _("Suggested reorder: {qty}."),
    "inventory.recovered.low_stock": _("Stock is back above safety stock ({new})."),
    "inventory.recovered.reorder_point": _("Stock is back above the reorder point ({new})."),
    "inventory.recovered.velocity": _("Consumption is back to its usual pace."),
    "inventory.replenished": _("{who} arranged replenishment of {qty} {unit} of {sku} for {wh} (request #{id})."),
    "inventory.bot.which_sku": _("Which SKU? For example: `/stock SKU-1001`."),
    "inventory.bot.none": _("I found no stock for {code} that you may see."),
    "inventory.bot.stock": _("Stock of **{code}** ({name}):\n\n{lines}"),
    "inventory.bot.line": "- {wh} {wh_name}: **{on_hand}** {unit}",
    "inventory.bot.line_rule": _("- {wh} {wh_name}: **{on_hand}** {unit} · safety {safety}, reorder at {reorder}"),
    "inventory.bot.line_below": _("- {wh} {wh_name}: **{on_hand}** {unit} · safety {safety}, reorder at {reorder} ⚠ below safety stock"),
}


def register_texts():
    for key, template in TEXTS.items():
        register_text(key, template)


def _title(alert):
    p = alert.payload or {}
    common = {"sku": p.get("sku"), "wh": p.get("warehouse"), "new": p.get("on_hand")}
    if alert.kind == "low_stock":
        return Text("inventory.low_stock.title", {**common, "safety": p["safety_stock"]})
    if alert.kind == "reorder_point":
        return Text("inventory.reorder_point.title", {**common, "point": p["reorder_point"]})
    if alert.kind == "step_drop":
        return Text("inventory.step_drop.title", {**common, "step": p["step"]})
    return Text("inventory.velocity.title", {**common, "recent": p["recent"], "hours": p["hours"],
                                             "usual": float(p["baseline"])})


def render_stock_alert(alert):
    """A stock alert kind's `render`: (title, body) from the alert's payload. An alert raised
    before its payload carried every parameter shows what was stored when it was raised."""
    try:
        title = _title(alert)
    except KeyError:
        return alert.title, alert.body
    p = alert.payload or {}
    body = Text("inventory.suggestion", {"qty": p["suggested_quantity"]}) if alert.kind in ("low_stock", "reorder_point") \
        and p.get("suggested_quantity") is not None else ""
    return title, body

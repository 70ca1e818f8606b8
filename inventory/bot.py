"""Bot intents about stock: "/stock SKU-1001", "SKU-1001 还有多少库存", "how much SKU-1001 is left"."""

import re

from django.utils.translation import gettext_lazy

from inventory.selectors import stock_level_list
from messaging import registry
from messaging.texts import Text

SKU_CODE = re.compile(r"\b([A-Za-z]{2,10}-[A-Za-z0-9-]{1,40})\b")


def _stock_answer(*, tenant, user, room, text, match, context):
    """The answer as a Text (inventory.texts): the asker reads it in their language."""
    found = SKU_CODE.search(text or "")
    if not found:
        return Text("inventory.bot.which_sku")
    levels = list(stock_level_list(user, tenant, sku_code=found.group(1), context=context))
    if not levels:
        return Text("inventory.bot.none", {"code": found.group(1)})
    lines = []
    for level in levels:
        params = {"wh": level.warehouse.code, "wh_name": level.warehouse.name, "on_hand": level.on_hand,
                  "unit": level.sku.unit}
        if level.safety_stock is None:
            lines.append(Text("inventory.bot.line", params))
            continue
        params.update(safety=level.safety_stock, reorder=level.reorder_point)
        below = level.on_hand < level.safety_stock
        lines.append(Text("inventory.bot.line_below" if below else "inventory.bot.line_rule", params))
    return Text("inventory.bot.stock", {"code": levels[0].sku.code, "name": levels[0].sku.name, "lines": lines})


def register():
    """/stock; called from InventoryConfig.ready()."""
    registry.register_intent(
        "stock",
        command="/stock",
        patterns=[
            re.compile(r"([A-Za-z]{2,10}-[A-Za-z0-9-]{1,40}).{0,12}(库存|还有多少|剩多少|有多少)"),
            re.compile(r"(库存|stock|how much|how many).{0,30}?([A-Za-z]{2,10}-[A-Za-z0-9-]{1,40})", re.IGNORECASE),
        ],
        handler=_stock_answer,
        usage="/stock SKU-1001",
        help_text=gettext_lazy("stock of a SKU in each warehouse"),
        examples=["SKU-1001 还有多少库存", "@bot how much SKU-1001 is left"],
    )


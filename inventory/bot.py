"""Bot intents about stock: "/stock SKU-1001", "SKU-1001 还有多少库存", "how much SKU-1001 is left"."""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inventory.selectors import stock_level_list
from messaging import registry

SKU_CODE = re.compile(r"\b([A-Za-z]{2,10}-[A-Za-z0-9-]{1,40})\b")


def _stock_answer(*, tenant, user, room, text, match, context):
    found = SKU_CODE.search(text or "")
    if not found:
        return _("Which SKU? For example: `/stock SKU-1001`.")
    levels = list(stock_level_list(user, tenant, sku_code=found.group(1), context=context))
    if not levels:
        return _("I found no stock for %(code)s that you may see.") % {"code": found.group(1)}
    lines = [_("Stock of **%(code)s** (%(name)s):") % {"code": levels[0].sku.code, "name": levels[0].sku.name}, ""]
    for level in levels:
        line = f"- {level.warehouse.code} {level.warehouse.name}: **{level.on_hand}** {level.sku.unit}"
        if level.safety_stock is not None:
            line += " · " + _("safety %(s)d, reorder at %(r)d") % {"s": level.safety_stock, "r": level.reorder_point}
            if level.on_hand < level.safety_stock:
                line += " ⚠ " + _("below safety stock")
        lines.append(line)
    return "\n".join(lines)


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


"""Demo conversations (called by `manage.py seed_demo` after the tenancy demo).

Idempotent: a room that already has messages is left as it is, so running seed_demo again
never duplicates anything.
"""

from django.db import transaction

from messaging import services
from messaging.models import Message, Room, RoomKind

SUPPLIER_CONVERSATION = [
    ("acme.buyer", "陈经理您好，PO-20231026 的 M8 不锈钢螺栓这周能发货吗？我们产线下周一要用。"),
    ("supa.rep", "王工您好，已经在包装了，预计周四下午发出，走德邦物流，发货后把运单号发您。"),
    ("acme.buyer", "好的。另外上批有 3 箱外包装破损，麻烦这次**加固一下**，质检报告随货附上。"),
    ("supa.rep", "收到，这批改用加厚纸箱，质检报告扫描件稍后上传到这里。"),
]
STOCK_ALERT = (
    "**库存预警**：SKU-1001 M8 不锈钢螺栓 在 上海一号仓 的库存为 120 件，低于安全库存 200 件。\n\n"
    "请供应商确认补货安排。"
)
INTERNAL_NOTE = "内部备注：华东零部件本季度交付准时率 92%，低于 95% 的目标，下次季度评审时重点沟通。"


def _room_of(tenant, organization):
    return Room.objects.for_tenant(tenant).filter(kind=RoomKind.PARTNER, partnership__organization=organization).first()


def _internal_room(tenant):
    return Room.objects.for_tenant(tenant).filter(kind=RoomKind.INTERNAL, team_role="").order_by("pk").first()


@transaction.atomic
def seed(ctx):
    tenant = ctx["tenants"]["acme"]
    users = ctx["users"]

    room = _room_of(tenant, ctx["organizations"]["sup-a"])
    if room is not None and not Message.objects.filter(room=room).exists():
        for number, (username, body) in enumerate(SUPPLIER_CONVERSATION, 1):
            services.message_post(tenant=tenant, actor=users[username], room=room, body=body, client_id=f"demo-{number}")
        services.event_post(
            tenant=tenant,
            room=room,
            body=STOCK_ALERT,
            payload={"kind": "stock_below_safety", "sku": "SKU-1001", "warehouse": "SH-01", "on_hand": "120",
                     "safety_stock": "200"},
            actions=["acknowledge"],
        )

    internal = _internal_room(tenant)
    if internal is not None and not Message.objects.filter(room=internal).exists():
        services.message_post(
            tenant=tenant, actor=users["acme.buyer"], room=internal, body=INTERNAL_NOTE, client_id="demo-note-1", internal=True
        )

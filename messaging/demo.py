"""Demo conversations (called by `manage.py seed_demo` after the tenancy demo).

Idempotent: every message carries a fixed client_id and the event card is posted only with the
conversation's first message, so running seed_demo again never duplicates anything.
"""

from django.db import transaction

from messaging import services
from messaging.models import Room, RoomKind
from scm_portal.tenancy.access import tenant_context_for

SUPPLIER_CONVERSATION = [
    ("acme.buyer", "陈经理您好，PO-20231026 的 M6 不锈钢螺丝这周能发货吗？我们产线下周一要用。"),
    ("supa.rep", "王工您好，已经在包装了，预计周四下午发出，走德邦物流，发货后把运单号发您。"),
    ("acme.buyer", "好的。另外上批有 3 箱外包装破损，麻烦这次**加固一下**，质检报告随货附上。"),
    ("supa.rep", "收到，这批改用加厚纸箱，质检报告扫描件稍后上传到这里。"),
]
QUALITY_EVENT = (
    "**来料质检异常**：华东零部件上批到货 3 箱外包装破损，已登记为包装异常（内件抽检合格）。\n\n"
    "请供应商确认已收到，并在下批发货时采取加固措施。"
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

    # Keyed on the first message's client_id (sends are idempotent on it), so the story is told
    # once whatever other demo data (stock alerts, orders) reached the room first.
    room = _room_of(tenant, ctx["organizations"]["sup-a"])
    if room is not None:
        (username, body), *rest = SUPPLIER_CONVERSATION
        _first, created = services.message_post(
            tenant=tenant, actor=users[username], context=tenant_context_for(users[username], tenant), room=room,
            body=body, client_id="demo-1",
        )
        if created:
            for number, (username, body) in enumerate(rest, 2):
                services.message_post(
                    tenant=tenant, actor=users[username], context=tenant_context_for(users[username], tenant),
                    room=room, body=body, client_id=f"demo-{number}",
                )
            services.event_post(
                tenant=tenant,
                room=room,
                body=QUALITY_EVENT,
                payload={"kind": "quality_issue", "issue": "packaging_damaged", "cartons": 3},
                actions=["acknowledge"],
            )

    internal = _internal_room(tenant)
    if internal is not None:
        services.message_post(
            tenant=tenant, actor=users["acme.buyer"], context=tenant_context_for(users["acme.buyer"], tenant),
            room=internal, body=INTERNAL_NOTE, client_id="demo-note-1", internal=True,
        )

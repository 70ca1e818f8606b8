"""What alerts contribute to chat: the buttons on alert cards and the `alert` subject.

Registered from AlertsConfig.ready() (register()), not as a side effect of an import.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from alerts import services
from alerts.models import Alert
from messaging import registry
from scm_portal.tenancy.selectors import tenant_language


def _alert_of(message, tenant):
    alert_id = (message.payload or {}).get("alert")
    alert = Alert.objects.for_tenant(tenant).filter(pk=alert_id).first() if alert_id else None
    if alert is None:
        raise ValidationError({"action": _("This card is not about an alert.")})
    return alert


def card_rooms(*, tenant, message):
    """The rooms of every card of the alert a card is about: action_press locks them with the
    pressed one, before the handler locks the alert (alerts.lock_objects). Any button on an alert
    card that locks the alert names them (`register_action(..., rooms=card_rooms)`)."""
    alert_id = (message.payload or {}).get("alert")
    cards = Alert.objects.for_tenant(tenant).filter(pk=alert_id).values_list("cards", flat=True).first() if alert_id else None
    return [ref["room"] for ref in cards or ()]


def _button(service):
    def handler(*, tenant, actor, message, room, context):
        alert = service(tenant=tenant, actor=actor, context=context, alert=_alert_of(message, tenant),
                        skip_room_id=room.pk)
        with tenant_language(tenant):
            text = services.alert_state_text(alert, actor)
        return {"message": text, "data": {"alert": alert.pk, "state": alert.state}}

    return handler


def _resolve_subject(*, tenant, user, ref):
    try:
        pk = int(ref)
    except (TypeError, ValueError):
        return None
    return Alert.objects.for_tenant(tenant).visible_to(user).filter(pk=pk).first()


def register():
    # Bilingual labels by design: a card is read by both sides of a partner room.
    registry.register_action("alert_ack", label="确认 / Acknowledge", handler=_button(services.alert_acknowledge),
                             rooms=card_rooms)
    registry.register_action("alert_start", label="处理中 / Start", handler=_button(services.alert_start), rooms=card_rooms)
    registry.register_action("alert_resolve", label="已完成 / Resolve", handler=_button(services.alert_resolve),
                             rooms=card_rooms)
    registry.register_subject("alert", resolve=_resolve_subject, label=lambda a: a.title)

"""What alerts contribute to chat: the buttons on alert cards, the `alert` subject and the texts
its cards and notices say.

Registered from AlertsConfig.ready() (register()), not as a side effect of an import.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alerts import services
from alerts.models import Alert, AlertState
from messaging import registry
from messaging.texts import register_text
from scm_portal.tenancy.roles import CORE_ROLES, PARTNER_ROLES, Role

# The states each lifecycle button moves an alert from (alerts.services); a resolved alert's
# cards offer none of them.
BUTTON_FROM = {
    "alert_ack": {AlertState.OPEN},
    "alert_start": {AlertState.OPEN, AlertState.ACKNOWLEDGED},
    "alert_resolve": {AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.IN_PROGRESS},
}
# Alert.access_policy's "change", read from a reader's memberships (no query): core staff but the
# auditor; a partner's people on their own organisation's alerts.
CORE_CHANGERS = CORE_ROLES - {Role.AUDITOR}


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


def alert_states(*, tenant_id, refs):
    """The `alert` subject's state loader: {ref: {"state", "partner"}} for the alerts `refs`."""
    ids = [int(ref) for ref in refs if str(ref).isdigit()]
    rows = Alert.objects.for_tenant(tenant_id).filter(pk__in=ids).values_list("pk", "state", "partner_id")
    return {str(pk): {"state": state, "partner": partner_id} for pk, state, partner_id in rows}


def may_change(context, record):
    """Whether the reader's memberships let them act on the alert `record` (alert_states')."""
    if context.roles & CORE_CHANGERS:
        return True
    return record.get("partner") is not None and record["partner"] in context.organizations(PARTNER_ROLES)


def _lifecycle_available(action):
    def available(*, message, context, record):
        if record is None or not may_change(context, record):
            return None  # not theirs to press
        if record["state"] == AlertState.RESOLVED:
            return "gone"  # nothing left to do: no button (a late press hears who resolved it)
        return "enabled" if record["state"] in BUTTON_FROM[action] else "disabled"

    return available


def _button(service):
    def handler(*, tenant, actor, message, room, context):
        alert = service(tenant=tenant, actor=actor, context=context, alert=_alert_of(message, tenant),
                        skip_room_id=room.pk)
        return {"message": services.alert_state_text(alert, actor), "data": {"alert": alert.pk, "state": alert.state}}

    return handler


def _resolve_subject(*, tenant, user, ref):
    try:
        pk = int(ref)
    except (TypeError, ValueError):
        return None
    return Alert.objects.for_tenant(tenant).visible_to(user).filter(pk=pk).first()


def register_texts():
    """What alert cards and notices say (messaging.texts), in each reader's language."""
    register_text("alerts.card", "**{title}**\n\n{body}")
    register_text("alerts.card_title", "**{title}**")
    register_text(f"alerts.state.{AlertState.ACKNOWLEDGED}", gettext_lazy("{who} acknowledged the alert."))
    register_text(f"alerts.state.{AlertState.IN_PROGRESS}", gettext_lazy("{who} is handling the alert."))
    register_text(f"alerts.state.{AlertState.RESOLVED}", gettext_lazy("{who} resolved the alert."))
    register_text("alerts.escalated", gettext_lazy("Escalated to level {level}: nobody has acknowledged “{title}” yet."))


def register():
    register_texts()
    registry.register_action("alert_ack", label=gettext_lazy("Acknowledge"), handler=_button(services.alert_acknowledge),
                             rooms=card_rooms, available=_lifecycle_available("alert_ack"))
    registry.register_action("alert_start", label=gettext_lazy("Start"), handler=_button(services.alert_start),
                             rooms=card_rooms, available=_lifecycle_available("alert_start"))
    registry.register_action("alert_resolve", label=gettext_lazy("Resolve"), handler=_button(services.alert_resolve),
                             rooms=card_rooms, available=_lifecycle_available("alert_resolve"))
    registry.register_subject("alert", resolve=_resolve_subject, label=lambda a: a.title, state=alert_states)

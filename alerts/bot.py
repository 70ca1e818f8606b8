"""The bot's `/alerts` ("open alerts for me"), registered from AlertsConfig.ready() (register())."""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alerts.models import AlertState
from alerts.registry import alert_text
from alerts.selectors import alert_list
from messaging import registry


def _my_alerts(*, tenant, user, room, text, match, context):
    mine = alert_list(user=user, tenant=tenant, context=context, mine=True)
    rows = list(mine.exclude(state=AlertState.RESOLVED)[:10])
    if not rows:
        return _("No open alerts for you. 👍")
    lines = [_("Open alerts for you:"), ""]
    for alert in rows:
        lines.append(f"- #{alert.pk} [{AlertState(alert.state).label}] {alert_text(alert)[0]}")
    return "\n".join(lines)


def register():
    registry.register_intent(
        "alerts",
        command="/alerts",
        patterns=[re.compile(r"(我的预警|我的告警|有哪些预警|open alerts|my alerts)", re.IGNORECASE)],
        handler=_my_alerts,
        usage="/alerts",
        help_text=gettext_lazy("the open alerts addressed to you"),
        examples=["@bot 我的预警"],
    )

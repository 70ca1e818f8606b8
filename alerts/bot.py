"""The bot's `/alerts` ("open alerts for me"), registered from AlertsConfig.ready() (register())."""

import re

from django.utils.translation import gettext_lazy

from alerts.models import AlertState
from alerts.registry import alert_title_text
from alerts.selectors import alert_list
from messaging import registry
from messaging.texts import Text, register_text


def state_label_key(state):
    """The text key of an alert state's label (a parameter that reads in the reader's language)."""
    return f"alerts.state_label.{state}"


def _my_alerts(*, tenant, user, room, text, match, context):
    mine = alert_list(user=user, tenant=tenant, context=context, mine=True)
    rows = list(mine.exclude(state=AlertState.RESOLVED)[:10])
    if not rows:
        return Text("alerts.bot.none")
    return Text("alerts.bot.list", {"lines": [
        Text("alerts.bot.line", {"id": alert.pk, "state": Text(state_label_key(alert.state)), "title": alert_title_text(alert)})
        for alert in rows
    ]})


def register():
    for state in AlertState:
        register_text(state_label_key(state.value), state.label)
    register_text("alerts.bot.none", gettext_lazy("No open alerts for you. 👍"))
    register_text("alerts.bot.list", gettext_lazy("Open alerts for you:\n\n{lines}"))
    register_text("alerts.bot.line", "- #{id} [{state}] {title}")
    registry.register_intent(
        "alerts",
        command="/alerts",
        patterns=[re.compile(r"(我的预警|我的告警|有哪些预警|open alerts|my alerts)", re.IGNORECASE)],
        handler=_my_alerts,
        usage="/alerts",
        help_text=gettext_lazy("the open alerts addressed to you"),
        examples=["@bot 我的预警"],
    )

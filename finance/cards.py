"""Every text finance shows about its records outside its API: the overdue alert's title and body
and the financing applications' cards, as keys and parameters (messaging.texts) so that each
reader reads them in their own language. Registered from FinanceConfig.ready()."""

from django.utils.translation import gettext_lazy

from messaging.texts import Text, register_text

TEXTS = {
    "finance.overdue.title": gettext_lazy("Financing FA-{id} is overdue"),
    "finance.overdue.body": gettext_lazy("{amount} {currency} was due on {date} and is not repaid."),
    # What each transition of an application says on its card, in the supplier's room and the
    # funder's room (finance.services.financing_card_post).
    "finance.card.requested": gettext_lazy(
        "{supplier} applied to {funder} for {amount} {currency} against receivables due {maturity} "
        "(cost {cost} over {days} days)."),
    "finance.card.core_approved": gettext_lazy("{approver} approved financing FA-{id} ({count} of 2 core approvals)."),
    "finance.card.funder_approved": gettext_lazy("{funder} approved financing FA-{id}; it is ready to disburse."),
    "finance.card.rejected": gettext_lazy("{approver} rejected financing FA-{id}: {reason}"),
    "finance.card.withdrawn": gettext_lazy("{supplier} withdrew financing FA-{id}: {reason}"),
    "finance.card.disbursed": gettext_lazy("{funder} disbursed {amount} {currency} for financing FA-{id}."),
    "finance.card.repaid": gettext_lazy("Financing FA-{id} was repaid: {amount} {currency}."),
    "finance.card.overdue": gettext_lazy("Financing FA-{id} is overdue since {maturity}."),
}


def register_texts():
    for key, template in TEXTS.items():
        register_text(key, template)


def financing_overdue_text(alert):
    """(title, body) of a `financing_overdue` alert, read in each reader's language (alerts.registry's `render`)."""
    payload = alert.payload or {}
    title = Text("finance.overdue.title", {"id": payload.get("application", "?")})
    body = Text("finance.overdue.body", {"amount": payload.get("amount", ""), "currency": payload.get("currency", ""),
                                         "date": payload.get("maturity_date", "")})
    return title, body


def financing_card_text(event, params):
    """The card's text for `event` (finance.card.<event>) with its parameters."""
    return Text(f"finance.card.{event}", params)

"""Every text finance shows about its records outside its API: the overdue alert's title and body,
the financing applications' cards and their buttons, the bot's answers, as keys and parameters
(messaging.texts) so that each reader reads them in their own language. Registered from
FinanceConfig.ready()."""

from django.utils.translation import gettext_lazy

from messaging.texts import Text, register_text

TEXTS = {
    "finance.overdue.title": gettext_lazy("Financing FA-{id} is overdue"),
    "finance.overdue.body": gettext_lazy("{amount} {currency} was due on {date} and is not repaid."),
    "finance.overdue.repaid": gettext_lazy("Financing FA-{id} was repaid; the alert is resolved."),
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
    "finance.card.disputed": gettext_lazy("{who} disputed financing FA-{id}; repayment waits until it is settled: {reason}"),
    "finance.card.dispute_settled": gettext_lazy("{who} settled the dispute on financing FA-{id}: {resolution}"),
    # The line under a card once its button was pressed (messaging's action_press posts it).
    "finance.pressed.financing_approve": gettext_lazy("{who} approved financing FA-{id}."),
    "finance.pressed.financing_reject": gettext_lazy("{who} rejected financing FA-{id}."),
    "finance.pressed.financing_disburse": gettext_lazy("{who} disbursed financing FA-{id}."),
    # The bot (finance.bot): "我想融资" / "I want financing", and /financing.
    "finance.bot.eligible": gettext_lazy(
        "You can finance these confirmed receivables (terms of {funder}: {rate} a year, up to {advance} of each):"
        "\n\n{lines}\n\nApply here: {url}"),
    "finance.bot.eligible_line": gettext_lazy(
        "- Receivable #{id} (invoice {invoice}): {amount} {currency} due {due}; up to {limit} {currency} "
        "for {days} days costs {cost} {currency}"),
    "finance.bot.none_eligible": gettext_lazy(
        "You have no confirmed receivable to finance now. Once the core enterprise confirms an invoice "
        "of yours, you can apply here: {url}"),
    "finance.bot.no_funder": gettext_lazy("This tenant has no funder to finance with yet."),
    "finance.bot.not_supplier": gettext_lazy(
        "Financing receivables is for a supplier's representatives. Use /financing to see the applications "
        "that concern you."),
    "finance.bot.applications": gettext_lazy("{heading}\n\n{lines}"),
    "finance.bot.applications_line": gettext_lazy(
        "- FA-{id} · {supplier} → {funder} · {amount} {currency} · {state} · due {maturity}"),
    "finance.bot.heading.supplier": gettext_lazy("Your organisation's financing applications:"),
    "finance.bot.heading.approver": gettext_lazy("Financing applications awaiting your decision:"),
    "finance.bot.heading.funder": gettext_lazy("Financing applications with your institution:"),
    "finance.bot.no_applications": gettext_lazy("There are no financing applications for you here."),
    "finance.bot.more": gettext_lazy("…and {count} more."),
}

# The financing cards' buttons (finance.actions): which card carries which, per event. A card
# that carries them shows each reader only what they may press (finance.actions docstring).
ACTION_APPROVE = "financing_approve"
ACTION_REJECT = "financing_reject"
ACTION_DISBURSE = "financing_disburse"
ACTION_LABELS = {
    ACTION_APPROVE: gettext_lazy("Approve financing"),
    ACTION_REJECT: gettext_lazy("Reject financing"),
    ACTION_DISBURSE: gettext_lazy("Disburse"),
}
# What a disabled money button says when the reader's second factor is not fresh.
SECOND_FACTOR_HINT = gettext_lazy("Verify with your authenticator code first, then press it.")
CARD_ACTIONS = {
    "requested": (ACTION_APPROVE, ACTION_REJECT),
    "core_approved": (ACTION_APPROVE, ACTION_REJECT),
    "funder_approved": (ACTION_DISBURSE,),
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


def financing_press_text(action, *, actor, application):
    """The outcome line of a pressed financing button, read in each reader's language."""
    return Text(f"finance.pressed.{action}", {"who": actor.get_full_name() or actor.username, "id": application.pk})


def financing_card_step(state, decisions):
    """Which moment of an application a card was posted at: its state and how many decisions
    (approvals and rejections) it had then. Only the card of the current moment carries live
    buttons (finance.actions), so that a card pressed once is not offered again to the next
    approver: they press the newer card."""
    return f"{state}:{decisions}"

"""Every text finance shows about its records outside its API: the overdue alert's title and body.

Kept in one place so that the move of card texts to a message key plus parameters (rendered per
reader) touches one module."""

from django.utils.translation import gettext as _


def financing_overdue_text(alert):
    """(title, body) of a `financing_overdue` alert, in the active language (alerts.registry's `render`)."""
    payload = alert.payload or {}
    title = _("Financing FA-%(id)s is overdue") % {"id": payload.get("application", "?")}
    body = _("%(amount)s %(currency)s was due on %(date)s and is not repaid.") % {
        "amount": payload.get("amount", ""), "currency": payload.get("currency", ""), "date": payload.get("maturity_date", ""),
    }
    return title, body


# What each transition of an application says on its card, in the supplier's room and the
# funder's room (finance.services.financing_card_post).
CARD_TEXTS = {
    "requested": lambda: _("%(supplier)s applied to %(funder)s for %(amount)s %(currency)s against receivables "
                           "due %(maturity)s (cost %(cost)s over %(days)s days)."),
    "core_approved": lambda: _("%(approver)s approved financing FA-%(id)s (%(count)s of 2 core approvals)."),
    "funder_approved": lambda: _("%(funder)s approved financing FA-%(id)s; it is ready to disburse."),
    "rejected": lambda: _("%(approver)s rejected financing FA-%(id)s: %(reason)s"),
    "withdrawn": lambda: _("%(supplier)s withdrew financing FA-%(id)s: %(reason)s"),
    "disbursed": lambda: _("%(funder)s disbursed %(amount)s %(currency)s for financing FA-%(id)s."),
    "repaid": lambda: _("Financing FA-%(id)s was repaid: %(amount)s %(currency)s."),
    "overdue": lambda: _("Financing FA-%(id)s is overdue since %(maturity)s."),
}


def financing_card_text(event, params):
    """The card's text for `event` (a key of CARD_TEXTS) in the active language."""
    return CARD_TEXTS[event]() % params

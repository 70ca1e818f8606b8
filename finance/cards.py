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

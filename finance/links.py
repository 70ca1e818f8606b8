"""Where finance's pages are, for the texts that point at them (the bot's answers, the overdue
alert's subject): the page's URL name when the pages are installed, else its documented path."""

from django.urls import NoReverseMatch, reverse

APPLY_PATH = "/t/{tenant}/finance/apply/"
APPLICATION_PATH = "/t/{tenant}/finance/applications/{id}/"
BANK_ACCOUNT_PATH = "/t/{tenant}/finance/bank-account/"


def _reversed(name, fallback, **kwargs):
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return fallback


def apply_url(tenant_slug):
    """The supplier's application form (the cost shown before applying)."""
    return _reversed("finance:apply", APPLY_PATH.format(tenant=tenant_slug), tenant=tenant_slug)


def application_url(tenant_slug, ref):
    """One financing application's page."""
    return _reversed("finance:application", APPLICATION_PATH.format(tenant=tenant_slug, id=ref), tenant=tenant_slug,
                     pk=ref)

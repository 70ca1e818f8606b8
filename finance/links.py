"""Where finance's pages are, for the texts that point at them (the bot's answers, the overdue
alert's subject): the page's URL name when the pages are installed, else its documented path."""

from django.urls import NoReverseMatch, reverse

# Where the financing pages are mounted (scm_portal/tenancy/urls.py: "financing/"); used only
# while their URL names are not installed.
APPLY_PATH = "/t/{tenant}/financing/apply/"
APPLICATION_PATH = "/t/{tenant}/financing/{id}/"


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
    try:
        pk = int(ref)
    except (TypeError, ValueError):
        return None  # not an application's id: shown as text
    return _reversed("finance:detail", APPLICATION_PATH.format(tenant=tenant_slug, id=pk), tenant=tenant_slug, pk=pk)

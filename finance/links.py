"""Where finance's pages are, for the texts that point at them (the bot's answers, the overdue
alert's subject)."""

from django.urls import reverse


def apply_url(tenant_slug):
    """The supplier's application form (the cost shown before applying)."""
    return reverse("finance:apply", kwargs={"tenant": tenant_slug})


def application_url(tenant_slug, ref):
    """One financing application's page."""
    try:
        pk = int(ref)
    except (TypeError, ValueError):
        return None  # not an application's id: shown as text
    return reverse("finance:detail", kwargs={"tenant": tenant_slug, "pk": pk})

"""What finance holds from the retention sweep (audit.retention): the messages linked to an open
financing application — any state but repaid, rejected or withdrawn (finance.models.LIVE_STATES:
requested, in core or funder review, disbursed, overdue) — and to the invoices pledged to one.

There is no "disputed" state: an overdue application (unpaid past maturity) is the nearest to a
dispute, and it is live, so it is held.
"""

from django.db.models import CharField
from django.db.models.functions import Cast

from finance.models import LIVE_STATES, FinancingApplication, Invoice


def financing_applications_held(*, tenant):
    """The subject refs (ids as strings) of the tenant's open applications."""
    return (FinancingApplication.objects.filter(tenant=tenant, state__in=LIVE_STATES)
            .annotate(ref=Cast("pk", CharField())).values_list("ref", flat=True))


def invoices_held(*, tenant):
    """The subject refs of invoices whose receivables are pledged to an open application."""
    return (Invoice.objects.filter(tenant=tenant, receivables__items__released=False,
                                   receivables__items__application__state__in=LIVE_STATES)
            .annotate(ref=Cast("pk", CharField())).values_list("ref", flat=True))


def register_retention_holds():
    from audit.retention import register_legal_hold_source

    register_legal_hold_source("financing_application", holds=financing_applications_held)
    register_legal_hold_source("invoice", holds=invoices_held)

"""What finance holds from the retention sweep (audit.retention): the messages linked to an open or
disputed financing application, and to the invoices pledged to one.

Held: every state in finance.models.LIVE_STATES: requested, in core or funder review, disbursed,
overdue, and disputed, which counts even when the application was disputed from repaid (the
contest is evidence until it is settled). Not held: repaid, rejected, withdrawn. A dispute settled
back to repaid releases the hold, and the next sweep destroys what is old enough.
"""

from django.db.models import CharField
from django.db.models.functions import Cast

from finance.models import LIVE_STATES, FinancingApplication, Invoice


def financing_applications_held(*, tenant):
    """The subject refs (ids as strings) of the tenant's open or disputed applications."""
    return (FinancingApplication.objects.filter(tenant=tenant, state__in=LIVE_STATES)
            .annotate(ref=Cast("pk", CharField())).values_list("ref", flat=True))


def invoices_held(*, tenant):
    """The subject refs of invoices whose receivables are pledged to an open or disputed application
    (a repaid one's items stay unreleased: disputed from repaid, its invoices are held again)."""
    return (Invoice.objects.filter(tenant=tenant, receivables__items__released=False,
                                   receivables__items__application__state__in=LIVE_STATES)
            .annotate(ref=Cast("pk", CharField())).values_list("ref", flat=True))


def register_retention_holds():
    from audit.retention import register_legal_hold_source

    register_legal_hold_source("financing_application", holds=financing_applications_held)
    register_legal_hold_source("invoice", holds=invoices_held)

"""Row locks on finance records, in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order").

Finance's kinds, top to bottom: the purchase order an invoice is written against (its invoiced
total is checked under it) → the invoice → the financing application → its open dispute → its
receivables (ascending id, in one statement). Rooms, when a write posts to one, come before all of
them; the alerts it raises after.
"""

from finance.models import FinancingApplication, FinancingDispute, Invoice, Receivable


def purchase_order_lock(tenant, purchase_order_id):
    """Locks a PO of `tenant` FOR UPDATE, so two invoices against it are checked one after the other."""
    from orders.models import PurchaseOrder

    return PurchaseOrder.objects.for_tenant(tenant).select_for_update(of=("self",)).select_related("supplier").get(pk=purchase_order_id)


def invoice_lock(tenant, invoice_id):
    return Invoice.objects.for_tenant(tenant).select_for_update(of=("self",)).get(pk=invoice_id)


def application_lock(tenant, application_id):
    return (
        FinancingApplication.objects.for_tenant(tenant).select_for_update(of=("self",))
        .select_related("supplier", "funder").get(pk=application_id)
    )


def dispute_open_lock(tenant, application_id):
    """The open dispute of an application (locked by the caller first), FOR UPDATE."""
    return (FinancingDispute.objects.for_tenant(tenant).select_for_update(of=("self",))
            .get(application_id=application_id, settled_at__isnull=True))


def receivables_lock(tenant, receivable_ids):
    """Locks these receivables of `tenant` in ascending id, one statement; returns them in that order."""
    ids = sorted(set(receivable_ids))
    return list(Receivable.objects.for_tenant(tenant).select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))

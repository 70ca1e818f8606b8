"""Retention's Celery tasks (thin: ids in, audit.retention does the work)."""

from celery import shared_task


@shared_task(name="audit.retention_sweep", acks_late=True)
def retention_sweep():
    """Beat's sweep: one task per tenant that has a destroying policy."""
    from audit.retention import retention_tenant_ids

    tenant_ids = retention_tenant_ids()
    for tenant_id in tenant_ids:
        retention_sweep_tenant.delay(tenant_id)
    return len(tenant_ids)


@shared_task(name="audit.retention_sweep_tenant", acks_late=True)
def retention_sweep_tenant(tenant_id):
    """Idempotent: a message is destroyed once (the function skips tombstones), and a batch that
    another run holds is skipped (SKIP LOCKED)."""
    from audit import retention

    return retention.retention_sweep_tenant(tenant_id=tenant_id)

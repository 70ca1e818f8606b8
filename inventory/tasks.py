from celery import shared_task


@shared_task(name="inventory.rules_sweep", acks_late=True)
def rules_sweep():
    """The periodic stock-rule check: one set-based pass per tenant."""
    from inventory.services import rule_sweep as sweep
    from scm_portal.tenancy.models import Tenant

    raised = 0
    for tenant in Tenant.objects.all().iterator():
        raised += len(sweep(tenant=tenant))
    return raised


@shared_task(name="inventory.rule_crossings_sweep", acks_late=True)
def rule_crossings_sweep():
    """Raises the stock-rule crossings a movement batch left unraised (inventory.models.RuleCrossing)."""
    from inventory.services import rule_crossing_sweep

    return rule_crossing_sweep()

from celery import shared_task


@shared_task(name="alerts.escalation_sweep", acks_late=True)
def escalation_sweep():
    """Escalates due, unacknowledged alerts (safe to run on several workers at once)."""
    from alerts.services import escalation_sweep as sweep

    return sweep()

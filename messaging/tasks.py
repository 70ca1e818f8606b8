from celery import shared_task


@shared_task(name="messaging.escalation_sweep", acks_late=True)
def escalation_sweep():
    """Escalates due, unacknowledged alerts (safe to run on several workers at once)."""
    from messaging.alerts import escalation_sweep as sweep

    return sweep()

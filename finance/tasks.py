from celery import shared_task


@shared_task(name="finance.overdue_sweep", acks_late=True)
def overdue_sweep():
    """Beat's sweep of disbursed applications past maturity (idempotent: each is marked and alerted once)."""
    from finance.services import financing_overdue_sweep

    return financing_overdue_sweep()

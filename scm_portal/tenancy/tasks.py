from celery import shared_task
from django.core.management import call_command


@shared_task(name="tenancy.housekeeping")
def housekeeping():
    """Drops expired sessions and TOTP verifications (idempotent)."""
    from django.utils import timezone

    from scm_portal.tenancy.models import TotpVerification

    call_command("clearsessions")
    TotpVerification.objects.filter(expires_at__lt=timezone.now()).delete()

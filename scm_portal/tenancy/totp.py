"""TOTP second factor for money actions: enrolment, verification, and the check views use."""

import hashlib
from datetime import timedelta

import pyotp
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from scm_portal.tenancy.models import TotpDevice, TotpVerification
from scm_portal.tenancy.signals import send_user_security_event

VERIFICATION_TTL = timedelta(hours=8)


def totp_enroll(*, user, secret=None):
    """Enrols (or re-enrols) the user with `secret` (base32), returning the device."""
    secret = secret or pyotp.random_base32()
    try:
        pyotp.TOTP(secret).now()
    except Exception:
        raise ValidationError({"secret": _("Not a valid base32 TOTP secret.")}) from None
    device, _created = TotpDevice.objects.update_or_create(user=user, defaults={"secret": secret, "confirmed": True})
    send_user_security_event(user=user, action="auth.totp_enroll")  # never the secret
    return device


def _credential(request):
    """Identifies what is being verified: the API token in use, or the browser session."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, Token):
        return "token:" + hashlib.sha256(auth.key.encode()).hexdigest()
    session = getattr(request, "session", None)
    if session is not None:
        if not session.session_key:
            session.save()
        return "session:" + hashlib.sha256(session.session_key.encode()).hexdigest()
    raise ValidationError(_("No token or session to verify."))


@transaction.atomic
def totp_verify(*, request, user, code):
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if device is None:
        raise ValidationError({"code": _("Two-factor authentication is not set up for this user.")})
    totp = pyotp.TOTP(device.secret)
    now = timezone.now()
    step = None
    for offset in (0, -1, 1):  # one 30-second step of clock drift either way
        candidate = int(now.timestamp()) // 30 + offset
        if totp.at(candidate * 30) == code:
            step = candidate
            break
    if step is None or step <= device.last_used_step:
        raise ValidationError({"code": _("The code is wrong or was already used.")})
    device.last_used_step = step
    device.save(update_fields=["last_used_step"])
    verification, _created = TotpVerification.objects.update_or_create(
        credential=_credential(request), defaults={"user": user, "expires_at": now + VERIFICATION_TTL}
    )
    return verification


def totp_verified_at(request):
    """When the request's token or session last passed TOTP (None: never, or expired). Money
    actions compare it with settings.MONEY_OTP_MAX_AGE: "verified in the last N minutes"."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    try:
        credential = _credential(request)
    except ValidationError:
        return None
    return _verified_at(user, credential)


def totp_verified_at_for(user, kind, secret):
    """totp_verified_at for a credential known by kind ("token" or "session") and its secret (the
    token's key, the session key): a socket's, which has no request to ask."""
    if user is None or not user.is_authenticated or kind not in ("token", "session") or not secret:
        return None
    return _verified_at(user, f"{kind}:" + hashlib.sha256(secret.encode()).hexdigest())


def _verified_at(user, credential):
    expires_at = (
        TotpVerification.objects.filter(credential=credential, user=user, expires_at__gt=timezone.now())
        .values_list("expires_at", flat=True).first()
    )
    # A verification lasts VERIFICATION_TTL from the moment the code was checked.
    return None if expires_at is None else expires_at - VERIFICATION_TTL

"""The second factor in the browser: enrolling an authenticator app (/accounts/totp/) and the
"verify now" form the money pages embed (/accounts/totp/verify/), both over scm_portal.tenancy.totp.

Enrolment shows a new secret as a QR code of its otpauth:// URI (an inline SVG drawn here by
segno: no image URL, no outside service), as the URI and as text for whoever cannot scan, kept in
the session until the first code from the app confirms it. That first code also verifies the session, so a newly enrolled approver can act at
once. A user already enrolled replaces their authenticator only with a session verified within
MONEY_OTP_MAX_AGE: someone holding only the password cannot swap in an app of their own.
"""

from datetime import timedelta

import pyotp
import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from scm_portal.tenancy import totp
from scm_portal.tenancy.models import TotpDevice

PENDING_SECRET = "totp_pending_secret"
ISSUER = "SCM Portal"


def totp_status(request):
    """What a money page shows about the second factor: {"enrolled", "fresh", "verified_at", "until"}.
    `fresh`: verified within settings.MONEY_OTP_MAX_AGE, the check the finance services make."""
    verified_at = totp.totp_verified_at(request)
    max_age = timedelta(seconds=settings.MONEY_OTP_MAX_AGE)
    fresh = verified_at is not None and verified_at >= timezone.now() - max_age
    return {
        "enrolled": TotpDevice.objects.filter(user=request.user, confirmed=True).exists(),
        "fresh": fresh,
        "verified_at": verified_at,
        "until": verified_at + max_age if fresh else None,
    }


def totp_qr_svg(uri):
    """The otpauth URI as an inline SVG QR code (error correction M, four modules of quiet zone),
    drawn server-side: the page embeds the markup, nothing is fetched. The markup is segno's
    own (the URI only sets which modules are dark), so it is safe to embed as is."""
    qr = segno.make(uri, error="m", micro=False, boost_error=False)
    return mark_safe(qr.svg_inline(scale=4, border=4, dark="#000", light="#fff", svgclass="totp-qr", lineclass=None))


def _next_url(request, default):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _code_error(error):
    return " ".join(error.message_dict.get("code", error.messages)) if hasattr(error, "error_dict") else " ".join(error.messages)


def _clean_code(request):
    code = request.POST.get("code", "").strip()
    if len(code) != 6 or not code.isdigit():
        raise ValidationError({"code": _("Enter the 6-digit code from your authenticator app.")})
    return code


@login_required
@require_http_methods(["GET", "POST"])
def totp_enrol(request):
    status = totp_status(request)
    renewing = request.GET.get("renew") == "1" or request.POST.get("renew") == "1"
    may_enrol = not status["enrolled"] or (renewing and status["fresh"])
    error = None
    if request.method == "POST":
        if not may_enrol or PENDING_SECRET not in request.session:
            error = _("Verify with your current authenticator before setting up a new one.") if status["enrolled"] \
                else _("The set-up expired; here is a new secret.")
        else:
            try:
                code = _clean_code(request)
                with transaction.atomic():  # a wrong code enrols nothing
                    totp.totp_enroll(user=request.user, secret=request.session[PENDING_SECRET])
                    totp.totp_verify(request=request, user=request.user, code=code)
            except ValidationError as exc:
                error = _code_error(exc)
            else:
                del request.session[PENDING_SECRET]
                messages.success(request, _("Your authenticator is set up, and this session is verified."))
                return redirect(_next_url(request, reverse("totp-enrol")))
    secret = None
    if may_enrol:
        secret = request.session.get(PENDING_SECRET) or pyotp.random_base32()
        request.session[PENDING_SECRET] = secret
    uri = pyotp.TOTP(secret).provisioning_uri(name=request.user.username, issuer_name=ISSUER) if secret else ""
    context = {
        "status": status, "renewing": renewing, "may_enrol": may_enrol, "secret": secret, "error": error,
        "uri": uri, "qr_svg": totp_qr_svg(uri) if uri else "",
        "next": _next_url(request, ""), "max_age_minutes": settings.MONEY_OTP_MAX_AGE // 60,
    }
    return render(request, "tenancy/totp.html", context, status=400 if error else 200)


@login_required
@require_POST
def totp_verify_page(request):
    """Verifies this session with a code, then back to the page that asked (`next`); a wrong or
    reused code is refused there with the reason."""
    back = _next_url(request, reverse("totp-enrol"))
    try:
        totp.totp_verify(request=request, user=request.user, code=_clean_code(request))
    except ValidationError as exc:
        messages.error(request, _code_error(exc))
    else:
        messages.success(request, _("Verified. Money actions are open to you for %(minutes)d minutes.")
                         % {"minutes": settings.MONEY_OTP_MAX_AGE // 60})
    return redirect(back)

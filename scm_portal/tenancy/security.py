"""Login protection: the client address django-axes keys lockouts on, and the lockout response."""

import ipaddress

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def client_ip(request):
    """REMOTE_ADDR, or the address the trusted proxies saw.

    X-Forwarded-For is read only when TRUSTED_PROXY_COUNT proxies are declared, and then from
    the right: each trusted proxy appends the address it received from, so the entry the
    outermost trusted proxy added is the first one a client cannot forge.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(chain) < count:
        return remote
    candidate = chain[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def lockout_response(request, *args, **kwargs):
    message = _("Too many failed logins for this account from your address. Try again in an hour.")
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "locked_out", "message": message, "fields": {}}}, status=429)
    return render(request, "registration/locked_out.html", {"message": message}, status=429)

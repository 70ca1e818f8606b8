"""The portal's error answers, and errors services raise with a structured `fields` body.

Every /api/ URL answers errors in the contract's format, `{"error": {"code", "message",
"fields"}}`: DRF's views through `scm_portal.api.errors.exception_handler`, everything Django
answers itself (an unknown API path, a server error, a bad Host) through the handlers below.
Pages get the portal's own 400, 403, 404 and 500 pages in the reader's language. Django's debug
pages appear only with DEBUG=1, which Django checks before it calls these handlers.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _
from django.views import csrf

logger = logging.getLogger(__name__)


class StructuredValidationError(ValidationError):
    """A Django ValidationError, so code outside the API handles it like any other; the API's
    exception handler answers 400 with `fields` exactly as given (e.g. per-row errors of a batch)."""

    def __init__(self, message, *, fields, code="validation_error"):
        super().__init__(message, code=code)
        self.fields = fields


class StateConflict(Exception):
    """The record has moved on: what was asked is no longer allowed in its state (an alert already
    resolved, a button pressed late). The API answers 409 with `code`; a socket, an error frame."""

    def __init__(self, message, *, code="illegal_transition"):
        super().__init__(str(message))
        self.message = str(message)
        self.code = code


class SecondFactorRequired(PermissionDenied):
    """An action that needs the credential verified with TOTP recently (money: approve, reject,
    disburse, bank details). The API answers 403 `otp_required` with the message; a socket, an
    error frame with it."""

    code = "otp_required"


def error_body(code, message, fields=None):
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def is_api_request(request):
    return request.path_info == "/api" or request.path_info.startswith("/api/")


def _answer(request, status, code, message, template, context=None):
    if is_api_request(request):
        return JsonResponse(error_body(code, message), status=status)
    return render(request, template, context, status=status)


# handler400 .. handler500 (scm_portal/urls.py). A failing 400, 403 or 404 page falls back to
# the 500 one (Django's get_exception_response), which needs nothing that can fail.


def bad_request(request, exception=None):
    return _answer(request, 400, "bad_request", _("The request is invalid."), "400.html")


def permission_denied(request, exception=None):
    message = _("You do not have permission to perform this action.")
    return _answer(request, 403, "permission_denied", message, "403.html")


def page_not_found(request, exception=None):
    return _answer(request, 404, "not_found", _("Not found."), "404.html")


def server_error(request):
    if is_api_request(request):
        return JsonResponse(error_body("server_error", _("An unexpected error occurred.")), status=500)
    # Rendered without the request: its context processors read the session and the database,
    # which may be what failed. The page is self-contained (its style inline, no static files).
    try:
        return HttpResponseServerError(loader.get_template("500.html").render())
    except Exception:
        logger.exception("The 500 page failed to render")
        return HttpResponseServerError(
            "<!DOCTYPE html><meta charset=utf-8><title>500</title>"
            "<h1>500</h1><p>服务器出错了，我们已记录。 / Something went wrong on our side; it has been logged.</p>"
        )


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form posted without its token (an old tab, cookies blocked)."""
    if settings.DEBUG:
        return csrf.csrf_failure(request, reason)  # Django's page says which check failed
    message = _("This form has expired or your browser refused its cookie. Reload the page and try again.")
    return _answer(request, 403, "csrf_failed", message, "403.html", {"message": message})

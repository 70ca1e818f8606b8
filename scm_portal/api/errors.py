"""DRF's errors in the portal's one format, {"error": {"code", "message", "fields"}}.

What Django answers itself under /api/ (an unknown path, a server error) takes the same format
in scm_portal/errors.py."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from scm_portal.errors import SecondFactorRequired, StateConflict, StructuredValidationError, error_body

logger = logging.getLogger(__name__)


def _all_codes(codes):
    """Every error code in DRF's nested get_codes() structure."""
    if isinstance(codes, dict):
        return [c for value in codes.values() for c in _all_codes(value)]
    if isinstance(codes, list):
        return [c for value in codes for c in _all_codes(value)]
    return [codes] if isinstance(codes, str) else []


# Codes that name the whole 400 better than "validation_error" does (money: finance/money.py).
_TOP_LEVEL_VALIDATION_CODES = ("unknown_field", "conflict", "float_not_allowed", "too_many_decimals")


def _validation_code(exc):
    codes = _all_codes(exc.get_codes())
    for code in _TOP_LEVEL_VALIDATION_CODES:
        if code in codes:
            return code
    return "validation_error"


def _jsonable(detail):
    if isinstance(detail, dict):
        return {str(k): _jsonable(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_jsonable(v) for v in detail]
    return str(detail)


def exception_handler(exc, context):
    response = _error_response(exc, context)
    return None if response is None else _in_json(response, context)


def _in_json(response, context):
    """The error as JSON even from a view that renders something else (the API docs' HTML, the
    schema's YAML): DRF renders an error with the view's renderer."""
    request, view = context.get("request"), context.get("view")
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is None and getattr(view, "renderer_classes", None):
        renderer = view.renderer_classes[0]()  # what DRF falls back to when negotiation failed
    if renderer is None or (isinstance(renderer, JSONRenderer) and renderer.media_type == "application/json"):
        return response
    as_json = JsonResponse(response.data, status=response.status_code, json_dumps_params={"ensure_ascii": False})
    for header, value in response.items():
        if header.lower() != "content-type":
            as_json[header] = value
    return as_json


def _error_response(exc, context):
    if isinstance(exc, StateConflict):
        return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, SecondFactorRequired):
        return Response(error_body(exc.code, str(exc)), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, StructuredValidationError):
        return Response(error_body(exc.code or "validation_error", exc.message, exc.fields), status=400)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = _jsonable(detail)
            non_field = fields.pop("non_field_errors", None)
            message = non_field[0] if non_field else _("Some fields are invalid.")
            if non_field:
                fields["non_field_errors"] = non_field
        elif isinstance(detail, list):
            fields = {"non_field_errors": _jsonable(detail)} if detail and not isinstance(detail[0], dict) else {"items": _jsonable(detail)}
            message = fields.get("non_field_errors", [_("The request is invalid.")])[0]
        else:
            fields, message = {}, str(detail)
        response.data = error_body(_validation_code(exc), message, fields)
    else:
        detail = exc.detail if hasattr(exc, "detail") else str(exc)
        code = getattr(exc, "default_code", "error")
        if hasattr(exc, "get_codes"):
            codes = _all_codes(exc.get_codes())
            code = codes[0] if codes else code
        # `fields` of an exception that carries them (a refused body: scm_portal/api/parsers.py)
        fields = getattr(exc, "fields", None)
        response.data = error_body(code, detail if isinstance(detail, str) else _jsonable(detail), fields)
    return response


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def json_error_response(code, message, status_code, fields=None):
    return Response(error_body(code, message, fields), status=status_code)

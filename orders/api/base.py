"""What every orders API view shares: a refused state move is 409 with its code."""

from rest_framework import status
from rest_framework.response import Response

from orders.models import IllegalTransition
from scm_portal.errors import error_body


class OrdersErrorsMixin:
    """Answers IllegalTransition (a move the PO's state does not allow, or a write that contradicts
    what is stored) with 409 `{"error": {"code", "message", "fields"}}`."""

    def handle_exception(self, exc):
        if isinstance(exc, IllegalTransition):
            return Response(error_body(exc.code, str(exc), exc.fields), status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)

from django.core.exceptions import FieldDoesNotExist, ValidationError
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from scm_portal.api.text import is_unstorable


class CursorPagination(pagination.CursorPagination):
    """Stable cursor pages: {"results": [...], "next": URL or null, "previous": URL or null}.

    A cursor is the client's to send back, so it is checked like any input: one whose position is
    not a value of the ordering field (a forged `p=abc` for an id) is "Invalid cursor" (404, as
    DRF answers a cursor it cannot decode), never a query that fails."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-pk"

    def paginate_queryset(self, queryset, request, view=None):
        self.position_model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not self.position_valid(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def position_valid(self, position):
        if is_unstorable(position):
            return False
        name = self.ordering[0].lstrip("-")
        opts = self.position_model._meta
        try:
            (opts.pk if name == "pk" else opts.get_field(name)).to_python(position)
        except FieldDoesNotExist:  # ordered across a relation: the database compares text
            return True
        except ValidationError:
            return False
        return True

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link(), "previous": self.get_previous_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
            },
        }

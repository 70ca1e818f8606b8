"""Errors services raise that carry a structured `fields` body (e.g. per-row errors of a batch).

They are Django ValidationErrors, so code outside the API handles them like any other; the
API's exception handler answers 400 with `fields` exactly as given.
"""

from django.core.exceptions import ValidationError


class StructuredValidationError(ValidationError):
    def __init__(self, message, *, fields, code="validation_error"):
        super().__init__(message, code=code)
        self.fields = fields

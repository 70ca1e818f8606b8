"""Errors the tenancy services raise; the API turns them into the contract's error format."""

from django.core.exceptions import ValidationError


class TenancyValidationError(ValidationError):
    """A business rule refused the write; `fields` maps field names to messages."""

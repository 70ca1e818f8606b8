"""Query-string parameters as numbers and dates, refused (400) when they are not, or when they lie
where arithmetic on them or the database would overflow.

`?since=0001-01-01T00:00:00+01:00` is a valid ISO 8601 datetime that Python cannot even convert to
UTC, and `?after_seq=99999999999999999999` an integer no bigint column holds: each view that
reads a number or a date from the query string reads it here, so the bounds are checked once.
"""

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework import exceptions

INT64_MAX = 2**63 - 1
# Dates a query may name: room for a year of arithmetic either side, and for any time zone.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def int_param(request, name, default=None, *, minimum=0, maximum=INT64_MAX):
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:  # also a number of more than 4,300 digits
        raise exceptions.ValidationError({name: [_("Must be an integer.")]}) from None
    if value < minimum:
        raise exceptions.ValidationError({name: [_("Must be at least %(min)d.") % {"min": minimum}]})
    if value > maximum:
        raise exceptions.ValidationError({name: [_("Must be at most %(max)d.") % {"max": maximum}]})
    return value


def datetime_param(request, name, default=None):
    """An aware datetime in UTC; a naive one is read in the current time zone."""
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        value = parse_datetime(raw)
    except ValueError:  # well formed, but no such moment (2024-02-30T00:00, 24:00, +25:00)
        value = None
    if value is None:
        raise exceptions.ValidationError({name: [_("An ISO 8601 date and time.")]})
    try:
        value = (value if timezone.is_aware(value) else timezone.make_aware(value)).astimezone(UTC)
    except (OverflowError, ValueError):  # before year 1 or after 9999 once in UTC
        value = None
    if value is None or not EARLIEST <= value <= LATEST:
        raise exceptions.ValidationError({name: [_("A date and time between the years 1900 and 9000.")]})
    return value

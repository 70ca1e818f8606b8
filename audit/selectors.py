"""Reading the audit log: always through the tenant's choke point (auditor and tenant admin only).

The filters of the log (API and page alike) are checked here, once: `audit_filters_check()` turns
the query string into the selector's arguments or raises a ValidationError naming each bad field.
"""

import re
from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from audit.models import AUDIT_LOG_READERS, AuditRecord

# The filters the log takes, by query-string name.
FILTERS = ("object_kind", "object_ref", "action", "actor", "since", "until")
_ACTION = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*\.?$")
_KIND = re.compile(r"^[a-z0-9_]+$")


def audit_log_readable(context):
    return bool(set(context.roles) & AUDIT_LOG_READERS)


def _moment(raw, name, *, end_of_day):
    """A date (the whole day in the current time zone) or an ISO 8601 date and time."""
    value = None
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is not None:
        if not 1900 <= day.year <= 8999:
            raise ValidationError({name: [_("A date between the years 1900 and 9000.")]})
        moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
        return timezone.make_aware(moment)
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError({name: [_("A date (2026-01-31) or an ISO 8601 date and time.")]})
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if not 1900 <= value.year <= 8999:
        raise ValidationError({name: [_("A date between the years 1900 and 9000.")]})
    return value


def audit_filters_check(params):
    """{object_kind, object_ref, action, actor, since, until} from a query string; absent ones
    are None. A bad value is a ValidationError with every bad field (nothing is read)."""
    errors, clean = {}, dict.fromkeys(FILTERS)
    for name in FILTERS:
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        if not isinstance(raw, str) or len(raw) > 150 or not raw.isprintable():
            errors[name] = [_("At most 150 printable characters.")]
            continue
        raw = raw.strip()
        try:
            if name == "object_kind" and not _KIND.match(raw):
                raise ValidationError({name: [_("A kind such as purchase_order.")]})
            if name == "action" and not _ACTION.match(raw):
                raise ValidationError({name: [_("An action such as purchase_order.confirm, or purchase_order. for all of a kind.")]})
            if name in ("since", "until"):
                raw = _moment(raw, name, end_of_day=name == "until")
        except ValidationError as error:
            errors.update(error.message_dict)
            continue
        clean[name] = raw
    if not errors and clean["since"] and clean["until"] and clean["since"] >= clean["until"]:
        errors["until"] = [_("The end of the range must be after its start.")]
    if errors:
        raise ValidationError(errors)
    return clean


def audit_record_list(*, user, context, object_kind=None, object_ref=None, action=None, actor=None, since=None,
                      until=None):
    """The tenant's records the user may read (none unless auditor or tenant admin), newest first.
    `action` ending in "." is every action of that kind; `actor` a username ("" never matches:
    the system's records have no actor); `until` is exclusive."""
    records = AuditRecord.objects.visible_to(user, "view", context)
    if object_kind:
        records = records.filter(object_kind=object_kind)
    if object_ref:
        records = records.filter(object_ref=object_ref)
    if action:
        records = records.filter(action__startswith=action) if action.endswith(".") else records.filter(action=action)
    if actor:
        records = records.filter(actor_label=actor)
    if since:
        records = records.filter(at__gte=since)
    if until:
        records = records.filter(at__lt=until)
    return records.order_by("-seq")


def audit_record_kinds(*, user, context):
    """The object kinds of the tenant's log, for the page's filter."""
    records = AuditRecord.objects.visible_to(user, "view", context).exclude(object_kind="")
    return sorted(set(records.values_list("object_kind", flat=True).distinct()))

"""Alert kinds, registered by the domain apps that raise them.

A domain app calls `register_alert_kind()` from its `AppConfig.ready()` for every kind its rules
raise (see the domain apps' apps.py). The alerts app shows, filters,
escalates and counts every kind the same way, and names none of them: the label on the board,
what the alert is about (a column on the board, a field of the API's alert, a KPI chart) and,
when the kind wants it, the title and body a reader sees, all come from the registration.
Raising an alert of a kind nobody registered is a programming error (ValueError).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerts.models import Alert, Severity
from messaging.texts import Text, text_render

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # fits Alert.kind, safe in a URL query and a CSS hook


@dataclass(frozen=True)
class AlertSubject:
    """What the alerts of a kind are about, and how it shows.

    `field` names it in the API's alert (`{"<field>": "<ref>", ...}`, null for alerts of other
    kinds), in the KPIs (`by_<field>`) and on the board (a column, `data-testid="alert-<field>"`).
    An alert's reference is its `subject_ref` when its `subject_kind` is this `subject_kind`.
    `url(tenant_slug, ref)` links the reference to its page (None: shown as text).
    """

    field: str
    subject_kind: str
    label: Any  # column heading; a lazy translation
    per_label: Any  # KPI chart heading ("Alerts per …"); a lazy translation
    url: Callable | None = None

    def ref(self, alert):
        """The alert's reference to this subject, or None."""
        if alert.subject_kind == self.subject_kind and alert.subject_ref:
            return alert.subject_ref
        return None


@dataclass(frozen=True)
class AlertKind:
    kind: str
    label: Any  # a lazy translation
    severity: int  # what alert_raise uses when the caller names none
    subject: AlertSubject | None = None
    # render(alert) -> (title, body), each a messaging.texts.Text (read in each reader's language)
    # or a string in the active language; None: the title and body given to alert_raise.
    render: Callable | None = None


KINDS: dict[str, AlertKind] = {}
# Names an alert has already (the API's alert and the KPIs): a subject's field must not shadow them.
_RESERVED_FIELDS = {"id", "pk", "subject", "supplier", "kind", "day"} | {f.name for f in Alert._meta.get_fields()}


def register_alert_kind(kind, *, label, severity=Severity.WARNING, subject=None, render=None):
    """Registers an alert kind (call it from your AppConfig.ready()); returns its AlertKind.

    Registering a kind again with the same definition is a no-op; another definition under a
    taken name is a ValueError (two apps would otherwise share one kind's alerts unknowingly)."""
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise ValueError(f"An alert kind is a lower-case word of at most 40 characters, not {kind!r}")
    if subject is not None and not isinstance(subject, AlertSubject):
        raise ValueError(f"subject of alert kind {kind!r} must be an AlertSubject")
    if subject is not None and (not KIND_PATTERN.match(subject.field) or subject.field in _RESERVED_FIELDS):
        raise ValueError(f"subject field {subject.field!r} of alert kind {kind!r} must be a lower-case word "
                         "that is not already a field of an alert")
    definition = AlertKind(kind=kind, label=label, severity=Severity(severity), subject=subject, render=render)
    known = KINDS.get(kind)
    if known is not None and known != definition:
        raise ValueError(f"Alert kind {kind!r} is registered already, with another definition")
    clash = next((k.subject for k in KINDS.values() if k.subject and subject and k.subject.field == subject.field
                  and k.subject != subject), None)
    if clash is not None:
        raise ValueError(f"Subject field {subject.field!r} is registered already, with another definition")
    KINDS[kind] = definition
    return definition


def alert_kind_required(kind):
    """The registered AlertKind; a ValueError for a kind nobody registered."""
    definition = KINDS.get(kind)
    if definition is None:
        raise ValueError(
            f"Unknown alert kind {kind!r}: the app that raises it registers it with "
            "alerts.registry.register_alert_kind() in its AppConfig.ready()"
        )
    return definition


def alert_kinds():
    """Every registered kind, in registration order."""
    return list(KINDS.values())


def kind_label(kind):
    """The kind's label; a kind nobody registers (any more) is shown as it is stored."""
    definition = KINDS.get(kind)
    return definition.label if definition is not None else kind


def alert_subjects():
    """The distinct subjects of the registered kinds, in registration order."""
    found = {}
    for definition in KINDS.values():
        if definition.subject is not None:
            found.setdefault(definition.subject.field, definition.subject)
    return list(found.values())


def subject_kinds(subject):
    """The registered kinds whose alerts are about `subject`."""
    return sorted(k.kind for k in KINDS.values() if k.subject == subject)


def subject_ref(alert, subject):
    """The alert's reference to `subject` when its kind is about that subject, else None."""
    definition = KINDS.get(alert.kind)
    return subject.ref(alert) if definition is not None and definition.subject == subject else None


def alert_texts(alert):
    """(title, body) of an alert as said, not yet rendered: the kind's render, the Texts it was
    raised with (kept in its payload), or the strings stored when it was raised."""
    definition = KINDS.get(alert.kind)
    if definition is not None and definition.render is not None:
        title, body = definition.render(alert)
        return title, body or ""
    said = (alert.payload or {}).get("text")
    if isinstance(said, dict) and "title" in said:
        return tuple(Text.from_stored(t) if isinstance(t, dict) else t for t in (said["title"], said.get("body", "")))
    return alert.title, alert.body


def alert_title_text(alert):
    """The alert's title as a Text when it has one (for a notice quoting it), else its string."""
    return alert_texts(alert)[0]


def alert_text(alert):
    """(title, body) of an alert for the reader, in the active language."""
    return tuple(text_render(t, None) if isinstance(t, Text) else str(t or "") for t in alert_texts(alert))

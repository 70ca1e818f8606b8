"""Audit trails of records: a PDF (and its HTML page) of a purchase order, a financing application
or an alert with its history, every linked message in order, approvals, attachments and the chain
heads, with the same trail embedded as JSON so `trail_pdf_verify()` can check it against the
database later.

audit sits below the domain apps, so it names none of them: each registers its record kind here
from its `AppConfig.ready()` (orders/trails.py, finance/trails.py, alerts/trails.py), the way
they register alert kinds and message subjects.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TrailKind:
    """What audit needs to know about one kind of record.

    get(tenant, ref) -> the tenant's record or None, whoever asks (trail_pdf_verify() only).
    access(user, context, ref) -> the record if the user may see it in context.tenant, else None
        (the caller answers 404 for both "missing" and "not yours").
    ref(record) -> its public reference as messages name it (`subject_ref`): a PO number, an id.
    record(record) -> {"title", "state", "state_label", "fields": [[label, value], ...]} (labels
        translated in the active language; values plain text, escaped when rendered).
    history(record) -> [{"at", "action", "from_state", "to_state", "actor"}] in order: its state
        history, compared by trail_pdf_verify() with the exported one (machine values only).
    approvals(record) -> [{"at", "approver", "organization", "stage", "decision", "reason"}].
    attachments(record) -> [{"name", "sha256", "size", "source"}] besides the linked messages' files.
    search(user, context, q, state, since, until) -> rows [{"ref", "title", "state", "state_label",
        "at"}] the user may see, newest first (the auditor's records page).
    subjects(record) -> [(subject_kind, subject_ref)] whose messages belong to the trail; default
        the record's own kind and ref.
    states: [(value, label)] for the search form.
    """

    kind: str
    label: object
    api_segment: str  # the API collection: "purchase-orders"
    get: Callable
    access: Callable
    ref: Callable
    record: Callable
    history: Callable
    search: Callable
    states: tuple = ()
    approvals: Callable | None = None
    attachments: Callable | None = None
    subjects: Callable | None = None
    order: int = 100

    def subjects_of(self, record):
        if self.subjects is not None:
            return list(self.subjects(record))
        return [(self.kind, str(self.ref(record)))]


_KINDS = {}


def register_trail(kind, *, label, api_segment, get, access, ref, record, history, search, states=(), approvals=None,
                   attachments=None, subjects=None, order=100):
    """Registers a kind of record that has a trail (called from the domain app's ready())."""
    if kind in _KINDS:
        raise ValueError(f"trail kind {kind!r} is registered twice")
    _KINDS[kind] = TrailKind(kind=kind, label=label, api_segment=api_segment, get=get, access=access, ref=ref, record=record,
                             history=history, search=search, states=tuple(states), approvals=approvals,
                             attachments=attachments, subjects=subjects, order=order)
    return _KINDS[kind]


def trail_search_filter(queryset, *, at, state=None, since=None, until=None):
    """The records search's common filters (the auditor's records page): a state, and a date range
    on the record's time field `at`. Each kind's `search` adds its own reference match."""
    if state:
        queryset = queryset.filter(state=state)
    if since:
        queryset = queryset.filter(**{f"{at}__date__gte": since})
    if until:
        queryset = queryset.filter(**{f"{at}__date__lte": until})
    return queryset


def trail_kind(kind):
    """The registered kind, or None."""
    return _KINDS.get(kind)


def trail_kinds():
    return sorted(_KINDS.values(), key=lambda k: (k.order, k.kind))

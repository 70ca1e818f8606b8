"""Every write to alerts: raise (one per condition), acknowledge, start, resolve, recover, escalate,
and escalation policies.

Domain apps own the rules that raise alerts and register their kinds (alerts.registry);
everything an alert does after that lives here. An alert's event cards go to the partner's
room and the tenant's internal room, addressed (core_audience) to the roles that own it;
its live `alert` frame goes to everyone who sees it on the board. Escalation is a due time on the alert
row, swept by the scheduler with SELECT ... FOR UPDATE SKIP LOCKED: each level fires once.

Lock order (docs/ARCHITECTURE.md, "Lock order"; the helpers are in alerts.lock_objects): the
rooms holding the alert's cards (in id order), then the alert. Every alert write keeps it: the
buttons (action_press locks the card rooms), the lifecycle services, recovery, raising and the
sweep.
"""

import functools
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.lock_objects import alert_lock, alert_rooms_lock_sent, alerts_locked
from alerts.models import SEVERITY_NAMES, Alert, AlertEvent, AlertState, EscalationPolicy, Notification
from alerts.registry import alert_kind_required, alert_title_text
import realtime
from audit.services import audit_record, audit_transition
from messaging.frames import audience_roles, audience_value
from messaging.lock_objects import rooms_lock
from messaging.models import MessageKind, Room
from messaging.services import event_post, event_post_many, message_cards_refresh
from messaging.texts import Text, text_render
from scm_portal.db.templates import InsertTemplate, QueryTemplate, attnames, pipeline
from scm_portal.errors import StateConflict
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.models import Membership
from scm_portal.tenancy.roles import CORE_ROLES, PARTNER_ROLES

LIFECYCLE_ACTIONS = ("alert_ack", "alert_start", "alert_resolve")


# --- reading the pieces ----------------------------------------------------------------------

def _policy_sent(tenant_id, kind, severity, using):
    """The most specific active policy: same kind before any kind, then the highest min_severity.
    The query is sent; the function returned answers the policy (see compiled.pipeline)."""
    fetch = _POLICIES.send(shape=int(severity), using=using, tenant_id=tenant_id, kind=kind)

    def policy():
        candidates = [EscalationPolicy.from_db(using, _POLICY_FIELDS, row) for row in fetch()]
        return max(candidates, key=lambda p: (p.kind == kind, p.min_severity, p.pk), default=None)

    return policy


_POLICY_FIELDS = attnames(EscalationPolicy)
# Read on every alert raised: compiled once per severity (a small integer column: the template's
# integer placeholders lie outside its range, so the severity is part of the shape).
_POLICIES = QueryTemplate(
    lambda severity, *, tenant_id, kind: EscalationPolicy.objects.for_tenant(tenant_id)
    .filter(active=True, min_severity__lte=severity).filter(Q(kind=kind) | Q(kind="")).values_list(*_POLICY_FIELDS)
)


def _audience_query(shape, *, tenant_id, roles=(), partner_id=None, usernames=()):
    condition = Q(role__in=list(roles))
    if partner_id is not None:
        condition |= Q(organization_id=partner_id, role__in=sorted(PARTNER_ROLES))
    if usernames:
        condition |= Q(user__username__in=list(usernames))
    return Membership.objects.active().filter(tenant_id=tenant_id).filter(condition).values_list("user_id")


_AUDIENCE = QueryTemplate(_audience_query)


def audience_user_ids(*, tenant, partner_id, roles, extra_usernames=()):
    """Users told about an alert live: the partner's people, the core staff of `roles`, named users."""
    return _audience_sent(tenant.pk, partner_id, roles, extra_usernames)()


def _audience_sent(tenant_id, partner_id, roles, extra_usernames=(), using=DEFAULT_DB_ALIAS):
    # No core role asked: a role no one holds keeps the compiled shape (an empty IN is no SQL at all).
    params = {"tenant_id": tenant_id, "roles": sorted(r for r in roles if r in CORE_ROLES) or [""]}
    if partner_id:
        params["partner_id"] = partner_id
    if extra_usernames:
        params["usernames"] = sorted(set(extra_usernames))
    fetch = _AUDIENCE.send(shape=tuple(sorted(params)), using=using, **params)
    return lambda: sorted({user_id for (user_id,) in fetch()})


def alert_frame(alert):
    return {
        "type": "alert",
        "id": alert.pk,
        "kind": alert.kind,
        "state": alert.state,
        "severity": SEVERITY_NAMES.get(alert.severity, str(alert.severity)),
        "level": alert.level,
        "title": alert.title,
        "subject": {"kind": alert.subject_kind, "id": alert.subject_ref} if alert.subject_kind else None,
        "partner": alert.partner.slug if alert.partner_id else None,
        "cards": alert.cards,
        "opened_at": alert.opened_at.isoformat(),
        "next_escalation_at": alert.next_escalation_at.isoformat() if alert.next_escalation_at else None,
    }


def _alert_frames(alert):
    """(group, event) of the live `alert` frame for everyone who sees the alert on the board,
    its title in every language, once (each socket shows the one in its own: realtime's user_frame).

    One publish to the tenant's group, not one per addressed user: the board shows an alert to
    every core member of the tenant and to the partner's people (Alert.access_policy), so each
    socket applies that rule itself from what it already holds (TenantSocketConsumer.user_frame:
    the tenant, core staff or one of the alert's partners), without a query. Who is addressed
    (the audience) still decides the notifications and the cards."""
    event = realtime.user_frame_event(alert_frame(alert), tenant_id=alert.tenant_id,
                                      partner_ids=[alert.partner_id] if alert.partner_id else [],
                                      titles=_titles(alert))
    return [(realtime.tenant_group(alert.tenant_id), event)]


def _titles(alert):
    title = alert_title_text(alert)
    if not isinstance(title, Text):
        return None
    return {language: text_render(title, language) for language, _name in settings.LANGUAGES}


def alert_live_events(alert_ids):
    """The live `alert` frame events of these alerts, as they stand: for a process whose hub found
    their cards or notices missing (realtime.register_recoverable_subject). Not filtered by user:
    each socket forwards them by the board's rule, as it does the published ones."""
    ids = [int(i) for i in alert_ids if str(i).isdigit()]
    alerts = Alert.objects.filter(pk__in=ids).select_related("partner").order_by("pk")
    return [event for alert in alerts for _group, event in _alert_frames(alert)]


def _tell(alert):
    """The live `alert` frame for everyone who sees the alert, after commit, in one hand-over; the
    thread waits until it is sent before going on (the cards and the response can wait; the alert
    cannot)."""
    realtime.publish_many(_alert_frames(alert), urgent=True)


def _level_config(alert, index):
    levels = (alert.policy.levels if alert.policy_id and alert.policy else None) or []
    return levels[index] if 0 <= index < len(levels) else None


# --- raise -------------------------------------------------------------------------------------

def _kind_checked(raise_alert):
    """A kind nobody registered, or a kind without render and no title, is refused before the
    transaction starts (inside it, the error would break the caller's transaction too)."""

    @functools.wraps(raise_alert)
    def checked(*, kind, title=None, **kwargs):
        definition = alert_kind_required(kind)
        if title is None and definition.render is None:
            raise ValueError(f"Alert kind {kind!r} has no render: alert_raise needs a title")
        return raise_alert(kind=kind, title=title, **kwargs)

    return checked


@_kind_checked
@transaction.atomic(savepoint=False)
def alert_raise(*, tenant, kind, dedupe_key, severity=None, title=None, body="", subject_kind="", subject_ref="",
                partner=None, core_audience=(), payload=None, extra_actions=()):
    """Raises an alert unless one for the same condition is still unresolved; returns (alert, created).

    `kind` must be registered (alerts.registry.register_alert_kind; ValueError otherwise); its
    registration gives the severity when none is named, and the title and body when none is
    given (its `render`). `title` and `body` may be messaging.texts.Text: the cards then read in
    each reader's language; the alert row keeps them rendered in the tenant's language too.

    Every alert raised in a movement batch waits for this, so it keeps scm_portal.db's tools (the
    lifecycle and the sweep below are plain ORM). The plain-ORM form of this function (the same
    statements, one round trip each, built by the ORM each time) was measured against this one
    with the stock benchmark, alternated, on 2026-12-07 (bench/README.md, "Dropped in issue 13"):
    POST → alert frame p50 34 → 85 ms, server CPU per alerting POST 14 → 25 ms. It costs three
    round trips to the database: the reads (the open alert of the condition, the policy, the audience) with the
    locking read of the card rooms, sent together; the alert row (its cards' seqs are known once
    the rooms are locked); then its cards, their rooms' heads, its event and its notifications,
    sent together. The rooms are locked even when the condition turns out to have an open
    alert already (rare: recovery resolves it), the price of one round trip less for every
    alert. The live `alert` frame is handed over before the cards' frames: it is what people
    are waiting for."""
    definition = alert_kind_required(kind)  # checked by _kind_checked
    severity = definition.severity if severity is None else severity
    using = router.db_for_write(Alert)
    partner_id = partner.pk if partner is not None else None
    with pipeline(using):
        open_alert = _OPEN_ALERT.send(using=using, tenant_id=tenant.pk, key=dedupe_key)
        policy = _policy_sent(tenant.pk, kind, severity, using)
        recipients = _audience_sent(tenant.pk, partner_id, core_audience, using=using)
        rooms = alert_rooms_lock_sent(tenant.pk, partner_id, using)  # rooms first, then the new alert row
        existing = open_alert()
        if existing:
            return Alert.objects.select_related("partner").get(pk=existing[0][0]), False
        policy, recipients, rooms = policy(), recipients(), rooms()
    now = timezone.now()
    alert = Alert(
        tenant=tenant, kind=kind, severity=severity, dedupe_key=dedupe_key, title="", body=body,
        subject_kind=subject_kind, subject_ref=str(subject_ref), partner=partner, payload=payload or {},
        core_audience=audience_value(core_audience), policy=policy, opened_at=now,
    )
    title_text, body_text = _raised_texts(definition, alert, title, body)
    # Stored in the tenant's language too: the board's sorting and search, the notifications.
    language = tenant.default_language
    alert.title = (text_render(title_text, language) if isinstance(title_text, Text) else str(title_text))[:300]
    alert.body = text_render(body_text, language) if isinstance(body_text, Text) else str(body_text)
    title = alert.title
    first = _level_config(alert, 0)
    alert.next_escalation_at = now + timedelta(seconds=int(first["after_seconds"])) if first else None
    alert.cards = [{"room": room.pk, "seq": room.last_seq + 1} for room in rooms]
    inserted = _ALERT_INSERT.insert([alert], using=using)  # its unique key waits for a concurrent raise
    if not inserted:  # raised concurrently by another batch: that one stands
        return Alert.objects.for_tenant(tenant).filter(dedupe_key=dedupe_key, state__is_not=AlertState.RESOLVED).get(), False
    alert.pk, alert._state.adding, alert._state.db = inserted[0][0], False, using
    _tell(alert)
    card_payload = {"alert": alert.pk, "kind": kind, "severity": SEVERITY_NAMES.get(severity), **(payload or {})}
    with pipeline(using):
        _ALERT_EVENT_INSERT.insert([AlertEvent(tenant=tenant, alert=alert, action="raised", at=now)], using=using)
        notice = title_text.stored() if isinstance(title_text, Text) else None  # a plain title: shown as written
        _NOTIFICATION_INSERT.insert(
            [Notification(tenant=tenant, user_id=u, alert=alert, kind="alert", level=0, keyed_text=notice,
                          text=title[:500]) for u in recipients],
            using=using,
        )
        cards = event_post_many([
            {"tenant": tenant, "room": room, "text": alert_card_text(title_text, body_text),
             "payload": card_payload, "actions": [*LIFECYCLE_ACTIONS, *extra_actions], "subject_kind": "alert",
             "subject_ref": str(alert.pk), "core_audience": core_audience, "subject_state": _card_state(alert)}
            for room in rooms
        ], locked={room.pk: room for room in rooms})
    assert [{"room": m.room_id, "seq": m.seq} for m in cards] == alert.cards, "card seqs moved under the room locks"
    return alert, True


def _raised_texts(definition, alert, title, body):
    """(title, body) of a new alert: Texts when the caller or the kind's render gives them (read
    in each reader's language; kept in the alert's payload when the caller gave them), else
    strings written once."""
    if title is None:  # the kind renders it (checked above)
        title, body = definition.render(alert)
        return title, body or ""
    if isinstance(title, Text) or isinstance(body, Text):
        alert.payload = {**alert.payload, "text": {
            "title": title.stored() if isinstance(title, Text) else str(title),
            "body": body.stored() if isinstance(body, Text) else str(body or "")}}
    return title, body or ""


def _card_state(alert):
    """The alert's state as its cards' buttons read it (alerts.actions.alert_states' shape)."""
    return {"state": alert.state, "partner": alert.partner_id}


def alert_card_text(title, body):
    """What an alert's card says: its title in bold, then its body (each a Text or a string)."""
    return Text("alerts.card", {"title": title, "body": body}) if body else Text("alerts.card_title", {"title": title})


# The rows every raised alert writes, through statements built once. A concurrent batch raising
# the same condition waits on the unique key, then skips: no savepoint around the insert.
_ALERT_INSERT = InsertTemplate(Alert, conflict="ON CONFLICT (tenant_id, dedupe_key) WHERE NOT (state = 'resolved') DO NOTHING")
_ALERT_EVENT_INSERT = InsertTemplate(AlertEvent, returning=())
_NOTIFICATION_INSERT = InsertTemplate(Notification, conflict="ON CONFLICT DO NOTHING", returning=())


_OPEN_ALERT = QueryTemplate(
    lambda shape, *, tenant_id, key: Alert.objects.for_tenant(tenant_id).filter(dedupe_key=key, state__is_not=AlertState.RESOLVED)
    .values_list("pk")[:1]
)


# --- the lifecycle -----------------------------------------------------------------------------

def _card_room_ids(alert):
    return [ref["room"] for ref in alert.cards]  # fixed when the alert is raised


def _lock(alert):
    """Locks the alert's rooms, then the alert; returns the alert as it now is."""
    rooms_lock(_card_room_ids(alert))
    return alert_lock(alert.pk)


def check_may_change(*, tenant, actor, alert, context):
    """`context`: the actor's TenantContext in the tenant (the request's, the socket frame's)."""
    check_context(context, tenant=tenant, user=actor)
    if not Alert.objects.for_tenant(tenant).visible_to(actor, "change", context=context).filter(pk=alert.pk).exists():
        raise PermissionDenied(_("Your role may not act on this alert."))


def _announce(alert, actor, text, skip_room_id=None):
    """A system line under each of the alert's cards (but the one whose button was pressed), and
    the cards' buttons re-rendered for everyone (the alert moved on). `text`: a Text, or a string."""
    said = {"text": text} if isinstance(text, Text) else {"body": text}
    message_cards_refresh(tenant=alert.tenant, subject_kind="alert", subject_ref=alert.pk)
    for ref in alert.cards:
        if ref["room"] == skip_room_id:
            continue
        room = Room(pk=ref["room"], tenant_id=alert.tenant_id)  # event_post locks and reads the row itself
        event_post(tenant=alert.tenant, room=room, **said, kind=MessageKind.SYSTEM, sender=actor,
                   payload={"alert": alert.pk, "state": alert.state}, subject_kind="alert", subject_ref=str(alert.pk),
                   core_audience=audience_roles(alert.core_audience), refers_to=ref["seq"], relation="reply")


def alert_state_text(alert, actor):
    """The notice of a transition, as a Text ("李仓管 已确认此预警", read in each reader's language)."""
    return Text(f"alerts.state.{alert.state}", {"who": actor.get_full_name() or actor.username})


def _person(user):
    return (user.get_full_name() or user.username) if user is not None else ""


def _refusal(to_state, alert):
    """A transition the alert's state no longer allows (a late button, a second tab): what it is
    now, and who moved it on, in the asker's language; answered 409 with `alert_<state>`."""
    state = alert.state
    if state == AlertState.RESOLVED and alert.recovered:
        message = _("This alert is resolved already: the condition cleared by itself.")
    elif state == AlertState.RESOLVED:
        message = _("This alert was already resolved by %(who)s.") % {"who": _person(alert.resolved_by)}
    elif state == AlertState.IN_PROGRESS:
        message = _("%(who)s is already handling this alert.") % {"who": _person(alert.started_by)}
    elif state == AlertState.ACKNOWLEDGED:
        message = _("This alert was already acknowledged by %(who)s.") % {"who": _person(alert.acknowledged_by)}
    else:
        message = _("This alert cannot move to %(state)s now.") % {"state": AlertState(to_state).label}
    return StateConflict(message, code=f"alert_{state}")


def _transition(*, tenant, actor, context, alert, to_state, allowed_from, skip_room_id=None):
    check_context(context, tenant=tenant, user=actor)  # before any lock is taken
    alert = _lock(alert)
    check_may_change(tenant=tenant, actor=actor, alert=alert, context=context)
    if alert.state not in allowed_from:
        raise _refusal(to_state, alert)
    now = timezone.now()
    from_state = alert.state
    alert.state = to_state
    alert.next_escalation_at = None  # acknowledged, started or resolved: escalation stops
    fields = ["state", "next_escalation_at"]
    if to_state == AlertState.ACKNOWLEDGED or (to_state in (AlertState.IN_PROGRESS, AlertState.RESOLVED) and not alert.acknowledged_at):
        alert.acknowledged_at, alert.acknowledged_by = now, actor
        fields += ["acknowledged_at", "acknowledged_by"]
    if to_state == AlertState.IN_PROGRESS or (to_state == AlertState.RESOLVED and not alert.started_at):
        alert.started_at, alert.started_by = now, actor
        fields += ["started_at", "started_by"]
    if to_state == AlertState.RESOLVED:
        alert.resolved_at, alert.resolved_by = now, actor
        fields += ["resolved_at", "resolved_by"]
    alert.save(update_fields=fields)
    AlertEvent.objects.create(tenant=tenant, alert=alert, action=to_state, actor=actor, level=alert.level, at=now)
    _announce(alert, actor, alert_state_text(alert, actor), skip_room_id)
    _tell(alert)
    # A person's act is audited; the system's raise, escalation and recovery are not: each is an
    # event card in the alert's rooms, already on their hash chains, and has no person behind it.
    audit_transition(tenant=tenant, actor=actor, object_kind="alert", object_ref=alert.pk,
                     verb={AlertState.ACKNOWLEDGED: "acknowledge", AlertState.IN_PROGRESS: "start"}.get(to_state, "resolve"),
                     before_state=from_state, after_state=alert.state, kind=alert.kind, level=alert.level)
    return alert


@transaction.atomic
def alert_acknowledge(*, tenant, actor, context, alert, skip_room_id=None):
    return _transition(tenant=tenant, actor=actor, context=context, alert=alert, to_state=AlertState.ACKNOWLEDGED,
                       allowed_from={AlertState.OPEN}, skip_room_id=skip_room_id)


@transaction.atomic
def alert_start(*, tenant, actor, context, alert, skip_room_id=None):
    return _transition(tenant=tenant, actor=actor, context=context, alert=alert, to_state=AlertState.IN_PROGRESS,
                       allowed_from={AlertState.OPEN, AlertState.ACKNOWLEDGED}, skip_room_id=skip_room_id)


@transaction.atomic
def alert_resolve(*, tenant, actor, context, alert, skip_room_id=None):
    return _transition(tenant=tenant, actor=actor, context=context, alert=alert, to_state=AlertState.RESOLVED,
                       allowed_from={AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.IN_PROGRESS},
                       skip_room_id=skip_room_id)


@transaction.atomic
def alert_recover(*, tenant, dedupe_key, note):
    """The condition cleared by itself (stock back above the line): resolve, marked recovered.
    `note`: the notice under its cards, a Text (or a string)."""
    alert = Alert.objects.for_tenant(tenant).filter(dedupe_key=dedupe_key, state__is_not=AlertState.RESOLVED).first()
    if alert is None:
        return None
    alert = _lock(alert)
    if alert.state == AlertState.RESOLVED:  # resolved by someone while we waited for the locks
        return None
    now = timezone.now()
    alert.state, alert.recovered, alert.resolved_at, alert.next_escalation_at = AlertState.RESOLVED, True, now, None
    alert.save(update_fields=["state", "recovered", "resolved_at", "next_escalation_at"])
    AlertEvent.objects.create(tenant=tenant, alert=alert, action="recovered", level=alert.level, at=now)
    _announce(alert, None, note)
    _tell(alert)
    return alert


# --- escalation policies ---------------------------------------------------------------------

POLICY_FIELDS = ("name", "kind", "min_severity", "levels", "active")


@transaction.atomic
def escalation_policy_save(*, tenant, actor, policy=None, **data):
    """Creates or updates a policy from validated data (EscalationPolicySerializer validates).

    Alerts already open keep the policy they were raised with; its new levels apply from
    their next escalation on."""
    if policy is None:
        policy = EscalationPolicy(tenant=tenant)
    elif policy.tenant_id != tenant.id:
        raise ValidationError({"policy": _("Not a policy of this tenant.")})
    before = {field: getattr(policy, field) for field in POLICY_FIELDS} if policy.pk else None
    for field in POLICY_FIELDS:
        if field in data:
            setattr(policy, field, data[field])
    policy.save()
    audit_record(tenant=tenant, actor=actor, action="escalation_policy." + ("update" if before else "create"),
                 object_kind="escalation_policy", object_ref=policy.pk, before=before,
                 after={field: getattr(policy, field) for field in POLICY_FIELDS})
    return policy


# --- notifications -----------------------------------------------------------------------------

NOTIFICATION_IDS_MAX = 500


def notification_mark_read(*, tenant, actor, context, ids=None):
    """Marks the actor's own unread notices in `tenant` read: those of `ids`, or all of them when
    `ids` is None. Ids that are not the actor's unread notices in this tenant are passed over
    (another person's notice is never touched). Returns how many were marked."""
    check_context(context, tenant=tenant, user=actor)
    notices = Notification.objects.for_tenant(tenant).visible_to(actor, context=context).filter(
        user=actor, read_at__isnull=True)
    if ids is not None:
        if len(ids) > NOTIFICATION_IDS_MAX:
            raise ValidationError({"ids": _("At most %(n)d notices at once.") % {"n": NOTIFICATION_IDS_MAX}})
        notices = notices.filter(pk__in=ids)
    return notices.update(read_at=timezone.now())


# --- escalation --------------------------------------------------------------------------------

def escalation_sweep(*, now=None, batch_size=500):
    """Escalates every unacknowledged alert that is due, one level each; returns how many.

    Each batch is one transaction. It reads its candidates without locks, locks their rooms (id
    order), then the candidates still due with SKIP LOCKED: the lock order of every alert write,
    so a button pressed meanwhile waits for the batch or the batch for it, never both. Two
    sweepers never take the same alert (the second finds it escalated or skips it), and a sweeper
    killed mid-batch leaves it for the next one. A batch is written set-wise (_escalate_batch):
    its statements grow with the rooms, audiences and outcomes it touches, not with the number
    of alerts; its frames go out after commit at once.
    """
    now = now or timezone.now()
    total, passed = 0, set()
    due = Alert.objects.filter(state__is=AlertState.OPEN, next_escalation_at__lte=now).order_by("next_escalation_at", "pk")
    while True:
        with transaction.atomic():
            # Passed over: held by another writer, or no longer due; not asked for again this sweep.
            candidates = dict(due.exclude(pk__in=passed).values_list("pk", "cards")[:batch_size])
            rooms = rooms_lock(ref["room"] for cards in candidates.values() for ref in cards)
            taken = list(
                alerts_locked(due.filter(pk__in=list(candidates)), skip_locked=True)
                .select_related("policy", "tenant", "partner")
            )
            _escalate_batch(taken, now, rooms)
        passed.update(set(candidates) - {alert.pk for alert in taken})
        total += len(taken)
        if len(candidates) < batch_size:
            return total


class _Audiences:
    """audience_user_ids asked once per (tenant, partner, roles, users) within a batch."""

    def __init__(self):
        self.known = {}

    def __call__(self, *, tenant, partner_id, roles, extra_usernames):
        key = (tenant.pk, partner_id, tuple(sorted(roles)), tuple(sorted(extra_usernames)))
        if key not in self.known:
            self.known[key] = audience_user_ids(tenant=tenant, partner_id=partner_id, roles=roles,
                                                extra_usernames=extra_usernames)
        return self.known[key]


def _escalate_batch(due, now, rooms):
    """One level up for each of `due` (locked after `rooms`, rooms_lock's answer for their cards):
    the alert rows, their events, a card under each of their cards, notifications for the
    level's people and live frames for the whole audience."""
    steps = []
    for alert in due:
        config = _level_config(alert, alert.level)
        if config is None:  # the policy changed since: nothing more to fire
            alert.next_escalation_at = None
            continue
        alert.level += 1
        roles = [r for r in config.get("roles", []) if r in CORE_ROLES]
        usernames = list(config.get("users", []))
        audience = sorted(set(audience_roles(alert.core_audience)) | set(roles))
        alert.core_audience = audience_value(audience)
        following = _level_config(alert, alert.level)
        alert.next_escalation_at = now + timedelta(seconds=int(following["after_seconds"])) if following else None
        text = Text("alerts.escalated", {"level": alert.level, "title": alert_title_text(alert)})
        steps.append((alert, config, roles, usernames, audience, text))
    # Alerts of one policy escalated together mostly end alike: one UPDATE per distinct outcome
    # (bulk_update's per-row CASE costs more to build than to run).
    outcomes = {}
    for alert in due:
        outcomes.setdefault((alert.level, alert.core_audience, alert.next_escalation_at), []).append(alert.pk)
    for (level, core_audience, next_at), ids in outcomes.items():
        Alert.objects.filter(pk__in=ids).update(level=level, core_audience=core_audience, next_escalation_at=next_at)
    if not steps:
        return
    AlertEvent.objects.bulk_create(
        [AlertEvent(tenant=alert.tenant, alert=alert, action="escalated", level=alert.level, at=now) for alert, *_rest in steps]
    )
    # The alerts' live frames go out after commit with their cards, in one hand-over.
    frames = [frame for alert, *_rest in steps for frame in _alert_frames(alert)]
    event_post_many([
        {"tenant": alert.tenant, "room": ref["room"], "text": text, "kind": MessageKind.EVENT,
         "payload": {"alert": alert.pk, "level": alert.level, "escalation": True}, "actions": list(LIFECYCLE_ACTIONS),
         "subject_kind": "alert", "subject_ref": str(alert.pk), "core_audience": audience,
         "refers_to": ref["seq"], "relation": "reply", "subject_state": _card_state(alert)}
        for alert, _config, _roles, _usernames, audience, text in steps for ref in alert.cards
    ], locked=rooms, publish_along=frames)
    audiences = _Audiences()
    notifications = []
    for alert, config, roles, usernames, _audience, text in steps:
        recipients = audiences(tenant=alert.tenant, partner_id=None, roles=roles, extra_usernames=usernames)
        keyed, notice = text.stored(), text_render(text, alert.tenant.default_language)[:500]
        notifications += [
            Notification(tenant=alert.tenant, user_id=u, alert=alert, kind="escalation", level=alert.level,
                         channels=config.get("channels", ["in_app"]), keyed_text=keyed, text=notice) for u in recipients
        ]
    Notification.objects.bulk_create(notifications, ignore_conflicts=True)

"""GPS positions of shipments, and the rules they feed: route_deviation and abnormal_stop.

A batch (one position, or up to POSITION_BATCH_MAX over one or many shipments) is set-based:
one read of its shipments' state, one read of the route cells its positions fall in, one
INSERT of every position, one UPDATE of every shipment's state, then the alerts it raises or
recovers. The rules run once per shipment over that shipment's positions in time order.

Out-of-order positions are kept; a shipment's last position is its latest by `at`. The rules
advance only with positions newer than the last one they saw: a fix that arrives late tells
where the truck was, not where it is, and cannot start or end a detour after the fact.

Detours: a position farther than OrderSettings.route_deviation_meters from the planned route
(measured against the segments of its own cell of the route index, orders.geo) is off the
route; two in a row start a detour, which raises one `route_deviation` alert; the first
position back on the route ends it and recovers the alert. Stops: positions within
STATIONARY_METERS of where the truck first stood still are one stop; once it has lasted
abnormal_stop_minutes away from the route's stops (STOP_RADIUS_METERS) it raises one
`abnormal_stop` alert, recovered when the truck moves on.

Lock order (docs/ARCHITECTURE.md): the rooms of the alerts the batch is expected to raise or
recover (read from the shipments' state before any lock), then the shipments (ascending id),
then the positions' insert, then the alerts. A concurrent batch of the same shipment that
changes what this one raises can make this batch raise after its shipment locks (the alert's
rooms then come after the record, as in the movement batches' documented exceptions).
"""

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from alerts import services as alerts
from alerts.lock_objects import alert_room_ids
from messaging.lock_objects import rooms_locked
from orders import geo
from orders.logistics_alerts import SHIPMENT_ALERT_AUDIENCE
from orders.models import Position, RouteCell, Shipment, ShipmentState
from orders.services.shipments import LogisticsConflict, order_settings_for, route_index_build
from scm_portal.errors import StructuredValidationError
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.models import Organization
from scm_portal.tenancy.selectors import tenant_language

POSITION_BATCH_MAX = 5000
STATIONARY_METERS = 300  # fixes within this of where the truck stopped are the same stop
STOP_RADIUS_METERS = 1000  # standing still this near a route's stop is expected
FUTURE_SKEW = timedelta(minutes=10)  # a device clock a little ahead is accepted
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

# `stops_text`: the route's stops as JSON text, decoded only for a truck standing still long enough
# to ask whether it stands at one; `row_version`: the row's xmin, which any update changes.
_STATE_FIELDS = ("pk", "supplier_id", "number", "state", "last_position_at", "route_cell_deg", "route_margin_meters",
                 "off_route_streak", "deviating", "stop_lat", "stop_lon", "stop_since", "stop_alerted", "stops_text",
                 "row_version")


def _parse_at(raw, tz, latest):
    if type(raw) is not str or "\x00" in raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        try:
            when = parse_datetime(raw)
        except ValueError:
            return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = timezone.make_aware(when, tz)
    if when < _EARLIEST or when > latest:
        return None
    return when


def check_position_rows(rows, *, with_shipment):
    """[(shipment id or None, lat, lon, at)] or a ValidationError naming every bad row
    (`{"rows": {index: {field: [...]}}}`)."""
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not rows:
        raise ValidationError({"rows": [_("Send one position {\"lat\", \"lon\", \"at\"} or a non-empty list of them.")]})
    if len(rows) > POSITION_BATCH_MAX:
        raise ValidationError({"rows": [_("At most %(max)d positions per request.") % {"max": POSITION_BATCH_MAX}]})
    allowed = {"lat", "lon", "at", "shipment"} if with_shipment else {"lat", "lon", "at"}
    tz = timezone.get_current_timezone()
    latest = timezone.now() + FUTURE_SKEW
    clean, errors = [], {}
    for index, row in enumerate(rows):
        if type(row) is not dict:
            errors[str(index)] = {"non_field_errors": [_("A position is an object {\"lat\", \"lon\", \"at\"}.")]}
            continue
        lat, lon, at = row.get("lat"), row.get("lon"), row.get("at")
        row_errors = {}
        if not row.keys() <= allowed:
            for key in row:
                if key not in allowed:
                    row_errors[str(key)] = [_("Unknown field.")]
        if type(lat) not in (int, float) or not -90 <= lat <= 90:
            row_errors["lat"] = [_("lat is a number from -90 to 90.")]
        if type(lon) not in (int, float) or not -180 <= lon <= 180:
            row_errors["lon"] = [_("lon is a number from -180 to 180.")]
        when = _parse_at(at, tz, latest)
        if when is None:
            row_errors["at"] = [_("at is an ISO 8601 date and time, not in the future.")]
        shipment = None
        if with_shipment:
            shipment = row.get("shipment")
            if type(shipment) is not int or not 0 < shipment < 2**63:
                row_errors["shipment"] = [_("shipment is a shipment id.")]
        if row_errors:
            errors[str(index)] = row_errors
        else:
            clean.append((shipment, float(lat), float(lon), when))
    if errors:
        raise StructuredValidationError(
            _("%(n)d of %(total)d positions are invalid; none was stored.") % {"n": len(errors), "total": len(rows)},
            fields={"rows": errors})
    return clean


class _Track:
    """One shipment's rule state as read, advanced by its new positions."""

    __slots__ = (*_STATE_FIELDS, "events", "last", "_stops")

    def __init__(self, row):
        for name, value in zip(_STATE_FIELDS, row):
            setattr(self, name, value)
        self.events = []  # ("raise" | "recover", kind, payload)
        self.last = None
        self._stops = None

    @property
    def stops(self):
        if self._stops is None:
            self._stops = json.loads(self.stops_text) if self.stops_text else []
        return self._stops


_TABLE = Shipment._meta.db_table


def _states(shipments, ids):
    """{id: _Track} of the shipments `ids` among `shipments` (a query), unlocked."""
    rows = (shipments.filter(pk__in=ids).order_by("pk")
            .annotate(stops_text=Cast("stops", TextField()), row_version=RawSQL(f'"{_TABLE}".xmin::text', ()))
            .values_list(*_STATE_FIELDS))
    return {row[0]: _Track(row) for row in rows}


# Locks the shipments in ascending id, as their writers do, and answers those whose row changed
# since it was read (its xmin differs): no column is read back and parsed for the others.
_LOCK_SQL = f"""
WITH locked AS MATERIALIZED (
    SELECT id, xmin::text AS version FROM {_TABLE} WHERE tenant_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE)
SELECT locked.id FROM locked LEFT JOIN json_to_recordset(%s::json) AS r(id bigint, v text) ON r.id = locked.id
WHERE r.v IS DISTINCT FROM locked.version"""


def _lock_states(tenant, tracks):
    """Locks the shipments of `tracks` (ascending id); answers the ids of those another writer
    changed since they were read."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [tenant.pk, sorted(tracks), json.dumps(
            [{"id": pk, "v": track.row_version} for pk, track in tracks.items()])])
        return [row[0] for row in cursor.fetchall()]


# One probe of the (shipment, cell) index per cell wanted, whatever the table holds: the LIMIT
# (the key is unique) keeps the planner from turning the probes into a hash of the whole table.
_CELLS_SQL = f"""
SELECT w.shipment_id, w.cell, c.segments
FROM json_to_recordset(%s::json) AS w(shipment_id bigint, cell bigint)
CROSS JOIN LATERAL (SELECT segments FROM {RouteCell._meta.db_table} r
                    WHERE r.shipment_id = w.shipment_id AND r.cell = w.cell AND r.tenant_id = %s LIMIT 1) AS c"""


def _route_segments(tenant, tracks, by_shipment):
    """{(shipment id, cell): segments} for the cells the new positions fall in: one query."""
    wanted = set()
    for shipment_id, fixes in by_shipment.items():
        track = tracks[shipment_id]
        if track.route_cell_deg is None:
            continue
        for _lat, _lon, _at, cell in fixes:
            wanted.add((shipment_id, cell))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_CELLS_SQL, [json.dumps([{"shipment_id": s, "cell": c} for s, c in wanted]), tenant.pk])
        return {(s, c): geo.unpack(data) for s, c, data in cursor.fetchall()}


def _advance(track, fixes, segments, threshold, stop_minutes):
    """Runs the rules over `fixes` (new positions of the track, in time order); records events."""
    stop_after = timedelta(minutes=stop_minutes)
    for lat, lon, at, cell in fixes:
        if track.route_cell_deg is None:
            distance = None  # no planned route: nothing to deviate from
        else:
            distance = geo.off_route_m(lat, lon, segments.get((track.pk, cell), ()), threshold)
        off = distance is not None
        track.off_route_streak = track.off_route_streak + 1 if off else 0
        if off and not track.deviating and track.off_route_streak >= 2:
            track.deviating = True
            track.events.append(("raise", "route_deviation", {
                "lat": lat, "lon": lon, "at": at.isoformat(), "threshold_m": threshold,
                # None: no segment of the route passes within the index's distance of the fix
                "distance_m": round(distance) if distance != float("inf") else None}))
        elif not off and track.deviating:
            track.deviating = False
            track.events.append(("recover", "route_deviation", {"lat": lat, "lon": lon, "at": at.isoformat()}))
        if track.stop_since is None or geo.distance_m(track.stop_lat, track.stop_lon, lat, lon) > STATIONARY_METERS:
            if track.stop_alerted:
                track.stop_alerted = False
                track.events.append(("recover", "abnormal_stop", {"lat": lat, "lon": lon, "at": at.isoformat()}))
            track.stop_lat, track.stop_lon, track.stop_since = lat, lon, at
        elif not track.stop_alerted and at - track.stop_since >= stop_after and not _near_stop(track):
            track.stop_alerted = True
            track.events.append(("raise", "abnormal_stop", {
                "lat": track.stop_lat, "lon": track.stop_lon, "since": track.stop_since.isoformat(),
                "minutes": int((at - track.stop_since).total_seconds() // 60)}))
        track.last = (lat, lon, at)


def _near_stop(track):
    return any(geo.distance_m(track.stop_lat, track.stop_lon, s[0], s[1]) <= STOP_RADIUS_METERS for s in track.stops)


def _run_rules(tenant, tracks, by_shipment, settings):
    """Rebuilds an index built for a smaller threshold, reads the cells, runs the rules."""
    threshold = settings.route_deviation_meters
    for shipment_id in by_shipment:
        track = tracks[shipment_id]
        if track.route_cell_deg is not None and track.route_margin_meters < threshold:
            shipment = Shipment(pk=track.pk, tenant_id=tenant.pk)
            route = Shipment.objects.filter(pk=track.pk).values_list("route", flat=True).get()
            route_index_build(shipment, [(p["lat"], p["lon"]) for p in route], threshold)
            track.route_cell_deg, track.route_margin_meters = shipment.route_cell_deg, threshold
    located = {
        shipment_id: [(lat, lon, at, geo.cell_key(lat, lon, tracks[shipment_id].route_cell_deg)
                       if tracks[shipment_id].route_cell_deg else None) for lat, lon, at in fixes]
        for shipment_id, fixes in by_shipment.items()
    }
    segments = _route_segments(tenant, tracks, located)
    for shipment_id, fixes in located.items():
        _advance(tracks[shipment_id], fixes, segments, threshold, settings.abnormal_stop_minutes)


def _new_fixes(tracks, clean):
    """{shipment id: [(lat, lon, at)] newer than its last position, in time order}."""
    by_shipment = defaultdict(list)
    for shipment_id, lat, lon, at in clean:
        last = tracks[shipment_id].last_position_at
        if last is None or at > last:
            by_shipment[shipment_id].append((lat, lon, at))
    for fixes in by_shipment.values():
        fixes.sort(key=lambda fix: fix[2])
    return by_shipment


# A batch's rows travel as one JSON text (json.dumps is C; the driver's array literals are not).
_INSERT_SQL = f"""
INSERT INTO {Position._meta.db_table} (tenant_id, shipment_id, lat, lon, at, received_at)
SELECT %s, b.s, b.la, b.lo, b.a, %s
FROM json_to_recordset(%s::json) AS b(s bigint, la float8, lo float8, a timestamptz)"""

_UPDATE_SQL = f"""
UPDATE {Shipment._meta.db_table} AS s SET
    last_lat = v.la, last_lon = v.lo, last_position_at = v.a,
    off_route_streak = v.streak, deviating = v.dev, stop_lat = v.sla, stop_lon = v.slo, stop_since = v.ss,
    stop_alerted = v.sa, updated_at = %s
FROM json_to_recordset(%s::json) AS v(id bigint, la float8, lo float8, a timestamptz, streak int, dev bool,
                                      sla float8, slo float8, ss timestamptz, sa bool)
WHERE s.id = v.id AND s.tenant_id = %s"""


def _check_shipments(tenant, actor, context, ids, clean, single):
    """The shipments' states (unlocked), after checking the actor may post to every one."""
    changeable = Shipment.objects.for_tenant(tenant).visible_to(actor, "change", context=context)
    tracks = _states(changeable, ids)
    unknown = set(ids) - set(tracks)
    if unknown:
        visible = set(Shipment.objects.for_tenant(tenant).visible_to(actor, "view", context=context)
                      .filter(pk__in=unknown).values_list("pk", flat=True))
        if visible:
            raise PermissionDenied(_("Your role may not post positions of this shipment."))
        if single:
            from django.http import Http404

            raise Http404
        raise StructuredValidationError(_("Some positions name no shipment of yours; none was stored."), fields={
            "rows": {str(i): {"shipment": [_("No such shipment.")]} for i, row in enumerate(clean) if row[0] in unknown}})
    closed = sorted(track.number for track in tracks.values() if track.state != ShipmentState.IN_TRANSIT)
    if closed:
        raise LogisticsConflict(_("Shipment %(number)s is no longer in transit.") % {"number": closed[0]},
                                code="shipment_closed")
    return tracks


@transaction.atomic
def position_ingest(*, tenant, actor, context, rows, shipment=None):
    """Stores a batch of positions of `shipment` (rows {"lat", "lon", "at"}) or of the shipments
    the rows name (rows {"shipment", "lat", "lon", "at"}); runs the rules; returns {"created": n}.

    Who may post: whoever may change the shipment (its supplier's reps, the dispatchers of the
    carrier it is assigned to, the core logistics roles): PermissionDenied for a role that only sees it; a shipment the actor may not see is
    Http404 (named in the URL) or a row error. A batch with a bad row stores nothing."""
    check_context(context, tenant=tenant, user=actor)
    clean = check_position_rows(rows, with_shipment=shipment is None)
    if shipment is not None:
        clean = [(shipment.pk, lat, lon, at) for _s, lat, lon, at in clean]
    ids = sorted({row[0] for row in clean})
    tracks = _check_shipments(tenant, actor, context, ids, clean, single=shipment is not None)
    settings = order_settings_for(tenant)

    # The rules on the state as read: which alerts will this batch raise or recover?
    by_shipment = _new_fixes(tracks, clean)
    _run_rules(tenant, tracks, by_shipment, settings)
    alerting = sorted({track.supplier_id for track in tracks.values() if track.events})
    if alerting:
        list(rooms_locked(alert_room_ids(tenant_id=tenant.pk, partners=alerting)))
    # Then the shipments, locked, and the rules again if another batch moved them meanwhile.
    if _lock_states(tenant, tracks):
        tracks = _states(Shipment.objects.for_tenant(tenant), ids)
        by_shipment = _new_fixes(tracks, clean)
        _run_rules(tenant, tracks, by_shipment, settings)

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, [tenant.pk, now, json.dumps(
            [{"s": s, "la": lat, "lo": lon, "a": at.isoformat()} for s, lat, lon, at in clean])])
        moved = [tracks[i] for i in sorted(by_shipment)]
        if moved:
            cursor.execute(_UPDATE_SQL, [now, json.dumps([
                {"id": t.pk, "la": t.last[0], "lo": t.last[1], "a": t.last[2].isoformat(), "streak": t.off_route_streak,
                 "dev": t.deviating, "sla": t.stop_lat, "slo": t.stop_lon,
                 "ss": t.stop_since.isoformat() if t.stop_since else None, "sa": t.stop_alerted} for t in moved]),
                tenant.pk])
    _alert(tenant, [t for t in moved if t.events])
    return {"created": len(clean)}


def _alert(tenant, tracks):
    if not tracks:
        return
    suppliers = Organization.objects.in_bulk({t.supplier_id for t in tracks})
    with tenant_language(tenant):
        for track in tracks:
            for what, kind, payload in track.events:
                key = f"{kind}:{track.pk}"
                if what == "raise":
                    alerts.alert_raise(
                        tenant=tenant, kind=kind, dedupe_key=key, subject_kind="shipment", subject_ref=track.pk,
                        partner=suppliers[track.supplier_id], core_audience=SHIPMENT_ALERT_AUDIENCE,
                        payload={"shipment": track.pk, "shipment_number": track.number, **payload})
                else:
                    note = (_("Shipment %(number)s is back on its route.") if kind == "route_deviation"
                            else _("Shipment %(number)s is moving again.")) % {"number": track.number}
                    alerts.alert_recover(tenant=tenant, dedupe_key=key, note=note)

"""Shipment pages: the list, and one shipment with its map drawn on the server as inline SVG
(the planned route against the actual track, the route's stops, where detours were seen, the
last position; no tile server), its lines with the receiving result, and its alerts."""

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from alerts.models import SEVERITY_NAMES
from alerts.registry import alert_text
from orders import geo, logistics_selectors as selectors
from orders.models import Shipment
from scm_portal.tenancy.views import tenant_page

PAGE_SIZE = 50
MAP_WIDTH, MAP_HEIGHT = 800, 480
MAP_POINTS_MAX = 1500  # a longer line is thinned for drawing (every n-th point, ends kept)


@tenant_page
def shipment_list(request):
    if not request.tenant_context.roles & Shipment.access_policy.roles("view"):
        return render(request, "403.html", status=403)  # a funder has no shipments here
    shipments = selectors.shipment_list(request.user, request.tenant, context=request.tenant_context)
    state = request.GET.get("state", "")
    if state in ("in_transit", "delivered", "cancelled"):
        shipments = shipments.filter(state=state)
    page = Paginator(shipments, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "orders/shipment_list.html", {"page": page, "state": state})


def _thin(points, limit=MAP_POINTS_MAX):
    if len(points) <= limit:
        return points
    step = len(points) / (limit - 1)
    return [points[int(i * step)] for i in range(limit - 1)] + [points[-1]]


def shipment_map(shipment, track, deviations):
    """What the template draws: polylines' points and markers in SVG coordinates."""
    route = [(p["lat"], p["lon"]) for p in shipment.route or ()]
    track_points = [(lat, lon) for lat, lon, _at in track]
    marks = [(d["lat"], d["lon"]) for d in deviations]
    project = geo.svg_projection(route + track_points + marks, MAP_WIDTH, MAP_HEIGHT)

    def line(points):
        return " ".join(f"{x},{y}" for x, y in (project(lat, lon) for lat, lon in _thin(points)))

    last = project(*track_points[-1]) if track_points else None
    return {
        "width": MAP_WIDTH, "height": MAP_HEIGHT,
        "route": line(route), "track": line(track_points),
        "stops": [project(lat, lon) for lat, lon in shipment.stops or ()],
        "deviations": [project(lat, lon) for lat, lon in marks],
        "last": last,
        "empty": not route and not track_points,
    }


@tenant_page
def shipment_detail(request, pk):
    if not pk.isascii() or not pk.isdigit() or len(pk) > 18:
        raise Http404
    shipment = selectors.shipment_list(request.user, request.tenant, context=request.tenant_context).filter(pk=pk).first()
    if shipment is None:
        raise Http404
    alerts = list(selectors.shipment_alert_list(request.user, request.tenant, shipment, context=request.tenant_context)[:20])
    for alert in alerts:
        alert.severity_name = SEVERITY_NAMES.get(alert.severity, "")
        alert.display_title, alert.display_body = alert_text(alert)  # in the reader's language
    deviations = [a.payload for a in alerts if a.kind == "route_deviation" and "lat" in a.payload and "lon" in a.payload]
    track = selectors.shipment_track(shipment)
    return render(request, "orders/shipment_detail.html", {
        "shipment": shipment,
        "lines": selectors.shipment_lines_of(shipment),
        "alerts": alerts,
        "map": shipment_map(shipment, track, deviations),
        "positions": len(track),
    })

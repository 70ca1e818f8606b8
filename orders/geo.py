"""Geometry of routes and positions: distances in metres, and the grid index of a route's segments.

Distances use a local equirectangular projection around the position: at the scale of a detour
threshold (kilometres) it is within a fraction of a percent of the great-circle distance, and it
is a handful of multiplications. Routes that cross the antimeridian are not supported (no road
does within the tenants served).

The index: the world is cut into square cells of `cell_deg` degrees (at least the index's
margin); each segment of the route is listed in every cell that holds a point within `margin`
metres of it. A position farther than `margin` from every segment listed in its own cell is
farther than `margin` from the whole route, so a position is measured against its own cell's
segments only: the work per position depends on how much route passes near it, not on how
long the route is.
"""

import math
from array import array

EARTH_RADIUS_M = 6_371_000.0
METERS_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180  # ≈ 111,195 m along a meridian
MIN_CELL_DEG = 0.01  # ≈ 1.1 km: a smaller margin still gets cells this size (fewer cells per segment)
CELL_COLUMNS = 100_000  # a cell's key is row * CELL_COLUMNS + column; |column| < 180 / MIN_CELL_DEG


def distance_m(lat1, lon1, lat2, lon2):
    """Metres between two points (equirectangular, for short distances)."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return EARTH_RADIUS_M * math.hypot(x, y)


def segment_distance_m(lat, lon, lat1, lon1, lat2, lon2):
    """Metres from (lat, lon) to the segment (lat1, lon1)–(lat2, lon2)."""
    k = math.cos(math.radians(lat))
    ax, ay = (lon1 - lon) * k, lat1 - lat
    bx, by = (lon2 - lon) * k, lat2 - lat
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return METERS_PER_DEGREE * math.hypot(ax + t * dx, ay + t * dy)


def nearest_m(lat, lon, segments):
    """(metres to the nearest of `segments`, how many were measured); inf when there are none.
    `segments` is flat: lat1, lon1, lat2, lon2, ... four numbers a segment."""
    best = math.inf
    count = len(segments) // 4
    for i in range(0, count * 4, 4):
        d = segment_distance_m(lat, lon, segments[i], segments[i + 1], segments[i + 2], segments[i + 3])
        if d < best:
            best = d
    return best, count


def off_route_m(lat, lon, segments, limit_m):
    """None when one of `segments` (flat, as nearest_m's) passes within `limit_m` metres of
    (lat, lon) — it stops at the first such segment; else the metres to the nearest one (inf
    when there are none). The rule's question per fix, asked in squared degrees (no square root
    and no call per segment), and answered as nearest_m would."""
    k = math.cos(math.radians(lat))
    limit = limit_m / METERS_PER_DEGREE
    limit2 = limit * limit
    best2 = math.inf
    for i in range(0, len(segments) // 4 * 4, 4):
        ax, ay = (segments[i + 1] - lon) * k, segments[i] - lat
        dx, dy = (segments[i + 3] - lon) * k - ax, segments[i + 2] - lat - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else -(ax * dx + ay * dy) / length2
        t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
        px, py = ax + t * dx, ay + t * dy
        d2 = px * px + py * py
        if d2 <= limit2:
            return None
        if d2 < best2:
            best2 = d2
    return METERS_PER_DEGREE * math.sqrt(best2) if best2 != math.inf else math.inf


def cell_size_deg(margin_m):
    return max(margin_m / METERS_PER_DEGREE, MIN_CELL_DEG)


def cell_key(lat, lon, cell_deg):
    return math.floor(lat / cell_deg) * CELL_COLUMNS + math.floor(lon / cell_deg)


def route_cells(points, margin_m):
    """The index of a route (a list of (lat, lon)): (cell_deg, {cell key: flat segments}).

    Each segment is walked in steps of half a cell; around each step, every cell within
    `margin_m` plus half a step lists the segment. So every point within `margin_m` of the
    segment lies in a cell that lists it."""
    cell_deg = cell_size_deg(margin_m)
    cells = {}
    margin_lat = margin_m / METERS_PER_DEGREE
    for (lat1, lon1), (lat2, lon2) in zip(points, points[1:]):
        step = cell_deg / 2
        steps = max(1, math.ceil(max(abs(lat2 - lat1), abs(lon2 - lon1)) / step))
        widest = max(abs(lat1), abs(lat2))
        margin_lon = margin_lat / max(math.cos(math.radians(min(widest + margin_lat, 89.9))), 1e-6)
        reach_lat, reach_lon = margin_lat + step, margin_lon + step
        keys = set()
        for n in range(steps + 1):
            lat = lat1 + (lat2 - lat1) * n / steps
            lon = lon1 + (lon2 - lon1) * n / steps
            for row in range(math.floor((lat - reach_lat) / cell_deg), math.floor((lat + reach_lat) / cell_deg) + 1):
                for column in range(math.floor((lon - reach_lon) / cell_deg), math.floor((lon + reach_lon) / cell_deg) + 1):
                    keys.add(row * CELL_COLUMNS + column)
        for key in keys:
            cells.setdefault(key, []).extend((lat1, lon1, lat2, lon2))
    return cell_deg, cells


def pack(values):
    return array("d", values).tobytes()


def unpack(data):
    values = array("d")
    values.frombytes(bytes(data))
    return values


def svg_projection(points, width, height, pad=20):
    """A function mapping (lat, lon) to (x, y) in a width × height SVG box holding `points`
    (north up, the same scale on both axes at the points' mean latitude)."""
    if not points:
        return lambda lat, lon: (width / 2, height / 2)
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    k = math.cos(math.radians(sum(lats) / len(lats)))
    span_x = max((max(lons) - min(lons)) * k, 1e-6)
    span_y = max(max(lats) - min(lats), 1e-6)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    x0 = (width - span_x * scale) / 2
    y0 = (height - span_y * scale) / 2
    west, north = min(lons), max(lats)

    def project(lat, lon):
        return round(x0 + (lon - west) * k * scale, 1), round(y0 + (north - lat) * scale, 1)

    return project

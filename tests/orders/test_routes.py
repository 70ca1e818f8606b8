"""The route index (orders.geo): distances, and a cost per position that does not grow with the
route's length."""

import math

import pytest

from orders import geo


def test_distances_match_the_great_circle_at_short_range():
    # One degree of latitude ≈ 111.2 km; one of longitude at 60° ≈ half that.
    assert geo.distance_m(30, 120, 31, 120) == pytest.approx(111_195, rel=1e-3)
    assert geo.distance_m(60, 10, 60, 11) == pytest.approx(55_597, rel=5e-3)
    # 0.05° north of a segment running east is ≈ 5.56 km from it; past its end, the distance to the end.
    assert geo.segment_distance_m(31.05, 121.5, 31.0, 121.0, 31.0, 122.0) == pytest.approx(5560, rel=1e-2)
    assert geo.segment_distance_m(31.0, 123.0, 31.0, 121.0, 31.0, 122.0) == pytest.approx(geo.distance_m(31, 122, 31, 123), rel=1e-3)


def _route(n, spacing_deg=0.005, start=(30.0, 100.0)):
    """A zig-zag route of n points heading north-east (≈ 500 m between points)."""
    lat, lon = start
    points = []
    for i in range(n):
        points.append((lat + i * spacing_deg * 0.6, lon + i * spacing_deg * 0.8 + (0.002 if i % 2 else 0)))
    return points


def _brute_force(lat, lon, points):
    return min(geo.segment_distance_m(lat, lon, *a, *b) for a, b in zip(points, points[1:]))


@pytest.mark.parametrize("margin", [5000, 800])
def test_the_index_finds_every_segment_within_the_margin(margin):
    points = _route(300)
    cell_deg, cells = geo.route_cells(points, margin)
    # Probe positions around the route: the index's answer agrees with brute force whenever
    # either says the point is within the margin.
    for k in range(400):
        base = points[(k * 7) % len(points)]
        lat = base[0] + math.sin(k) * 0.08
        lon = base[1] + math.cos(k * 1.3) * 0.08
        exact = _brute_force(lat, lon, points)
        found, _count = geo.nearest_m(lat, lon, cells.get(geo.cell_key(lat, lon, cell_deg), ()))
        if exact <= margin:
            assert found == pytest.approx(exact), (lat, lon)
        else:
            assert found > margin


def test_distance_computations_per_position_are_bounded_for_a_10000_point_route():
    margin = 5000
    short, long_ = _route(100), _route(10_000)
    short_index, long_index = geo.route_cells(short, margin), geo.route_cells(long_, margin)

    def computations(index, points):
        cell_deg, cells = index
        counts = []
        for i in range(0, min(len(points), 100), 3):  # positions along the first part, where both routes run
            lat, lon = points[i][0] + 0.01, points[i][1] - 0.01
            counts.append(geo.nearest_m(lat, lon, cells.get(geo.cell_key(lat, lon, cell_deg), ()))[1])
        return counts

    on_short, on_long = computations(short_index, short), computations(long_index, long_)
    # The same stretch of road costs the same whatever follows it, and far less than the route.
    assert max(on_long) == max(on_short)
    assert max(on_long) <= 64
    # Off anywhere near the route: nothing to measure at all.
    cell_deg, cells = long_index
    assert geo.nearest_m(0.0, 0.0, cells.get(geo.cell_key(0.0, 0.0, cell_deg), ())) == (math.inf, 0)


def test_packed_segments_round_trip():
    values = [31.2, 121.4, 31.3, 121.5]
    assert list(geo.unpack(geo.pack(values))) == values


def test_off_route_answers_as_the_nearest_distance_does():
    """The rule's per-fix question (geo.off_route_m) gives nearest_m's answer: None within the
    limit, else the same distance; inf with no segment."""
    import random

    rng = random.Random(15)
    points = _route(60)
    flat = [v for a, b in zip(points, points[1:]) for v in (*a, *b)]
    for _ in range(500):
        base = points[rng.randrange(len(points))]
        lat, lon = base[0] + rng.uniform(-0.08, 0.08), base[1] + rng.uniform(-0.08, 0.08)
        limit = rng.choice([300, 1000, 5000])
        nearest, _count = geo.nearest_m(lat, lon, flat)
        answer = geo.off_route_m(lat, lon, flat, limit)
        if nearest <= limit * (1 - 1e-9):
            assert answer is None
        elif nearest > limit * (1 + 1e-9):
            assert answer == pytest.approx(nearest, rel=1e-9)
    assert geo.off_route_m(0.0, 0.0, (), 5000) == math.inf
    # A degenerate segment (one point) is measured as that point.
    assert geo.off_route_m(31.05, 121.0, [31.0, 121.0, 31.0, 121.0], 1000) == pytest.approx(5560, rel=1e-2)

"""Acceptance: stock falls below safety stock -> within a second the supplier's rep and the
warehouse, buyer and planner see the alert and its card live, no other supplier and no other
tenant does; unacknowledged it escalates, live on every board; acknowledged it stops."""

import asyncio
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, EscalationPolicy
from tests.api_contract import user
from tests.inventory.helpers import movement, stock_world
from tests.messaging.test_sockets import connect, in_db_thread, nothing_arrives

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def frames_within(communicator, seconds):
    """Every frame that arrives within `seconds` (polling: a receive timeout would kill the app)."""
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05, interval=0.01):
            frames.append(await communicator.receive_json_from())
    return frames


async def test_below_safety_stock_reaches_the_supplier_and_the_staff_it_is_addressed_to(demo_tx):
    tenant, *_ = await in_db_thread(stock_world)(demo_tx, safety=500, reorder=0, opening=600)

    @in_db_thread
    def add_policy():
        EscalationPolicy.objects.create(tenant=tenant, name="p", levels=[{"after_seconds": 60, "roles": ["planner"]}])

    await add_policy()
    names = ["supa.rep", "acme.warehouse", "acme.buyer", "acme.planner", "supb.rep"]
    sockets = {n: await connect(n) for n in names}
    sockets["globex.buyer"] = await connect("globex.buyer", tenant="globex")

    @in_db_thread
    def post_movement():
        from rest_framework.test import APIClient

        from rest_framework.authtoken.models import Token

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.get_or_create(user=user("acme.warehouse"))[0].key)
        return client.post("/api/v1/t/acme/stock/movements/", movement(delta=-200), format="json").status_code

    started = time.monotonic()
    assert await post_movement() == 201
    addressed = ["supa.rep", "acme.warehouse", "acme.buyer", "acme.planner"]
    received = await asyncio.gather(*(frames_within(sockets[name], 1.0) for name in addressed))
    for name, frames in zip(addressed, received):
        kinds = {f["type"] for f in frames}
        assert {"alert", "message"} <= kinds, (name, frames)
        alert_frame = next(f for f in frames if f["type"] == "alert")
        assert alert_frame["kind"] == "low_stock" and alert_frame["state"] == "open"
    assert time.monotonic() - started < 2.5
    for name in ["supb.rep", "globex.buyer"]:
        assert await nothing_arrives(sockets[name], 0.3), name

    # Unacknowledged: the sweep escalates to the planner, who now sees it live.
    @in_db_thread
    def sweep():
        from alerts.services import escalation_sweep

        return escalation_sweep(now=timezone.now() + timedelta(seconds=61))

    assert await sweep() == 1
    for name in ["acme.planner", "acme.buyer", "supa.rep"]:
        frames = await frames_within(sockets[name], 1.0)
        assert any(f["type"] == "alert" and f["level"] == 1 for f in frames), (name, frames)
    for name in ["supb.rep", "globex.buyer"]:
        assert await nothing_arrives(sockets[name], 0.3), name
    for communicator in sockets.values():
        await communicator.disconnect()
    assert await in_db_thread(lambda: Alert.objects.get().level)() == 1

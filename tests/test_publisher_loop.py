"""Processes that publish outside the server (Celery workers, the scheduler thread) keep one
long-lived event loop for it, and hand a batch of frames to it in one go."""

import asyncio
import os
import threading

import pytest
from celery import signals
from django.db import transaction

import realtime
from scm_portal import celery as celery_module


class FakeLayer:
    """A layer that is not the in-memory one: records where and in which order it was used."""

    def __init__(self):
        self.sent = []

    async def group_send(self, group, event):
        await asyncio.sleep(0)  # let the other groups' sends interleave
        self.sent.append((group, event["n"], threading.current_thread().name))


def use_layer(monkeypatch, layer):
    import channels.layers

    monkeypatch.setattr(channels.layers, "get_channel_layer", lambda *a: layer)
    monkeypatch.setattr(realtime, "get_channel_layer", lambda *a: layer)
    return layer


@pytest.fixture
def fake_layer(monkeypatch):
    return use_layer(monkeypatch, FakeLayer())


@pytest.fixture(autouse=True)
def _restore():
    saved_loop, saved_state = realtime.server_loop(), dict(celery_module._publisher)
    yield
    started = celery_module._publisher["loop"]
    if started is not None and started is not saved_state["loop"]:
        started.call_soon_threadsafe(started.stop)
    realtime.set_server_loop(saved_loop)
    celery_module._publisher.update(saved_state)


def test_with_the_in_memory_layer_nothing_starts():
    # Its queues live in the loop that made them (the server's, the tests'); a loop of our own would strand them.
    assert celery_module.start_publisher_loop() is None
    assert realtime.server_loop() is None


@pytest.mark.django_db
def test_one_loop_per_process_and_a_batch_goes_out_on_it(fake_layer, django_capture_on_commit_callbacks):
    loop = celery_module.start_publisher_loop()
    assert loop is not None and loop.is_running() and realtime.server_loop() is loop
    assert celery_module.start_publisher_loop() is loop  # not a second one
    events = [(f"g{i % 3}", {"type": "t", "n": i}) for i in range(12)]
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            realtime.publish_many(events)
            assert fake_layer.sent == []  # after commit only
    realtime.flush_publishes()  # handed over without waiting; this waits until they are out
    assert {thread for _g, _n, thread in fake_layer.sent} == {"publisher-loop"}
    for group in ("g0", "g1", "g2"):  # each group in the order given
        assert [n for g, n, _t in fake_layer.sent if g == group] == [e["n"] for g, e in events if g == group]


def test_the_servers_own_loop_is_left_alone(fake_layer):
    server = asyncio.new_event_loop()
    thread = threading.Thread(target=server.run_forever, daemon=True)
    thread.start()
    try:
        realtime.set_server_loop(server)
        assert celery_module.start_publisher_loop() is None
        assert realtime.server_loop() is server
    finally:
        server.call_soon_threadsafe(server.stop)
        thread.join(5)


def test_a_forked_worker_process_starts_its_own(fake_layer):
    inherited = celery_module.start_publisher_loop()
    celery_module._publisher["pid"] = os.getpid() + 1  # as a forked child sees its parent's state
    signals.worker_process_init.send(sender="worker@test")
    fresh = realtime.server_loop()
    assert fresh is not inherited and fresh.is_running() and celery_module._publisher["pid"] == os.getpid()
    inherited.call_soon_threadsafe(inherited.stop)


def test_the_scheduler_thread_starts_one_when_no_server_loop_is_set(fake_layer):
    from scm_portal.scheduler import _loop

    stop = threading.Event()
    stop.set()
    _loop(stop, 0.01)
    assert realtime.server_loop() is celery_module._publisher["loop"] and realtime.server_loop().is_running()


def test_a_thread_hands_publishes_over_without_waiting_and_they_go_out_in_order(fake_layer):
    """The request thread does not wait for the loop (busy writing to sockets, say); what it hands
    over goes out in the order it was handed over, one group after another or together."""
    server = asyncio.new_event_loop()
    thread = threading.Thread(target=server.run_forever, daemon=True)
    thread.start()
    try:
        realtime.set_server_loop(server)
        blocker = threading.Event()
        server.call_soon_threadsafe(blocker.wait, 5)  # the loop is busy until released
        for n in range(20):
            realtime._group_send("room.1", {"type": "t", "n": n})
        assert fake_layer.sent == []  # nothing waited for the busy loop
        blocker.set()
        realtime.flush_publishes()
        assert [n for _g, n, _t in fake_layer.sent] == list(range(20))
    finally:
        server.call_soon_threadsafe(server.stop)
        thread.join(5)


class GatedLayer:
    """A layer whose sends finish only once the test opens the gate."""

    def __init__(self):
        self.gate = threading.Event()
        self.sent = []

    async def group_send(self, group, event):
        while not self.gate.is_set():
            await asyncio.sleep(0.001)
        self.sent.append(event["n"])


@pytest.fixture
def gated_layer(monkeypatch):
    return use_layer(monkeypatch, GatedLayer())


def test_an_urgent_publish_is_sent_before_the_thread_goes_on(fake_layer):
    assert celery_module.start_publisher_loop() is not None
    realtime._group_send_many([("g", {"type": "t", "n": 1})], urgent=True)
    assert [n for _g, n, _t in fake_layer.sent] == [1]  # out already, without flush_publishes()


def test_an_ordinary_publish_does_not_wait(gated_layer):
    assert celery_module.start_publisher_loop() is not None
    realtime._group_send_many([("g", {"type": "t", "n": 1})])
    assert gated_layer.sent == []  # handed over; the thread went on at once
    gated_layer.gate.set()
    realtime.flush_publishes()
    assert gated_layer.sent == [1]


def test_an_urgent_publish_waits_a_bounded_time_for_a_slow_layer(gated_layer, monkeypatch):
    import time

    monkeypatch.setattr(realtime, "URGENT_PUBLISH_WAIT_SECONDS", 0.05)
    assert celery_module.start_publisher_loop() is not None
    started = time.monotonic()
    realtime._group_send_many([("g", {"type": "t", "n": 1})], urgent=True)
    waited = time.monotonic() - started
    assert 0.05 <= waited < 1 and gated_layer.sent == []  # gave up waiting; the publish still goes out later
    gated_layer.gate.set()
    realtime.flush_publishes()
    assert gated_layer.sent == [1]


def test_a_batch_is_published_before_this_process_hands_it_to_its_own_sockets(monkeypatch):
    """The other processes' copy goes out first, so they never wait for this process's fan-out (a
    large room's); this process's sockets get it as soon as the layer has answered."""
    order = []

    class AnsweringLayer:
        async def group_send(self, group, event):
            order.append(("published", event["n"]))
            await asyncio.sleep(0.05)  # the layer's answer
            order.append(("answered", event["n"]))

    use_layer(monkeypatch, AnsweringLayer())
    server = asyncio.new_event_loop()
    thread = threading.Thread(target=server.run_forever, daemon=True)
    thread.start()
    try:
        realtime.set_server_loop(server)
        server.call_soon_threadsafe(
            realtime.set_local_receiver, server, lambda events: order.extend(("local", e["n"]) for _g, e in events)
        )
        realtime._group_send("room.1", {"type": "room.message", "n": 1}, urgent=True)
        realtime.flush_publishes()
        assert order == [("published", 1), ("answered", 1), ("local", 1)]
    finally:
        server.call_soon_threadsafe(server.stop)
        thread.join(5)
        realtime._local_receivers.pop(server, None)

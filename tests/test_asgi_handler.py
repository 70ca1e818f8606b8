"""HTTP through scm_portal.asgi.application: the whole middleware chain and the view run in the
request's thread, entered once (PortalASGIHandler), and behave as Django's own handler would."""

import asyncio
import json
import threading
import time

import pytest
from asgiref import sync
from django.core import signals

from scm_portal import asgi

pytestmark = pytest.mark.django_db(transaction=True)  # the request runs in its own thread and connection


async def call(method, path, body=b"", headers=()):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    inbox = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        if inbox:
            return inbox.pop(0)
        await asyncio.Event().wait()  # the client stays connected; Django cancels this listener

    async def send(message):
        sent.append(message)

    await asgi.application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.lower(): v for k, v in start["headers"]}, body


@pytest.fixture
def crossings(monkeypatch):
    """How many times the event loop handed work to a thread (sync_to_async calls)."""
    count = {"n": 0}
    original = sync.SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        count["n"] += 1
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    return count


def test_the_chain_is_built_sync():
    assert isinstance(asgi.django_asgi_app, asgi.PortalASGIHandler)
    assert not asyncio.iscoroutinefunction(asgi.django_asgi_app._middleware_chain)


@pytest.mark.parametrize("method, path, body, headers, status", [
    ("GET", "/no-such-page/", b"", (), 404),
    # Through every middleware and a DRF view: bad credentials are a 400 in the contract's format.
    ("POST", "/api/v1/auth/token/", json.dumps({"username": "nobody", "password": "x"}).encode(),
     ((b"content-type", b"application/json"),), 400),
    # A session form without its CSRF token: the CSRF middleware refuses it.
    ("POST", "/accounts/login/", b"username=a&password=b", ((b"content-type", b"application/x-www-form-urlencoded"),), 403),
])
def test_a_request_enters_its_thread_once(crossings, method, path, body, headers, status):
    got, response_headers, _body = sync.async_to_sync(call)(method, path, body, headers)
    assert got == status
    assert response_headers[b"x-content-type-options"] == b"nosniff"  # SecurityMiddleware ran
    # request_started, the chain with the view and response.close, all in one: Django's handler
    # took about seventeen (a hop for each signal and for each MiddlewareMixin's process_request
    # and process_response, and a split at WhiteNoise).
    assert crossings["n"] == 1, crossings["n"]


def test_static_files_are_still_served_and_closed_after_sending(monkeypatch, recwarn):
    finished_after = []
    sent = []

    def on_finished(**kwargs):
        finished_after.append(len(sent))

    signals.request_finished.connect(on_finished)
    try:
        original_send_response = asgi.PortalASGIHandler.send_response

        async def send_response(self, response, send):
            await original_send_response(self, response, send)
            sent.append(response)

        monkeypatch.setattr(asgi.PortalASGIHandler, "send_response", send_response)
        status, headers, body = sync.async_to_sync(call)("GET", "/static/portal/portal.css")
    finally:
        signals.request_finished.disconnect(on_finished)
    assert status == 200 and body and headers[b"content-type"].startswith(b"text/css")
    assert finished_after == [1]  # a streamed file is closed (request_finished) once it has been sent
    # read part by part (_parts_read_in_a_thread), not whole by Django's handler, which warns
    assert not [w for w in recwarn if "synchronous iterators" in str(w.message)]


def test_requests_run_one_at_a_time_on_threads_kept_for_later():
    threads = []

    def on_started(**kwargs):
        threads.append(threading.get_ident())
        time.sleep(0.05)  # long enough for two requests to overlap

    async def two_at_once():
        return await asyncio.gather(call("GET", "/no-such-page/"), call("GET", "/no-such-page/"))

    signals.request_started.connect(on_started)
    try:
        sync.async_to_sync(call)("GET", "/no-such-page/")
        sync.async_to_sync(call)("GET", "/no-such-page/")
        sequential = threads[:]
        assert [status for status, _h, _b in sync.async_to_sync(two_at_once)()] == [404, 404]
    finally:
        signals.request_started.disconnect(on_started)
    assert sequential[0] == sequential[1] != threading.get_ident()  # one warm thread, not a new one each time
    assert len(set(threads[2:])) == 2  # overlapping requests never share a thread


def test_a_streamed_response_is_read_part_by_part_in_a_thread():
    """Django's handler reads a sync iterator whole before sending (and warns): a large attachment
    would sit in memory entirely. Here each part is read once the previous one has been taken."""
    events, loop_thread = [], []

    def parts():
        for n in range(3):
            events.append(("read", n, threading.get_ident() == loop_thread[0]))
            yield n

    async def consume():
        loop_thread.append(threading.get_ident())
        async for part in asgi._parts_read_in_a_thread(parts()):
            events.append(("sent", part))

    sync.async_to_sync(consume)()
    assert events == [("read", 0, False), ("sent", 0), ("read", 1, False), ("sent", 1), ("read", 2, False), ("sent", 2)]

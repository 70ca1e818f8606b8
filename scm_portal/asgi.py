"""ASGI entry point: HTTP through Django, WebSocket through Channels, and a lifespan hook.

The lifespan hook starts the embedded scheduler when there is no broker, so `make run`
alone runs periodic work (escalations, sweeps) on time.
"""

import os
import sys

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")


class PortalASGIHandler(ASGIHandler):
    """Django's ASGI handler, with everything sync about a request run in one thread hop, on a
    thread kept for the next request.

    Under ASGI Django builds an async middleware chain: each MiddlewareMixin then runs its
    process_request and process_response through sync_to_async, and a sync-only middleware
    (WhiteNoise) turns the chain back to sync and then async again. Around that, the
    request_started signal and response.close() (request_finished) are a hop each. A request
    crossed between the event loop and its thread about seventeen times, each crossing waiting
    for the other side to be scheduled, which the socket fan-out on the same loop makes longer
    (bench/STOCK.md). Every view and middleware here is sync, so the chain is built sync, and
    request_started, the chain, and (for a response that does not stream) response.close() run
    in one call in the request's thread. The thread is a warm one from RequestThreads: Django
    would start a new one per request (asgiref's ThreadSensitiveContext) and join it after."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        worker = _request_threads.take()
        try:
            async with ThreadSensitiveContext(executor=worker):
                await self.handle(scope, receive, send)
        finally:
            _request_threads.give_back(worker)

    async def handle(self, scope, receive, send):
        """Django's ASGIHandler.handle with its three thread hops made one (see _respond); the
        client's disconnect still cancels the wait for the response."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))

        async def process_request():
            response, closed = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            if response.streaming and not response.is_async:
                response.streaming_content = _parts_read_in_a_thread(response.streaming_content)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while the response was being sent
            return response, closed

        tasks = [asyncio.create_task(self.listen_for_disconnect(receive)), asyncio.create_task(process_request())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response, closed = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            if not closed:  # a streamed response is closed once it has been sent
                await sync_to_async(response.close)()
        body_file.close()

    def _respond(self, scope, body_file):
        """In the request's thread: request_started, the request, the middleware chain and view,
        and response.close() (request_finished) unless the response streams. Returns
        (response, closed)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            response = error_response
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if response.streaming:
            return response, False
        response.close()  # the body is in memory: the connection goes back to the pool before sending
        return response, True


async def _parts_read_in_a_thread(parts):
    """A streamed response's sync iterator (a file: an attachment, a static file), read one part
    at a time in a thread. Django's send_response would read it whole into memory first (and warn
    about it): a large attachment would then sit in memory entirely, per download."""
    parts = iter(parts)
    done = object()
    read_next = sync_to_async(next, thread_sensitive=False)
    while (part := await read_next(parts, done)) is not done:
        yield part


class RequestThreads:
    """Single-thread executors, each running one request's sync code at a time, kept for later
    requests: a request still has a thread to itself for all its sync code, as Django requires;
    only the thread outlives it, with its per-thread state warm (the database wrapper, the
    markdown renderer). Up to `keep` idle ones are kept; beyond that (after a burst) the extra
    ones are shut down. A thread is idle when given back even if the client went away: the
    handler waits for request_finished, which runs in that thread after the view."""

    def __init__(self, keep=32):
        self.keep = keep
        self.idle = []
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, worker):
        with self.lock:
            if len(self.idle) < self.keep:
                self.idle.append(worker)
                return
        worker.shutdown(wait=False)


_request_threads = RequestThreads(keep=int(os.environ.get("REQUEST_THREADS_KEEP", "32")))


django.setup(set_prefix=False)
django_asgi_app = PortalASGIHandler()

# The event loop (socket fan-out) and the thread running sync views share the GIL. With
# Python's default 5 ms switch interval, each database round trip of a request waits up to
# 5 ms for the GIL while the loop writes to many sockets, and a frame a request hands to the
# loop waits while the request finishes its response; a short interval keeps both moving
# (bench/README.md, ws_fanout; bench/STOCK.md: 250 µs against 1 ms, alert frames ~1–2 ms sooner
# and fan-out no slower).
sys.setswitchinterval(int(os.environ.get("GIL_SWITCH_INTERVAL_US", "250")) / 1_000_000)

from channels.routing import ProtocolTypeRouter  # noqa: E402

from scm_portal.routing import websocket_application  # noqa: E402


async def lifespan(scope, receive, send):
    from scm_portal.scheduler import start_embedded_scheduler

    stop = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            import asyncio

            from messaging.realtime import set_server_loop

            set_server_loop(asyncio.get_running_loop())
            stop = start_embedded_scheduler()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if stop is not None:
                stop.set()
            await send({"type": "lifespan.shutdown.complete"})
            return


def with_write_buffer_probe(app):
    """Lets a socket see how many bytes wait in its connection's write buffer, and send its frames
    to the server directly.

    uvicorn's sansio socket writes every frame straight into the transport, so a client that
    stops reading never makes a send wait: without this, its frames would pile up in server
    memory. ASGI has no such call, so the probe is taken from the server's protocol object when
    it has a transport (uvicorn), and is absent elsewhere (the consumer then relies on its queue).

    `portal_server_send` is the server's own send, before the middleware wraps it: only the
    session middleware wraps it, and only for HTTP responses, yet every frame to every socket
    went through its wrapper (about a sixth of the server's work per delivery in a large room)."""

    async def wrapped(scope, receive, send):
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        probe = getattr(transport, "get_write_buffer_size", None)
        scope = dict(scope, portal_server_send=send)
        if probe is not None:
            scope["portal_write_buffer_size"] = probe
        return await app(scope, receive, send)

    return wrapped


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": with_write_buffer_probe(websocket_application),
        "lifespan": lifespan,
    }
)

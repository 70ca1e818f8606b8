"""ASGI entry point: HTTP through Django, WebSocket through Channels, and a lifespan hook.

The lifespan hook starts the embedded scheduler when there is no broker, so `make run`
alone runs periodic work (escalations, sweeps) on time.
"""

import os
import sys

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")


class PortalASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware chain and the view run in one thread hop.

    Under ASGI Django builds an async middleware chain: each MiddlewareMixin then runs its
    process_request and process_response through sync_to_async, and a sync-only middleware
    (WhiteNoise) turns the chain back to sync and then async again. A request crossed between
    the event loop and its thread about fifteen times, each crossing waiting for the other side
    to be scheduled, which the socket fan-out on the same loop makes longer (bench/STOCK.md).
    Every view and middleware here is sync, so the chain is built sync and entered once, in the
    request's thread (Django's ThreadSensitiveContext still gives each request its own)."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


django.setup(set_prefix=False)
django_asgi_app = PortalASGIHandler()

# The event loop (socket fan-out) and the thread running sync views share the GIL. With
# Python's default 5 ms switch interval, each database round trip of a request waits up to
# 5 ms for the GIL while the loop writes to many sockets; a shorter interval keeps requests
# moving under fan-out load (bench/README.md, ws_fanout).
sys.setswitchinterval(int(os.environ.get("GIL_SWITCH_INTERVAL_US", "1000")) / 1_000_000)

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
    """Lets a socket see how many bytes wait in its connection's write buffer.

    uvicorn's sansio socket writes every frame straight into the transport, so a client that
    stops reading never makes a send wait: without this, its frames would pile up in server
    memory. ASGI has no such call, so the probe is taken from the server's protocol object when
    it has a transport (uvicorn), and is absent elsewhere (the consumer then relies on its queue)."""

    async def wrapped(scope, receive, send):
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        probe = getattr(transport, "get_write_buffer_size", None)
        if probe is not None:
            scope = dict(scope, portal_write_buffer_size=probe)
        return await app(scope, receive, send)

    return wrapped


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": with_write_buffer_probe(websocket_application),
        "lifespan": lifespan,
    }
)

"""ASGI entry point: HTTP through Django's own handler, WebSocket through Channels, and a lifespan hook.

The lifespan hook starts the embedded scheduler when there is no broker, so `make run`
alone runs periodic work (escalations, sweeps) on time.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")

django_asgi_app = get_asgi_application()  # sets Django up: the socket routes below import models

from channels.routing import ProtocolTypeRouter  # noqa: E402

from scm_portal.routing import websocket_application  # noqa: E402


async def lifespan(scope, receive, send):
    from scm_portal.scheduler import start_embedded_scheduler

    stop = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            import asyncio

            from realtime import set_server_loop

            set_server_loop(asyncio.get_running_loop())
            stop = start_embedded_scheduler()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if stop is not None:
                stop.set()
            await send({"type": "lifespan.shutdown.complete"})
            return


def with_server_send(app):
    """Puts the server's own `send` in the scope (`portal_server_send`), so a socket can send its
    frames to the server directly: only the session middleware wraps `send`, and only for HTTP
    responses, yet every frame to every socket went through its wrapper (about a sixth of the
    server's work per delivery in a large room). Plain ASGI: a middleware adding a scope key."""

    async def wrapped(scope, receive, send):
        return await app(dict(scope, portal_server_send=send), receive, send)

    return wrapped


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": with_server_send(websocket_application),
        "lifespan": lifespan,
    }
)

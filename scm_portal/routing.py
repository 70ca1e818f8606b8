"""WebSocket routes: origin-checked, authenticated (token or session), under /ws/t/<tenant>/."""

from channels.routing import URLRouter

from messaging.ws.auth import SocketAuthStack
from messaging.ws.routing import websocket_urlpatterns

websocket_application = SocketAuthStack(URLRouter(websocket_urlpatterns))

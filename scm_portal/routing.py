"""WebSocket routes: origin-checked, authenticated (token or session), under /ws/t/<tenant>/."""

from channels.routing import URLRouter

from realtime.auth import SocketAuthStack
from realtime.routing import websocket_urlpatterns

websocket_application = SocketAuthStack(URLRouter(websocket_urlpatterns))

from django.urls import re_path

from realtime.consumers import TenantSocketConsumer

websocket_urlpatterns = [
    re_path(r"^ws/t/(?P<tenant>[a-z0-9-]{1,50})/$", TenantSocketConsumer.as_asgi()),
]

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from scm_portal.tenancy.api import urls as tenancy_urls

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("", include(tenancy_urls)),
    path("", include("messaging.api.urls")),
    path("", include("alerts.api.urls")),
    path("", include("inventory.api.urls")),
    path("", include("orders.api.kpi_urls")),
    path("", include("finance.api.urls")),
    path("", include("audit.trails.api_urls")),
    path("", include("audit.api.urls")),
    path("", include("audit.retention_api_urls")),
    # Before the purchase-order routes: purchase-orders/{number}/ship/ and /receive/ are served here.
    path("", include("orders.api.logistics_urls")),
    path("", include("orders.api.urls")),
]

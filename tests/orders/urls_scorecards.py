"""The portal's URLs with the scorecard API and pages included where the project includes them
(`kpis/suppliers/` beside the other API routes, `scorecards/` under a tenant), for tests that run
before the project's url modules name them."""

from django.urls import include, path

from scm_portal import urls as portal
from scm_portal.api import urls as api_urls

handler400, handler403, handler404, handler500 = portal.handler400, portal.handler403, portal.handler404, portal.handler500

urlpatterns = [
    path("api/v1/", include(([*api_urls.urlpatterns, path("", include("orders.api.kpi_urls"))], "api"))),
    path("t/<slug:tenant>/scorecards/", include("orders.scorecard_urls")),
    *portal.urlpatterns,
]

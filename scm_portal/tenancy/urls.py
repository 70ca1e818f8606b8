from django.urls import include, path

from scm_portal.tenancy import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("partners/", views.partners, name="partners"),
    path("members/", views.members, name="members"),
    path("rooms/", include("messaging.urls")),
    path("stock/", include("inventory.urls")),
    path("alerts/", include("alerts.urls")),
    path("scorecards/", include("orders.scorecard_urls")),
    path("orders/", include("orders.urls")),
    path("shipments/", include("orders.shipment_urls")),
    path("financing/bank-account/", include("finance.bank_urls")),
    path("financing/", include("finance.urls")),
    path("audit/trails/", include("audit.trails.urls")),
    path("audit/", include("audit.urls")),
    path("retention/", include("audit.retention_urls")),
]

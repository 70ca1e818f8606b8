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
    path("retention/", include("audit.retention_urls")),
]

from django.urls import path
from rest_framework.routers import SimpleRouter

from alerts.api import views
from alerts.models import Alert
from audit.trails.api import trail_pdf_view

T = "t/<slug:tenant>/"

router = SimpleRouter()
router.register(r"t/(?P<tenant>[a-z0-9-]+)/alerts", views.AlertViewSet, basename="alert")
router.register(r"t/(?P<tenant>[a-z0-9-]+)/escalation-policies", views.EscalationPolicyViewSet, basename="escalation-policy")
router.register(r"t/(?P<tenant>[a-z0-9-]+)/notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    # The alert's audit trail, as the contract names it (no trailing slash).
    path(T + "alerts/<int:pk>/trail.pdf", trail_pdf_view("alert", model=Alert), name="alert-trail-pdf"),
    *router.urls,
    path(T + "kpis/alerts/", views.AlertKpiView.as_view(), name="alert-kpis"),
]

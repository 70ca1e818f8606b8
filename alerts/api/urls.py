from django.urls import path
from rest_framework.routers import SimpleRouter

from alerts.api import views

T = "t/<slug:tenant>/"

router = SimpleRouter()
router.register(r"t/(?P<tenant>[a-z0-9-]+)/alerts", views.AlertViewSet, basename="alert")
router.register(r"t/(?P<tenant>[a-z0-9-]+)/escalation-policies", views.EscalationPolicyViewSet, basename="escalation-policy")
router.register(r"t/(?P<tenant>[a-z0-9-]+)/notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    *router.urls,
    path(T + "kpis/alerts/", views.AlertKpiView.as_view(), name="alert-kpis"),
]

"""API routes of retention and legal holds (audit.retention_api), included from scm_portal/api/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from audit import retention_api as views

T = "t/<slug:tenant>/"

router = SimpleRouter()
router.register(r"t/(?P<tenant>[a-z0-9-]+)/legal-holds", views.LegalHoldViewSet, basename="legal-hold")

urlpatterns = [
    *router.urls,
    path(T + "retention-policies/", views.RetentionPolicyListView.as_view(), name="retention-policies"),
    path(T + "retention-policies/<str:room_kind>/", views.RetentionPolicyDetailView.as_view(), name="retention-policy"),
]

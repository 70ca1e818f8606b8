from django.urls import path
from rest_framework.routers import SimpleRouter

from audit.api import views

router = SimpleRouter()
router.register(r"t/(?P<tenant>[a-z0-9-]+)/audit-log", views.AuditLogViewSet, basename="audit-log")

urlpatterns = [
    *router.urls,
    path("t/<slug:tenant>/audit/verify/", views.AuditVerifyView.as_view(), name="audit-verify"),
    path("t/<slug:tenant>/audit/verify/pdf/", views.AuditVerifyPdfView.as_view(), name="audit-verify-pdf"),
]

from django.urls import path
from rest_framework.routers import SimpleRouter

from scm_portal.tenancy.api import views

router = SimpleRouter()
router.register(r"t/(?P<tenant>[a-z0-9-]+)/partners", views.PartnershipViewSet, basename="partnership")
router.register(r"t/(?P<tenant>[a-z0-9-]+)/memberships", views.MembershipViewSet, basename="membership")
router.register(r"t/(?P<tenant>[a-z0-9-]+)/invitations", views.InvitationViewSet, basename="tenant-invitation")
router.register(r"invitations", views.ReceivedInvitationViewSet, basename="invitation")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("auth/totp/", views.TotpVerifyView.as_view(), name="auth-totp"),
    path("me/", views.MeView.as_view(), name="me"),
    path("t/<slug:tenant>/", views.TenantDetailView.as_view(), name="tenant-detail"),
    *router.urls,
]

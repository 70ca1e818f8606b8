"""/invitations/: a user's own invitations to join tenants, from any tenant (not under /t/<tenant>/)."""

from django.urls import path

from scm_portal.tenancy import views

urlpatterns = [
    path("", views.invitations, name="invitations"),
    path("<str:token>/", views.invitations, name="invitation-link"),
]

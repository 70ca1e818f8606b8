from django.urls import path

from scm_portal.tenancy import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("partners/", views.partners, name="partners"),
    path("members/", views.members, name="members"),
]

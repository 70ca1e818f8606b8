from django.contrib.auth import views as auth_views
from django.urls import path

from scm_portal.tenancy import totp_views
from scm_portal.tenancy.forms import LoginForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("totp/", totp_views.totp_enrol, name="totp-enrol"),
    path("totp/verify/", totp_views.totp_verify_page, name="totp-verify"),
]

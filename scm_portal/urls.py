from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView

from scm_portal.tenancy import views as tenancy_views

urlpatterns = [
    path("api/v1/", include("scm_portal.api.urls")),
    path("accounts/", include("scm_portal.tenancy.auth_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", tenancy_views.home, name="home"),
    # Browsers ask for /favicon.ico on pages that name no icon (the API docs, JSON answers).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.ico"), permanent=True), name="favicon"),
    path("t/", tenancy_views.tenant_picker, name="tenant-picker"),
    path("invitations/", include("scm_portal.tenancy.invitation_urls")),
    path("t/<slug:tenant>/", include("scm_portal.tenancy.urls")),
]

handler400 = "scm_portal.errors.bad_request"
handler403 = "scm_portal.errors.permission_denied"
handler404 = "scm_portal.errors.page_not_found"
handler500 = "scm_portal.errors.server_error"

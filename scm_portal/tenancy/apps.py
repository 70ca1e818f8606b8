from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "scm_portal.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"

    def ready(self):
        from scm_portal.tenancy import portal

        portal.register_portal()  # Dashboard, Partners, Members; the administration and partner panels

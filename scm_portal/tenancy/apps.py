from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "scm_portal.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"

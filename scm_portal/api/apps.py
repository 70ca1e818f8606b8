from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "scm_portal.api"
    label = "api"
    verbose_name = "API"

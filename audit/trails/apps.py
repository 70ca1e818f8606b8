from django.apps import AppConfig


class AuditTrailsConfig(AppConfig):
    name = "audit.trails"
    label = "audit_trails"
    verbose_name = "Audit trails"

    def ready(self):
        from audit.trails import portal, tasks  # noqa: F401 — the export task registers with Celery

        portal.register_portal()  # the auditor's Records section

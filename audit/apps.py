from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from audit import portal, receivers

        receivers.connect()  # logins, logouts and tenancy's permission and membership changes
        portal.register_portal()  # the audit log and verify pages, for the auditor and the tenant admin

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from audit import portal, receivers

        receivers.connect()  # logins, logouts and tenancy's permission and membership changes
        portal.register_portal()  # the audit log and verify pages, for the auditor and the tenant admin
        self.register_retention()

    @staticmethod
    def register_retention():
        """Tombstones are vouched for by the purge records (messaging.chain); the retention pages."""
        from audit.retention import retention_witness
        from audit.retention_portal import register_retention_portal
        from messaging.chain import register_tombstone_witness

        register_tombstone_witness(retention_witness)
        register_retention_portal()

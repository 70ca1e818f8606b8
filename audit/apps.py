from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        self.register_retention()

    @staticmethod
    def register_retention():
        """Tombstones are vouched for by the purge records (messaging.chain); the retention pages."""
        from audit.retention import retention_witness
        from audit.retention_portal import register_retention_portal
        from messaging.chain import register_tombstone_witness

        register_tombstone_witness(retention_witness)
        register_retention_portal()

"""What the audit app adds to the portal's navigation (registered from AuditConfig.ready())."""

from django.utils.translation import gettext_lazy as _

from audit.models import AUDIT_LOG_READERS
from scm_portal.navigation import register_nav_item


def register_portal():
    register_nav_item("audit_log", label=_("Audit log"), url_name="audit:log", roles=AUDIT_LOG_READERS, order=80)

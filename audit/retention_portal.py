"""What retention adds to the portal's pages: the Retention section (policies and legal holds),
for the tenant admin and the auditor (registered from AuditConfig.ready())."""

from django.utils.translation import gettext_lazy as _

from audit.retention_models import RETENTION_READERS
from scm_portal.navigation import register_nav_item


def register_retention_portal():
    register_nav_item("retention", label=_("Retention"), url_name="audit-retention:policies",
                      roles=RETENTION_READERS, order=95)

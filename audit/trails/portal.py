"""The auditor's Records section in the portal's navigation (registered from AuditTrailsConfig.ready())."""

from django.utils.translation import gettext_lazy as _

from scm_portal.navigation import register_nav_item
from scm_portal.tenancy.roles import Role

# Who gets the Records page (search across every kind of record, open its trail, export): the
# auditor, read-only across the tenant, and the tenant admin. Everyone else finds a record's
# trail from the record they may see.
RECORDS_READERS = frozenset({Role.AUDITOR, Role.TENANT_ADMIN})


def register_portal():
    register_nav_item("records", label=_("Records"), url_name="trails:records", roles=RECORDS_READERS, order=80)

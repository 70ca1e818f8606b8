"""Reading the audit log: always through the tenant's choke point (auditor and tenant admin only)."""

from audit.models import AuditRecord


def audit_record_list(*, user, context, object_kind=None, object_ref=None, action=None):
    records = AuditRecord.objects.visible_to(user, "view", context)
    if object_kind:
        records = records.filter(object_kind=object_kind)
    if object_ref:
        records = records.filter(object_ref=object_ref)
    if action:
        records = records.filter(action=action)
    return records.order_by("-seq")

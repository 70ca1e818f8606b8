"""Signals tenancy sends so other apps (messaging) can react without tenancy importing them.

partnership_saved(partnership, created): inside the writing transaction; a partner room is
    created in the same transaction.
access_changed(tenant_id, user_ids): after commit; who may see what in the tenant changed
    (user_ids None means anyone in the tenant). Open sockets re-check their access.
"""

from django.db import transaction
from django.dispatch import Signal

partnership_saved = Signal()
access_changed = Signal()


def send_access_changed_on_commit(*, tenant_id, user_ids=None):
    transaction.on_commit(lambda: access_changed.send(sender=None, tenant_id=tenant_id, user_ids=user_ids))

# tenant_created(tenant): inside the writing transaction; messaging opens the internal room.
tenant_created = Signal()

# audited(tenant, actor, action, object_kind, object_ref, before, after): a permission or membership
# change, sent inside the writing transaction as its last write; the audit app (which tenancy may
# not import) appends it to the tenant's audit log, in the same transaction.
audited = Signal()


def send_audited(*, tenant, actor, action, object_kind, object_ref, before=None, after=None):
    audited.send(sender=None, tenant=tenant, actor=actor, action=action, object_kind=object_kind,
                 object_ref=str(object_ref), before=before, after=after)


# user_security_event(user, action, request): a user's own security act that belongs to no tenant
# ("auth.totp_enroll", "auth.totp_failed"), sent outside any transaction that could roll it back;
# the audit app records it in each tenant where the user is a member, as it does logins.
user_security_event = Signal()


def send_user_security_event(*, user, action, request=None):
    user_security_event.send(sender=None, user=user, action=action, request=request)

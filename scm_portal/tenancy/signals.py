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

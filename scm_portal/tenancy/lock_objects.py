"""Row locks on tenancy's rows, in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order").

Tenancy's rows are tenant-level, the first kinds of that order: an invitation, then the
partnership or membership its answer writes, each by ascending id. A write that goes on to a room
(a partnership opens its partner's room) or to a record comes to them after these.
"""

from scm_portal.tenancy.models import Invitation


def invitation_lock(invitation):
    """Locks the invitation; returns it as it now is, with its tenant and organisation."""
    return Invitation.objects.select_for_update(of=("self",)).select_related("tenant", "organization").get(pk=invitation.pk)

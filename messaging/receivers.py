"""Reactions to tenancy events: partner rooms, the default internal room, socket access."""

from django.contrib.auth.signals import user_logged_out

import realtime
from messaging import services
from realtime.access_state import bump_access_version
from realtime.auth import credential_for_session
from scm_portal.tenancy.signals import access_changed, partnership_saved, tenant_created


def open_partner_room(sender, partnership, created, **kwargs):
    services.room_create_for_partnership(partnership=partnership)


def open_internal_room(sender, tenant, **kwargs):
    services.room_create_internal(tenant=tenant, actor=None, name="内部协同 · Internal")


def tell_sockets_access_changed(sender, tenant_id, user_ids, **kwargs):
    bump_access_version(tenant_id=tenant_id, user_ids=user_ids)  # polled: survives a lost event
    realtime.publish_access_changed(tenant_id=tenant_id, user_ids=user_ids)


def close_sockets_of_the_session(sender, request, user, **kwargs):
    if user is None or request is None or not getattr(request, "session", None) or not request.session.session_key:
        return
    bump_access_version(user_ids=[user.id])
    realtime.publish_credential_ended(user_id=user.id, credential=credential_for_session(request.session.session_key))


def connect():
    """Connects the reactions above; called from MessagingConfig.ready()."""
    partnership_saved.connect(open_partner_room, dispatch_uid="messaging.open_partner_room")
    tenant_created.connect(open_internal_room, dispatch_uid="messaging.open_internal_room")
    access_changed.connect(tell_sockets_access_changed, dispatch_uid="messaging.tell_sockets_access_changed")
    user_logged_out.connect(close_sockets_of_the_session, dispatch_uid="messaging.close_sockets_of_the_session")

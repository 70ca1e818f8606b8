from django.db import transaction

from messaging.models import Room
from messaging.services import event_post, message_post
from scm_portal.tenancy.access import tenant_context_for
from tests.api_contract import user


def room_of(tenant_slug, org_slug):
    return Room.objects.get(tenant__slug=tenant_slug, partnership__organization__slug=org_slug)


def internal_room(tenant_slug):
    return Room.objects.get(tenant__slug=tenant_slug, kind="internal")


def post(username, room, body, **kwargs):
    return post_as(user(username), room, body, **kwargs)[0]


def post_as(actor, room, body, **kwargs):
    """message_post by `actor`, with their tenant context read now (as a request would)."""
    context = tenant_context_for(actor, room.tenant)
    return message_post(tenant=room.tenant, actor=actor, context=context, room=room, body=body, **kwargs)


def post_event(room, body="事件", actions=("acknowledge",), **kwargs):
    with transaction.atomic():
        return event_post(tenant=room.tenant, room=room, body=body, actions=list(actions), **kwargs)

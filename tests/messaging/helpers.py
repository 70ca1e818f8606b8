from django.db import transaction

from messaging.models import Room
from messaging.services import event_post, message_post
from tests.api_contract import user


def room_of(tenant_slug, org_slug):
    return Room.objects.get(tenant__slug=tenant_slug, partnership__organization__slug=org_slug)


def internal_room(tenant_slug):
    return Room.objects.get(tenant__slug=tenant_slug, kind="internal")


def post(username, room, body, **kwargs):
    message, _created = message_post(tenant=room.tenant, actor=user(username), room=room, body=body, **kwargs)
    return message


def post_event(room, body="事件", actions=("acknowledge",), **kwargs):
    with transaction.atomic():
        return event_post(tenant=room.tenant, room=room, body=body, actions=list(actions), **kwargs)

"""Chat pages: the room list and one room (thin: reads through selectors and access helpers).

The pages render the frame of the conversation only; messages themselves are loaded by
static/portal/chat.js from the JSON API and the tenant socket, and rendered from each
frame's sanitised `body_html` (everything else as text).
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from messaging import selectors, services
from messaging.access import access_room
from scm_portal.tenancy.roles import is_core_staff
from scm_portal.tenancy.views import tenant_page


def _may_post(request, internal=False):
    try:
        services.check_may_post(tenant=request.tenant, actor=request.user, context=request.tenant_context,
                                internal=internal)
    except PermissionDenied:
        return False
    return True


def _limits():
    """The upload limit, as the service enforces it (the page checks it first, to spare the upload)."""
    return {"attachment_max_bytes": services.ATTACHMENT_MAX_BYTES, "attachment_max_mb": services.ATTACHMENT_MAX_BYTES // (1024 * 1024)}


@tenant_page
def room_list(request):
    rooms = list(selectors.room_list(request.user, request.tenant, context=request.tenant_context))
    return render(request, "messaging/room_list.html", {"rooms": rooms, **_limits()})


@tenant_page
def room_detail(request, room_id):
    room = access_room(request.user, request.tenant, room_id, request.tenant_context)
    partner = room.partnership.organization if room.partnership_id else None
    may_post = _may_post(request)
    context = {
        "room": room,
        "partner": partner,
        "partner_kind": room.partnership.get_kind_display() if partner else "",
        "may_post": may_post,
        # internal notes inside a partner room: core staff only (an internal room is internal already)
        "may_post_internal": (
            may_post and partner is not None and is_core_staff(request.tenant_context.roles)
            and _may_post(request, internal=True)
        ),
    }
    return render(request, "messaging/room.html", {**context, **_limits()})

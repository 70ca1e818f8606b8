"""What messaging contributes to the portal's pages: the Messages section and the dashboard's
panel of rooms with unread messages (registered from MessagingConfig.ready())."""

from django.utils.translation import gettext_lazy as _

from messaging import selectors
from scm_portal.dashboard import register_dashboard_panel
from scm_portal.navigation import register_nav_item
from scm_portal.tenancy.roles import ALL_ROLES

PANEL_ROOMS = 6


def unread_rooms_panel(request):
    """The rooms with messages the reader has not read, most recently active first (one query)."""
    rooms = selectors.room_list(request.user, request.tenant, context=request.tenant_context).filter(unread__gt=0)
    rooms = list(rooms[:PANEL_ROOMS + 1])
    return {"rooms": rooms[:PANEL_ROOMS], "more": len(rooms) > PANEL_ROOMS}


def register_portal():
    # Every member has rooms: a partner its own, core staff the internal room and those they follow.
    register_nav_item("messages", label=_("Messages"), url_name="messaging:rooms", roles=ALL_ROLES, order=20)
    register_dashboard_panel("unread_rooms", roles=ALL_ROLES, template="messaging/_panel_unread_rooms.html",
                             context=unread_rooms_panel, order=20)

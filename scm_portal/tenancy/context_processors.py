from scm_portal.navigation import nav_items_for
from scm_portal.tenancy.roles import is_read_only
from scm_portal.tenancy.selectors import invitation_filter_pending, invitation_list_received, tenant_list_for_user


def tenancy(request):
    """The user's tenants for the header switcher, the current tenant and the user's roles there
    on /t/<slug>/ pages (from the page's tenant context: no query of their own), the sections
    those roles may open (scm_portal.navigation), whether the user only reads there, and how many
    invitations wait for the user's answer (counted when a template asks)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    counted = []

    def pending_invitation_count():
        if not counted:
            counted.append(invitation_filter_pending(invitation_list_received(user)).count())
        return counted[0]

    context = getattr(request, "tenant_context", None)
    return {
        "user_tenants": list(tenant_list_for_user(user)),
        "current_tenant": context.tenant if context is not None else None,
        "current_roles": context.roles if context is not None else frozenset(),
        "nav_items": nav_items_for(context) if context is not None else [],
        "read_only": is_read_only(context.roles) if context is not None else False,
        "pending_invitation_count": pending_invitation_count,
    }

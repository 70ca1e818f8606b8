from scm_portal.tenancy.selectors import invitation_filter_pending, invitation_list_received, tenant_list_for_user


def tenancy(request):
    """The user's tenants for the header switcher, the current tenant on /t/<slug>/ pages, and
    how many invitations wait for the user's answer (counted when a template asks)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    counted = []

    def pending_invitation_count():
        if not counted:
            counted.append(invitation_filter_pending(invitation_list_received(user)).count())
        return counted[0]

    return {
        "user_tenants": list(tenant_list_for_user(user)),
        "current_tenant": getattr(request, "tenant", None),
        "pending_invitation_count": pending_invitation_count,
    }

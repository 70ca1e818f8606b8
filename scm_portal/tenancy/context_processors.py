from scm_portal.tenancy.selectors import tenants_for_user


def tenancy(request):
    """The user's tenants for the header switcher, and the current tenant on /t/<slug>/ pages."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "user_tenants": list(tenants_for_user(user)),
        "current_tenant": getattr(request, "tenant", None),
    }

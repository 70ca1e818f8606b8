from alerts.selectors import notification_unread_count


def notification_bell(request):
    """The header bell's count on /t/<slug>/ pages: the user's unread in-app notices in the tenant
    (alerts.selectors.notification_unread_count says what it counts), read when a template asks."""
    context = getattr(request, "tenant_context", None)
    user = getattr(request, "user", None)
    if context is None or user is None or not user.is_authenticated:
        return {}
    counted = []

    def bell_unread():
        if not counted:
            counted.append(notification_unread_count(user=user, tenant=context.tenant, context=context))
        return counted[0]

    return {"bell_unread": bell_unread}

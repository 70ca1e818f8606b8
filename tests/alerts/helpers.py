from scm_portal.tenancy.access import tenant_context_for
from tests.api_contract import user


def act(service, username, alert):
    """An alert lifecycle service (alert_acknowledge, alert_start, alert_resolve) run by `username`,
    with their tenant context read now, as a request would."""
    actor = user(username)
    return service(tenant=alert.tenant, actor=actor, context=tenant_context_for(actor, alert.tenant), alert=alert)

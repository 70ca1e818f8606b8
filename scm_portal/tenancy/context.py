"""A request's tenant context: the tenant and the user's active memberships in it, read once.

Who-am-I-in-this-tenant is answered here and nowhere else. It is read once per request (pages:
`tenancy.views.tenant_page`; API: `api.viewsets.TenantContextMixin`; both set
`request.tenant_context`), once per socket frame (`access_tenant_context_and_row`), or once
per task or command (`access.tenant_context_for`), and handed to the services and selectors
that ask what the user may do (`context=`); they never read memberships again.

`visible_to(user, action, context=ctx)` uses it to turn the membership EXISTS sub-queries of
an access policy into constants (`role IN (...)`, `organization_id IN (...)`): the same rule,
a much smaller query to build and to plan. A context is only as fresh as the request that
read it; build one per request (or per socket frame), never keep one across requests.
"""

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable


@dataclass(frozen=True)
class TenantContext:
    tenant: object  # scm_portal.tenancy.models.Tenant
    user_id: int
    # (role, organization_id) of every active membership of the user in the tenant
    memberships: frozenset
    # When the credential in use (the request's token or session, the socket's) last passed TOTP:
    # a loader called at most once (`second_factor_at`), so that only what asks pays the query.
    # None: not known here (a task, a command), read as "not verified".
    second_factor: Callable | None = field(default=None, compare=False, repr=False)
    # The user's saved language ("" when none is chosen), read with the memberships by
    # `access_tenant_context`; None: not read here (ask `tenancy.language.saved_language`).
    saved_language: str | None = field(default=None, compare=False)

    @property
    def tenant_id(self):
        return self.tenant.pk

    @cached_property
    def roles(self):
        return frozenset(role for role, _org in self.memberships)

    @cached_property
    def second_factor_at(self):
        """When this credential last passed TOTP (scm_portal.tenancy.totp), or None; money actions
        compare it with settings.MONEY_OTP_MAX_AGE."""
        return self.second_factor() if self.second_factor is not None else None

    def organizations(self, roles):
        """The organisations the user acts for in the tenant through one of `roles`."""
        return frozenset(org for role, org in self.memberships if role in roles)



def check_context(context, *, tenant, user):
    """`context` as a service or selector receives it: the TenantContext of `user` in `tenant`.

    A context read for another tenant or another person is a caller's bug that would grant the
    wrong roles; it is refused loudly rather than trusted."""
    if not isinstance(context, TenantContext):
        raise TypeError(f"expected a TenantContext, got {type(context).__name__}")
    if context.tenant_id != getattr(tenant, "pk", tenant):
        raise ValueError("the tenant context is for another tenant")
    if context.user_id != getattr(user, "pk", user):
        raise ValueError("the tenant context belongs to another user")
    return context

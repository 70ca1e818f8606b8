"""A request's tenant context: the tenant and the user's active memberships in it, read once.

`visible_to(user, action, context=ctx)` uses it to turn the membership EXISTS sub-queries of
an access policy into constants (`role IN (...)`, `organization_id IN (...)`): the same rule,
a much smaller query to build and to plan. A context is only as fresh as the request that
read it; build one per request (or per socket frame), never keep one across requests.
"""

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class TenantContext:
    tenant: object  # scm_portal.tenancy.models.Tenant
    user_id: int
    # (role, organization_id) of every active membership of the user in the tenant
    memberships: frozenset

    @property
    def tenant_id(self):
        return self.tenant.pk

    @cached_property
    def roles(self):
        return frozenset(role for role, _org in self.memberships)

    def organizations(self, roles):
        """The organisations the user acts for in the tenant through one of `roles`."""
        return frozenset(org for role, org in self.memberships if role in roles)


"""The tenancy choke point for reads: every tenant-owned model uses TenantQuerySet.

`for_tenant(t)` keeps one tenant's rows; `visible_to(user, action)` keeps the rows the user's
active memberships allow, as one SQL condition (EXISTS sub-queries), never a Python loop.
Each model states who may do what in its `access_policy`.

`visible_to(user, action, context=ctx)` answers the same with the user's memberships in one
tenant already read (a TenantContext, see context.py): membership EXISTS become constants and
the rows are limited to the context's tenant. Request paths that resolved the tenant use it.
"""

from dataclasses import dataclass, field

from django.db import models
from django.db.models import Exists, OuterRef, Q


@dataclass(frozen=True)
class AccessPolicy:
    """Who may do `action` on a row of a tenant-owned model.

    core: action -> core-staff roles that may do it on every row of their tenant.
    partner: action -> partner roles that may do it on rows whose `partner_field` is their organisation
      (a tuple of fields: any of them).
    owner_field: a user FK; the user it names may view the row.
    object_permissions: actions also granted per object through guardian direct-FK permissions
      (`<action>_<model>`), for exceptions on top of the role rules.
    """

    core: dict = field(default_factory=dict)
    partner: dict = field(default_factory=dict)
    partner_field: str | tuple | None = None
    owner_field: str | None = None
    object_permissions: frozenset = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The two forms of a rule must change together, or a context read would answer differently.
        if ("condition" in cls.__dict__) != ("condition_in_context" in cls.__dict__):
            raise TypeError(f"{cls.__name__} must override condition() and condition_in_context() together.")

    def roles(self, action):
        """Every role that may do `action` on some row (core staff on all, partners on theirs): a
        page or a link for the action is for these roles only."""
        return frozenset(self.core.get(action, ())) | frozenset(self.partner.get(action, ()))

    def condition(self, model, user, action):
        from scm_portal.tenancy.models import Membership

        never = Q(pk__in=[])
        cond = never
        core_roles = self.core.get(action)
        if core_roles:
            cond |= Q(
                Exists(
                    Membership.objects.active().filter(user=user, tenant=OuterRef("tenant"), role__in=core_roles)
                )
            )
        partner_roles = self.partner.get(action)
        if partner_roles and self.partner_field:
            fields = self.partner_field if isinstance(self.partner_field, tuple) else (self.partner_field,)
            for field in fields:
                cond |= Q(
                    Exists(
                        Membership.objects.active().filter(
                            user=user,
                            tenant=OuterRef("tenant"),
                            role__in=partner_roles,
                            organization=OuterRef(field),
                        )
                    )
                )
        if self.owner_field and action == "view":
            cond |= Q(**{self.owner_field: user}) & Q(
                Exists(Membership.objects.active().filter(user=user, tenant=OuterRef("tenant")))
            )
        if action in self.object_permissions:
            cond |= _object_permission_condition(model, user, f"{action}_{model._meta.model_name}")
        return cond

    def condition_in_context(self, model, user, action, context):
        """`condition()` for rows of `context.tenant`, whose active memberships are known."""
        never = Q(pk__in=[])
        if not context.memberships:
            return never
        core_roles = self.core.get(action)
        if core_roles and context.roles & set(core_roles):
            return Q()  # every row of the tenant
        cond = never
        partner_roles = self.partner.get(action)
        if partner_roles and self.partner_field:
            organizations = sorted(context.organizations(partner_roles))
            if organizations:
                fields = self.partner_field if isinstance(self.partner_field, tuple) else (self.partner_field,)
                for field in fields:
                    cond |= Q(**{f"{field}__in": organizations})
        if self.owner_field and action == "view":
            cond |= Q(**{self.owner_field: user})
        if action in self.object_permissions:
            cond |= _object_permission_condition(model, user, f"{action}_{model._meta.model_name}")
        return cond


def _object_permission_condition(model, user, codename):
    """Rows granted by guardian's direct-FK tables, to the user or one of their groups."""
    from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

    user_perms = get_user_obj_perms_model(model)
    group_perms = get_group_obj_perms_model(model)
    return Q(
        Exists(
            user_perms.objects.filter(
                user=user, permission__codename=codename, content_object=OuterRef("pk")
            )
        )
    ) | Q(
        Exists(
            group_perms.objects.filter(
                group__user=user, permission__codename=codename, content_object=OuterRef("pk")
            )
        )
    )


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)

    def visible_to(self, user, action="view", context=None):
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        policy = getattr(self.model, "access_policy", None)
        if policy is None:
            raise TypeError(f"{self.model.__name__} has no access_policy; it cannot be read through the choke point.")
        if context is None:
            return self.filter(policy.condition(self.model, user, action))
        return self._scoped_to_context(user, context).filter(
            policy.condition_in_context(self.model, user, action, context)
        )

    def _scoped_to_context(self, user, context):
        """The rows of the context's tenant; refuses a context read for another user.

        The tenant filter is always added: the constants of a context hold in its tenant only, so
        a queryset already limited to another tenant answers no rows."""
        if context.user_id != user.pk:
            raise ValueError("visible_to: the tenant context belongs to another user")
        return self.filter(tenant_id=context.tenant_id)

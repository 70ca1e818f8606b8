"""TenantScopedViewSet: the one base for every API view under /api/v1/t/{tenant}/.

Order of checks on every request: anonymous -> 401; no active membership in the tenant
named by the URL -> 404 (as if the tenant did not exist); an object of another tenant or one
the user may not see -> 404; a visible object the user's roles may not change -> 403.

The read path is sealed (PostHog's `safely_get_queryset`): a subclass shapes its rows in
`safely_get_queryset(queryset)` (filters from the query string, select_related, annotations,
ordering, a selector's own read of the model), and the base then limits whatever comes back to
the URL's tenant and to what the user may view. Scoping comes last, so no subclass can widen it.
`get_queryset`, `get_object` and `filter_queryset` may not be overridden. A view that truly
needs rows outside the user's visibility says so in `dangerously_get_queryset()`; the tenant
filter still applies to it.
"""

from dataclasses import replace

from django.db.models import QuerySet
from rest_framework import exceptions, mixins, viewsets
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated

from scm_portal.tenancy.access import access_in_context, access_tenant_context
from scm_portal.tenancy.language import activate_request_language
from scm_portal.tenancy.roles import is_read_only
from scm_portal.tenancy.totp import totp_verified_at

ACTION_TO_PERMISSION = {
    "list": "view",
    "retrieve": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}

# What a subclass may not override, and what to do instead.
SEALED_METHODS = {
    "get_queryset": "shape the rows in safely_get_queryset()",
    "get_object": "choose the lookup with lookup_field; the base checks visibility and the action's permission",
    "filter_queryset": "filter in safely_get_queryset()",
}


class TenantContextMixin:
    """Resolves the tenant from the URL for any API view: 401, then 404 for non-members.

    `tenant_context` (the tenant and the user's active memberships there, one query) is what
    reads pass to `visible_to(..., context=)` and what services that check the user's roles take
    (`context=`); `tenant` and `roles` are read from it. It is also `request.tenant_context`, as
    on the pages (tenancy.views.tenant_page)."""

    permission_classes = [IsAuthenticated]
    # What a member whose every role is read-only (the auditor) may still send with an unsafe
    # method: the names of viewset actions, or of HTTP methods on a plain view, that touch only the
    # reader's own state (a read mark), never the tenant's records. Everything else is 403 for them.
    read_only_roles_may = frozenset()

    def check_permissions(self, request):
        super().check_permissions(request)  # anonymous -> 401
        context = access_tenant_context(request.user, self.kwargs.get("tenant"))
        # The credential's TOTP verification, read only by what asks (money actions, their buttons).
        context = replace(context, second_factor=lambda: totp_verified_at(request))
        self.tenant_context = request.tenant_context = context
        self.tenant = self.tenant_context.tenant
        self.roles = self.tenant_context.roles
        # The answer in the reader's language: Accept-Language, else theirs (read with the
        # context, no query of its own), else the tenant's.
        activate_request_language(request, self.tenant, context.saved_language)
        # Read-only across the tenant, whatever a view's own rules would let through, and before
        # its body is read: an auditor's write is a 403, never a validation error (a row the URL
        # names that they may not see is still a 404 first, as for anyone).
        if (request.method not in SAFE_METHODS and is_read_only(self.roles)
                and (getattr(self, "action", None) or request.method.lower()) not in self.read_only_roles_may):
            self.check_url_row_visible()
            raise exceptions.PermissionDenied()

    def check_url_row_visible(self):
        """404 when the URL names a `parent_model` row (`room_id`) the reader may not see."""
        parent = getattr(self, "parent_model", None)
        for name, value in self.kwargs.items():
            if parent is not None and name.endswith("_id"):
                access_in_context(parent, self.request.user, self.tenant_context, value)
                return


class TenantScopedViewSet(TenantContextMixin, viewsets.GenericViewSet):
    model = None  # a tenant-owned model whose manager is a TenantQuerySet
    lookup_value_regex = r"[0-9]+"
    # Extra @action names -> the access-policy action they need.
    action_permissions = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Resolved through the MRO, so a mixin listed before this base is caught too.
        for name, instead in SEALED_METHODS.items():
            if getattr(cls, name) is not getattr(TenantScopedViewSet, name):
                raise TypeError(
                    f"{cls.__name__} overrides {name}(): {instead}. Scoping is applied by "
                    "TenantScopedViewSet; a bypass of the user's visibility must be a method named "
                    "dangerously_get_queryset()."
                )

    # --- who and where --------------------------------------------------------------------
    def check_permissions(self, request):
        super().check_permissions(request)
        if self.required_permission == "add" and not self.roles_allow("add"):
            raise exceptions.PermissionDenied()

    @property
    def required_permission(self):
        return self.action_permissions.get(self.action) or ACTION_TO_PERMISSION.get(self.action, "view")

    def roles_allow(self, permission):
        policy = self.model.access_policy
        allowed = set(policy.core.get(permission, ())) | set(policy.partner.get(permission, ()))
        return bool(allowed & set(self.roles))

    def check_url_row_visible(self):
        """404 when the URL's object is not one the reader may see (the object's own 403 follows).
        Not for PUT, which may create the row it names (the ERP's upsert of a PO)."""
        if self.request.method != "PUT" and (self.lookup_url_kwarg or self.lookup_field) in self.kwargs:
            self.get_object()

    # --- the sealed read path -------------------------------------------------------------
    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no tenant
            return self.model.objects.none()
        dangerously = getattr(self, "dangerously_get_queryset", None)
        if dangerously is not None:
            return self._in_tenant(dangerously())
        # Handed the tenant's rows, so that reading or nesting them cannot cross tenants; the
        # user's visibility is applied to whatever comes back, not trusted to the subclass.
        queryset = self.safely_get_queryset(self.model.objects.for_tenant(self.tenant))
        return self._sealed(queryset, "view")

    def safely_get_queryset(self, queryset):
        """Shape the rows: narrow, annotate, select_related, order. `queryset` holds the tenant's
        rows before the user's visibility is applied: return it (or any queryset of `model`)
        rather than reading it here. Scoping follows, so nothing returned here can widen it."""
        return queryset

    def _in_tenant(self, queryset):
        if not isinstance(queryset, QuerySet) or queryset.model is not self.model:
            got = queryset.model.__name__ if isinstance(queryset, QuerySet) else type(queryset).__name__
            raise TypeError(f"{type(self).__name__}: the queryset must be of {self.model.__name__}, not {got}")
        return queryset.for_tenant(self.tenant)

    def _sealed(self, queryset, permission):
        """`queryset` limited to the URL's tenant and to the rows the user may `permission` there."""
        return self._in_tenant(queryset).visible_to(self.request.user, permission, context=self.tenant_context)

    def get_object(self):
        obj = super().get_object()  # from the sealed queryset: 404 unless visible
        permission = self.required_permission
        if permission != "view":
            if not self._sealed(self.model.objects.filter(pk=obj.pk), permission).exists():
                raise exceptions.PermissionDenied()
        return obj

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["tenant"] = getattr(self, "tenant", None)
        return context


class TenantListCreateRetrieveUpdateViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    TenantScopedViewSet,
):
    http_method_names = ["get", "post", "patch", "head", "options"]

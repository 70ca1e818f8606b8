"""TenantScopedViewSet: the one base for every API view under /api/v1/t/{tenant}/.

Order of checks on every request: anonymous -> 401; no active membership in the tenant
named by the URL -> 404 (as if the tenant did not exist); an object of another tenant or one
the user may not see -> 404; a visible object the user's roles may not change -> 403.

`get_queryset()` is sealed: a subclass narrows with `safely_get_queryset(queryset)`. A view
that truly needs rows outside the user's visibility must say so in a method whose name
starts with `dangerously_`.
"""

from rest_framework import exceptions, mixins, viewsets
from rest_framework.permissions import IsAuthenticated

from scm_portal.tenancy.access import access_tenant_context

ACTION_TO_PERMISSION = {
    "list": "view",
    "retrieve": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


class TenantContextMixin:
    """Resolves the tenant from the URL for any API view: 401, then 404 for non-members.

    `tenant_context` (the tenant and the user's active memberships there, one query) is what
    reads pass to `visible_to(..., context=)`; `tenant` and `roles` are read from it."""

    permission_classes = [IsAuthenticated]

    def check_permissions(self, request):
        super().check_permissions(request)  # anonymous -> 401
        self.tenant_context = access_tenant_context(request.user, self.kwargs.get("tenant"))
        self.tenant = self.tenant_context.tenant
        self.roles = self.tenant_context.roles


class TenantScopedViewSet(TenantContextMixin, viewsets.GenericViewSet):
    model = None  # a tenant-owned model whose manager is a TenantQuerySet
    lookup_value_regex = r"[0-9]+"
    # Extra @action names -> the access-policy action they need.
    action_permissions = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset(): narrow with safely_get_queryset(); "
                "a bypass of tenant scoping must be a method named dangerously_*."
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

    # --- the sealed read path -------------------------------------------------------------
    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no tenant
            return self.model.objects.none()
        queryset = self.model.objects.for_tenant(self.tenant).visible_to(
            self.request.user, "view", context=self.tenant_context
        )
        return self.safely_get_queryset(queryset)

    def safely_get_queryset(self, queryset):
        return queryset

    def get_object(self):
        obj = super().get_object()  # 404 unless visible
        permission = self.required_permission
        if permission != "view":
            allowed = self.model.objects.for_tenant(self.tenant).visible_to(
                self.request.user, permission, context=self.tenant_context
            )
            if not allowed.filter(pk=obj.pk).exists():
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

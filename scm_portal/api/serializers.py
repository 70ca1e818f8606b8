from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know or may not write, instead of silently dropping them.

    Nested in another serializer, it is validated whole even when its parent is updated in part
    (a PATCH): DRF hands the parent's `partial` down to every nested field, which would skip the
    nested object's required fields and defaults, and the nested value replaces the old one whole."""

    def to_internal_value(self, data):
        if self.root is not self and getattr(self.root, "partial", False):
            whole = type(self)(data=data, context=self.context)
            whole.is_valid(raise_exception=True)
            return whole.validated_data
        if isinstance(data, dict):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            unknown = {str(key): [_("Unknown field.")] for key in data if key not in writable}
            if unknown:
                raise serializers.ValidationError(unknown, code="unknown_field")
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    pass


@extend_schema_field(OpenApiTypes.STR)  # the related row's slug or code
class TenantScopedSlugRelatedField(serializers.SlugRelatedField):
    """A relation resolved only among the rows `scope(tenant, user)` returns for this request.

    A slug or id of another tenant is "does not exist" (400), never a cross-tenant link.
    """

    def __init__(self, *, scope, **kwargs):
        self.scope = scope
        super().__init__(**kwargs)

    def get_queryset(self):
        tenant = self.context.get("tenant")
        request = self.context.get("request")
        if tenant is None or request is None:
            raise RuntimeError("TenantScopedSlugRelatedField needs the tenant and request in its context.")
        return self.scope(tenant, request.user)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """Text only: a number or a list is a type error, not silently turned into a string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only (not "yes", 1 or "on")."""

    default_error_messages = {"invalid": gettext_lazy("Must be true or false.")}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data

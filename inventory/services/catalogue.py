"""Catalogue writes: warehouses and SKUs."""


from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from inventory.models import SKU, Warehouse


def _check_code(value, field):
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValidationError({field: _("A code is 1 to 64 characters.")})
    return value.strip()


@transaction.atomic
def warehouse_create(*, tenant, actor, code, name):
    code = _check_code(code, "code")
    if Warehouse.objects.for_tenant(tenant).filter(code=code).exists():
        raise ValidationError({"code": _("A warehouse with this code exists.")})
    return Warehouse.objects.create(tenant=tenant, code=code, name=name)


@transaction.atomic
def sku_create(*, tenant, actor, code, name, unit="pcs", default_supplier=None):
    code = _check_code(code, "code")
    if SKU.objects.for_tenant(tenant).filter(code=code).exists():
        raise ValidationError({"code": _("A SKU with this code exists.")})
    return SKU.objects.create(tenant=tenant, code=code, name=name, unit=unit, default_supplier=default_supplier)



"""Roles a membership can carry, and which organisation kind each belongs to."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganizationKind(models.TextChoices):
    CORE = "core", _("Core enterprise")
    SUPPLIER = "supplier", _("Supplier")
    FUNDER = "funder", _("Funder")
    CARRIER = "carrier", _("Carrier")
    DISTRIBUTOR = "distributor", _("Distributor")


class Role(models.TextChoices):
    # Core-enterprise staff
    COORDINATOR = "coordinator", _("Coordinator")
    BUYER = "buyer", _("Buyer")
    PLANNER = "planner", _("Planner")
    WAREHOUSE = "warehouse", _("Warehouse manager")
    LOGISTICS = "logistics", _("Logistics")
    CUSTOMER_SERVICE = "customer_service", _("Customer service")
    FINANCE_APPROVER = "finance_approver", _("Finance approver")
    TENANT_ADMIN = "tenant_admin", _("Tenant administrator")
    AUDITOR = "auditor", _("Auditor")
    # Partner organisations
    SUPPLIER_REP = "supplier_rep", _("Supplier representative")
    FUNDER_OFFICER = "funder_officer", _("Funder officer")
    CARRIER_DISPATCHER = "carrier_dispatcher", _("Carrier dispatcher")


CORE_ROLES = frozenset(
    {
        Role.COORDINATOR,
        Role.BUYER,
        Role.PLANNER,
        Role.WAREHOUSE,
        Role.LOGISTICS,
        Role.CUSTOMER_SERVICE,
        Role.FINANCE_APPROVER,
        Role.TENANT_ADMIN,
        Role.AUDITOR,
    }
)

# A partner role is only valid for a member of an organisation partnered with the tenant as this kind.
PARTNER_ROLE_KIND = {
    Role.SUPPLIER_REP: OrganizationKind.SUPPLIER,
    Role.FUNDER_OFFICER: OrganizationKind.FUNDER,
    Role.CARRIER_DISPATCHER: OrganizationKind.CARRIER,
}
PARTNER_ROLES = frozenset(PARTNER_ROLE_KIND)
ALL_ROLES = CORE_ROLES | PARTNER_ROLES
CORE_ROLE_VALUES = sorted(CORE_ROLES)  # one choice list for every API field that takes a core role


# Roles that may read but never write: their pages offer no buttons and their empty states no
# invitation to act ("say hello" is not for the auditor).
READ_ONLY_ROLES = frozenset({Role.AUDITOR})


def is_read_only(roles):
    """Whether every one of `roles` is read-only (a member with any other role may act)."""
    return bool(roles) and set(roles) <= READ_ONLY_ROLES


# Roles that read every message of the rooms they see, whoever it is routed to: a card addressed to
# some core roles only (a warehouse-only stock alert), a bot question and its answer (the asker's
# own), an internal note. The auditor reads across the tenant so that their pages, syncs and trails
# hold the whole record (issue 17); they still see only the rooms they follow, and press nothing.
WHOLE_ROOM_READERS = frozenset({Role.AUDITOR})


def reads_whole_room(roles):
    """Whether any of `roles` reads every message of the rooms the user sees (WHOLE_ROOM_READERS):
    the one rule that MessageQuerySet.visible_to, the sockets and the references apply."""
    return not WHOLE_ROOM_READERS.isdisjoint(roles)


def is_core_staff(roles):
    """Whether any of `roles` is a core-enterprise role."""
    return bool(set(roles) & CORE_ROLES)


PARTNER_KINDS = [k for k in OrganizationKind if k != OrganizationKind.CORE]
PARTNER_KIND_CHOICES = [(k.value, k.label) for k in PARTNER_KINDS]  # one choice list for every partner-kind field


def role_group_name(tenant_id, role):
    """The django-guardian group that holds every active member of `tenant` with `role`."""
    return f"tenant:{tenant_id}:{role}"

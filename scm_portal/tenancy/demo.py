"""Demo data for tenancy: the users, organisations and tenants CONTRACT.md lists.

Idempotent: running it again changes nothing but the passwords and TOTP secrets it is given.
Domain apps add their records in their own `demo.py` (a `seed(ctx)` function), called after this.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from scm_portal.tenancy import services, totp
from scm_portal.tenancy.models import Tenant
from scm_portal.tenancy.roles import OrganizationKind, Role

DEFAULT_PASSWORD = "demo12345"
DEFAULT_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

ORGANIZATIONS = [
    ("acme", "Acme 精密制造", OrganizationKind.CORE),
    ("globex", "Globex 电子", OrganizationKind.CORE),
    ("sup-a", "华东零部件有限公司", OrganizationKind.SUPPLIER),
    ("sup-b", "南方包装材料厂", OrganizationKind.SUPPLIER),
    ("bank", "江南商业银行（演示）", OrganizationKind.FUNDER),
]
TENANTS = [("acme", "Acme 精密制造"), ("globex", "Globex 电子")]
PARTNERSHIPS = [
    ("acme", "sup-a", OrganizationKind.SUPPLIER),
    ("acme", "sup-b", OrganizationKind.SUPPLIER),
    ("acme", "bank", OrganizationKind.FUNDER),
    ("globex", "sup-a", OrganizationKind.SUPPLIER),
]
# username, display name, [(tenant, organisation, role)]
USERS = [
    ("acme.buyer", "王采购", [("acme", "acme", Role.BUYER)]),
    ("acme.warehouse", "李仓管", [("acme", "acme", Role.WAREHOUSE)]),
    ("acme.planner", "赵计划", [("acme", "acme", Role.PLANNER)]),
    ("acme.finance", "钱财务", [("acme", "acme", Role.FINANCE_APPROVER)]),
    ("acme.cfo", "孙总监", [("acme", "acme", Role.FINANCE_APPROVER)]),
    ("acme.auditor", "周审计", [("acme", "acme", Role.AUDITOR)]),
    ("acme.admin", "吴管理员", [("acme", "acme", Role.TENANT_ADMIN)]),
    ("supa.rep", "陈供应A", [("acme", "sup-a", Role.SUPPLIER_REP), ("globex", "sup-a", Role.SUPPLIER_REP)]),
    ("supb.rep", "林供应B", [("acme", "sup-b", Role.SUPPLIER_REP)]),
    ("bank.officer", "郑信贷", [("acme", "bank", Role.FUNDER_OFFICER)]),
    ("globex.buyer", "Grace Buyer", [("globex", "globex", Role.BUYER)]),
]
TOTP_USERS = ["acme.finance", "acme.cfo", "bank.officer"]


@transaction.atomic
def seed(*, password=DEFAULT_PASSWORD, totp_secret=DEFAULT_TOTP_SECRET):
    orgs = {
        slug: services.organization_get_or_create(slug=slug, name=name, kind=kind)
        for slug, name, kind in ORGANIZATIONS
    }
    tenants = {}
    for slug, name in TENANTS:
        tenant = Tenant.objects.filter(slug=slug).first()
        tenants[slug] = tenant or services.tenant_create(slug=slug, name=name, organization=orgs[slug])
    for tenant_slug, org_slug, kind in PARTNERSHIPS:
        services.partnership_create(tenant=tenants[tenant_slug], actor=None, organization=orgs[org_slug], kind=kind)

    User = get_user_model()
    users = {}
    for username, display, memberships in USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = services.user_create(
                username=username, password=password, first_name=display, email=f"{username}@example.com"
            )
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        users[username] = user
        for tenant_slug, org_slug, role in memberships:
            services.membership_create(
                tenant=tenants[tenant_slug], actor=None, user=user, organization=orgs[org_slug], role=role
            )
    for username in TOTP_USERS:
        totp.totp_enroll(user=users[username], secret=totp_secret)
    return {"tenants": tenants, "organizations": orgs, "users": users}


def seed_all(*, password=DEFAULT_PASSWORD, totp_secret=DEFAULT_TOTP_SECRET):
    """The tenancy demo, then each domain app's `<app>/demo.py` `seed(ctx)`, in app order."""
    from importlib import import_module, util

    from django.apps import apps

    with transaction.atomic():
        ctx = seed(password=password, totp_secret=totp_secret)
        for config in apps.get_app_configs():
            module_name = f"{config.name}.demo"
            if config.name != "scm_portal.tenancy" and util.find_spec(module_name) is not None:
                import_module(module_name).seed(ctx)
    return ctx

"""Finance test data: received POs made directly through the ORM (the PO services are built
elsewhere), and the steps of the financing flow through finance's own services."""

import itertools
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from finance import services
from inventory.models import SKU, Warehouse
from orders.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderState
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.models import Organization, Tenant
from tests.api_contract import user

_numbers = itertools.count(1)


def tenant_today():
    """Today where the demo tenants are (Asia/Shanghai), as the finance services count days:
    not the test process's date, which differs for eight hours a day."""
    from zoneinfo import ZoneInfo

    return timezone.localdate(timezone=ZoneInfo("Asia/Shanghai"))


def ctx(username, tenant="acme"):
    """(user, TenantContext) of a demo user in a tenant."""
    who = user(username)
    return who, tenant_context_for(who, Tenant.objects.get(slug=tenant))


def received_po(tenant="acme", supplier="sup-a", currency="CNY", lines=((10, "100.00"),), accepted=None):
    """A PO of `supplier` received in full (or `accepted` units per line), straight in the database.
    `lines`: (quantity, unit_price) per line."""
    tenant = Tenant.objects.get(slug=tenant) if isinstance(tenant, str) else tenant
    warehouse, _ = Warehouse.objects.get_or_create(tenant=tenant, code="FIN-WH", defaults={"name": "Finance WH"})
    sku, _ = SKU.objects.get_or_create(tenant=tenant, code="FIN-SKU", defaults={"name": "Finance SKU"})
    po = PurchaseOrder.objects.create(
        tenant=tenant, number=f"PO-FIN-{next(_numbers)}", supplier=Organization.objects.get(slug=supplier),
        warehouse=warehouse, currency=currency, state=PurchaseOrderState.RECEIVED,
    )
    for index, (quantity, price) in enumerate(lines, start=1):
        got = quantity if accepted is None else accepted[index - 1]
        PurchaseOrderLine.objects.create(
            tenant=tenant, order=po, line=index, sku=sku, quantity=quantity, unit_price=Decimal(price),
            requested_date=date(2026, 1, 1), shipped_quantity=quantity, received_quantity=got, accepted_quantity=got,
        )
    return po


def invoice(po, amount, number=None, username="supa.rep"):
    actor, context = ctx(username, po.tenant.slug)
    return services.invoice_create(tenant=po.tenant, actor=actor, context=context, purchase_order=po,
                                   number=number or f"INV-{next(_numbers)}", amount=Decimal(amount), currency=po.currency)


def finance_approver(tenant="acme"):
    """acme's demo approver; for another tenant, its own `<tenant>.finance` (the demo has none)."""
    if tenant == "acme":
        return "acme.finance"
    from scm_portal.tenancy import services as tenancy
    from tests.factories import UserFactory

    target = Tenant.objects.get(slug=tenant)
    who = UserFactory(username=f"{tenant}.finance")
    tenancy.membership_create(tenant=target, actor=None, user=who, organization=target.organization, role="finance_approver")
    return who.username


def confirmed_receivable(amount="1000.00", supplier="sup-a", due_in=90, currency="CNY", tenant="acme"):
    """A receivable of `supplier` confirmed by the tenant's finance approver, due in `due_in` days."""
    po = received_po(tenant=tenant, supplier=supplier, currency=currency, lines=((1, amount),))
    rep = {"sup-a": "supa.rep", "sup-b": "supb.rep"}[supplier]
    inv = invoice(po, amount, username=rep)
    actor, context = ctx(finance_approver(tenant), tenant)
    return services.receivable_confirm(tenant=po.tenant, actor=actor, context=context, receivable=inv.receivable,
                                       due_date=tenant_today() + timedelta(days=due_in))


def apply(receivables, amount, username="supa.rep", funder="bank"):
    actor, context = ctx(username)
    return services.financing_apply(tenant=context.tenant, actor=actor, context=context,
                                    receivables=[r.pk for r in receivables], amount=Decimal(amount),
                                    funder=Organization.objects.get(slug=funder))


def approve(application, username):
    actor, context = ctx(username)
    return services.financing_approve(tenant=context.tenant, actor=actor, context=context, application=application,
                                      verified_at=timezone.now())


def funder_approved(amount="900.00"):
    """An application two core approvers and the funder approved, ready to disburse."""
    application = apply([confirmed_receivable()], amount)
    for username in ("acme.finance", "acme.cfo", "bank.officer"):
        application = approve(application, username)
    return application


def disburse(application, key="key-1", username="bank.officer"):
    actor, context = ctx(username)
    return services.financing_disburse(tenant=context.tenant, actor=actor, context=context, application=application,
                                       idempotency_key=key, verified_at=timezone.now())


def tenant_financing_flow(tenant_slug, text):
    """Rows of every finance model in another tenant (for the crawlers), through the services: an
    invoice (number `text`) with an attachment, its receivable confirmed, terms, the supplier's
    payout account, and an application approved by two of the tenant's finance approvers and its
    funder, disbursed (to that account), repaid, then disputed and settled (reason and resolution
    the canary). Adds
    the approvers, a funder partnership and its officer to the tenant as it goes."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from finance.models import FinancingTerms
    from scm_portal.tenancy import services as tenancy
    from tests.factories import UserFactory

    tenant = Tenant.objects.get(slug=tenant_slug)
    bank = Organization.objects.get(slug="bank")
    tenancy.partnership_create(tenant=tenant, actor=None, organization=bank, kind="funder")
    people = {}
    for name, organization, role in ((f"{tenant_slug}.finance", tenant.organization, "finance_approver"),
                                     (f"{tenant_slug}.cfo", tenant.organization, "finance_approver"),
                                     (f"{tenant_slug}.bank", bank, "funder_officer")):
        people[name] = UserFactory(username=name)
        tenancy.membership_create(tenant=tenant, actor=None, user=people[name], organization=organization, role=role)
    FinancingTerms.objects.create(tenant=tenant, funder=bank, annual_rate=Decimal("0.05"), advance_rate=Decimal("0.8"))

    po = received_po(tenant=tenant, lines=((1, "1000.00"),))
    inv = invoice(po, "1000.00", number=text[:64])
    rep, rep_context = ctx("supa.rep", tenant_slug)
    services.invoice_attachment_add(tenant=tenant, actor=rep, context=rep_context, invoice=inv,
                                    upload=SimpleUploadedFile(f"{text}.pdf", b"%PDF-1.4 " + text.encode()))
    finance, finance_context = ctx(f"{tenant_slug}.finance", tenant_slug)
    receivable = services.receivable_confirm(tenant=tenant, actor=finance, context=finance_context,
                                             receivable=inv.receivable, due_date=tenant_today() + timedelta(days=30))
    application = services.financing_apply(tenant=tenant, actor=rep, context=rep_context, receivables=[receivable.pk],
                                           amount=Decimal("800.00"), funder=bank)
    # The supplier's payout account, named by the canary, which the disbursement records.
    services.bank_account_save(tenant=tenant, actor=rep, context=rep_context, account_name=text[:200], bank_name=text[:200],
                               account_number="6225880123456789", verified_at=timezone.now())
    for name in (f"{tenant_slug}.finance", f"{tenant_slug}.cfo", f"{tenant_slug}.bank"):
        actor, context = ctx(name, tenant_slug)
        services.financing_approve(tenant=tenant, actor=actor, context=context, application=application,
                                   verified_at=timezone.now())
    actor, context = ctx(f"{tenant_slug}.bank", tenant_slug)
    services.financing_disburse(tenant=tenant, actor=actor, context=context, application=application,
                                idempotency_key=text, verified_at=timezone.now())
    services.financing_repay(tenant=tenant, actor=finance, context=finance_context, application=application)
    services.financing_dispute(tenant=tenant, actor=rep, context=rep_context, application=application, reason=text)
    return services.financing_dispute_settle(tenant=tenant, actor=finance, context=finance_context,
                                             application=application, resolution=text)

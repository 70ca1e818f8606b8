"""Bot intents about receivables financing, registered from FinanceConfig.ready() (register()):

- `financing_eligible`: "我想融资" / "I want financing" (and "我要融资", "申请融资", "I'd like to
  finance", "apply for financing", ...): for a supplier's rep, the receivables their organisation
  holds that can be financed now (confirmed, not matured, not pledged to a live application), each
  with what the most it can borrow against it costs (finance.services.financing_quote, under the
  terms of the tenant's funder), and the link to the application form;
- `financing_list`: "/financing": the applications that concern the asker: their organisation's
  (a supplier's rep), those awaiting their decision (a finance approver: in core review, not
  theirs to make, not decided by them yet), their institution's (a funder's officer).

Answers are keyed texts (finance.cards), read in the asker's language, addressed to the asker
only (messaging.bot), and built from what the asker's TenantContext lets them see
(`visible_to(..., context=)`): another supplier's receivables never appear.
"""

import re
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy

from finance import services
from finance.links import apply_url
from finance.models import (
    FINANCE_APPROVERS,
    FUNDER_ROLES,
    SUPPLIER_ROLES,
    ApplicationState,
    Approval,
    FinanceConflict,
    FinancingApplication,
    FinancingItem,
    Receivable,
    ReceivableState,
)
from finance.money import quantize, quantize_down
from messaging import registry
from messaging.texts import Text
from scm_portal.tenancy.models import Partnership
from scm_portal.tenancy.roles import OrganizationKind

LIST_LIMIT = 10
S = ApplicationState


def _funder(tenant):
    """The funder whose terms the bot quotes: the tenant's first active funder partner (the
    application form offers each; their terms differ only where the tenant set them per funder)."""
    partnership = (Partnership.objects.for_tenant(tenant).filter(kind=OrganizationKind.FUNDER, active=True)
                   .select_related("organization").order_by("organization__name", "pk").first())
    return partnership.organization if partnership is not None else None


def eligible_receivables(*, tenant, user, context):
    """The receivables the asker's organisations hold that can be financed now: confirmed, due
    after today, with an amount left and in no live application; soonest due first."""
    today = timezone.localdate(timezone=ZoneInfo(tenant.time_zone))
    pledged = FinancingItem.objects.filter(receivable=OuterRef("pk"), released=False)
    return (
        Receivable.objects.for_tenant(tenant).visible_to(user, context=context)
        .filter(holder_id__in=context.organizations(SUPPLIER_ROLES), state=ReceivableState.CONFIRMED, amount__gt=0,
                due_date__gt=today)
        .exclude(Exists(pledged))
        .select_related("invoice").order_by("due_date", "pk")
    )


def _quote_line(*, tenant, user, context, receivable, funder, advance):
    limit = quantize_down(advance * receivable.amount, receivable.currency)
    params = {"id": receivable.pk, "invoice": receivable.invoice.number, "currency": receivable.currency,
              "amount": quantize(receivable.amount, receivable.currency), "due": receivable.due_date.isoformat(),
              "limit": limit}
    try:
        quote = services.financing_quote(tenant=tenant, actor=user, context=context, receivables=[receivable.pk],
                                         amount=limit, funder=funder)
    except (ValidationError, FinanceConflict, PermissionDenied):
        return None  # too small to borrow against, or matured meanwhile: not offered
    params.update(limit=quote.amount, days=quote.days, cost=quote.cost)
    return Text("finance.bot.eligible_line", params)


def financing_eligible_answer(*, tenant, user, room, text, match, context):
    """What the asker's organisation can finance now, at what cost, and where to apply."""
    url = apply_url(tenant.slug)
    if not context.organizations(SUPPLIER_ROLES):
        return Text("finance.bot.not_supplier")
    funder = _funder(tenant)
    if funder is None:
        return Text("finance.bot.no_funder")
    rate, advance = services.financing_terms(tenant, funder)
    rows = list(eligible_receivables(tenant=tenant, user=user, context=context)[:LIST_LIMIT + 1])
    lines = [line for line in (_quote_line(tenant=tenant, user=user, context=context, receivable=receivable,
                                            funder=funder, advance=advance) for receivable in rows[:LIST_LIMIT])
             if line is not None]
    if not lines:
        return Text("finance.bot.none_eligible", {"url": url})
    if len(rows) > LIST_LIMIT:
        lines.append(Text("finance.bot.more", {"count": eligible_receivables(tenant=tenant, user=user, context=context)
                                               .count() - LIST_LIMIT}))
    return Text("finance.bot.eligible", {"funder": funder.name, "rate": f"{rate:.2%}", "advance": f"{advance:.0%}",
                                         "lines": lines, "url": url})


def _application_lines(queryset):
    rows = list(queryset.select_related("supplier", "funder").order_by("-created_at", "-pk")[:LIST_LIMIT + 1])
    lines = [
        Text("finance.bot.applications_line", {
            "id": a.pk, "supplier": a.supplier.name, "funder": a.funder.name,
            "amount": quantize(a.amount, a.currency), "currency": a.currency,
            # The state's label in the reader's language, as a nested text.
            "state": Text(f"finance.state.{a.state}"), "maturity": a.maturity_date.isoformat()})
        for a in rows[:LIST_LIMIT]
    ]
    if len(rows) > LIST_LIMIT:
        lines.append(Text("finance.bot.more", {"count": queryset.count() - LIST_LIMIT}))
    return lines


def financing_list_answer(*, tenant, user, room, text, match, context):
    """The applications that concern the asker, per role (module docstring)."""
    visible = FinancingApplication.objects.for_tenant(tenant).visible_to(user, context=context)
    sections = []
    suppliers = context.organizations(SUPPLIER_ROLES)
    if suppliers:
        sections.append(("supplier", visible.filter(supplier_id__in=suppliers)))
    if context.roles & FINANCE_APPROVERS:
        decided = Approval.objects.filter(application=OuterRef("pk"), approver_id=user.pk)
        sections.append(("approver", visible.filter(state__in=[S.REQUESTED, S.CORE_REVIEW])
                         .exclude(created_by_id=user.pk).exclude(Exists(decided))))
    funders = context.organizations(FUNDER_ROLES)
    if funders:
        sections.append(("funder", visible.filter(funder_id__in=funders)))
    parts = []
    for heading, queryset in sections:
        lines = _application_lines(queryset)
        if lines:
            parts.append(Text("finance.bot.applications", {"heading": Text(f"finance.bot.heading.{heading}"),
                                                           "lines": lines}))
    if not parts:
        return Text("finance.bot.no_applications")
    return parts[0] if len(parts) == 1 else Text("finance.bot.sections", {"sections": parts})


STATE_TEXTS = {f"finance.state.{state.value}": state.label for state in ApplicationState}


def register():
    """The financing intents and their texts; called from FinanceConfig.ready()."""
    from messaging.texts import register_text

    for key, label in STATE_TEXTS.items():
        register_text(key, label)
    register_text("finance.bot.sections", "{sections}")  # sections one after the other (nothing to translate)
    registry.register_intent(
        "financing_eligible",
        command="/finance",
        patterns=[
            re.compile(r"(我|我们)?(想|要|需要|打算|申请)(办理?)?(融资|贷款|保理)"),
            re.compile(r"\b(i|we)('d| would)?\s*(want|need|like)\s+(to\s+)?(get\s+)?(financ\w*|a loan|factoring)", re.IGNORECASE),
            re.compile(r"\bapply(ing)?\s+for\s+financ\w*", re.IGNORECASE),
            re.compile(r"\b(can|could)\s+(i|we)\s+(get\s+)?financ\w*", re.IGNORECASE),
        ],
        handler=financing_eligible_answer,
        usage="/finance",
        help_text=gettext_lazy("your receivables that can be financed now, what it costs, and where to apply"),
        examples=["@bot 我想融资", "@bot I want financing"],
    )
    registry.register_intent(
        "financing_list",
        command="/financing",
        patterns=[
            re.compile(r"(我的|待审批的?|待我审批的?)(融资|融资申请)"),
            re.compile(r"\bmy\s+financing(\s+applications?)?\b", re.IGNORECASE),
        ],
        handler=financing_list_answer,
        usage="/financing",
        help_text=gettext_lazy("the financing applications that concern you, and their states"),
        examples=["@bot 我的融资申请", "@bot my financing applications"],
    )

"""A financing application's audit trail (audit.trails): registered from FinanceConfig.ready().

Its state history is read from its own dated columns (requested, each approval, funder
approval, disbursement, repayment, overdue, closing) and from its disputes (each raised, each
settled), the finance app keeping no separate event table; its attachments are the scans of the
invoices behind its receivables."""

from django.utils.translation import gettext_lazy as _

from finance.models import ApplicationState, FinancingApplication, InvoiceAttachment
from scm_portal.db.ids import row_id


def _get(tenant, ref):
    pk = row_id(ref)
    if pk is None:
        return None
    return FinancingApplication.objects.for_tenant(tenant).filter(pk=pk).first()


def _access(user, context, ref):
    pk = row_id(ref)
    if pk is None:
        return None
    return (FinancingApplication.objects.for_tenant(context.tenant).visible_to(user, context=context)
            .select_related("supplier", "funder", "created_by").filter(pk=pk).first())


def _record(application):
    return {
        "title": f"FA-{application.pk}",
        "state": application.state,
        "state_label": ApplicationState(application.state).label,
        "fields": [
            (_("Applicant"), application.supplier.name),
            (_("Funder"), application.funder.name),
            (_("Amount"), f"{application.amount} {application.currency}"),
            (_("Receivables pledged"), f"{application.receivables_amount} {application.currency}"),
            (_("Annual rate"), application.annual_rate),
            (_("Cost"), f"{application.cost} {application.currency}"),
            (_("Maturity date"), application.maturity_date.isoformat()),
            (_("Reason"), application.reason or "—"),
            *_dispute_fields(application),
        ],
    }


def _dispute_fields(application):
    """Each dispute's reason and resolution, in order, as the record's fields."""
    fields = []
    for dispute in application.disputes.order_by("raised_at", "pk"):
        fields.append((_("Dispute"), dispute.reason))
        fields.append((_("Resolution"), dispute.resolution or _("open")))
    return fields


def _history(application):
    """The application's moves in order, from the times its services stamp."""
    rows = [{"at": application.created_at, "action": "apply", "from_state": "", "to_state": "requested",
             "actor": application.created_by.get_username()}]
    for approval in application.approvals.select_related("approver").order_by("at", "pk"):
        rows.append({"at": approval.at, "action": f"{approval.stage}_{approval.decision}", "from_state": "",
                     "to_state": "", "actor": approval.approver.get_username()})
    for at, action, state in ((application.funder_approved_at, "funder_approve", "funder_review"),
                              (application.disbursed_at, "disburse", "disbursed"),
                              (application.overdue_at, "overdue", "overdue"),
                              (application.repaid_at, "repay", "repaid")):
        if at is not None:
            rows.append({"at": at, "action": action, "from_state": "", "to_state": state, "actor": ""})
    for dispute in application.disputes.select_related("raised_by", "settled_by").order_by("raised_at", "pk"):
        rows.append({"at": dispute.raised_at, "action": "dispute", "from_state": dispute.from_state,
                     "to_state": "disputed", "actor": dispute.raised_by.get_username()})
        if dispute.settled_at is not None:
            rows.append({"at": dispute.settled_at, "action": "settle_dispute", "from_state": "disputed",
                         "to_state": dispute.from_state, "actor": dispute.settled_by.get_username()})
    rows.sort(key=lambda row: row["at"])
    return rows


def _approvals(application):
    return [
        {"at": a.at, "approver": a.approver.get_full_name() or a.approver.get_username(), "organization": a.organization.name,
         "stage": a.get_stage_display(), "decision": a.get_decision_display(), "reason": a.reason}
        for a in application.approvals.select_related("approver", "organization").order_by("at", "pk")
    ]


def _attachments(application):
    invoices = application.receivables.values_list("invoice_id", flat=True)
    return [
        {"name": a.name, "sha256": a.sha256, "size": a.size, "source": a.invoice.number}
        for a in InvoiceAttachment.objects.filter(tenant_id=application.tenant_id, invoice_id__in=invoices)
        .select_related("invoice").order_by("pk")
    ]


def _search(user, context, q, state, since, until):
    from audit.trails import trail_search_filter

    applications = (FinancingApplication.objects.for_tenant(context.tenant).visible_to(user, context=context)
                    .select_related("supplier").order_by("-pk"))
    if q:
        digits = q.upper().removeprefix("FA-")
        if not digits.isdigit() or not 0 < int(digits) < 2**63:
            return []
        applications = applications.filter(pk=int(digits))
    applications = trail_search_filter(applications, at="created_at", state=state, since=since, until=until)
    return [
        {"ref": str(a.pk), "title": f"FA-{a.pk}", "state": a.state, "state_label": ApplicationState(a.state).label,
         "at": a.created_at, "party": a.supplier.name}
        for a in applications[:50]
    ]


def register():
    from audit.trails import register_trail

    register_trail(
        "financing_application", label=_("Financing application"), api_segment="financing-applications", get=_get,
        access=_access, ref=lambda application: str(application.pk), record=_record, history=_history,
        approvals=_approvals, attachments=_attachments, search=_search, states=ApplicationState.choices, order=20,
    )

"""Receivables financing: invoices, receivables (the confirmed payables, 确权), financing
applications with their approvals, the one disbursement and the repayment.

The flow (issue 16; as 云信 / 双链通 / Taulia run it):
invoice submitted → receivable confirmed by the core enterprise's finance (or the invoice
rejected) → the holder applies for financing against confirmed receivables → two distinct core
finance approvers (neither the maker) → the funder's officer approves and disburses, exactly
once → the core enterprise repays at maturity; unpaid past maturity is overdue.

The rules that matter for money hold in the database as well as in the services (migration
finance/0002): CHECKs on amounts and state-dependent columns, unique keys, and triggers that
refuse a core approval by the maker or by anyone who is not an active finance approver of the
tenant, and a disbursement without two such approvals and the funder's.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import pgettext_lazy

from finance.money import CURRENCY_CHOICES
from scm_portal.errors import SecondFactorRequired
from scm_portal.tenancy.models import Organization, Tenant
from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import Role

# Who decides on the core side: confirms payables, approves financing (four eyes), repays.
FINANCE_APPROVERS = frozenset({Role.FINANCE_APPROVER})
# Who on the core side sees the tenant's invoices, receivables and applications.
FINANCE_VIEWERS = frozenset({Role.FINANCE_APPROVER, Role.TENANT_ADMIN, Role.AUDITOR})
SUPPLIER_ROLES = frozenset({Role.SUPPLIER_REP})
FUNDER_ROLES = frozenset({Role.FUNDER_OFFICER})

AMOUNT = {"max_digits": 18, "decimal_places": 4}


class FinanceConflict(Exception):
    """A move the record's state does not allow, or a second answer to one already given; the API
    answers 409 with `code`."""

    def __init__(self, message, *, code="illegal_transition"):
        super().__init__(message)
        self.code = code


class OtpRequired(SecondFactorRequired):
    """A money action without a second factor verified recently enough (403 `otp_required`,
    from the API and from a button press alike)."""


# --- invoices --------------------------------------------------------------------------------


class InvoiceState(models.TextChoices):
    SUBMITTED = "submitted", pgettext_lazy("finance", "Submitted")
    CONFIRMED = "confirmed", pgettext_lazy("finance", "Confirmed")
    REJECTED = "rejected", pgettext_lazy("finance", "Rejected")


class Invoice(models.Model):
    """The supplier's invoice against a received PO; its amount is at most the PO's received value
    not yet invoiced (finance.services.invoice_create)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    supplier = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    purchase_order = models.ForeignKey("orders.PurchaseOrder", on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=64)  # the supplier's invoice number (发票号)
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=[(c, c) for c in CURRENCY_CHOICES])
    state = models.CharField(max_length=10, choices=InvoiceState.choices, default=InvoiceState.SUBMITTED)
    reject_reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": FINANCE_VIEWERS, "reject": FINANCE_APPROVERS},
        partner={"view": SUPPLIER_ROLES, "add": SUPPLIER_ROLES},
        partner_field="supplier",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "supplier", "number"], name="invoice_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_amount_positive"),
            models.CheckConstraint(condition=Q(state__in=InvoiceState.values), name="invoice_state_known"),
            models.CheckConstraint(
                condition=~Q(state="rejected") | ~Q(reject_reason=""), name="invoice_rejected_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(state="submitted") | Q(decided_by__isnull=False, decided_at__isnull=False),
                name="invoice_decided_has_decider",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "purchase_order"], name="invoice_po")]

    def __str__(self):
        return self.number


class InvoiceAttachment(models.Model):
    """A file of an invoice (its scan), kept with its SHA-256 so a trail can prove it unchanged."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="invoices/%Y/%m/")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": FINANCE_VIEWERS}, partner={"view": SUPPLIER_ROLES}, partner_field="invoice__supplier"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="invoice_attachment_sha256_hex"),
            models.CheckConstraint(condition=Q(size__gt=0), name="invoice_attachment_not_empty"),
        ]


# --- receivables -----------------------------------------------------------------------------


class ReceivableState(models.TextChoices):
    PENDING = "pending", pgettext_lazy("finance", "Awaiting confirmation")  # its invoice is submitted
    CONFIRMED = "confirmed", pgettext_lazy("finance", "Confirmed")  # a payable the core enterprise owes on due_date
    PLEDGED = "pledged", pgettext_lazy("finance", "Pledged")  # in a live financing application
    SETTLED = "settled", pgettext_lazy("finance", "Settled")  # repaid
    TRANSFERRED = "transferred", pgettext_lazy("finance", "Transferred")  # split off whole to lower tiers (amount 0)
    REJECTED = "rejected", pgettext_lazy("finance", "Rejected")  # its invoice was rejected


class Receivable(models.Model):
    """What the core enterprise owes the holder on `due_date`. Created with its invoice (pending),
    confirmed by finance (确权). A split makes children held by lower-tier suppliers (`parent` set)
    and reduces this one's amount by them, so the tree always sums to the invoice."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="receivables")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="parts")
    holder = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=[(c, c) for c in CURRENCY_CHOICES])
    due_date = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=ReceivableState.choices, default=ReceivableState.PENDING)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    # The holder sees it; the one who split it off sees its parts (parent's holder).
    access_policy = AccessPolicy(
        core={"view": FINANCE_VIEWERS, "confirm": FINANCE_APPROVERS},
        partner={"view": SUPPLIER_ROLES, "split": SUPPLIER_ROLES},
        partner_field=("holder", "parent__holder"),
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) | Q(amount=0, state="transferred"), name="receivable_amount_positive"
            ),
            models.CheckConstraint(condition=Q(state__in=ReceivableState.values), name="receivable_state_known"),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "rejected"]) | Q(due_date__isnull=False, confirmed_at__isnull=False),
                name="receivable_confirmed_has_due_date",
            ),
            models.CheckConstraint(condition=Q(parent__isnull=True) | ~Q(parent=F("id")), name="receivable_not_own_parent"),
        ]
        indexes = [
            models.Index(fields=["tenant", "holder", "state"], name="receivable_holder_state"),
            models.Index(fields=["tenant", "state", "due_date"], name="receivable_due"),
        ]

    def __str__(self):
        return f"{self.invoice_id}/{self.pk}"


# --- financing -------------------------------------------------------------------------------


class FinancingTerms(models.Model):
    """A tenant's financing terms, for one funder or (funder null) for every funder without its
    own row; neither: settings.FINANCING_DEFAULT_RATE and FINANCING_ADVANCE_RATE."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    funder = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    annual_rate = models.DecimalField(max_digits=7, decimal_places=6)  # 0.060000 = 6 % a year
    advance_rate = models.DecimalField(max_digits=5, decimal_places=4)  # at most this share of the receivables
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": FINANCE_VIEWERS, "change": {Role.TENANT_ADMIN}},
        partner={"view": FUNDER_ROLES},
        partner_field="funder",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "funder"], name="financing_terms_per_funder"),
            models.UniqueConstraint(fields=["tenant"], condition=Q(funder__isnull=True), name="financing_terms_default"),
            models.CheckConstraint(condition=Q(annual_rate__gte=0, annual_rate__lt=1), name="financing_terms_rate_range"),
            models.CheckConstraint(condition=Q(advance_rate__gt=0, advance_rate__lte=1), name="financing_terms_advance_range"),
        ]


class ApplicationState(models.TextChoices):
    REQUESTED = "requested", pgettext_lazy("finance", "Requested")
    CORE_REVIEW = "core_review", pgettext_lazy("finance", "In core review")  # one core approval of two
    FUNDER_REVIEW = "funder_review", pgettext_lazy("finance", "In funder review")  # two core approvals; the funder's turn
    DISBURSED = "disbursed", pgettext_lazy("finance", "Disbursed")
    REPAID = "repaid", pgettext_lazy("finance", "Repaid")
    REJECTED = "rejected", pgettext_lazy("finance", "Rejected")
    WITHDRAWN = "withdrawn", pgettext_lazy("finance", "Withdrawn")
    OVERDUE = "overdue", pgettext_lazy("finance", "Overdue")
    # A paid-out application contested (its repayment, or the receivable behind it): repayment
    # waits until the dispute is settled, which returns it to the state it was disputed from.
    DISPUTED = "disputed", pgettext_lazy("finance", "Disputed")


A = ApplicationState
# Every legal move; anything else answers 409 `illegal_transition`.
APPLICATION_TRANSITIONS = {
    A.REQUESTED: {A.CORE_REVIEW, A.REJECTED, A.WITHDRAWN},
    A.CORE_REVIEW: {A.FUNDER_REVIEW, A.REJECTED, A.WITHDRAWN},
    A.FUNDER_REVIEW: {A.FUNDER_REVIEW, A.DISBURSED, A.REJECTED, A.WITHDRAWN},
    A.DISBURSED: {A.REPAID, A.OVERDUE, A.DISPUTED},
    A.OVERDUE: {A.REPAID, A.DISPUTED},
    A.REPAID: {A.DISPUTED},
    # Settled: back to the state it was disputed from (FinancingDispute.from_state), never another.
    A.DISPUTED: {A.DISBURSED, A.OVERDUE, A.REPAID},
    A.REJECTED: set(),
    A.WITHDRAWN: set(),
}
# What a dispute may be raised on: paid out (a contested repayment or receivable).
DISPUTABLE_STATES = frozenset({A.DISBURSED, A.OVERDUE, A.REPAID})
# Open or disputed: not done with (the retention sweep holds their messages). Disputed counts
# even when it was disputed from repaid.
LIVE_STATES = frozenset({A.REQUESTED, A.CORE_REVIEW, A.FUNDER_REVIEW, A.DISBURSED, A.OVERDUE, A.DISPUTED})
PAID_OUT_STATES = frozenset({A.DISBURSED, A.REPAID, A.OVERDUE, A.DISPUTED})
del A


# Who sees an application and its parts: the tenant's finance, the applicant's reps, the funder's officers.
APPLICATION_PART_ACCESS = AccessPolicy(
    core={"view": FINANCE_VIEWERS},
    partner={"view": SUPPLIER_ROLES | FUNDER_ROLES},
    partner_field=("application__supplier", "application__funder"),
)


class FinancingApplication(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    supplier = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")  # the applicant (holder)
    funder = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")  # the maker
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=[(c, c) for c in CURRENCY_CHOICES])
    receivables_amount = models.DecimalField(**AMOUNT)  # the receivables pledged, at application
    annual_rate = models.DecimalField(max_digits=7, decimal_places=6)
    advance_rate = models.DecimalField(max_digits=5, decimal_places=4)
    days = models.PositiveIntegerField()  # from application to maturity
    cost = models.DecimalField(**AMOUNT)  # interest as quoted: amount × rate × days / the currency's basis
    maturity_date = models.DateField()  # the earliest due date of its receivables
    state = models.CharField(max_length=16, choices=ApplicationState.choices, default=ApplicationState.REQUESTED)
    reason = models.TextField(blank=True, default="")  # why rejected or withdrawn
    funder_approved_at = models.DateTimeField(null=True, blank=True)
    disbursed_at = models.DateTimeField(null=True, blank=True)
    repaid_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    receivables = models.ManyToManyField(Receivable, through="FinancingItem", related_name="applications")

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": FINANCE_VIEWERS, "approve": FINANCE_APPROVERS, "reject": FINANCE_APPROVERS, "repay": FINANCE_APPROVERS,
              "dispute": FINANCE_APPROVERS, "settle_dispute": FINANCE_APPROVERS},
        partner={
            "view": SUPPLIER_ROLES | FUNDER_ROLES,
            "add": SUPPLIER_ROLES,
            "withdraw": SUPPLIER_ROLES,
            "approve": FUNDER_ROLES,
            "reject": FUNDER_ROLES,
            "disburse": FUNDER_ROLES,
            # The applicant's reps and the funder's officers raise a dispute; only the funder's
            # officers (and the tenant's finance) settle one.
            "dispute": SUPPLIER_ROLES | FUNDER_ROLES,
            "settle_dispute": FUNDER_ROLES,
        },
        partner_field=("supplier", "funder"),
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(state__in=ApplicationState.values), name="financing_state_known"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="financing_amount_positive"),
            models.CheckConstraint(condition=Q(amount__lte=F("receivables_amount")), name="financing_amount_within_receivables"),
            models.CheckConstraint(condition=Q(annual_rate__gte=0, annual_rate__lt=1), name="financing_rate_range"),
            models.CheckConstraint(condition=Q(advance_rate__gt=0, advance_rate__lte=1), name="financing_advance_range"),
            models.CheckConstraint(condition=Q(cost__gte=0), name="financing_cost_not_negative"),
            models.CheckConstraint(condition=~Q(supplier=F("funder")), name="financing_funder_not_supplier"),
            models.CheckConstraint(
                condition=~Q(state__in=["rejected", "withdrawn"]) | ~Q(reason=""), name="financing_closed_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["disbursed", "repaid", "overdue", "disputed"])
                | Q(disbursed_at__isnull=False, funder_approved_at__isnull=False),
                name="financing_paid_out_has_dates",
            ),
            models.CheckConstraint(condition=~Q(state="repaid") | Q(repaid_at__isnull=False), name="financing_repaid_has_date"),
            models.CheckConstraint(condition=~Q(state="overdue") | Q(overdue_at__isnull=False), name="financing_overdue_has_date"),
        ]
        indexes = [
            models.Index(fields=["tenant", "supplier", "-created_at"], name="financing_supplier_recent"),
            models.Index(fields=["tenant", "funder", "state"], name="financing_funder_state"),
            models.Index(fields=["maturity_date"], condition=Q(state="disbursed"), name="financing_due"),
        ]

    def __str__(self):
        return f"FA-{self.pk}"


class FinancingItem(models.Model):
    """A receivable pledged to an application, with its amount then. A receivable is in at most one
    live application (`released` once the application is rejected or withdrawn)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(FinancingApplication, on_delete=models.CASCADE, related_name="items")
    receivable = models.ForeignKey(Receivable, on_delete=models.PROTECT, related_name="items")
    amount = models.DecimalField(**AMOUNT)
    released = models.BooleanField(default=False)

    objects = TenantQuerySet.as_manager()
    access_policy = APPLICATION_PART_ACCESS

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["application", "receivable"], name="financing_item_unique"),
            models.UniqueConstraint(fields=["receivable"], condition=Q(released=False), name="financing_item_one_live"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="financing_item_amount_positive"),
        ]


class ApprovalStage(models.TextChoices):
    CORE = "core", pgettext_lazy("finance", "Core enterprise")
    FUNDER = "funder", pgettext_lazy("finance", "Funder")


class Decision(models.TextChoices):
    APPROVE = "approve", pgettext_lazy("finance", "Approved")
    REJECT = "reject", pgettext_lazy("finance", "Rejected")


class Approval(models.Model):
    """One person's decision on an application. A person decides once per application."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(FinancingApplication, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")  # whom they act for
    stage = models.CharField(max_length=6, choices=ApprovalStage.choices)
    decision = models.CharField(max_length=7, choices=Decision.choices)
    reason = models.TextField(blank=True, default="")
    at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    access_policy = APPLICATION_PART_ACCESS

    class Meta:
        ordering = ["application", "at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["application", "approver"], name="approval_once_per_approver"),
            models.UniqueConstraint(fields=["application"], condition=Q(stage="funder"), name="approval_one_funder_decision"),
            models.CheckConstraint(condition=~Q(decision="reject") | ~Q(reason=""), name="approval_reject_has_reason"),
            models.CheckConstraint(condition=Q(stage__in=ApprovalStage.values), name="approval_stage_known"),
            models.CheckConstraint(condition=Q(decision__in=Decision.values), name="approval_decision_known"),
        ]


class Disbursement(models.Model):
    """The funder's payout of an application: exactly one. `idempotency_key` is the client's
    Idempotency-Key; `request_hash` binds it to the request (who, which application, what
    body); `response_body` is the answer given, replayed byte for byte to a retry."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    application = models.OneToOneField(FinancingApplication, on_delete=models.PROTECT, related_name="disbursement")
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3)
    disbursed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(default=201)
    response_body = models.BinaryField()
    # Where it was paid: the supplier's payout account then (BankAccount), and a copy of its
    # details, which a later change of the account does not touch. None: no account on file.
    bank_account = models.ForeignKey("BankAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    paid_to = models.JSONField(null=True, blank=True)  # {"account_name", "bank_name", "account_number"}

    objects = TenantQuerySet.as_manager()
    access_policy = APPLICATION_PART_ACCESS

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="disbursement_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="disbursement_amount_positive"),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="disbursement_key_not_empty"),
        ]


class FinancingDispute(models.Model):
    """A contest of a paid-out application (a contested repayment or receivable): raised with a
    reason by the tenant's finance approver, the funder's officer or a rep of the applicant, while
    the application is disbursed, overdue or repaid; settled with a resolution by a finance approver
    or the funder's officer, which returns the application to `from_state`. At most one is open per
    application, and the application is `disputed` exactly while one is (migration finance/0004
    holds both in the database, and who may raise and settle one)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(FinancingApplication, on_delete=models.PROTECT, related_name="disputes")
    from_state = models.CharField(max_length=16, choices=ApplicationState.choices)
    reason = models.TextField()
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_for = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")  # whom they act for
    raised_at = models.DateTimeField()
    resolution = models.TextField(blank=True, default="")
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    settled_for = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    settled_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    access_policy = APPLICATION_PART_ACCESS

    class Meta:
        ordering = ["application", "raised_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["application"], condition=Q(settled_at__isnull=True),
                                    name="financing_dispute_one_open"),
            models.CheckConstraint(condition=Q(from_state__in=["disbursed", "overdue", "repaid"]),
                                   name="financing_dispute_from_paid_out"),
            models.CheckConstraint(condition=~Q(reason=""), name="financing_dispute_has_reason"),
            models.CheckConstraint(
                condition=Q(settled_at__isnull=True, settled_by__isnull=True, settled_for__isnull=True, resolution="")
                | (Q(settled_at__isnull=False, settled_by__isnull=False, settled_for__isnull=False) & ~Q(resolution="")),
                name="financing_dispute_settled_with_resolution",
            ),
            models.CheckConstraint(condition=Q(settled_at__isnull=True) | Q(settled_at__gte=F("raised_at")),
                                   name="financing_dispute_settled_after_raised"),
        ]
        indexes = [models.Index(fields=["tenant", "application"], name="financing_dispute_application")]

    @property
    def is_open(self):
        return self.settled_at is None


class Repayment(models.Model):
    """The core enterprise's repayment of a disbursed application, in full."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    application = models.OneToOneField(FinancingApplication, on_delete=models.PROTECT, related_name="repayment")
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3)
    repaid_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    access_policy = APPLICATION_PART_ACCESS

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_positive")]


# --- payout accounts -------------------------------------------------------------------------


class BankAccount(models.Model):
    """A supplier organisation's payout account in a tenant: where a disbursement of its financing
    is paid. Changed only by the organisation's reps with a fresh second factor
    (finance.services.bank_account_save); each disbursement keeps a copy of the account it paid to,
    so a later change never rewrites where money went."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    account_name = models.CharField(max_length=200)  # 户名
    bank_name = models.CharField(max_length=200)  # 开户行
    account_number = models.CharField(max_length=34)  # 账号: digits and capitals (an IBAN at most)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": FINANCE_VIEWERS}, partner={"view": SUPPLIER_ROLES, "change": SUPPLIER_ROLES},
        partner_field="organization",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "organization"], name="bank_account_one_per_organization"),
            models.CheckConstraint(condition=Q(account_number__regex=r"^[0-9A-Z]{6,34}$"), name="bank_account_number_format"),
            models.CheckConstraint(condition=~Q(account_name="") & ~Q(bank_name=""), name="bank_account_names_given"),
        ]

    def __str__(self):
        return f"{self.bank_name} ····{self.account_number[-4:]}"

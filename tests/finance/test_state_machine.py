"""A hypothesis state machine over submit, approve(user), reject, withdraw, disburse, repay, the
overdue sweep, dispute(user) and settle(user), with random users: the maker, the same approver
again, another tenant's approver, the funder, people without the role, with and without a fresh
second factor.

Invariant after every step: "disbursed ⇒ two distinct approvers of this tenant, neither of them
the maker, and exactly one disbursement" (disputed counts as paid out: it is disputed only from
disbursed, overdue or repaid); "disputed ⇔ exactly one open dispute, raised from a paid-out
state", a settled dispute returns the application to that state, and a repayment exists only
for a repaid application (or one disputed from repaid); and every refused step changed nothing."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from finance import services
from finance.models import (
    DISPUTABLE_STATES,
    PAID_OUT_STATES,
    Approval,
    Disbursement,
    FinanceConflict,
    FinancingApplication,
    FinancingDispute,
    OtpRequired,
    Repayment,
)
from scm_portal.tenancy.models import Membership
from tests.finance.factories import apply, confirmed_receivable, ctx, finance_approver
from tests.finance.test_services import snapshot

USERS = ["supa.rep", "acme.finance", "acme.cfo", "acme.buyer", "acme.auditor", "bank.officer", "globex.finance", "supb.rep"]
# The deciders come up more often, so that runs get through the whole flow (and past it).
DECIDERS = ["acme.finance", "acme.cfo", "bank.officer"] * 4 + USERS
FRESH = st.sampled_from([True, True, True, True, False])
REFUSALS = (PermissionDenied, OtpRequired, FinanceConflict, ValidationError)
# Who may raise a dispute (the applicant's rep, finance, the funder) and who may settle one (not
# the applicant) come up more often; the others are refused.
DISPUTERS = ["supa.rep", "acme.finance", "bank.officer"] * 3 + USERS
SETTLERS = ["acme.finance", "acme.cfo", "bank.officer"] * 3 + USERS
STATES_REACHED = set()  # across the runs: the machine must have walked the whole flow
FROM_STATES_DISPUTED = set()  # and disputed from more than one paid-out state


def counting_approvers(application):
    """The distinct core approvers who count: active finance approvers of the application's tenant,
    acting for it, not the maker."""
    finance = set(Membership.objects.active().filter(
        tenant=application.tenant, role="finance_approver", organization=application.tenant.organization,
    ).values_list("user_id", flat=True))
    approvals = Approval.objects.filter(application=application, stage="core", decision="approve")
    return {a.approver_id for a in approvals if a.approver_id in finance and a.approver_id != application.created_by_id}


class Financing(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()  # each run is rolled back in teardown
        self.application = None
        self.disputed_from = None

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def attempt(self, service, username, fresh, **kwargs):
        actor, context = ctx(username)
        if fresh is not None:
            kwargs["verified_at"] = timezone.now() if fresh else timezone.now() - timedelta(hours=1)
        before = snapshot()
        try:
            with transaction.atomic():
                result = service(tenant=context.tenant, actor=actor, context=context,
                                 application=FinancingApplication.objects.get(pk=self.application.pk), **kwargs)
        except REFUSALS:
            assert snapshot() == before, f"{service.__name__} by {username} was refused but changed something"
            return None
        self.application.refresh_from_db()
        return result

    @initialize(start=st.sampled_from(range(11)))
    def start_somewhere_in_the_flow(self, start):
        """Each run starts from an application a few steps into the flow, closed, overdue or
        disputed (so that every state is reached), then the rules throw any user at it."""
        self.application = apply([confirmed_receivable("1000.00")], "900.00")
        key = {"idempotency_key": f"{self.application.pk}-a"}
        flow = [
            (services.financing_approve, "acme.finance", True, {}),
            (services.financing_approve, "acme.cfo", True, {}),
            (services.financing_approve, "bank.officer", True, {}),
            (services.financing_disburse, "bank.officer", True, key),
            (services.financing_repay, "acme.finance", None, {}),
        ]
        closing = {6: [(services.financing_reject, "acme.cfo", True, {"reason": "no"})],
                   7: [(services.financing_withdraw, "supa.rep", None, {"reason": "later"})],
                   8: [*flow[:4], (services.financing_dispute, "supa.rep", None, {"reason": "short"})],
                   9: [*flow, (services.financing_dispute, "bank.officer", None, {"reason": "not received"})],
                   10: flow[:4]}
        for service, username, fresh, kwargs in closing.get(start, flow[:start]):
            before = self.application.state
            assert self.attempt(service, username, fresh, **kwargs) is not None, (service.__name__, username)
            if service is services.financing_dispute:
                self.disputed_from = before
                FROM_STATES_DISPUTED.add(before)
        if start == 10:
            self.sweep_overdue()

    @precondition(lambda self: self.application is None or self.application.state not in
                  {"requested", "core_review", "funder_review"})
    @rule(amount=st.sampled_from(["100.00", "899.99", "900.00"]))
    def submit(self, amount):
        self.application = apply([confirmed_receivable("1000.00")], amount)
        self.disputed_from = None

    @precondition(lambda self: self.application is not None)
    @rule(username=st.sampled_from(DECIDERS), fresh=FRESH)
    def approve(self, username, fresh):
        self.attempt(services.financing_approve, username, fresh)

    # Rules that move the flow on (so that runs reach disbursement and repayment); the other
    # rules throw any user at it.
    @precondition(lambda self: self.application is not None)
    @rule(username=st.sampled_from(["acme.finance", "acme.cfo", "bank.officer"]))
    def approve_as_a_decider(self, username):
        self.attempt(services.financing_approve, username, True)

    @precondition(lambda self: self.application is not None)
    @rule(key=st.sampled_from(["a", "b"]))
    def disburse_as_the_funder(self, key):
        self.attempt(services.financing_disburse, "bank.officer", True, idempotency_key=f"{self.application.pk}-{key}")

    @precondition(lambda self: self.application is not None and self.application.state in {"disbursed", "overdue"})
    @rule(username=st.sampled_from(["acme.finance", "acme.cfo"]))
    def repay_as_finance(self, username):
        self.attempt(services.financing_repay, username, None)

    @precondition(lambda self: self.application is not None)
    @rule(username=st.sampled_from(DECIDERS), fresh=FRESH)
    def reject(self, username, fresh):
        self.attempt(services.financing_reject, username, fresh, reason="not now")

    @precondition(lambda self: self.application is not None)
    @rule(username=st.sampled_from(["supa.rep"] * 4 + USERS))  # the maker, most often
    def withdraw(self, username):
        self.attempt(services.financing_withdraw, username, None, reason="changed my mind")

    @precondition(lambda self: self.application is not None)
    @rule(username=st.sampled_from(DECIDERS), fresh=FRESH, key=st.sampled_from(["a", "b"]))
    def disburse(self, username, fresh, key):
        self.attempt(services.financing_disburse, username, fresh, idempotency_key=f"{self.application.pk}-{key}")

    @precondition(lambda self: self.application is not None)
    @rule(username=st.sampled_from(DECIDERS))
    def repay(self, username):
        self.attempt(services.financing_repay, username, None)

    @precondition(lambda self: self.application is not None and self.application.state == "disbursed")
    @rule()
    def sweep_overdue(self):
        services.financing_overdue_sweep(today=self.application.maturity_date + timedelta(days=1))
        self.application.refresh_from_db()
        assert self.application.state == "overdue"

    @precondition(lambda self: self.application is not None)
    @rule(username=st.sampled_from(DISPUTERS))
    def dispute(self, username):
        before = self.application.state
        if self.attempt(services.financing_dispute, username, None, reason="contested") is not None:
            assert before in DISPUTABLE_STATES and self.application.state == "disputed"
            self.disputed_from = before
            FROM_STATES_DISPUTED.add(before)

    @precondition(lambda self: self.application is not None)
    @rule(username=st.sampled_from(SETTLERS))
    def settle_dispute(self, username):
        if self.attempt(services.financing_dispute_settle, username, None, resolution="settled") is not None:
            assert self.application.state == self.disputed_from, (self.application.state, self.disputed_from)

    @invariant()
    def disbursed_means_four_eyes_and_one_disbursement(self):
        for application in FinancingApplication.objects.all():
            STATES_REACHED.add(application.state)
            disbursements = Disbursement.objects.filter(application=application).count()
            if application.state in PAID_OUT_STATES:
                approvers = counting_approvers(application)
                assert len(approvers) >= 2, f"FA-{application.pk} paid out with approvers {approvers}"
                assert application.created_by_id not in approvers
                assert disbursements == 1
                assert Approval.objects.filter(application=application, stage="funder", decision="approve",
                                               organization=application.funder).exists()
            else:
                assert disbursements == 0
            if application.state in {"funder_review", *PAID_OUT_STATES}:
                assert len(counting_approvers(application)) >= 2
            assert application.amount <= application.receivables_amount * application.advance_rate
            open_disputes = list(FinancingDispute.objects.filter(application=application, settled_at__isnull=True))
            if application.state == "disputed":
                assert len(open_disputes) == 1 and open_disputes[0].from_state in DISPUTABLE_STATES
                repaid = open_disputes[0].from_state == "repaid"
            else:
                assert open_disputes == []
                repaid = application.state == "repaid"
            assert Repayment.objects.filter(application=application).count() == (1 if repaid else 0)
            for settled in FinancingDispute.objects.filter(application=application, settled_at__isnull=False):
                assert settled.resolution and settled.settled_by_id is not None


def test_financing_state_machine(demo):
    finance_approver("globex")  # another tenant's finance approver, among the random users
    run_state_machine_as_test(Financing, settings=settings(
        max_examples=30, stateful_step_count=15, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    ))
    assert {"disbursed", "repaid", "rejected", "withdrawn", "overdue", "disputed"} <= STATES_REACHED, STATES_REACHED
    assert len(FROM_STATES_DISPUTED) >= 2, FROM_STATES_DISPUTED


def test_the_invariant_catches_a_disbursement_without_four_eyes(demo):
    """The invariant's own check: a paid-out application approved by one person fails it."""
    application = apply([confirmed_receivable()], "900.00")
    FinancingApplication.objects.filter(pk=application.pk).update(state="core_review")
    assert len(counting_approvers(application)) == 0
    machine = Financing()
    try:
        machine.application = application
        with pytest.raises(AssertionError):
            # Pretend it were disbursed: the rows say so without the approvals.
            FinancingApplication.objects.filter(pk=application.pk).update(
                state="disbursed", disbursed_at=timezone.now(), funder_approved_at=timezone.now())
            machine.disbursed_means_four_eyes_and_one_disbursement()
    finally:
        machine.teardown()

"""The rules the database holds by itself (finance/models.py constraints, migration finance/0002):
written here with raw SQL, past the ORM and the services."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from finance.models import Approval, Disbursement, FinancingApplication
from tests.api_contract import user
from tests.finance.factories import apply, approve, confirmed_receivable, disburse, funder_approved

pytestmark = pytest.mark.django_db


def refused(sql, params=(), *, deferred=False):
    """Runs `sql` in a savepoint and asserts PostgreSQL refuses it (at once, or at the deferred check)."""
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                if deferred:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def insert_approval(application, username, stage="core", organization=None, decision="approve"):
    who = user(username)
    org = organization or application.tenant.organization_id
    return ("INSERT INTO finance_approval (tenant_id, application_id, approver_id, organization_id, stage, decision, reason, at) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'r', now())", [application.tenant_id, application.pk, who.pk, org, stage, decision])


def insert_disbursement(application, key="raw-key"):
    return ("INSERT INTO finance_disbursement (tenant_id, application_id, idempotency_key, request_hash, amount, currency, "
            "disbursed_by_id, at, response_status, response_body) VALUES (%s, %s, %s, 'h', %s, %s, %s, now(), 201, '\\x')",
            [application.tenant_id, application.pk, key, application.amount, application.currency, user("bank.officer").pk])


def test_the_maker_never_approves_in_the_database(demo):
    application = apply([confirmed_receivable()], "900.00")
    # The maker is a supplier rep; give them the finance role too, which still does not let them count.
    from scm_portal.tenancy import services as tenancy

    tenancy.membership_create(tenant=application.tenant, actor=None, user=user("supa.rep"),
                              organization=application.tenant.organization, role="finance_approver")
    refused(*insert_approval(application, "supa.rep"))


@pytest.mark.parametrize("username, stage, org", [
    ("acme.buyer", "core", None),  # not a finance approver
    ("globex.buyer", "core", None),  # another tenant's user
    ("bank.officer", "core", None),  # a funder officer at the core stage
    ("acme.finance", "funder", "bank"),  # a finance approver at the funder stage
    ("acme.finance", "core", "sup-a"),  # acting for another organisation
])
def test_approvals_that_do_not_count_are_refused(demo, username, stage, org):
    application = apply([confirmed_receivable()], "900.00")
    organization = demo["organizations"][org].pk if org else None
    refused(*insert_approval(application, username, stage=stage, organization=organization))
    assert not Approval.objects.exists()


def test_a_disbursement_needs_two_distinct_core_approvals_and_the_funders(demo):
    application = apply([confirmed_receivable()], "900.00")
    refused(*insert_disbursement(application))
    application = approve(application, "acme.finance")
    refused(*insert_disbursement(application))
    application = approve(application, "acme.cfo")
    refused(*insert_disbursement(application))  # no funder approval yet
    application = approve(application, "bank.officer")
    refused(*insert_disbursement(application, key=""))  # a key is required
    with connection.cursor() as cursor:
        cursor.execute(*insert_disbursement(application))
    assert Disbursement.objects.filter(application=application).count() == 1


def test_the_same_approver_twice_and_a_second_disbursement_are_refused(demo):
    application = funder_approved()
    refused(*insert_approval(application, "acme.finance"))
    disburse(application, key="first")
    refused(*insert_disbursement(application, key="second"))
    refused("UPDATE finance_disbursement SET amount = amount + 1")
    refused("UPDATE finance_approval SET decision = 'reject', reason = 'x'")


def test_an_application_is_not_paid_out_without_its_disbursement(demo):
    application = apply([confirmed_receivable()], "900.00")
    refused("UPDATE finance_financingapplication SET state = 'funder_review' WHERE id = %s", [application.pk], deferred=True)
    application = funder_approved()
    now = timezone.now()
    refused("UPDATE finance_financingapplication SET state = 'disbursed', disbursed_at = %s WHERE id = %s",
            [now, application.pk], deferred=True)
    assert FinancingApplication.objects.get(pk=application.pk).state == "funder_review"


@pytest.mark.parametrize("sql", [
    "UPDATE finance_invoice SET amount = 0",
    "UPDATE finance_invoice SET state = 'rejected', reject_reason = ''",
    "UPDATE finance_receivable SET amount = -1",
    "UPDATE finance_receivable SET amount = 0",  # zero only when transferred whole
    "UPDATE finance_receivable SET due_date = NULL",
    "UPDATE finance_financingapplication SET amount = receivables_amount + 1",
    "UPDATE finance_financingapplication SET state = 'rejected', reason = ''",
    "UPDATE finance_financingapplication SET state = 'nonsense'",
    "UPDATE finance_financingapplication SET funder_id = supplier_id",
    "UPDATE finance_financingitem SET released = false",
])
def test_checks_hold_past_the_orm(demo, sql):
    first = confirmed_receivable()
    apply([first], "900.00")
    if "financingitem" in sql:
        # Release the item, finance the receivable again: reviving the old item would make two
        # live applications of one receivable.
        from finance.models import FinancingItem

        FinancingItem.objects.update(released=True)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE finance_receivable SET state = 'confirmed' WHERE id = %s", [first.pk])
        apply([type(first).objects.get(pk=first.pk)], "800.00")
    refused(sql)

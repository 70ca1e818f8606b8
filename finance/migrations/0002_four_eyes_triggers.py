"""The four-eyes rules in the database, so that they hold when the ORM is bypassed.

- finance_approval_check (BEFORE INSERT OR UPDATE of an approval): a core-stage decision is by
  an active finance approver of the tenant acting for the tenant's own organisation, never the
  application's maker; a funder-stage decision is by an active funder officer of the
  application's funder. An approval is never changed once given (UPDATE refused).
- finance_disbursement_check (BEFORE INSERT OR UPDATE of a disbursement): the application has two
  distinct core approvals that count (as above), the funder's approval, no rejection, and the
  disbursement pays its amount; a disbursement is never changed.
- finance_application_paid_out (a constraint trigger, checked at commit): an application in
  funder_review or later has its two core approvals; one disbursed, repaid or overdue has its
  disbursement (which the one-to-one key keeps to exactly one).

Each refuses with SQLSTATE 23514 (check_violation), which Django raises as IntegrityError.
"""

from django.db import migrations

COUNTING_CORE_APPROVALS = """
    SELECT count(DISTINCT a.approver_id) FROM finance_approval a
    JOIN finance_financingapplication f ON f.id = a.application_id
    JOIN tenancy_tenant t ON t.id = f.tenant_id
    JOIN auth_user u ON u.id = a.approver_id AND u.is_active
    WHERE a.application_id = {app} AND a.stage = 'core' AND a.decision = 'approve'
      AND a.approver_id <> f.created_by_id AND a.organization_id = t.organization_id
      AND EXISTS (SELECT 1 FROM tenancy_membership m WHERE m.user_id = a.approver_id AND m.tenant_id = f.tenant_id
                  AND m.organization_id = t.organization_id AND m.role = 'finance_approver' AND m.active)
"""

SQL = f"""
CREATE FUNCTION finance_approval_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    app finance_financingapplication%ROWTYPE;
    tenant_org bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'an approval is never changed' USING ERRCODE = '23514';
    END IF;
    SELECT * INTO app FROM finance_financingapplication WHERE id = NEW.application_id;
    SELECT organization_id INTO tenant_org FROM tenancy_tenant WHERE id = app.tenant_id;
    IF NEW.tenant_id <> app.tenant_id THEN
        RAISE EXCEPTION 'approval of another tenant''s application' USING ERRCODE = '23514';
    END IF;
    IF NEW.stage = 'core' THEN
        IF NEW.approver_id = app.created_by_id THEN
            RAISE EXCEPTION 'the maker may not approve their own application' USING ERRCODE = '23514';
        END IF;
        IF NEW.organization_id <> tenant_org OR NOT EXISTS (
            SELECT 1 FROM tenancy_membership m WHERE m.user_id = NEW.approver_id AND m.tenant_id = app.tenant_id
            AND m.organization_id = tenant_org AND m.role = 'finance_approver' AND m.active) THEN
            RAISE EXCEPTION 'a core decision needs a finance approver of the tenant' USING ERRCODE = '23514';
        END IF;
    ELSIF NEW.stage = 'funder' THEN
        IF NEW.organization_id <> app.funder_id OR NOT EXISTS (
            SELECT 1 FROM tenancy_membership m WHERE m.user_id = NEW.approver_id AND m.tenant_id = app.tenant_id
            AND m.organization_id = app.funder_id AND m.role = 'funder_officer' AND m.active) THEN
            RAISE EXCEPTION 'a funder decision needs an officer of the application''s funder' USING ERRCODE = '23514';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER finance_approval_check BEFORE INSERT OR UPDATE ON finance_approval
    FOR EACH ROW EXECUTE FUNCTION finance_approval_check();

CREATE FUNCTION finance_disbursement_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    app finance_financingapplication%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'a disbursement is never changed' USING ERRCODE = '23514';
    END IF;
    SELECT * INTO app FROM finance_financingapplication WHERE id = NEW.application_id;
    IF NEW.tenant_id <> app.tenant_id OR NEW.amount <> app.amount OR NEW.currency <> app.currency THEN
        RAISE EXCEPTION 'a disbursement pays its application''s amount' USING ERRCODE = '23514';
    END IF;
    IF ({COUNTING_CORE_APPROVALS.format(app="NEW.application_id")}) < 2 THEN
        RAISE EXCEPTION 'a disbursement needs two distinct core approvers, neither the maker' USING ERRCODE = '23514';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM finance_approval a WHERE a.application_id = NEW.application_id
                   AND a.stage = 'funder' AND a.decision = 'approve') THEN
        RAISE EXCEPTION 'a disbursement needs the funder''s approval' USING ERRCODE = '23514';
    END IF;
    IF EXISTS (SELECT 1 FROM finance_approval a WHERE a.application_id = NEW.application_id AND a.decision = 'reject') THEN
        RAISE EXCEPTION 'a rejected application is never disbursed' USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER finance_disbursement_check BEFORE INSERT OR UPDATE ON finance_disbursement
    FOR EACH ROW EXECUTE FUNCTION finance_disbursement_check();

CREATE FUNCTION finance_application_paid_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IN ('funder_review', 'disbursed', 'repaid', 'overdue')
       AND ({COUNTING_CORE_APPROVALS.format(app="NEW.id")}) < 2 THEN
        RAISE EXCEPTION 'application % is past core review without two core approvals', NEW.id USING ERRCODE = '23514';
    END IF;
    IF NEW.state IN ('disbursed', 'repaid', 'overdue')
       AND NOT EXISTS (SELECT 1 FROM finance_disbursement d WHERE d.application_id = NEW.id) THEN
        RAISE EXCEPTION 'application % is paid out without a disbursement', NEW.id USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER finance_application_paid_out AFTER INSERT OR UPDATE ON finance_financingapplication
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION finance_application_paid_out();
"""

REVERSE = """
DROP TRIGGER IF EXISTS finance_application_paid_out ON finance_financingapplication;
DROP FUNCTION IF EXISTS finance_application_paid_out();
DROP TRIGGER IF EXISTS finance_disbursement_check ON finance_disbursement;
DROP FUNCTION IF EXISTS finance_disbursement_check();
DROP TRIGGER IF EXISTS finance_approval_check ON finance_approval;
DROP FUNCTION IF EXISTS finance_approval_check();
"""


class Migration(migrations.Migration):
    dependencies = [("finance", "0001_financing")]

    operations = [migrations.RunSQL(SQL, REVERSE)]

"""The production grants on PostgreSQL: the app role reads and writes as the portal does, but an
UPDATE or DELETE of an audit record or a message is refused by the database itself."""

import io
import secrets

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from audit.models import AuditRecord
from audit.services import audit_record
from messaging.models import Message
from tests.api_contract import user
from tests.messaging.helpers import post, room_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_role(demo):
    """A role made in this test's transaction (rolled back with it), granted as production is."""
    name = f"portal_app_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" NOLOGIN')
    out = io.StringIO()
    call_command("audit_grants", "--app-role", name, "--apply", stdout=out)
    assert "Applied" in out.getvalue()
    return name


def refused(sql, params=()):
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_the_app_role_cannot_change_or_remove_chain_rows_but_works(demo, app_role):
    room = room_of("acme", "sup-a")
    post("supa.rep", room, "before the role")
    audit_record(tenant=demo["tenants"]["acme"], actor=None, action="alert.resolve", object_kind="alert", object_ref="1")
    with connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{app_role}"')
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == app_role
    # The portal's own writes still work: a chat post (message, room head, read state) and an
    # audit record (record, chain head), and the reads behind them.
    message = post("supa.rep", room, "as the app role")
    record = audit_record(tenant=demo["tenants"]["acme"], actor=user("acme.admin"), action="membership.suspend",
                          object_kind="membership", object_ref="1", before={"active": True}, after={"active": False})
    assert Message.objects.filter(pk=message.pk).exists() and AuditRecord.objects.filter(pk=record.pk).exists()
    # Changing or removing them is refused by PostgreSQL.
    refused("UPDATE messaging_message SET body = 'forged' WHERE id = %s", [message.pk])
    refused("DELETE FROM messaging_message WHERE id = %s", [message.pk])
    refused("UPDATE audit_auditrecord SET after = '{}' WHERE id = %s", [record.pk])
    refused("DELETE FROM audit_auditrecord WHERE id = %s", [record.pk])
    refused("TRUNCATE audit_auditrecord")
    with pytest.raises(ProgrammingError), transaction.atomic():  # through the ORM alike
        Message.objects.filter(pk=message.pk).update(body="forged")
    # Other tables stay writable: the room head moved with the post.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE messaging_room SET name = name WHERE id = %s", [room.pk])
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    assert Message.objects.get(pk=message.pk).body == "as the app role"


def test_the_command_prints_the_statements(demo):
    out = io.StringIO()
    call_command("audit_grants", "--app-role", "portal_app", "--owner-role", "portal_owner", stdout=out)
    sql = out.getvalue()
    assert 'REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON "public"."audit_auditrecord", "public"."messaging_message" FROM "portal_app"' in sql
    assert 'ALTER DEFAULT PRIVILEGES FOR ROLE "portal_owner"' in sql
    assert sql.index("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES") < sql.index("REVOKE UPDATE, DELETE")


@pytest.mark.parametrize("args,message", [
    (["--app-role", 'x"; DROP TABLE y; --'], "not a role"),
    (["--app-role", "same", "--owner-role", "same"], "must not be the owner"),
    (["--app-role", "app", "--schema", "a b"], "not a role or schema"),
])
def test_bad_arguments(demo, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("audit_grants", *args, stdout=io.StringIO())

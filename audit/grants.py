"""The production database roles: an owner that runs migrations and owns every table, and the
role the app connects as, which may read and write everything except change or remove what the
chains are made of: audit records and messages (docs/AUDIT.md, "Database roles").

The app never UPDATEs or DELETEs either table in its own work (messaging appends; an edit or a
retraction is a new message that refers to the old one), so no column-level UPDATE is granted.
What must change a message (retention's tombstones) goes through a SECURITY DEFINER function
owned by the owner role.
"""

from django.db import connection

from audit.models import AuditRecord
from messaging.models import Message


def append_only_tables():
    """The tables the app role may INSERT into and SELECT from, never UPDATE or DELETE."""
    return [AuditRecord._meta.db_table, Message._meta.db_table]


def _quoted(name):
    return connection.ops.quote_name(name)


def grant_statements(*, app_role, owner_role, schema="public", database=None):
    """The GRANT / REVOKE statements, idempotent: run them as `owner_role` after every migrate."""
    app, owner, schema_q = _quoted(app_role), _quoted(owner_role), _quoted(schema)
    tables = ", ".join(f"{schema_q}.{_quoted(t)}" for t in append_only_tables())
    statements = []
    if database:
        statements.append(f"GRANT CONNECT ON DATABASE {_quoted(database)} TO {app}")
    statements += [
        f"GRANT USAGE ON SCHEMA {schema_q} TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema_q} TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema_q} TO {app}",
        # Tables a later migration creates get the same rights (run this again after it anyway:
        # a table that is dropped and created anew loses its REVOKE).
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema_q} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema_q} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        # Append-only: the rows of the chains are never changed or removed by the app.
        f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {tables} FROM {app}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM PUBLIC",
        # The app must not be able to take the tables over either.
        f"REVOKE CREATE ON SCHEMA {schema_q} FROM {app}",
    ]
    return statements


def grants_apply(statements, *, using=connection):
    with using.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)

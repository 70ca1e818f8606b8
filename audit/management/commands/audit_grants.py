"""python manage.py audit_grants --app-role NAME [--owner-role NAME] [--apply]

Prints (or, with --apply, runs as the connected owner role) the GRANT / REVOKE statements that let
the app role read and write every table but never UPDATE or DELETE audit records or messages.
Idempotent: run it after every `migrate` (docs/AUDIT.md)."""

import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audit.grants import grant_statements, grants_apply

ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")


class Command(BaseCommand):
    help = "The app role's grants: everything but UPDATE and DELETE on audit records and messages."

    def add_arguments(self, parser):
        parser.add_argument("--app-role", required=True, help="the role the app connects as")
        parser.add_argument("--owner-role", help="the role that owns the tables and runs migrations (default: the connected one)")
        parser.add_argument("--schema", default="public")
        parser.add_argument("--apply", action="store_true", help="run the statements (as the owner) instead of printing them")

    def handle(self, *args, app_role, owner_role, schema, apply, **options):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            current, database = cursor.fetchone()
        owner_role = owner_role or current
        for name, value in (("--app-role", app_role), ("--owner-role", owner_role), ("--schema", schema)):
            if not ROLE.match(value):
                raise CommandError(f"{name}: not a role or schema name: {value!r}")
        if app_role == owner_role:
            raise CommandError("The app role must not be the owner role: an owner may do anything to its tables.")
        statements = grant_statements(app_role=app_role, owner_role=owner_role, schema=schema, database=database)
        if not apply:
            self.stdout.write(";\n".join(statements) + ";")
            return
        grants_apply(statements)
        self.stdout.write(f"Applied {len(statements)} statements for {app_role} (owner {owner_role}).")

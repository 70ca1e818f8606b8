"""python manage.py verify_trail: recomputes hash chains and names the first broken row.

  verify_trail --tenant SLUG        every room of the tenant, and its audit log
  verify_trail --room ID [...]      rooms (repeatable)
  verify_trail --record KIND REF    the rooms of every message linked to the record, and the audit log
  verify_trail FILE.pdf             a PDF trail checked against the database

Exit status 1 when a chain (or the PDF) does not verify.
"""

from django.core.management.base import BaseCommand, CommandError

from audit.verify import VerifyReport, record_verify, rooms_verify, tenant_verify
from messaging.models import Room
from scm_portal.tenancy.models import Tenant


def _pdf_verifier():
    """The PDF trail checker, when this installation has it."""
    try:
        from audit.trails.pdf_verify import trail_pdf_verify
    except ImportError:
        return None
    return trail_pdf_verify


class Command(BaseCommand):
    help = "Recomputes the hash chains of a tenant, rooms, a record's trail or a PDF trail; names the first broken row."

    def add_arguments(self, parser):
        parser.add_argument("pdf", nargs="?", metavar="FILE.pdf", help="a PDF trail to check against the database")
        parser.add_argument("--tenant", help="every room of this tenant (slug), and its audit log")
        parser.add_argument("--room", type=int, action="append", default=[], help="room id (repeatable)")
        parser.add_argument("--record", nargs=2, metavar=("KIND", "REF"),
                            help="a record (purchase_order PO-1, financing_application 7, alert 3): its rooms and "
                                 "the audit log; with --tenant when the reference is not unique")

    def handle(self, *args, pdf, tenant, room, record, **options):
        given = [bool(pdf), bool(room), bool(record), bool(tenant) and not record]
        if sum(given) != 1:
            raise CommandError("Give one of: FILE.pdf, --room ID, --record KIND REF, --tenant SLUG.")
        if pdf:
            return self._pdf(pdf)
        if room:
            rooms = list(Room.objects.filter(pk__in=room).order_by("pk").only("pk", "name"))
            missing = set(room) - {r.pk for r in rooms}
            if missing:
                raise CommandError(f"No such room: {', '.join(map(str, sorted(missing)))}")
            report = rooms_verify(rooms)
        elif record:
            report = self._record(tenant, *record)
        else:
            found = Tenant.objects.filter(slug=tenant).first()
            if found is None:
                raise CommandError(f"No such tenant: {tenant!r}")
            report = tenant_verify(found)
        self._report(report)

    def _record(self, slug, kind, ref):
        tenants = Tenant.objects.filter(slug=slug) if slug else Tenant.objects.all()
        if slug and not tenants.exists():
            raise CommandError(f"No such tenant: {slug!r}")
        reports = [r for r in (record_verify(t, kind, ref) for t in tenants.order_by("pk")) if r is not None]
        if not reports:
            raise CommandError(f"Nothing links to {kind} {ref}.")
        if len(reports) > 1:
            raise CommandError(f"{kind} {ref} is found in several tenants; name one with --tenant.")
        return reports[0]

    def _report(self, report: VerifyReport):
        for chain in report.chains:
            self.stdout.write(chain.describe())
        broken = [chain for chain in report.chains if not chain.ok]
        if broken:
            first = broken[0]
            row = f"room {first.id} message {first.broken_seq}" if first.chain == "room" else f"audit record {first.broken_seq} of {first.id}"
            raise CommandError(f"{len(broken)} chain(s) broken; the first broken row: {row}", returncode=1)

    def _pdf(self, path):
        verify = _pdf_verifier()
        if verify is None:
            raise CommandError("PDF verification unavailable in this installation.", returncode=2)
        try:
            report = verify(path)
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}") from None
        for problem in report.problems:
            self.stdout.write(f"PDF {path}: {problem}")
        if not report.ok:
            raise CommandError(f"PDF {path} does not match the database ({len(report.problems)} problem(s)).", returncode=1)
        self.stdout.write(f"PDF {path}: OK, it matches the database")

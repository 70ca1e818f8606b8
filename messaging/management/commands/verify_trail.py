from django.core.management.base import BaseCommand, CommandError

from messaging.chain import chain_verify
from messaging.models import Room


class Command(BaseCommand):
    help = "Recomputes the hash chain of rooms and names the first broken message (exit status 1 if any)."

    def add_arguments(self, parser):
        parser.add_argument("--room", type=int, action="append", default=[], help="room id (repeatable)")
        parser.add_argument("--tenant", help="every room of this tenant (slug)")

    def handle(self, *args, room, tenant, **options):
        rooms = Room.objects.none()
        if room:
            rooms = Room.objects.filter(pk__in=room)
            missing = set(room) - set(rooms.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No such room: {', '.join(map(str, sorted(missing)))}")
        elif tenant:
            rooms = Room.objects.filter(tenant__slug=tenant)
            if not rooms.exists():
                raise CommandError(f"No rooms for tenant {tenant!r}")
        else:
            raise CommandError("Give --room ID or --tenant SLUG.")
        broken = 0
        for r in rooms.order_by("pk"):
            report = chain_verify(r)
            if report.ok:
                self.stdout.write(f"room {r.pk} ({r.name}): OK, {report.checked} messages, head {report.head}")
            else:
                broken += 1
                self.stdout.write(
                    f"room {r.pk} ({r.name}): BROKEN at message {report.broken_seq}: {report.reason} "
                    f"({report.checked} messages verified before it)"
                )
        if broken:
            raise CommandError(f"{broken} room(s) with a broken chain", returncode=1)

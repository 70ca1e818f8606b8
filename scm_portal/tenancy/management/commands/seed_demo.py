from django.core.management.base import BaseCommand, CommandError

from scm_portal.tenancy import demo


class Command(BaseCommand):
    help = "Creates the demo tenants, partners, users and records (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=demo.DEFAULT_PASSWORD, help="password for every demo user")
        parser.add_argument("--totp-secret", default=demo.DEFAULT_TOTP_SECRET, help="base32 TOTP secret of the money approvers")

    def handle(self, *args, password, totp_secret, **options):
        if len(password) < 8:
            raise CommandError("--password must be at least 8 characters.")
        try:
            import pyotp

            pyotp.TOTP(totp_secret).now()
        except Exception:
            raise CommandError("--totp-secret must be a base32 string of at least 112 bits (e.g. 32 characters).") from None
        demo.seed_all(password=password, totp_secret=totp_secret)
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        self.stdout.write(f"  Demo users (password {password}): " + ", ".join(u for u, _d, _m in demo.USERS))
        self.stdout.write(f"  TOTP secret of {', '.join(demo.TOTP_USERS)}: {totp_secret} (demo only)")

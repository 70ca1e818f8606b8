"""TOTP verification for money actions, and the demo data command."""

import pyotp
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from scm_portal.tenancy.demo import DEFAULT_TOTP_SECRET
from scm_portal.tenancy.models import Membership, Organization, Partnership, Tenant, TotpVerification
from tests.api_contract import assert_error, user

pytestmark = pytest.mark.django_db


class TestTotp:
    def test_a_valid_code_marks_the_token_verified(self, demo, api):
        api.as_user(user("acme.finance"))
        response = api.post("/api/v1/auth/totp/", {"code": pyotp.TOTP(DEFAULT_TOTP_SECRET).now()}, format="json")
        assert response.status_code == 200, response.content
        verification = TotpVerification.objects.get(user__username="acme.finance")
        assert verification.expires_at > timezone.now()
        assert verification.credential.startswith("token:")

    def test_a_code_cannot_be_replayed(self, demo, api):
        api.as_user(user("acme.finance"))
        code = pyotp.TOTP(DEFAULT_TOTP_SECRET).now()
        assert api.post("/api/v1/auth/totp/", {"code": code}, format="json").status_code == 200
        assert_error(api.post("/api/v1/auth/totp/", {"code": code}, format="json"), 400)

    @pytest.mark.parametrize("code", ["000000", "12345", "abcdef", 123456, None, ""])
    def test_wrong_or_malformed_codes_are_400(self, demo, api, code):
        api.as_user(user("acme.finance"))
        if code == "000000" and pyotp.TOTP(DEFAULT_TOTP_SECRET).verify("000000", valid_window=1):
            pytest.xfail("000000 happens to be the current code")
        assert_error(api.post("/api/v1/auth/totp/", {"code": code}, format="json"), 400)
        assert not TotpVerification.objects.exists()

    def test_a_user_without_enrolment_is_told_so(self, demo, api):
        api.as_user(user("acme.buyer"))
        response = api.post("/api/v1/auth/totp/", {"code": "123456"}, format="json")
        assert_error(response, 400)
        assert "not set up" in response.json()["error"]["fields"]["code"][0]

    def test_anonymous_is_401(self, demo, api):
        assert_error(api.post("/api/v1/auth/totp/", {"code": "123456"}, format="json"), 401)


class TestSeedDemo:
    def test_contract_users_and_tenants(self, db):
        call_command("seed_demo", stdout=open("/dev/null", "w"))
        assert set(Tenant.objects.values_list("slug", flat=True)) == {"acme", "globex"}
        assert set(Membership.objects.filter(user__username="supa.rep").values_list("tenant__slug", flat=True)) == {
            "acme",
            "globex",
        }
        assert set(
            Membership.objects.filter(tenant__slug="acme", role="finance_approver").values_list("user__username", flat=True)
        ) == {"acme.finance", "acme.cfo"}
        assert Organization.objects.get(slug="bank").kind == "funder"
        for username in ["acme.finance", "acme.cfo", "bank.officer"]:
            assert user(username).totp_device.secret == DEFAULT_TOTP_SECRET
        assert user("acme.buyer").check_password("demo12345")

    def test_is_idempotent_and_takes_password_and_secret(self, db):
        call_command("seed_demo", stdout=open("/dev/null", "w"))
        counts = (Tenant.objects.count(), Membership.objects.count(), Partnership.objects.count())
        call_command("seed_demo", "--password", "another-pass-1", "--totp-secret", "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU", stdout=open("/dev/null", "w"))
        assert (Tenant.objects.count(), Membership.objects.count(), Partnership.objects.count()) == counts
        assert user("supa.rep").check_password("another-pass-1")
        assert user("acme.cfo").totp_device.secret == "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"

    @pytest.mark.parametrize("args", [["--password", "short"], ["--totp-secret", "not base32!"]])
    def test_bad_arguments_fail_clearly_and_create_nothing(self, db, args):
        with pytest.raises(CommandError):
            call_command("seed_demo", *args, stdout=open("/dev/null", "w"))
        assert not Tenant.objects.exists()

"""Partners and memberships endpoints: the shared contract checks plus their own rules."""

import pytest

from scm_portal.tenancy.models import Invitation, Membership, Partnership
from tests.api_contract import TenantCreateChecks, assert_error, user


class TestPartnersEndpoint(TenantCreateChecks):
    path = "partners/"
    viewer = "acme.buyer"
    no_role_user = "acme.buyer"
    model = Partnership
    create_payload = {"organization": "sup-b", "kind": "carrier"}

    def foreign_object_id(self, demo):
        return Partnership.objects.get(tenant__slug="globex", organization__slug="sup-a").pk

    def own_object_id(self, demo):
        return Partnership.objects.get(tenant__slug="acme", organization__slug="sup-a").pk


class TestMembershipsEndpoint(TenantCreateChecks):
    path = "memberships/"
    viewer = "acme.admin"
    no_role_user = "acme.buyer"
    model = Membership
    create_payload = {"user": "globex.buyer", "organization": "acme", "role": "planner"}

    def foreign_object_id(self, demo):
        return Membership.objects.get(tenant__slug="globex", user__username="globex.buyer").pk

    def own_object_id(self, demo):
        return Membership.objects.get(tenant__slug="acme", user__username="acme.buyer").pk


@pytest.mark.django_db
class TestPartnerVisibility:
    def test_supplier_sees_only_its_own_partnership(self, demo, api):
        api.as_user(user("supa.rep"))
        rows = api.get("/api/v1/t/acme/partners/").json()["results"]
        assert [r["organization"] for r in rows] == ["sup-a"]
        other = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-b").pk
        assert_error(api.get(f"/api/v1/t/acme/partners/{other}/"), 404)

    def test_supplier_in_two_tenants_sees_each_separately(self, demo, api):
        api.as_user(user("supa.rep"))
        acme = api.get("/api/v1/t/acme/partners/").json()["results"]
        globex = api.get("/api/v1/t/globex/partners/").json()["results"]
        assert {r["id"] for r in acme}.isdisjoint({r["id"] for r in globex})

    def test_core_staff_see_every_partner(self, demo, api):
        api.as_user(user("acme.buyer"))
        rows = api.get("/api/v1/t/acme/partners/").json()["results"]
        assert sorted(r["organization"] for r in rows) == ["bank", "sup-a", "sup-b"]

    def test_kind_filter(self, demo, api):
        api.as_user(user("acme.buyer"))
        rows = api.get("/api/v1/t/acme/partners/?kind=funder").json()["results"]
        assert [r["organization"] for r in rows] == ["bank"]

    def test_buyer_may_read_but_not_change_a_partnership(self, demo, api):
        api.as_user(user("acme.buyer"))
        pk = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-a").pk
        assert_error(api.patch(f"/api/v1/t/acme/partners/{pk}/", {"active": False}, format="json"), 403)
        assert Partnership.objects.get(pk=pk).active is True


@pytest.mark.django_db
class TestPartnerWrites:
    def test_admin_invites_a_partner_that_accepts_then_suspends_it(self, demo, api):
        api.as_user(user("acme.admin"))
        response = api.post("/api/v1/t/acme/partners/", {"organization": "sup-b", "kind": "carrier"}, format="json")
        assert response.status_code == 202, response.content
        assert response.json()["organization"] == "sup-b" and response.json()["state"] == "pending"
        assert not Partnership.objects.filter(tenant__slug="acme", organization__slug="sup-b", kind="carrier").exists()
        api.as_user(user("supb.rep"))
        accepted = api.post(f"/api/v1/invitations/{response.json()['id']}/accept/", format="json")
        assert accepted.status_code == 200, accepted.content
        pk = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-b", kind="carrier").pk
        api.as_user(user("acme.admin"))
        response = api.patch(f"/api/v1/t/acme/partners/{pk}/", {"active": False}, format="json")
        assert response.status_code == 200 and response.json()["active"] is False

    def test_suspending_a_supplier_suspends_its_users_access(self, demo, api):
        api.as_user(user("acme.admin"))
        pk = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-a").pk
        api.patch(f"/api/v1/t/acme/partners/{pk}/", {"active": False}, format="json")
        api.as_user(user("supa.rep"))
        assert_error(api.get("/api/v1/t/acme/partners/"), 404)
        assert api.get("/api/v1/t/globex/partners/").status_code == 200

    @pytest.mark.parametrize(
        "body, field, code",
        [
            # An unknown or foreign code is no error (see test_invitations.py); a malformed one is.
            ({"organization": "not a code!", "kind": "supplier"}, "organization", "invalid"),
            ({"organization": "acme", "kind": "supplier"}, "organization", "invalid"),
            ({"organization": 12, "kind": "supplier"}, "organization", "invalid"),
            ({"organization": "sup-b", "kind": "core"}, "kind", "invalid_choice"),
            ({"organization": "sup-b"}, "kind", "required"),
            ({"organization": "sup-b", "kind": "carrier", "tenant": "globex"}, "tenant", "unknown_field"),
            ({"organization": "sup-b", "kind": "carrier", "id": 5}, "id", "unknown_field"),
        ],
    )
    def test_bad_input_is_a_400_and_changes_nothing(self, demo, api, body, field, code):
        api.as_user(user("acme.admin"))
        before = list(Partnership.objects.values_list("pk", "active"))
        invitations = Invitation.objects.count()
        response = api.post("/api/v1/t/acme/partners/", body, format="json")
        assert_error(response, 400)
        assert Invitation.objects.count() == invitations
        assert field in response.json()["error"]["fields"], response.json()
        expected_top = "unknown_field" if code == "unknown_field" else "validation_error"
        assert response.json()["error"]["code"] == expected_top
        assert response.json()["error"]["fields"][field], response.json()
        assert list(Partnership.objects.values_list("pk", "active")) == before

    def test_patch_with_wrong_type_is_400(self, demo, api):
        api.as_user(user("acme.admin"))
        pk = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-a").pk
        response = api.patch(f"/api/v1/t/acme/partners/{pk}/", {"active": "maybe"}, format="json")
        assert_error(response, 400, "validation_error")
        assert Partnership.objects.get(pk=pk).active is True


@pytest.mark.django_db
class TestMembershipWrites:
    def test_admin_invites_and_the_user_gains_the_tenant_once_they_accept(self, demo, api):
        api.as_user(user("acme.admin"))
        response = api.post(
            "/api/v1/t/acme/memberships/", {"user": "globex.buyer", "organization": "acme", "role": "planner"}, format="json"
        )
        assert response.status_code == 202, response.content
        api.as_user(user("globex.buyer"))
        assert_error(api.get("/api/v1/t/acme/"), 404)
        assert api.post(f"/api/v1/invitations/{response.json()['id']}/accept/", format="json").status_code == 200
        assert api.get("/api/v1/t/acme/").json()["my_roles"] == ["planner"]

    def test_organisation_of_another_tenant_is_400(self, demo, api):
        api.as_user(user("acme.admin"))
        response = api.post(
            "/api/v1/t/acme/memberships/", {"user": "acme.buyer", "organization": "globex", "role": "buyer"}, format="json"
        )
        assert_error(response, 400)
        assert "organization" in response.json()["error"]["fields"]

    def test_core_role_for_a_partner_is_400(self, demo, api):
        api.as_user(user("acme.admin"))
        before = Membership.objects.count()
        response = api.post(
            "/api/v1/t/acme/memberships/", {"user": "supa.rep", "organization": "sup-a", "role": "buyer"}, format="json"
        )
        assert_error(response, 400, "validation_error")
        assert Membership.objects.count() == before

    def test_partner_role_of_the_wrong_kind_is_400(self, demo, api):
        api.as_user(user("acme.admin"))
        response = api.post(
            "/api/v1/t/acme/memberships/", {"user": "supa.rep", "organization": "sup-a", "role": "funder_officer"}, format="json"
        )
        assert_error(response, 400)

    def test_suspending_a_membership_takes_effect_at_once(self, demo, api):
        api.as_user(user("acme.admin"))
        pk = Membership.objects.get(tenant__slug="acme", user__username="acme.buyer").pk
        assert api.patch(f"/api/v1/t/acme/memberships/{pk}/", {"active": False}, format="json").status_code == 200
        api.as_user(user("acme.buyer"))
        assert_error(api.get("/api/v1/t/acme/partners/"), 404)

    def test_admin_cannot_remove_own_admin_role(self, demo, api):
        api.as_user(user("acme.admin"))
        pk = Membership.objects.get(tenant__slug="acme", user__username="acme.admin").pk
        assert_error(api.patch(f"/api/v1/t/acme/memberships/{pk}/", {"active": False}, format="json"), 400)
        assert Membership.objects.get(pk=pk).active

    def test_member_sees_only_own_memberships(self, demo, api):
        api.as_user(user("supa.rep"))
        rows = api.get("/api/v1/t/acme/memberships/").json()["results"]
        assert [(r["user"], r["role"]) for r in rows] == [("supa.rep", "supplier_rep")]

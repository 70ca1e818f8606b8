"""Joining a tenant needs the other side's consent: invitations.

A tenant admin's POST memberships/ or partners/ creates an invitation, never the link itself,
and answers the same whatever the name is (an unknown one, another tenant's, one of its own).
Only the person named, or a representative of the organisation named, sees and answers it.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Room
from scm_portal.tenancy import services
from scm_portal.tenancy.models import Invitation, Membership, Partnership
from tests.api_contract import TenantEndpointChecks, assert_error, user
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

PARTNERS = "/api/v1/t/acme/partners/"
# What may differ between two answers to the same request with another name.
PER_INVITATION = {"id", "invitee", "organization", "created_at", "expires_at", "link"}


@pytest.fixture
def world(demo):
    """The demo, plus globex's admin and a supplier that works for globex only (its people
    appear nowhere in acme)."""
    globex = demo["tenants"]["globex"]
    admin = services.user_create(username="globex.admin", password="x-demo-pass", first_name="Gloria Admin",
                                 email="gloria@globex.example")
    services.membership_create(tenant=globex, actor=None, user=admin, organization=globex.organization,
                               role="tenant_admin")
    private = OrganizationFactory(slug="gx-private", name="Globex Private Supplier Ltd", kind="supplier")
    services.partnership_create(tenant=globex, actor=None, organization=private, kind="supplier")
    rep = services.user_create(username="gxp.rep", password="x-demo-pass", first_name="Pat Rep")
    services.membership_create(tenant=globex, actor=None, user=rep, organization=private, role="supplier_rep")
    return demo


def invite_member(api, name, organization="acme", role="planner", admin="acme.admin", tenant="acme"):
    api.as_user(user(admin))
    body = {"user": name, "organization": organization, "role": role}
    # json.dumps escapes a lone surrogate, as a hostile client would send it; the test client's renderer cannot.
    return api.post(f"/api/v1/t/{tenant}/memberships/", data=json.dumps(body), content_type="application/json")


def invite_partner(api, slug, kind="supplier", admin="acme.admin"):
    api.as_user(user(admin))
    return api.post(PARTNERS, {"organization": slug, "kind": kind}, format="json")


def same_answer(first, second):
    assert first.status_code == second.status_code == 202, (first.content, second.content)
    a, b = first.json(), second.json()
    assert set(a) == set(b)
    assert {k: v for k, v in a.items() if k not in PER_INVITATION} == {
        k: v for k, v in b.items() if k not in PER_INVITATION
    }


class TestInvitingAMember:
    def test_another_tenants_user_and_a_missing_one_get_the_same_answer_and_no_membership(self, world, api):
        before = Membership.objects.count()
        foreign = invite_member(api, "globex.admin")
        missing = invite_member(api, "no-such-user")
        own = invite_member(api, "acme.buyer")
        by_email = invite_member(api, "gloria@globex.example")
        for other in (missing, own, by_email):
            same_answer(foreign, other)
        assert foreign.json()["invitee"] == "globex.admin" and missing.json()["invitee"] == "no-such-user"
        assert foreign.json()["state"] == "pending"
        for response in (foreign, by_email):
            assert "Gloria" not in response.content.decode()
        assert Membership.objects.count() == before
        assert_error(api.as_user(user("globex.admin")).get("/api/v1/t/acme/"), 404)

    def test_the_invitee_sees_it_and_accepting_makes_the_membership_once(self, world, api):
        pk = invite_member(api, "globex.admin").json()["id"]
        api.as_user(user("globex.admin"))
        listed = api.get("/api/v1/invitations/").json()["results"]
        assert [(row["id"], row["tenant"], row["role"], row["kind"]) for row in listed] == [
            (pk, "acme", "planner", "member")
        ]
        assert listed[0]["invited_by"] == "吴管理员" and listed[0]["organization_name"] == "Acme 精密制造"
        accepted = api.post(f"/api/v1/invitations/{pk}/accept/", format="json")
        assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
        assert api.post(f"/api/v1/invitations/{pk}/accept/", format="json").status_code == 200  # idempotent
        assert Membership.objects.filter(tenant__slug="acme", user__username="globex.admin", role="planner").count() == 1
        assert api.get("/api/v1/t/acme/").json()["my_roles"] == ["planner"]
        tenants = {(m["tenant"], m["role"]) for m in api.get("/api/v1/me/").json()["memberships"]}
        assert tenants == {("acme", "planner"), ("globex", "tenant_admin")}
        assert api.get("/api/v1/invitations/").json()["results"] == []  # answered: no longer waiting
        api.as_user(user("acme.admin"))
        row = api.get(f"/api/v1/t/acme/invitations/{pk}/").json()
        assert row["state"] == "accepted"

    def test_an_email_invitation_reaches_the_account_with_that_address(self, world, api):
        pk = invite_member(api, "Gloria@GLOBEX.example").json()["id"]
        api.as_user(user("globex.admin"))
        assert api.post(f"/api/v1/invitations/{pk}/accept/", format="json").status_code == 200
        assert Membership.objects.filter(tenant__slug="acme", user__username="globex.admin").exists()

    @pytest.mark.parametrize("someone", ["acme.admin", "acme.buyer", "globex.buyer", "supa.rep", "gxp.rep"])
    def test_nobody_else_sees_or_answers_it(self, world, api, someone):
        pk = invite_member(api, "globex.admin").json()["id"]
        api.as_user(user(someone))
        assert pk not in [row["id"] for row in api.get("/api/v1/invitations/").json()["results"]]
        assert_error(api.get(f"/api/v1/invitations/{pk}/"), 404, "not_found")
        assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 404, "not_found")
        assert_error(api.post(f"/api/v1/invitations/{pk}/decline/", format="json"), 404, "not_found")
        assert Invitation.objects.get(pk=pk).state == "pending"
        assert not Membership.objects.filter(tenant__slug="acme", user__username=someone, role="planner").exists()

    def test_anonymous_gets_401(self, world, api):
        pk = invite_member(api, "globex.admin").json()["id"]
        api.credentials()
        assert_error(api.get("/api/v1/invitations/"), 401)
        assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 401)

    @pytest.mark.parametrize("someone", ["acme.buyer", "acme.auditor", "supa.rep"])
    def test_only_tenant_admins_invite(self, world, api, someone):
        before = Invitation.objects.count()
        assert_error(invite_member(api, "globex.admin", admin=someone), 403, "permission_denied")
        assert_error(invite_partner(api, "gx-private", admin=someone), 403, "permission_denied")
        assert Invitation.objects.count() == before

    def test_an_admin_of_another_tenant_cannot_invite_here(self, world, api):
        assert_error(invite_member(api, "acme.buyer", admin="globex.admin"), 404)
        assert not Invitation.objects.exists()

    @pytest.mark.parametrize("name", ["", "   ", "no body", "a\x00b", "\ud800", "x" * 255, 42, None, ["globex.admin"]])
    def test_a_malformed_name_is_a_400_whoever_it_might_be(self, world, api, name):
        response = invite_member(api, name)
        assert_error(response, 400)
        assert "user" in response.json()["error"]["fields"]
        assert not Invitation.objects.exists()

    @pytest.mark.parametrize(
        "field, value", [("organization", "ac\x00me"), ("organization", "\ud800"), ("role", "\ud800"), ("role", "a\x00")]
    )
    def test_hostile_organisation_or_role_is_a_400_that_does_not_echo_it(self, world, api, field, value):
        response = invite_member(api, "globex.admin", **{field: value})
        assert_error(response, 400)
        assert list(response.json()["error"]["fields"]) == [field]
        assert not Invitation.objects.exists()

    @pytest.mark.parametrize("body", [{"organization": "x\x00", "kind": "supplier"}, {"organization": "sup-b", "kind": "\ud800"}])
    def test_hostile_partner_code_or_kind_is_a_400(self, world, api, body):
        api.as_user(user("acme.admin"))
        assert_error(api.post(PARTNERS, data=json.dumps(body), content_type="application/json"), 400)
        assert not Invitation.objects.exists()

    def test_the_tenants_own_rules_still_apply(self, world, api):
        # Facts about the tenant itself, the same for every name.
        assert "organization" in invite_member(api, "x", organization="globex").json()["error"]["fields"]
        assert_error(invite_member(api, "x", organization="sup-a", role="buyer"), 400)
        assert_error(invite_member(api, "x", organization="acme", role="supplier_rep"), 400)
        assert not Invitation.objects.exists()

    def test_inviting_again_replaces_the_pending_invitation(self, world, api):
        first = invite_member(api, "globex.admin").json()["id"]
        second = invite_member(api, "globex.admin").json()["id"]
        assert Invitation.objects.get(pk=first).state == "revoked"
        api.as_user(user("globex.admin"))
        assert [row["id"] for row in api.get("/api/v1/invitations/").json()["results"]] == [second]

    def test_a_partner_person_joins_for_their_organisation(self, world, api):
        pk = invite_member(api, "gxp.rep", organization="sup-a", role="supplier_rep").json()["id"]
        api.as_user(user("gxp.rep"))
        assert api.post(f"/api/v1/invitations/{pk}/accept/", format="json").status_code == 200
        assert Membership.objects.filter(
            tenant__slug="acme", user__username="gxp.rep", organization__slug="sup-a", role="supplier_rep"
        ).exists()

    def test_accepting_when_the_partnership_was_suspended_meanwhile_is_a_409_and_stays_pending(self, world, api):
        pk = invite_member(api, "gxp.rep", organization="sup-a", role="supplier_rep").json()["id"]
        acme = world["tenants"]["acme"]
        partnership = Partnership.objects.get(tenant=acme, organization__slug="sup-a")
        services.partnership_set_active(tenant=acme, actor=None, partnership=partnership, active=False)
        api.as_user(user("gxp.rep"))
        assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 409, "invitation_invalid")
        assert Invitation.objects.get(pk=pk).state == "pending"
        assert not Membership.objects.filter(tenant=acme, user__username="gxp.rep").exists()


class TestInvitingAPartner:
    def test_another_tenants_private_supplier_is_not_linked_and_its_name_not_shown(self, world, api):
        rooms = Room.objects.count()
        private = invite_partner(api, "gx-private")
        missing = invite_partner(api, "no-such-org")
        core = invite_partner(api, "globex")
        for other in (missing, core):
            same_answer(private, other)
        assert private.json()["organization"] == "gx-private"
        assert "Globex Private Supplier" not in private.content.decode()
        assert not Partnership.objects.filter(tenant__slug="acme", organization__slug="gx-private").exists()
        assert Room.objects.count() == rooms
        api.as_user(user("acme.buyer"))
        assert "gx-private" not in [row["organization"] for row in api.get(PARTNERS).json()["results"]]

    def test_the_organisations_representative_accepts_and_the_partner_gets_its_room(self, world, api):
        pk = invite_partner(api, "gx-private").json()["id"]
        api.as_user(user("gxp.rep"))
        listed = api.get("/api/v1/invitations/").json()["results"]
        assert [(row["id"], row["kind"], row["organization_name"]) for row in listed] == [
            (pk, "partner", "Globex Private Supplier Ltd")
        ]
        accepted = api.post(f"/api/v1/invitations/{pk}/accept/", format="json")
        assert accepted.status_code == 200, accepted.content
        partnership = Partnership.objects.get(tenant__slug="acme", organization__slug="gx-private", kind="supplier")
        assert partnership.active and Room.objects.filter(partnership=partnership).exists()
        assert api.post(f"/api/v1/invitations/{pk}/accept/", format="json").status_code == 200
        assert Partnership.objects.filter(tenant__slug="acme", organization__slug="gx-private").count() == 1
        # The organisation is linked; its people join one by one, by invitation.
        assert_error(api.get("/api/v1/t/acme/"), 404)
        api.as_user(user("acme.buyer"))
        assert "gx-private" in [row["organization"] for row in api.get(PARTNERS).json()["results"]]

    @pytest.mark.parametrize("someone", ["acme.buyer", "globex.admin", "globex.buyer", "supa.rep"])
    def test_nobody_but_its_representatives_sees_or_answers_it(self, world, api, someone):
        pk = invite_partner(api, "gx-private").json()["id"]
        api.as_user(user(someone))
        assert api.get("/api/v1/invitations/").json()["results"] == []
        assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 404)
        assert not Partnership.objects.filter(tenant__slug="acme", organization__slug="gx-private").exists()

    def test_a_suspended_representative_cannot_answer(self, world, api):
        pk = invite_partner(api, "gx-private").json()["id"]
        globex = world["tenants"]["globex"]
        membership = Membership.objects.get(tenant=globex, user__username="gxp.rep")
        services.membership_set_active(tenant=globex, actor=None, membership=membership, active=False)
        api.as_user(user("gxp.rep"))
        assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 404)

    def test_an_invitation_to_a_core_enterprise_reaches_nobody(self, world, api):
        pk = invite_partner(api, "globex").json()["id"]
        for someone in ["globex.admin", "globex.buyer", "supa.rep"]:
            api.as_user(user(someone))
            assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 404)


class TestAnswersThatComeTooLate:
    def test_declined_then_accept_is_a_409(self, world, api):
        pk = invite_member(api, "globex.admin").json()["id"]
        api.as_user(user("globex.admin"))
        declined = api.post(f"/api/v1/invitations/{pk}/decline/", format="json")
        assert declined.status_code == 200 and declined.json()["state"] == "declined"
        assert api.post(f"/api/v1/invitations/{pk}/decline/", format="json").status_code == 200
        assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 409, "invitation_declined")
        assert not Membership.objects.filter(tenant__slug="acme", user__username="globex.admin").exists()

    def test_revoked_then_accept_is_a_409(self, world, api):
        pk = invite_partner(api, "gx-private").json()["id"]
        revoked = api.post(f"/api/v1/t/acme/invitations/{pk}/revoke/", format="json")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        assert api.post(f"/api/v1/t/acme/invitations/{pk}/revoke/", format="json").status_code == 200
        api.as_user(user("gxp.rep"))
        assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 409, "invitation_revoked")
        assert not Partnership.objects.filter(tenant__slug="acme", organization__slug="gx-private").exists()

    def test_expired_then_accept_is_a_409(self, world, api):
        pk = invite_member(api, "globex.admin").json()["id"]
        Invitation.objects.filter(pk=pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        api.as_user(user("globex.admin"))
        assert api.get("/api/v1/invitations/").json()["results"] == []
        assert_error(api.post(f"/api/v1/invitations/{pk}/accept/", format="json"), 409, "invitation_expired")
        assert_error(api.post(f"/api/v1/invitations/{pk}/decline/", format="json"), 409, "invitation_expired")
        assert Invitation.objects.get(pk=pk).state == "expired"
        assert not Membership.objects.filter(tenant__slug="acme", user__username="globex.admin").exists()
        api.as_user(user("acme.admin"))
        assert [row["id"] for row in api.get("/api/v1/t/acme/invitations/?state=expired").json()["results"]] == [pk]
        assert_error(api.post(f"/api/v1/t/acme/invitations/{pk}/revoke/", format="json"), 409, "invitation_expired")

    def test_an_accepted_invitation_cannot_be_revoked_or_declined(self, world, api):
        pk = invite_member(api, "globex.admin").json()["id"]
        api.as_user(user("globex.admin"))
        api.post(f"/api/v1/invitations/{pk}/accept/", format="json")
        assert_error(api.post(f"/api/v1/invitations/{pk}/decline/", format="json"), 409, "invitation_accepted")
        api.as_user(user("acme.admin"))
        assert_error(api.post(f"/api/v1/t/acme/invitations/{pk}/revoke/", format="json"), 409, "invitation_accepted")


class TestTheTenantsList:
    def test_admins_list_and_filter_their_own_tenants_invitations_only(self, world, api):
        member = invite_member(api, "globex.admin").json()["id"]
        partner = invite_partner(api, "gx-private").json()["id"]
        foreign = invite_member(api, "acme.buyer", organization="globex", admin="globex.admin", tenant="globex").json()["id"]
        api.as_user(user("acme.admin"))
        rows = api.get("/api/v1/t/acme/invitations/").json()["results"]
        assert sorted(row["id"] for row in rows) == sorted([member, partner])
        assert [r["id"] for r in api.get("/api/v1/t/acme/invitations/?kind=partner").json()["results"]] == [partner]
        assert len(api.get("/api/v1/t/acme/invitations/?state=pending").json()["results"]) == 2
        assert_error(api.get("/api/v1/t/acme/invitations/?state=nonsense"), 400)
        assert_error(api.get(f"/api/v1/t/acme/invitations/{foreign}/"), 404)
        assert_error(api.post(f"/api/v1/t/acme/invitations/{foreign}/revoke/", format="json"), 404)
        assert Invitation.objects.get(pk=foreign).state == "pending"

    def test_other_staff_see_no_invitations_and_cannot_revoke(self, world, api):
        pk = invite_member(api, "globex.admin").json()["id"]
        api.as_user(user("acme.buyer"))
        assert api.get("/api/v1/t/acme/invitations/").json()["results"] == []
        assert_error(api.post(f"/api/v1/t/acme/invitations/{pk}/revoke/", format="json"), 404)
        assert Invitation.objects.get(pk=pk).state == "pending"

    def test_only_the_tokens_hash_is_stored(self, world, api):
        response = invite_member(api, "globex.admin")
        token = response.json()["link"].rstrip("/").rsplit("/", 1)[1]
        invitation = Invitation.objects.get(pk=response.json()["id"])
        assert token not in invitation.token_hash and invitation.token_hash == services.invitation_token_hash(token)
        assert "link" not in api.get(f"/api/v1/t/acme/invitations/{invitation.pk}/").json()


class TestInvitationsEndpoint(TenantEndpointChecks):
    path = "invitations/"
    viewer = "acme.admin"
    model = Invitation

    def foreign_object_id(self, demo):
        globex = demo["tenants"]["globex"]
        invitation, _token = services.invitation_create_partner(
            tenant=globex, actor=None, organization_slug="sup-b", kind="supplier"
        )
        return invitation.pk

    def own_object_id(self, demo):
        acme = demo["tenants"]["acme"]
        invitation, _token = services.invitation_create_member(
            tenant=acme, actor=None, invitee="someone", organization=acme.organization, role="buyer"
        )
        return invitation.pk


class TestPages:
    def test_the_admin_invites_from_the_members_page_and_the_flash_echoes_only_what_was_typed(self, world, client):
        client.force_login(user("acme.admin"))
        form = {"username": "globex.admin", "organization": "acme", "role": "planner"}
        response = client.post("/t/acme/members/", form, follow=True)
        html = response.content.decode()
        assert "flash-success" in html and "globex.admin" in html and "Gloria" not in html
        missing = client.post("/t/acme/members/", {**form, "username": "no-such-user"}, follow=True).content.decode()
        assert "flash-success" in missing and "flash-error" not in missing
        assert not Membership.objects.filter(tenant__slug="acme", user__username="globex.admin").exists()
        pk = Invitation.objects.get(invitee="globex.admin").pk
        client.post("/t/acme/members/", {"invitation": pk, "revoke": "1"})
        assert Invitation.objects.get(pk=pk).state == "revoked"
        other = client.post("/t/acme/members/", {"invitation": "abc", "revoke": "1"})
        assert other.status_code == 404

    def test_the_invitee_accepts_on_the_invitations_page(self, world, client, api):
        invite_member(api, "globex.admin")
        client.force_login(user("globex.admin"))
        dashboard = client.get("/t/globex/").content.decode()
        assert 'data-testid="invitations-waiting"' in dashboard and "1 invitation waits for your answer." in dashboard
        page = client.get("/invitations/").content.decode()
        assert "Acme 精密制造" in page and 'data-testid="accept"' in page
        pk = Invitation.objects.get(invitee="globex.admin").pk
        response = client.post("/invitations/", {"invitation": pk, "answer": "accept"})
        assert response.status_code == 302 and response["Location"] == "/t/acme/"
        assert Membership.objects.filter(tenant__slug="acme", user__username="globex.admin").exists()
        assert 'data-testid="no-invitations"' in client.get("/invitations/").content.decode()
        assert 'data-testid="invitations-waiting"' not in client.get("/t/globex/").content.decode()

    def test_a_partner_representative_declines_on_the_page(self, world, client, api):
        pk = invite_partner(api, "gx-private").json()["id"]
        client.force_login(user("gxp.rep"))
        assert "Globex Private Supplier Ltd" in client.get("/invitations/").content.decode()
        client.post("/invitations/", {"invitation": pk, "answer": "decline"})
        assert Invitation.objects.get(pk=pk).state == "declined"
        response = client.post("/invitations/", {"invitation": pk, "answer": "accept"}, follow=True)
        assert b"flash-error" in response.content
        assert not Partnership.objects.filter(tenant__slug="acme", organization__slug="gx-private").exists()

    def test_the_link_opens_the_invitation_for_the_person_it_names_only(self, world, client, api):
        link = invite_member(api, "globex.admin").json()["link"]
        path = "/" + link.split("://", 1)[1].split("/", 1)[1]
        client.force_login(user("globex.buyer"))
        assert client.get(path).status_code == 404
        assert client.post("/invitations/", {"invitation": Invitation.objects.get().pk, "answer": "accept"}).status_code == 404
        client.force_login(user("globex.admin"))
        assert 'data-testid="accept"' in client.get(path).content.decode()
        assert client.get("/invitations/not-a-real-token-but-long-enough/").status_code == 404

    def test_a_newcomer_without_a_tenant_lands_on_their_invitations(self, world, client, api):
        services.user_create(username="newcomer", password="x-demo-pass")
        invite_member(api, "newcomer")
        client.force_login(user("newcomer"))
        assert client.get("/")["Location"] == "/invitations/"
        assert 'data-testid="invitations-waiting"' in client.get("/t/").content.decode()

    def test_only_admins_see_the_pending_lists(self, world, client, api):
        pk = invite_partner(api, "gx-private").json()["id"]
        client.force_login(user("acme.buyer"))
        assert f'data-invitation="{pk}"' not in client.get("/t/acme/partners/").content.decode()
        assert client.post("/t/acme/partners/", {"invitation": pk, "revoke": "1"}).status_code == 403
        client.force_login(user("acme.admin"))
        assert f'data-invitation="{pk}"' in client.get("/t/acme/partners/").content.decode()

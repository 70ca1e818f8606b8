"""Server-rendered pages: login, tenant picker, dashboards, partners and members, language."""

import pytest

from scm_portal.tenancy.models import Invitation, Membership, Partnership
from tests.api_contract import user

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(demo, client):
    response = client.get("/t/acme/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200


def test_login_with_one_tenant_lands_on_its_dashboard(demo, client):
    response = client.post("/accounts/login/", {"username": "acme.buyer", "password": "demo12345"}, follow=True)
    assert response.redirect_chain[-1][0] == "/t/acme/"
    assert b'data-panel="open_alerts"' in response.content


def test_bad_login_shows_an_error_and_logs_nobody_in(demo, client):
    response = client.post("/accounts/login/", {"username": "acme.buyer", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert b"flash-error" in response.content


def test_user_of_two_tenants_picks_one(demo, client):
    client.force_login(user("supa.rep"))
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/t/"
    html = response.content.decode()
    assert 'data-tenant="acme"' in html and 'data-tenant="globex"' in html


def test_tenant_switcher_lists_both_tenants_on_the_dashboard(demo, client):
    client.force_login(user("supa.rep"))
    html = client.get("/t/globex/").content.decode()
    assert 'data-testid="tenant-switcher"' in html
    assert 'href="/t/acme/"' in html
    assert "Globex" in html.split('data-testid="current-tenant"')[1][:100]


def test_foreign_tenant_pages_are_404(demo, client):
    client.force_login(user("acme.buyer"))
    for url in ["/t/globex/", "/t/globex/partners/", "/t/globex/members/", "/t/nope/"]:
        assert client.get(url).status_code == 404, url


def test_user_without_tenants_sees_an_empty_state(db, client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get("/", follow=True)
    assert b'data-testid="no-tenants"' in response.content


def test_dashboard_lists_followed_partners_and_never_others(demo, client):
    client.force_login(user("supb.rep"))
    html = client.get("/t/acme/").content.decode()
    assert "南方包装材料厂" in html and "华东零部件有限公司" not in html


def test_language_switch(demo, client):
    client.force_login(user("acme.buyer"))
    assert 'lang="zh-hans"' in client.get("/t/acme/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/t/acme/"})
    html = client.get("/t/acme/").content.decode()
    assert 'lang="en"' in html and "Dashboard" in html
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/t/acme/"})
    html = client.get("/t/acme/").content.decode()
    assert 'lang="zh-hans"' in html and "工作台" in html


def test_pages_are_mobile_ready_and_load_no_cdn(demo, client):
    client.force_login(user("acme.buyer"))
    html = client.get("/t/acme/").content.decode()
    assert 'name="viewport"' in html
    assert "/static/vendor/htmx-2.0.11/htmx.min.js" in html
    assert "http://" not in html.split("<body")[0] and "https://" not in html.split("<body")[0]
    assert client.get("/static/vendor/htmx-2.0.11/htmx.min.js").status_code == 200


class TestPartnersPage:
    def test_core_staff_see_partners_read_only(self, demo, client):
        client.force_login(user("acme.buyer"))
        html = client.get("/t/acme/partners/").content.decode()
        assert "华东零部件有限公司" in html and "Invite a partner" not in html
        pk = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-a").pk
        assert client.post("/t/acme/partners/", {"partnership": pk, "active": "0"}).status_code == 403
        assert Partnership.objects.get(pk=pk).active

    def test_admin_suspends_and_invites(self, demo, client):
        client.force_login(user("acme.admin"))
        pk = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-b").pk
        client.post("/t/acme/partners/", {"partnership": pk, "active": "0"})
        assert not Partnership.objects.get(pk=pk).active
        response = client.post("/t/acme/partners/", {"organization": "sup-b", "kind": "carrier"}, follow=True)
        assert b"flash-success" in response.content
        assert not Partnership.objects.filter(tenant__slug="acme", organization__slug="sup-b", kind="carrier").exists()
        invitation = Invitation.objects.get(tenant__slug="acme", organization_slug="sup-b", partner_kind="carrier")
        assert f'data-invitation="{invitation.pk}"' in response.content.decode()

    def test_admin_bad_input_is_reported_and_changes_nothing(self, demo, client):
        client.force_login(user("acme.admin"))
        before = Partnership.objects.count()
        response = client.post("/t/acme/partners/", {"organization": "not a code!", "kind": "supplier"}, follow=True)
        assert b"flash-error" in response.content
        response = client.post("/t/acme/partners/", {"organization": "sup-b", "kind": "core"}, follow=True)
        assert b"flash-error" in response.content
        response = client.post("/t/acme/partners/", {"partnership": "abc", "active": "0"})
        assert response.status_code == 404
        other = Partnership.objects.get(tenant__slug="globex", organization__slug="sup-a").pk
        assert client.post("/t/acme/partners/", {"partnership": other, "active": "0"}).status_code == 404
        assert Partnership.objects.count() == before and Partnership.objects.get(pk=other).active

    def test_supplier_sees_only_itself(self, demo, client):
        client.force_login(user("supa.rep"))
        html = client.get("/t/acme/partners/").content.decode()
        assert "华东零部件有限公司" in html and "南方包装材料厂" not in html


class TestMembersPage:
    def test_only_admins(self, demo, client):
        client.force_login(user("acme.buyer"))
        assert client.get("/t/acme/members/").status_code == 403

    def test_admin_invites_and_suspends(self, demo, client):
        client.force_login(user("acme.admin"))
        assert "acme.buyer" in client.get("/t/acme/members/").content.decode()
        client.post("/t/acme/members/", {"username": "globex.buyer", "organization": "acme", "role": "planner"})
        assert not Membership.objects.filter(user__username="globex.buyer", tenant__slug="acme").exists()
        invitation = Invitation.objects.get(tenant__slug="acme", invitee="globex.buyer")
        client.force_login(user("globex.buyer"))
        client.post("/invitations/", {"invitation": invitation.pk, "answer": "accept"})
        membership = Membership.objects.get(user__username="globex.buyer", tenant__slug="acme", role="planner")
        client.force_login(user("acme.admin"))
        client.post("/t/acme/members/", {"membership": membership.pk, "active": "0"})
        membership.refresh_from_db()
        assert not membership.active

    @pytest.mark.parametrize(
        "form",
        [
            {"username": "no body", "organization": "acme", "role": "planner"},
            {"username": "globex.buyer", "organization": "globex", "role": "planner"},
            {"username": "globex.buyer", "organization": "acme", "role": "supplier_rep"},
            {"username": "globex.buyer", "organization": "acme", "role": "emperor"},
        ],
    )
    def test_bad_input_is_reported_and_changes_nothing(self, demo, client, form):
        client.force_login(user("acme.admin"))
        before = Membership.objects.count(), Invitation.objects.count()
        response = client.post("/t/acme/members/", form, follow=True)
        assert b"flash-error" in response.content
        assert (Membership.objects.count(), Invitation.objects.count()) == before

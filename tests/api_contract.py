"""A reusable mixin that gives every tenant endpoint its cross-tenant and role checks.

A test class for an endpoint inherits TenantEndpointChecks and sets:
  path            the list path under a tenant, e.g. "partners/"
  viewer          a username (demo data) who may list in acme
  no_role_user    a username in acme whose roles may not create here (None: skip that check)
  create_payload  a valid body for POST (None when the endpoint has no POST)
Endpoints with POST inherit TenantCreateChecks instead, which adds the 403 check.
Each class implements foreign_object_id(demo) -> the id of an object of the *globex* tenant, and
own_object_id(demo) -> an id in acme that `viewer` may see.
"""

import pytest
from django.contrib.auth import get_user_model

BASE = "/api/v1/t/{tenant}/"


def user(username):
    return get_user_model().objects.get(username=username)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    if code:
        assert body["error"]["code"] == code, body


@pytest.mark.django_db
class TenantEndpointChecks:
    path = None
    viewer = None
    no_role_user = None
    create_payload = None
    model = None

    def url(self, tenant="acme", pk=None):
        url = BASE.format(tenant=tenant) + self.path
        return f"{url}{pk}/" if pk is not None else url

    def foreign_object_id(self, demo):
        raise NotImplementedError

    def own_object_id(self, demo):
        raise NotImplementedError

    def test_anonymous_gets_401(self, demo, api):
        assert_error(api.get(self.url()), 401, "not_authenticated")
        assert_error(api.get(self.url(pk=self.own_object_id(demo))), 401)
        if self.create_payload is not None:
            before = self.model.objects.count()
            assert_error(api.post(self.url(), self.create_payload, format="json"), 401)
            assert self.model.objects.count() == before

    def test_user_of_another_tenant_gets_404_on_the_whole_tenant(self, demo, api):
        api.as_user(user("globex.buyer"))
        assert_error(api.get(self.url()), 404, "not_found")
        assert_error(api.get(self.url(pk=self.own_object_id(demo))), 404, "not_found")
        if self.create_payload is not None:
            before = self.model.objects.count()
            assert_error(api.post(self.url(), self.create_payload, format="json"), 404)
            assert self.model.objects.count() == before

    def test_unknown_tenant_answers_like_a_foreign_one(self, demo, api):
        api.as_user(user(self.viewer))
        assert_error(api.get(self.url(tenant="no-such-tenant")), 404, "not_found")

    def test_object_of_another_tenant_is_404_under_own_tenant(self, demo, api):
        api.as_user(user(self.viewer))
        foreign = self.foreign_object_id(demo)
        assert_error(api.get(self.url(pk=foreign)), 404, "not_found")
        patched = api.patch(self.url(pk=foreign), {}, format="json")
        assert patched.status_code in (404, 405), patched.content  # 405: the endpoint has no PATCH
        listed = api.get(self.url()).json()["results"]
        assert foreign not in [row["id"] for row in listed]

    def test_viewer_lists_and_reads_own_tenant(self, demo, api):
        own = self.own_object_id(demo)
        api.as_user(user(self.viewer))
        response = api.get(self.url())
        assert response.status_code == 200
        assert {"results", "next"} <= set(response.json())
        assert own in [row["id"] for row in response.json()["results"]]
        assert api.get(self.url(pk=own)).status_code == 200



class TenantCreateChecks(TenantEndpointChecks):
    """For endpoints with POST: a member without the role gets 403 and nothing is created."""

    def test_same_tenant_without_the_role_cannot_create(self, demo, api):
        api.as_user(user(self.no_role_user))
        before = self.model.objects.count()
        assert_error(api.post(self.url(), self.create_payload, format="json"), 403, "permission_denied")
        assert self.model.objects.count() == before

"""Error answers: the portal's own 400, 403, 404 and 500 pages in the reader's language, the
contract's JSON for every /api/ URL, and Django's debug pages only with DEBUG on.

The real server's side (make run's command) is in tests/test_served_portal.py.
"""

import re

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, path, resolve
from django.utils.functional import SimpleLazyObject
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from scm_portal import urls as portal_urls
from tests.api_contract import assert_error, user

pytestmark = pytest.mark.django_db


def broken_page(request):
    raise RuntimeError("SECRET-DETAIL the page broke")


def forbidden_page(request):
    raise PermissionDenied("SECRET-DETAIL not for you")


def suspicious_page(request):
    raise SuspiciousOperation("SECRET-DETAIL odd request")


def broken_django_api(request):
    raise RuntimeError("SECRET-DETAIL a plain view under /api/ broke")


def plain_api_view(request):
    return HttpResponse("ok")


class BrokenApiView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("SECRET-DETAIL the endpoint broke")


# This module is the URLconf of the tests that need views that fail (the `failing_views` fixture).
urlpatterns = [
    path("test-errors/broken/", broken_page),
    path("test-errors/forbidden/", forbidden_page),
    path("test-errors/suspicious/", suspicious_page),
    path("api/v1/test-errors/broken/", BrokenApiView.as_view()),
    path("api/v1/test-errors/broken-plain/", broken_django_api),
    path("api/v1/test-errors/forbidden/", forbidden_page),
    path("api/v1/test-errors/suspicious/", suspicious_page),
    *portal_urls.urlpatterns,
]
handler400 = portal_urls.handler400
handler403 = portal_urls.handler403
handler404 = portal_urls.handler404
handler500 = portal_urls.handler500

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


@pytest.fixture
def failing_views(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def quiet_client():
    """A client that answers a server error as the server does, instead of raising it."""
    return Client(raise_request_exception=False)


def page_text(response):
    return response.content.decode()


def assert_portal_page(response, status, *, title, lang):
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    body = page_text(response)
    assert f'data-status="{status}"' in body, body
    assert f'<html lang="{lang}"' in body
    assert title in body, body
    for leak in ("Traceback", "SECRET-DETAIL", "RuntimeError", "Django", "DEBUG = True"):
        assert leak not in body, f"{leak!r} shown on the {status} page"
    return body


# --- Pages -----------------------------------------------------------------------------------

def test_an_unknown_page_is_the_portals_404_in_english_and_chinese(client):
    english = assert_portal_page(client.get("/no-such-page/", **ENGLISH), 404, title="Page not found", lang="en")
    assert "This page does not exist, or you do not have access to it." in english
    assert "Supply chain portal" in english  # the site's own header: base.html
    chinese = assert_portal_page(client.get("/no-such-page/", **CHINESE), 404, title="页面不存在", lang="zh-hans")
    assert "该页面不存在，或您无权访问。" in chinese and "返回首页" in chinese


def test_the_404_page_keeps_the_signed_in_users_header(demo, client):
    client.force_login(user("acme.buyer"))
    body = assert_portal_page(client.get("/t/acme/no-such-section/", **ENGLISH), 404, title="Page not found", lang="en")
    assert 'data-testid="logout"' in body


def test_a_forbidden_page_is_the_portals_403(client, failing_views):
    assert_portal_page(client.get("/test-errors/forbidden/", **ENGLISH), 403, title="Access denied", lang="en")
    body = assert_portal_page(client.get("/test-errors/forbidden/", **CHINESE), 403, title="无权访问", lang="zh-hans")
    assert "您的角色无权执行此操作。" in body


def test_a_bad_request_is_the_portals_400(client, failing_views):
    assert_portal_page(client.get("/test-errors/suspicious/", **ENGLISH), 400, title="Bad request", lang="en")
    assert_portal_page(client.get("/test-errors/suspicious/", **CHINESE), 400, title="请求无效", lang="zh-hans")


def test_a_host_outside_allowed_hosts_is_the_portals_400(client):
    response = client.get("/accounts/login/", HTTP_HOST="evil.example", **ENGLISH)
    assert_portal_page(response, 400, title="Bad request", lang="en")


def test_a_view_that_raises_is_the_portals_500_without_a_traceback(quiet_client, failing_views):
    english = assert_portal_page(
        quiet_client.get("/test-errors/broken/", **ENGLISH), 500, title="Something went wrong on our side", lang="en"
    )
    assert "The error has been logged." in english
    chinese = assert_portal_page(
        quiet_client.get("/test-errors/broken/", **CHINESE), 500, title="服务器出错了", lang="zh-hans"
    )
    assert "我们已记录此错误" in chinese


def test_the_500_page_needs_no_session_database_or_static_files(django_assert_num_queries):
    """It shows when something else failed: it must not touch the user, the session or the database."""
    from scm_portal.errors import server_error

    def unusable():
        raise AssertionError("the 500 page touched the request's user or session")

    request = RequestFactory().get("/somewhere/")
    request.user = SimpleLazyObject(unusable)
    request.session = SimpleLazyObject(unusable)
    with django_assert_num_queries(0):
        response = server_error(request)
    body = page_text(response)
    assert response.status_code == 500 and 'data-status="500"' in body
    assert "<style>" in body  # its style travels with it
    assert not re.search(r'(?:src|href)="/static/', body)


def test_a_form_posted_without_its_csrf_token_is_the_portals_403():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "acme.buyer", "password": "x"}, **ENGLISH)
    body = assert_portal_page(response, 403, title="Access denied", lang="en")
    assert "This form has expired or your browser refused its cookie." in body


# --- Debug pages only when asked for ------------------------------------------------------------

def test_debug_pages_only_with_debug_on(settings, client, quiet_client, failing_views):
    assert "Using the URLconf" not in page_text(client.get("/no-such-page/"))
    settings.DEBUG = True
    assert "Using the URLconf" in page_text(client.get("/no-such-page/"))
    broken = quiet_client.get("/test-errors/broken/", HTTP_ACCEPT="text/html")
    assert broken.status_code == 500 and "SECRET-DETAIL the page broke" in page_text(broken)


def test_development_settings_leave_debug_off():
    from django.conf import settings

    assert settings.DEBUG is False


# --- The API: the contract's JSON for every /api/ URL --------------------------------------------

def test_an_unknown_api_path_is_the_contracts_404_even_for_a_browser(client):
    response = client.get("/api/v1/no-such-thing/", HTTP_ACCEPT="text/html")
    assert_error(response, 404, "not_found")
    assert_error(client.post("/api/no-version/", {}), 404, "not_found")


def test_api_server_errors_are_the_contracts_500_without_a_traceback(quiet_client, failing_views):
    for url in ("/api/v1/test-errors/broken/", "/api/v1/test-errors/broken-plain/"):
        response = quiet_client.get(url)
        assert_error(response, 500, "server_error")
        assert "SECRET-DETAIL" not in page_text(response) and "Traceback" not in page_text(response)


def test_api_403_and_400_from_django_are_the_contracts(client, failing_views):
    assert_error(client.get("/api/v1/test-errors/forbidden/"), 403, "permission_denied")
    assert_error(client.get("/api/v1/test-errors/suspicious/"), 400, "bad_request")
    assert_error(client.get("/api/v1/me/", HTTP_HOST="evil.example"), 400, "bad_request")


def test_api_errors_follow_the_readers_language(demo, api):
    api.as_user(user("acme.buyer"))
    response = api.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert_error(response, 404, "not_found")
    assert response.json()["error"]["message"] != "Not found."


def _sample(parameter_regex):
    return "1" if re.fullmatch(parameter_regex, "1") else "acme"


def _api_routes(resolver=None, prefix=""):
    """Every route of the URLconf under api/, as a concrete path (sample values for its parameters)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/"):
            # a router's regex groups, (?P<pk>[0-9]+), then path() converters, <int:pk>
            route = re.sub(r"\(\?P<\w+>([^()]*)\)", lambda m: _sample(m.group(1)), route)
            yield "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: "1" if m.group(1) == "int" else "acme", route)


def test_every_api_route_answers_an_unsupported_method_in_the_contracts_format(demo, api):
    """A view under /api/ that is not DRF's would answer Django's empty 405; every one must
    answer the contract's JSON, whatever the route (routes added later included)."""
    routes = sorted(set(_api_routes()))
    assert len(routes) > 20 and "/api/v1/me/" in routes
    api.as_user(user("acme.admin"))
    for route in routes:
        resolve(route)  # the sample path reaches the route's view
        response = api.generic("BREW", route)
        assert 400 <= response.status_code < 500 and response["Content-Type"] == "application/json", (
            route, response.status_code, response["Content-Type"]
        )
        assert_error(response, response.status_code)
    assert_error(api.generic("BREW", "/api/v1/me/"), 405, "method_not_allowed")

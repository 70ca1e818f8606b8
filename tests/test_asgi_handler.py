"""HTTP through scm_portal.asgi.application: Django's own ASGI handler, the whole middleware chain
and the views, as the server runs them; files stream part by part."""

import asyncio
import json
import warnings

import pytest
from asgiref import sync
from django.core import signals
from django.core.handlers.asgi import ASGIHandler

from scm_portal import asgi

pytestmark = pytest.mark.django_db(transaction=True)  # the request runs in its own thread and connection


async def call(method, path, body=b"", headers=()):
    """(status, headers, body messages) of one request through the application."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    inbox = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        if inbox:
            return inbox.pop(0)
        await asyncio.Event().wait()  # the client stays connected; Django cancels this listener

    async def send(message):
        sent.append(message)

    await asgi.application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {k.lower(): v for k, v in start["headers"]}, [m for m in sent if m["type"] == "http.response.body"]


def test_http_is_djangos_own_handler():
    assert type(asgi.django_asgi_app) is ASGIHandler


@pytest.mark.parametrize("method, path, body, headers, status", [
    ("GET", "/no-such-page/", b"", (), 404),
    # Through every middleware and a DRF view: bad credentials are a 400 in the contract's format.
    ("POST", "/api/v1/auth/token/", json.dumps({"username": "nobody", "password": "x"}).encode(),
     ((b"content-type", b"application/json"),), 400),
    # A session form without its CSRF token: the CSRF middleware refuses it.
    ("POST", "/accounts/login/", b"username=a&password=b", ((b"content-type", b"application/x-www-form-urlencoded"),), 403),
])
def test_a_request_goes_through_the_whole_chain(method, path, body, headers, status):
    got, response_headers, _parts = sync.async_to_sync(call)(method, path, body, headers)
    assert got == status
    assert response_headers[b"x-content-type-options"] == b"nosniff"  # SecurityMiddleware ran


# WhiteNoise hands Django a sync file iterator, which Django reads whole (the static files are a
# few KiB) and warns about.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_static_files_are_served_and_the_request_finishes_after_sending():
    finished = []

    def on_finished(**kwargs):
        finished.append(True)

    signals.request_finished.connect(on_finished)
    try:
        status, headers, parts = sync.async_to_sync(call)("GET", "/static/portal/portal.css")
    finally:
        signals.request_finished.disconnect(on_finished)
    assert status == 200 and b"".join(p.get("body", b"") for p in parts) and headers[b"content-type"].startswith(b"text/css")
    assert finished == [True]


def test_an_attachment_streams_in_parts_without_being_read_whole(demo_tx, api):
    """The download view gives Django an async iterator: each block is sent as it is read (a sync
    one would be read whole into memory first, with a warning)."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.authtoken.models import Token

    from tests.api_contract import user
    from tests.messaging.helpers import room_of

    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64  # 16 KiB and a bit: several blocks
    room = room_of("acme", "sup-a")
    api.as_user(user("supa.rep"))
    uploaded = api.post(f"/api/v1/t/acme/rooms/{room.pk}/attachments/",
                        {"file": SimpleUploadedFile("图纸.png", content)}, format="multipart")
    assert uploaded.status_code == 201, uploaded.content
    attachment = uploaded.json()["attachments"][0]["id"]
    token = Token.objects.get(user=user("supa.rep")).key
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, headers, parts = sync.async_to_sync(call)(
            "GET", f"/api/v1/t/acme/rooms/{room.pk}/attachments/{attachment}/",
            headers=[(b"authorization", f"Token {token}".encode())])
    assert status == 200 and b"".join(p.get("body", b"") for p in parts) == content
    assert len([p for p in parts if p.get("body")]) > 1  # block by block
    assert headers[b"content-length"] == str(len(content)).encode() and headers[b"content-disposition"].startswith(b"attachment")
    assert not [w for w in caught if "synchronous iterators" in str(w.message)]

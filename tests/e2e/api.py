"""The browser tests' calls to the served portal's API (urllib, token auth): they build the
records a page under test then shows, as an ERP or another user would."""

import json
import urllib.request

from tests.e2e.conftest import DEMO_PASSWORD


def api_call(base_url, method, path, body=None, token=None):
    """`method path` with a JSON body; the decoded JSON answer (None for an empty one)."""
    request = urllib.request.Request(
        base_url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Accept": "application/json",
                 **({"Authorization": f"Token {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def token_for(base_url, username):
    """An API token of the demo user `username`."""
    return api_call(base_url, "POST", "/api/v1/auth/token/", {"username": username, "password": DEMO_PASSWORD})["token"]

"""Socket authentication and origin checks.

- `?token=` authenticates with an API token (scripts, mobile apps); otherwise the session
  cookie (browsers).
- An Origin header, when present, must name this site (ALLOWED_HOSTS or CSRF_TRUSTED_ORIGINS);
  a cookie-authenticated socket must carry one. This refuses cross-site socket hijacking,
  while header-less clients can still connect with a token.
"""

import hashlib
from urllib.parse import parse_qs, urlparse

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host


def credential_for_token(key):
    return "token:" + hashlib.sha256(key.encode()).hexdigest()


def credential_for_session(key):
    return "session:" + hashlib.sha256(key.encode()).hexdigest()


@database_sync_to_async
def _user_for_token(key):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


def _header(scope, name):
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def origin_allowed(origin):
    if origin is None:
        return True
    parsed = urlparse(origin)
    if not parsed.scheme or not parsed.hostname:
        return False
    if origin.rstrip("/") in {o.rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return validate_host(parsed.hostname, allowed)


class TokenOrSessionAuthMiddleware(BaseMiddleware):
    """Sets scope["user"] to the user itself (AnonymousUser when neither credential holds): the
    token's, or the session's as Channels' get_user() reads it. Needs SessionMiddleware above it."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        token = (query.get("token") or [None])[0]
        if token:
            user = await _user_for_token(token)
            scope["user"] = user or AnonymousUser()
            scope["credential"] = credential_for_token(token) if user else None
            scope["auth_kind"], scope["auth_secret"] = ("token", token) if user else (None, None)
        else:
            scope["user"] = await get_user(scope)
            key = getattr(scope["session"], "session_key", None)
            scope["credential"] = credential_for_session(key) if key else None
            scope["auth_kind"], scope["auth_secret"] = ("session", key) if key else (None, None)
            scope["cookie_auth"] = True
        return await super().__call__(scope, receive, send)


class OriginCheckMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        origin = _header(scope, b"origin")
        if not origin_allowed(origin):
            scope["origin_refused"] = True
        return await self.app(scope, receive, send)


def SocketAuthStack(inner):
    return OriginCheckMiddleware(CookieMiddleware(SessionMiddleware(TokenOrSessionAuthMiddleware(inner))))

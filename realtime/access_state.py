"""What one socket may receive, loaded from the database, and the cheap change counters
sockets poll between full checks."""

import sys
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token

from messaging.models import Room
from scm_portal.tenancy.context import TenantContext
from scm_portal.tenancy.language import reader_language
from scm_portal.tenancy.models import Membership, Tenant
from scm_portal.tenancy.roles import CORE_ROLES, Role, reads_whole_room
from scm_portal.tenancy.totp import totp_verified_at_for

# Roles whose buttons depend on a fresh second factor (finance's approve, reject, disburse).
MONEY_ROLES = frozenset({Role.FINANCE_APPROVER, Role.FUNDER_OFFICER})


@dataclass(frozen=True)
class SocketAccess:
    tenant_id: int
    room_ids: frozenset
    is_core: bool
    roles: frozenset = frozenset()
    # Reads every message of its rooms, whatever its audience or recipient (roles.reads_whole_room:
    # the auditor): worked out here once, so that the per-message check stays an attribute read.
    whole_room: bool = False
    partner_ids: frozenset = frozenset()  # the partner organisations the user acts for here
    # room id -> its last seq when this was loaded: where the process's hub starts tracking a room
    # it joins for this socket (realtime.hub), so a message it never hears of is still noticed.
    heads: dict = field(default_factory=dict, compare=False)
    # What the socket's frames are rendered in (resolved at the handshake: Accept-Language, else
    # the user's, else the tenant's) and for whom: `context` decides the buttons, and sockets with
    # the same `reader_key` (language and memberships) share one rendered frame (realtime.hub).
    language: str = ""
    context: TenantContext | None = field(default=None, compare=False)
    reader_key: str = ""
    # The socket's credential (kind, secret): what its presses are TOTP-verified by (a press reads
    # it fresh; the context above carries what it was when this was loaded, for the buttons).
    credential: tuple = field(default=(), compare=False, repr=False)


def load_socket_access(user, tenant_slug=None, tenant_id=None, accept_language=None, language=None, credential=()):
    """The rooms the user may see in the tenant, or None when they have no access at all.
    `language`: the socket's, once resolved (a reload keeps it); else resolved from
    `accept_language` (the handshake's header), the user's saved language and the tenant's.
    `credential`: the socket's (kind, secret); for a user whose roles act on money, when it last
    passed TOTP is read now, so that the hub decides their money buttons without a query."""
    if not user.is_authenticated or not user.is_active:
        return None
    tenant = Tenant.objects.filter(slug=tenant_slug).first() if tenant_slug else Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    memberships = list(Membership.objects.active().filter(user=user, tenant=tenant).values_list("role", "organization_id"))
    if not memberships:
        return None
    roles = {role for role, _org in memberships}
    partner_ids = frozenset(org for role, org in memberships if role not in CORE_ROLES)
    # The memberships just read make the room rule's membership sub-queries constants.
    second_factor = None
    if credential and roles & MONEY_ROLES:
        verified_at = totp_verified_at_for(user, *credential)
        second_factor = lambda: verified_at  # noqa: E731 - a constant for the hub (no query there)
    context = TenantContext(tenant=tenant, user_id=user.pk, memberships=frozenset(memberships), second_factor=second_factor)
    heads = dict(Room.objects.for_tenant(tenant).visible_to(user, "view", context=context).values_list("pk", "last_seq"))
    language = language or reader_language(accept_language=accept_language, user=user, tenant=tenant)
    key = language + "|" + ",".join(f"{role}:{org}" for role, org in sorted(set(memberships)))
    return SocketAccess(tenant_id=tenant.id, room_ids=frozenset(heads), is_core=bool(roles & CORE_ROLES),
                        roles=frozenset(roles), whole_room=reads_whole_room(roles), partner_ids=partner_ids, heads=heads, language=language,
                        context=context, reader_key=sys.intern(key), credential=tuple(credential))


def credential_is_valid(user, kind, secret):
    """The socket's token still exists, or its session still exists for this user and has not expired."""
    return credentials_valid_many([(user.pk, kind, secret)])[0]


def credentials_valid_many(items):
    """credential_is_valid for many sockets at once: [(user_id, kind, secret)] -> [bool].

    One query for all tokens and, with database sessions, one for all sessions, so a process
    with thousands of sockets checks them all in two round trips."""
    token_keys = {secret for _u, kind, secret in items if kind == "token" and secret}
    token_owner = dict(Token.objects.filter(key__in=token_keys).values_list("key", "user_id")) if token_keys else {}
    session_keys = {secret for _u, kind, secret in items if kind == "session" and secret}
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    session_owner = {}
    if session_keys and settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        rows = Session.objects.filter(session_key__in=session_keys, expire_date__gt=timezone.now())
        decoder = store_class()
        session_owner = {key: decoder.decode(data).get("_auth_user_id") for key, data in rows.values_list("session_key", "session_data")}
    elif session_keys:
        session_owner = {key: store_class(session_key=key).load().get("_auth_user_id") for key in session_keys}
    result = []
    for user_id, kind, secret in items:
        if kind == "token":
            result.append(token_owner.get(secret) == user_id)
        elif kind == "session":
            owner = session_owner.get(secret)
            result.append(owner is not None and str(owner) == str(user_id))
        else:
            result.append(False)
    return result


# --- change counters: bumped on every access change, polled by sockets every few seconds ---

def _key_tenant(tenant_id):
    return f"ws:access:tenant:{tenant_id}"


def _key_user(user_id):
    return f"ws:access:user:{user_id}"


def bump_access_version(*, tenant_id=None, user_ids=None):
    keys = [_key_tenant(tenant_id)] if tenant_id is not None and user_ids is None else []
    keys += [_key_user(u) for u in (user_ids or [])]
    for key in keys:
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=None)


def access_versions(*, tenant_id, user_id):
    values = cache.get_many([_key_tenant(tenant_id), _key_user(user_id)])
    return (values.get(_key_tenant(tenant_id), 0), values.get(_key_user(user_id), 0))


def access_versions_many(pairs):
    """access_versions for many (tenant_id, user_id) pairs with one cache round trip."""
    keys = {k for t, u in pairs for k in (_key_tenant(t), _key_user(u))}
    values = cache.get_many(list(keys))
    return [(values.get(_key_tenant(t), 0), values.get(_key_user(u), 0)) for t, u in pairs]

"""What one socket may receive, loaded from the database, and the cheap change counters
sockets poll between full checks."""

from dataclasses import dataclass

from django.core.cache import cache

from messaging.models import Room
from scm_portal.tenancy.models import Membership, Tenant
from scm_portal.tenancy.roles import CORE_ROLES


@dataclass(frozen=True)
class SocketAccess:
    tenant_id: int
    room_ids: frozenset
    is_core: bool
    roles: frozenset = frozenset()
    partner_ids: frozenset = frozenset()  # the partner organisations the user acts for here


def load_socket_access(user, tenant_slug=None, tenant_id=None):
    """The rooms the user may see in the tenant, or None when they have no access at all."""
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
    rooms = frozenset(Room.objects.for_tenant(tenant).visible_to(user, "view").values_list("pk", flat=True))
    return SocketAccess(tenant_id=tenant.id, room_ids=rooms, is_core=bool(roles & CORE_ROLES), roles=frozenset(roles),
                        partner_ids=partner_ids)


def credential_is_valid(user, kind, secret):
    """The socket's token still exists, or its session still exists for this user and has not expired."""
    if kind == "token":
        from rest_framework.authtoken.models import Token

        return Token.objects.filter(key=secret, user=user).exists()
    if kind == "session":
        from importlib import import_module

        from django.conf import settings

        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=secret)
        return str(store.load().get("_auth_user_id")) == str(user.pk)
    return False


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

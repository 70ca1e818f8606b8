"""Access helpers for code outside API views (pages, tasks, consumers, bot, PDF).

Each answers the same Http404 for "missing" and "not yours", so a caller can never tell
another tenant's record from one that does not exist.
"""

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.http import Http404

from scm_portal.db.templates import QueryTemplate, attnames
from scm_portal.tenancy.context import TenantContext
from scm_portal.tenancy.models import Invitation, Membership, Partnership, Tenant
from scm_portal.tenancy.selectors import invitation_list_received
from scm_portal.tenancy.services import invitation_token_hash


def access_tenant(user, slug):
    """The tenant named by `slug` if the user holds an active membership there; 404 otherwise.
    Code that goes on to ask what the user may do there wants `access_tenant_context` instead."""
    return access_tenant_context(user, slug).tenant


# One statement per request for the tenant, the user's active memberships there and the user's
# saved language (a LEFT JOIN to their preferences: what the request is answered in when it names
# no Accept-Language), so that the request's language costs no query of its own.
_TENANT_CONTEXT = QueryTemplate(
    lambda shape, *, user_id, slug: Membership.objects.active()
    .filter(user_id=user_id, tenant__slug=slug)
    .values_list("role", "organization_id", *(f"tenant__{name}" for name in attnames(Tenant)),
                 "user__preferences__language")
)
# The same for a tenant known by id (access_tenant_context_and_row).
_TENANT_CONTEXT_BY_ID = QueryTemplate(
    lambda shape, *, user_id, tenant_id: Membership.objects.active()
    .filter(user_id=user_id, tenant_id=tenant_id)
    .values_list("role", "organization_id", *(f"tenant__{name}" for name in attnames(Tenant)))
)


def access_tenant_context(user, slug):
    """The tenant named by `slug` and the user's active memberships there, in one query: a
    TenantContext. 404 when the tenant is missing or the user holds no active membership there."""
    if not user.is_authenticated or not isinstance(slug, str):
        raise Http404
    using = router.db_for_read(Membership)
    rows = _TENANT_CONTEXT.rows(using=using, user_id=user.pk, slug=slug)
    # The last column is the saved language ("" or NULL: none chosen).
    return _context_of_rows(user, using, [row[:-1] for row in rows], saved_language=(rows[0][-1] or "") if rows else None)


def access_tenant_context_and_row(user, tenant_id, model, pk, action="view"):
    """The user's TenantContext in a tenant known by id (a socket's, fixed when it connected) and
    `access_in_context(model, ...)` of row `pk` with it: (context, row), two statements. A socket
    checks each frame it acts on with it: a membership lost since the socket connected is a 404
    at once."""
    if not user.is_authenticated or not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
        raise Http404
    pk = _checked_pk(model, user, pk)
    using = router.db_for_read(Membership)
    context = _context_of_rows(user, using, _TENANT_CONTEXT_BY_ID.rows(using=using, user_id=user.pk, tenant_id=tenant_id))
    return context, access_in_context(model, user, context, pk, action)


def _context_of_rows(user, using, rows, saved_language=None):
    if not rows:
        raise Http404
    tenant = Tenant.from_db(using, attnames(Tenant), rows[0][2:])
    return TenantContext(tenant=tenant, user_id=user.pk, memberships=frozenset((row[0], row[1]) for row in rows),
                         saved_language=saved_language)


def tenant_context_for(user, tenant):
    """The TenantContext of `user` in a tenant already resolved, for code that serves no request
    (a task, the scheduler, a management command, the demo seed): one query.

    A user without an active membership there gets a context with no memberships, which every
    check refuses (no role may write, `visible_to` keeps no row). Requests and sockets never call
    this: they read the context with the tenant (`access_tenant_context*`)."""
    if not user.is_authenticated:
        return TenantContext(tenant=tenant, user_id=None, memberships=frozenset())
    rows = Membership.objects.active().filter(user=user, tenant=tenant).values_list("role", "organization_id")
    return TenantContext(tenant=tenant, user_id=user.pk, memberships=frozenset(rows))


_VISIBLE_ONE = {}  # (model label, action) -> QueryTemplate


def _visible_one(model, action):
    key = (model._meta.label, action)
    template = _VISIBLE_ONE.get(key)
    if template is None:

        def build(roles, *, tenant_id, user_id, organizations, pk):
            tenant = Tenant(pk=tenant_id)
            user = get_user_model()(pk=user_id, is_active=True)
            context = TenantContext(tenant=tenant, user_id=user_id, memberships=frozenset(zip(roles, organizations)))
            return (
                model._default_manager.for_tenant(tenant)
                .visible_to(user, action, context=context)
                .filter(pk=pk)
                .order_by("pk")
                .values_list(*attnames(model))[:1]
            )

        template = _VISIBLE_ONE.setdefault(key, QueryTemplate(build))
    return template


def access_in_context(model, user, context, pk, action="view"):
    """The row `pk` of `model` if `visible_to(user, action, context=context)` keeps it; 404 otherwise.

    The same read as `_access`, its SQL compiled once per shape (the roles the user holds)."""
    pk = _checked_pk(model, user, pk)
    rows = _visible_one_rows(model, user, context, pk, action)
    if not rows:
        raise Http404
    return model.from_db(router.db_for_read(model), attnames(model), rows[0])


def _checked_pk(model, user, pk):
    """`pk` as an int within the column's range, for an active user; 404 otherwise."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    # The ORM answers "no row" for an id outside the column's range; the database would refuse it.
    low, high = connections[router.db_for_read(model)].ops.integer_field_range(model._meta.pk.get_internal_type())
    if (low is not None and pk < low) or (high is not None and pk > high):
        raise Http404
    if not user.is_authenticated or not user.is_active:
        raise Http404
    return pk


def _visible_one_rows(model, user, context, pk, action):
    """The rows of the compiled `visible_to(user, action, context=context)` read of row `pk`."""
    if context.user_id != user.pk:
        raise ValueError("access_in_context: the tenant context belongs to another user")
    memberships = sorted(context.memberships)
    return _visible_one(model, action).rows(
        shape=tuple(role for role, _org in memberships),
        using=router.db_for_read(model),
        tenant_id=context.tenant_id,
        user_id=user.pk,
        organizations=[org for _role, org in memberships],
        pk=pk,
    )


def _access(queryset, user, tenant, pk, action):
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    obj = queryset.for_tenant(tenant).visible_to(user, action).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def access_partnership(user, tenant, partnership_id, action="view"):
    return _access(Partnership.objects.select_related("organization"), user, tenant, partnership_id, action)


def access_membership(user, tenant, membership_id, action="view"):
    return _access(Membership.objects.select_related("organization", "user"), user, tenant, membership_id, action)


def access_received_invitation(user, invitation_id):
    """An invitation addressed to `user` (selectors.invitation_list_received); 404 for any other,
    whether it is missing, another person's or another organisation's."""
    pk = _checked_pk(Invitation, user, invitation_id)
    invitation = invitation_list_received(user).filter(pk=pk).first()
    if invitation is None:
        raise Http404
    return invitation


def access_received_invitation_by_token(user, token):
    """The invitation an invitation link names, if it is addressed to `user`; 404 otherwise."""
    if not user.is_authenticated or not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise Http404
    invitation = invitation_list_received(user).filter(token_hash=invitation_token_hash(token)).first()
    if invitation is None:
        raise Http404
    return invitation


def access_invitation(user, tenant, invitation_id, action="view"):
    return _access(Invitation.objects.select_related("invited_by"), user, tenant, invitation_id, action)

"""Access helpers for code outside API views (pages, tasks, consumers, bot, PDF).

Each answers the same Http404 for "missing" and "not yours", so a caller can never tell
another tenant's record from one that does not exist.
"""

from django.http import Http404

from scm_portal.tenancy.models import Membership, Partnership, Tenant


def access_tenant(user, slug):
    """The tenant named by `slug` if the user holds an active membership there; 404 otherwise."""
    if not user.is_authenticated or not isinstance(slug, str):
        raise Http404
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None or not Membership.objects.active().filter(user=user, tenant=tenant).exists():
        raise Http404
    return tenant


def access_tenant_by_id(user, tenant_id):
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        raise Http404
    return access_tenant(user, tenant.slug)


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

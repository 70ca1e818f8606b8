"""The tenancy choke point itself: querysets, access helpers, the sealed viewset, follows."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from scm_portal.api.viewsets import TenantScopedViewSet
from scm_portal.tenancy import services
from scm_portal.tenancy.access import access_membership, access_partnership, access_tenant, tenant_context_for
from scm_portal.tenancy.models import Membership, Partnership
from scm_portal.tenancy.roles import Role
from scm_portal.tenancy.selectors import partnership_list_followed, tenant_list_for_user
from tests.api_contract import user
from tests.factories import make_member, make_partner, make_tenant

pytestmark = pytest.mark.django_db


def test_a_viewset_may_not_override_get_queryset():
    with pytest.raises(TypeError, match="safely_get_queryset"):

        class Leaky(TenantScopedViewSet):
            model = Partnership

            def get_queryset(self):
                return Partnership.objects.all()


def test_visible_to_anonymous_or_inactive_is_empty(demo):
    assert not Partnership.objects.visible_to(AnonymousUser()).exists()
    buyer = user("acme.buyer")
    buyer.is_active = False
    buyer.save()
    assert not Partnership.objects.visible_to(buyer).exists()


def test_visible_to_spans_only_the_users_tenants(demo):
    rows = Partnership.objects.visible_to(user("supa.rep"))
    assert {(p.tenant.slug, p.organization.slug) for p in rows} == {("acme", "sup-a"), ("globex", "sup-a")}
    assert {p.tenant.slug for p in Partnership.objects.visible_to(user("acme.buyer"))} == {"acme"}


def test_visible_to_is_one_query_whatever_the_number_of_memberships(demo, django_assert_num_queries):
    supa = user("supa.rep")
    with django_assert_num_queries(1):
        list(Partnership.objects.visible_to(supa))


def test_access_helpers_answer_the_same_404_for_missing_and_foreign(demo):
    buyer = user("acme.buyer")
    acme = access_tenant(buyer, "acme")
    for slug in ["globex", "missing", None, 5]:
        with pytest.raises(Http404):
            access_tenant(buyer, slug)
    globex_partnership = Partnership.objects.get(tenant__slug="globex").pk
    for pk in [globex_partnership, 999999, "abc", None]:
        with pytest.raises(Http404):
            access_partnership(buyer, acme, pk)
    # Acme's own object through globex's tenant is refused too (a nested-route IDOR).
    own = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-a").pk
    supa = user("supa.rep")
    globex = access_tenant(supa, "globex")
    with pytest.raises(Http404):
        access_partnership(supa, globex, own)


def test_access_with_an_action_the_role_lacks_is_404(demo):
    buyer = user("acme.buyer")
    acme = access_tenant(buyer, "acme")
    own_membership = Membership.objects.get(user=buyer, tenant=acme).pk
    assert access_membership(buyer, acme, own_membership).pk == own_membership
    with pytest.raises(Http404):
        access_membership(buyer, acme, own_membership, "change")


def test_suspended_partnership_hides_the_tenant_from_its_people(demo):
    supa = user("supa.rep")
    Partnership.objects.filter(tenant__slug="acme", organization__slug="sup-a").update(active=False)
    assert [t.slug for t in tenant_list_for_user(supa)] == ["globex"]
    assert tenant_context_for(supa, demo["tenants"]["acme"]).roles == frozenset()
    with pytest.raises(Http404):
        access_tenant(supa, "acme")


def test_role_groups_follow_the_membership(demo):
    acme = demo["tenants"]["acme"]
    buyer = user("acme.buyer")
    group_name = f"tenant:{acme.id}:buyer"
    assert buyer.groups.filter(name=group_name).exists()
    membership = Membership.objects.get(user=buyer, tenant=acme)
    services.membership_set_active(tenant=acme, actor=user("acme.admin"), membership=membership, active=False)
    assert not buyer.groups.filter(name=group_name).exists()


def followed(someone, tenant):
    return partnership_list_followed(someone, tenant, context=tenant_context_for(someone, tenant))


def test_followers_of_a_supplier_come_from_role_groups_and_direct_grants(db):
    tenant = make_tenant("t1")
    supplier = make_partner(tenant, "s1")
    funder = make_partner(tenant, "f1", kind="funder")
    buyer = make_member(tenant, Role.BUYER)
    approver = make_member(tenant, Role.FINANCE_APPROVER)
    rep = make_member(tenant, Role.SUPPLIER_REP, organization=supplier)

    assert [p.organization.slug for p in followed(buyer, tenant)] == ["s1"]
    # Finance approvers follow the funder and the suppliers (financing is talked through in their
    # rooms), ordered by kind (funder before supplier), then name.
    assert [p.organization.slug for p in followed(approver, tenant)] == ["f1", "s1"]
    assert [p.organization.slug for p in followed(rep, tenant)] == ["s1"]

    # A direct grant lets one buyer follow the funder too; it is checked in SQL (guardian direct FK).
    partnership = Partnership.objects.get(tenant=tenant, organization=funder)
    services.partnership_follow(tenant=tenant, actor=None, partnership=partnership, user=buyer)
    assert [p.organization.slug for p in followed(buyer, tenant)] == ["f1", "s1"]
    services.partnership_follow(tenant=tenant, actor=None, partnership=partnership, user=buyer, follow=False)
    assert [p.organization.slug for p in followed(buyer, tenant)] == ["s1"]
    assert funder.partnerships.get(tenant=tenant).active


def test_guardian_permissions_use_direct_foreign_keys(db):
    from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

    from scm_portal.tenancy.models import PartnershipGroupObjectPermission, PartnershipUserObjectPermission

    assert get_user_obj_perms_model(Partnership) is PartnershipUserObjectPermission
    assert get_group_obj_perms_model(Partnership) is PartnershipGroupObjectPermission


def test_membership_rules(db):
    from django.core.exceptions import ValidationError

    tenant = make_tenant("t2")
    other = make_tenant("t3")
    supplier = make_partner(other, "s-other")
    with pytest.raises(ValidationError):  # core role on a partner's behalf
        make_member(tenant, Role.BUYER, organization=supplier)
    with pytest.raises(ValidationError):  # partner of another tenant only
        make_member(tenant, Role.SUPPLIER_REP, organization=supplier)
    with pytest.raises(ValidationError):  # a core enterprise cannot become a partner
        services.partnership_create(tenant=tenant, actor=None, organization=other.organization, kind="supplier")

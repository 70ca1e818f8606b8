"""factory_boy factories for tenancy records (domain apps add theirs beside their tests)."""

import factory
from django.contrib.auth import get_user_model

from scm_portal.tenancy import services
from scm_portal.tenancy.models import Organization
from scm_portal.tenancy.roles import OrganizationKind


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-123")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: f"Organisation {o.slug}")
    kind = OrganizationKind.SUPPLIER


def make_tenant(slug):
    return services.tenant_create(slug=slug, name=f"Tenant {slug}")


def make_partner(tenant, slug, kind=OrganizationKind.SUPPLIER):
    org = OrganizationFactory(slug=slug, kind=kind)
    services.partnership_create(tenant=tenant, actor=None, organization=org, kind=kind)
    return org


def make_member(tenant, role, username=None, organization=None):
    user = UserFactory(username=username) if username else UserFactory()
    services.membership_create(
        tenant=tenant, actor=None, user=user, organization=organization or tenant.organization, role=role
    )
    return user

import os

import pytest
from rest_framework.test import APIClient

from scm_portal.tenancy import demo as demo_data


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database per run (test_<name>_<pid>): two runs against one server never collide."""
    from django.conf import settings

    default = settings.DATABASES["default"]
    default.setdefault("TEST", {})["NAME"] = f"test_{default['NAME']}_{os.getpid()}"


@pytest.fixture(autouse=True)
def _english_messages(settings):
    """Tests assert on English texts unless they switch language themselves."""
    settings.LANGUAGE_CODE = "en"


# The clients read English, as a browser or script asking for it does: without Accept-Language a
# request is answered in the user's saved language, else the tenant's default (the demo's Chinese).
ENGLISH_READER = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def client():
    from django.test import Client

    return Client(**ENGLISH_READER)


@pytest.fixture
def async_client():
    from django.test import AsyncClient

    return AsyncClient(**ENGLISH_READER)


@pytest.fixture
def demo(db):
    """The demo world of CONTRACT.md: acme and globex, their partners and users."""
    return demo_data.seed()


@pytest.fixture
def api():
    """An API client; `api.as_user(user)` authenticates it with that user's token."""
    client = APIClient(**ENGLISH_READER)

    def as_user(user):
        from rest_framework.authtoken.models import Token

        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    client.as_user = as_user
    return client


@pytest.fixture
def full_demo(db):
    """The demo world with every app's demo records (stock, alerts, conversations)."""
    return demo_data.seed_all()


@pytest.fixture
def demo_tx(transactional_db):
    """The demo world, committed (for tests whose code runs in other threads or processes)."""
    return demo_data.seed()

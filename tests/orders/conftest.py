import pytest

from tests.orders.helpers import make_catalogue


@pytest.fixture
def world(demo):
    return make_catalogue(demo)

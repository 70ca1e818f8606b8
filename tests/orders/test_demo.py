import pytest

from orders.models import PurchaseOrder, PurchaseOrderEvent
from scm_portal.tenancy import demo as demo_data

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_po_in_each_state_and_is_idempotent(full_demo):
    acme = PurchaseOrder.objects.filter(tenant__slug="acme")
    assert {"draft", "sent", "change_requested", "confirmed", "cancelled"} <= set(acme.values_list("state", flat=True))
    assert set(acme.values_list("supplier__slug", flat=True)) == {"sup-a", "sup-b"}
    assert acme.get(number="PO-20231026").state == "confirmed"
    assert PurchaseOrder.objects.get(tenant__slug="globex").supplier.slug == "sup-a"
    assert acme.get(number="PO-20231104").confirm_due_at is not None  # the sweep's timer runs
    events = PurchaseOrderEvent.objects.count()
    demo_data.seed_all()
    assert PurchaseOrderEvent.objects.count() == events

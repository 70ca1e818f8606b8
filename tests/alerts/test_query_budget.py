"""Query budgets of the alert services: what each costs in statements, and that the cost does not
grow with the people told, the alerts escalated in a batch or the rows of a tenant.

Counted on the test's connection, inside the test's transaction (no BEGIN or COMMIT counted).
A change that adds a statement to one of these paths changes its budget here, on purpose."""

from datetime import timedelta

import pytest

from alerts import services
from alerts.models import Alert
from scm_portal.tenancy.models import Membership
from scm_portal.tenancy.roles import Role
from scm_portal.tenancy.access import tenant_context_for
from tests.api_contract import user
from tests.alerts.test_alerts import policy, raise_alert

pytestmark = pytest.mark.django_db

# alert_raise, a new alert with cards in two rooms (the partner's and the internal room), in three
# round trips (scm_portal.db.templates.pipeline): the open alert of the condition, the policy, the
# audience and the rooms' lock; the alert row; its event, its notifications (one INSERT for all),
# the rooms' heads (one executemany) and the cards (one INSERT).
RAISE_NEW = 9
# alert_raise of a condition with an unresolved alert: the same four reads, then that alert.
RAISE_DEDUPLICATED = 5


def _more_warehouse_staff(demo, n):
    """`n` more people in acme's warehouse role: the audience of a stock alert grows."""
    from django.contrib.auth import get_user_model

    tenant = demo["tenants"]["acme"]
    core = Membership.objects.filter(tenant=tenant, role=Role.WAREHOUSE).first().organization
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"acme.wh{i}") for i in range(n)])
    Membership.objects.bulk_create([Membership(tenant=tenant, organization=core, user=u, role=Role.WAREHOUSE) for u in users])


@pytest.mark.parametrize("more_people", [0, 30])
def test_raising_a_new_alert(demo, django_assert_num_queries, more_people):
    policy(demo["tenants"]["acme"])
    _more_warehouse_staff(demo, more_people)
    with django_assert_num_queries(RAISE_NEW):
        alert = raise_alert(demo)
    assert len(alert.cards) == 2 and alert.notifications.count() == 2 + more_people


def test_raising_an_alert_already_open(demo, django_assert_num_queries):
    first = raise_alert(demo)
    with django_assert_num_queries(RAISE_DEDUPLICATED):
        again = raise_alert(demo)
    assert again.pk == first.pk and Alert.objects.count() == 1


@pytest.mark.parametrize("more_people", [0, 30])
def test_acknowledging(demo, django_assert_num_queries, more_people):
    """Its savepoint; the rooms of its cards, then the alert locked; the access check; the alert
    row and its event; a system line under each card (event_post: the room, its head, the
    message); the audit record (its chain head locked, the record, the head moved on); the
    savepoint released. The alert frame goes to the tenant's sockets, which filter
    it themselves: no audience is read."""
    alert = raise_alert(demo)
    _more_warehouse_staff(demo, more_people)
    actor = user("acme.warehouse")
    context = tenant_context_for(actor, alert.tenant)  # the request's, read before the service runs
    with django_assert_num_queries(16):
        alert = services.alert_acknowledge(tenant=alert.tenant, actor=actor, context=context, alert=alert)
    assert alert.state == "acknowledged"


class TestEscalationSweep:
    @pytest.mark.parametrize("due", [3, 40])
    def test_one_batch(self, demo, django_assert_num_queries, due):
        """One batch, whatever its size: the due alerts read and their rooms locked; the ones still
        due locked; one UPDATE per distinct outcome (one here: a single policy); their events;
        their cards (one INSERT) and each room's head; the level's people; the notifications (one
        INSERT). The alert frames go to the tenant's sockets: no audience is read for them."""
        policy(demo["tenants"]["acme"])
        raised = [raise_alert(demo, key=f"e-{i}", partner="sup-a" if i % 2 else "sup-b") for i in range(due)]
        with django_assert_num_queries(11):
            assert services.escalation_sweep(now=raised[-1].next_escalation_at + timedelta(seconds=1)) == due
        assert {a.level for a in Alert.objects.all()} == {1}

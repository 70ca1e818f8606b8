"""The `financing_overdue` alert: it is about its application (its subject, shown and linked as
such), and repaying the application resolves it as recovered."""

from datetime import timedelta

import pytest

from alerts.models import Alert
from alerts.registry import KINDS
from finance import services
from finance.links import application_url
from finance.models import FinancingApplication
from messaging.models import Message
from tests.api_contract import user
from tests.finance.factories import ctx, disburse, funder_approved

pytestmark = pytest.mark.django_db


def overdue():
    """A disbursed application swept overdue; returns (application, its alert)."""
    application = funder_approved()
    disburse(application)
    assert services.financing_overdue_sweep(today=application.maturity_date + timedelta(days=1)) == 1
    application.refresh_from_db()
    return application, Alert.objects.get(kind="financing_overdue", subject_ref=str(application.pk))


def repay(application, username="acme.finance"):
    actor, context = ctx(username)
    return services.financing_repay(tenant=context.tenant, actor=actor, context=context, application=application)


def test_the_alert_is_about_its_application(full_demo, api):
    application, alert = overdue()
    assert (alert.subject_kind, alert.subject_ref) == ("financing_application", str(application.pk))
    subject = KINDS["financing_overdue"].subject
    assert subject.ref(alert) == str(application.pk)
    assert subject.url("acme", application.pk) == application_url("acme", application.pk)
    assert application_url("acme", application.pk).startswith("/t/acme/") and f"/{application.pk}/" in subject.url("acme", application.pk)
    assert subject.url("acme", "not-an-id") is None
    response = api.as_user(user("acme.finance")).get(f"/api/v1/t/acme/alerts/{alert.pk}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["financing_application"] == str(application.pk) and body["subject_kind"] == "financing_application"
    # Its cards carry the application's id too (and their subject is the alert, for its buttons).
    cards = Message.objects.filter(subject_kind="alert", subject_ref=str(alert.pk), kind="event")
    assert cards.count() == 2 and all(card.payload["application"] == application.pk for card in cards)


def test_going_overdue_is_a_card_in_the_suppliers_and_the_funders_rooms(full_demo):
    from tests.messaging.helpers import room_of

    application, _alert = overdue()
    cards = Message.objects.filter(subject_kind="financing_application", subject_ref=str(application.pk),
                                   text__key="finance.card.overdue")
    assert {card.room_id for card in cards} == {room_of("acme", "sup-a").pk, room_of("acme", "bank").pk}
    assert all(card.payload["state"] == "overdue" and card.actions == [] for card in cards)
    # Every room's chain still holds after the cards and the alert went in, one after the other.
    from messaging.chain import chain_verify

    for room in (room_of("acme", "sup-a"), room_of("acme", "bank")):
        assert chain_verify(room).ok is True


def test_two_applications_of_a_supplier_go_overdue_in_one_sweep(full_demo):
    first, second = funder_approved(), funder_approved("800.00")
    disburse(first, key="k-1")
    disburse(second, key="k-2")
    assert services.financing_overdue_sweep(today=max(first.maturity_date, second.maturity_date) + timedelta(days=1)) == 2
    assert Alert.objects.filter(kind="financing_overdue").count() == 2
    assert Message.objects.filter(text__key="finance.card.overdue").count() == 4


def test_the_board_links_the_alert_to_its_application(full_demo):
    from django.test import Client

    application, _alert = overdue()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user("acme.finance"))
    page = client.get("/t/acme/alerts/?kind=financing_overdue")
    assert page.status_code == 200
    assert f'href="{application_url("acme", application.pk)}"' in page.content.decode()


def test_repaying_an_overdue_application_recovers_its_alert(full_demo):
    application, alert = overdue()
    repay(application)
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.recovered is True and alert.resolved_at is not None
    assert FinancingApplication.objects.get(pk=application.pk).state == "repaid"
    # Each of its cards gets the notice, in each reader's language.
    notices = Message.objects.filter(subject_kind="alert", subject_ref=str(alert.pk), text__key="finance.overdue.repaid")
    assert notices.count() == 2
    from messaging.texts import text_render

    assert text_render(notices.first().text, "en") == f"Financing FA-{application.pk} was repaid; the alert is resolved."
    assert text_render(notices.first().text, "zh-hans") == f"融资 FA-{application.pk} 已还款，告警已解除。"


def test_repaying_on_time_touches_no_alert(full_demo):
    application = funder_approved()
    disburse(application)
    open_before = list(Alert.objects.exclude(state="resolved").values_list("pk", "state"))
    repay(application)
    assert list(Alert.objects.exclude(state="resolved").values_list("pk", "state")) == open_before


def test_a_refused_repayment_leaves_the_alert_open(full_demo):
    from django.core.exceptions import PermissionDenied

    application, alert = overdue()
    with pytest.raises(PermissionDenied):
        repay(application, "acme.buyer")
    alert.refresh_from_db()
    assert alert.state != "resolved"

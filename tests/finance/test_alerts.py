"""The `financing_overdue` alert: it is about its application (its subject, shown and linked as
such), and repaying the application resolves it as recovered."""

from datetime import timedelta

import pytest

from alerts.models import Alert
from alerts.registry import KINDS
from finance import services
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
    assert subject.url("acme", application.pk).endswith(f"/t/acme/finance/applications/{application.pk}/")
    response = api.as_user(user("acme.finance")).get(f"/api/v1/t/acme/alerts/{alert.pk}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["financing_application"] == str(application.pk) and body["subject_kind"] == "financing_application"
    # Its cards carry the application's id too (and their subject is the alert, for its buttons).
    cards = Message.objects.filter(subject_kind="alert", subject_ref=str(alert.pk), kind="event")
    assert cards.count() == 2 and all(card.payload["application"] == application.pk for card in cards)


def test_the_board_links_the_alert_to_its_application(full_demo):
    from django.test import Client

    application, _alert = overdue()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user("acme.finance"))
    page = client.get("/t/acme/alerts/?kind=financing_overdue")
    assert page.status_code == 200
    assert f"/t/acme/finance/applications/{application.pk}/" in page.content.decode()


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

"""A notice says the same thing to everyone, each in their own language: it is stored as a key and
parameters (Notification.keyed_text) and rendered for the reader in the API and the header's bell
(the request's language), and for the recipient in an outbound notice such as an e-mail (their
saved language, else the tenant's default). Notices written before they were keyed keep showing
their text as it was stored."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from alerts import services
from alerts.models import EscalationPolicy, Notification
from alerts.notices import notification_email, notification_outbound
from scm_portal.tenancy.services import user_language_set
from tests.api_contract import user

pytestmark = pytest.mark.django_db

BASE = "/api/v1/t/acme/notifications/"

# The low-stock title, as inventory.texts registers it, in both languages.
TITLE_EN = "SKU-9 in WH-SH is below safety stock: 3 < 10"
TITLE_ZH = "仓库 WH-SH 中的 SKU-9 低于安全库存：3 < 10"
ESCALATED_EN = f"Escalated to level 1: nobody has acknowledged “{TITLE_EN}” yet."
ESCALATED_ZH = f"已升级至第 1 级：仍无人确认“{TITLE_ZH}”。"


@pytest.fixture
def readers(demo):
    """acme (Chinese by default) with one reader who saved English and one who keeps the default."""
    assert demo["tenants"]["acme"].default_language == "zh-hans"
    user_language_set(user=user("acme.warehouse"), language="en")
    user_language_set(user=user("acme.planner"), language="zh-hans")
    return demo


def raise_low_stock(demo):
    """A low-stock alert for acme's warehouse role and sup-a, its title said by inventory's render,
    with a policy that escalates it to acme.warehouse and acme.planner by name after a minute."""
    acme = demo["tenants"]["acme"]
    EscalationPolicy.objects.create(tenant=acme, name="p", kind="", min_severity=10, levels=[
        {"after_seconds": 60, "roles": [], "users": ["acme.warehouse", "acme.planner"],
         "channels": ["in_app", "email"]}])
    with translation.override("zh-hans"):  # whatever language the raising request had
        alert, created = services.alert_raise(
            tenant=acme, kind="low_stock", dedupe_key="lang-1", subject_kind="sku", subject_ref="SKU-9",
            partner=demo["organizations"]["sup-a"], core_audience=("warehouse",),
            payload={"sku": "SKU-9", "warehouse": "WH-SH", "on_hand": 3, "safety_stock": 10},
        )
    assert created
    return alert


def escalate(alert):
    assert services.escalation_sweep(now=alert.opened_at + timedelta(seconds=61)) == 1


def notice(username, kind):
    return Notification.objects.select_related("user", "tenant").get(user__username=username, kind=kind)


def listed(username, accept_language=None):
    """The texts of the user's notices as the API lists them, newest first."""
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}
    client = APIClient(**headers)
    client.force_authenticate(user(username))
    answer = client.get(BASE)
    assert answer.status_code == 200
    return [(n["kind"], n["text"]) for n in answer.json()["results"]]


def test_the_texts_are_what_the_readers_below_expect(readers):
    """The expectations below are the catalogue's, not the test's guesses."""
    from messaging.texts import Text, text_render

    title = Text("inventory.low_stock.title", {"sku": "SKU-9", "wh": "WH-SH", "new": 3, "safety": 10})
    assert text_render(title, "en") == TITLE_EN and text_render(title, "zh-hans") == TITLE_ZH
    escalated = Text("alerts.escalated", {"level": 1, "title": title})
    assert text_render(escalated, "en") == ESCALATED_EN and text_render(escalated, "zh-hans") == ESCALATED_ZH


def test_a_notice_is_stored_as_a_key_and_parameters(readers):
    alert = raise_low_stock(readers)
    escalate(alert)
    raised = notice("acme.warehouse", "alert")
    assert raised.keyed_text["key"] == "inventory.low_stock.title"
    assert raised.text == TITLE_ZH  # the tenant's language, kept for whoever cannot render the key
    escalated = notice("acme.warehouse", "escalation")
    assert escalated.keyed_text == {"key": "alerts.escalated", "params": {"level": 1, "title": raised.keyed_text}}
    assert escalated.text == ESCALATED_ZH
    # one stored form for every reader
    assert notice("acme.planner", "escalation").keyed_text == escalated.keyed_text


def test_each_reader_of_the_api_reads_their_own_language(readers):
    alert = raise_low_stock(readers)
    escalate(alert)
    # No Accept-Language: the saved language
    assert listed("acme.warehouse") == [("escalation", ESCALATED_EN), ("alert", TITLE_EN)]
    assert listed("acme.planner") == [("escalation", ESCALATED_ZH)]
    # supa.rep saved none: the tenant's default
    assert listed("supa.rep") == [("alert", TITLE_ZH)]
    # Accept-Language naming a supported language wins over the saved one
    assert listed("acme.warehouse", "zh-CN,zh;q=0.9") == [("escalation", ESCALATED_ZH), ("alert", TITLE_ZH)]
    assert listed("acme.planner", "en-US,en;q=0.8") == [("escalation", ESCALATED_EN)]
    # an unsupported one is passed over
    assert listed("acme.warehouse", "fr-FR") == [("escalation", ESCALATED_EN), ("alert", TITLE_EN)]


def test_the_bell_lists_the_notices_in_the_pages_language(readers):
    """The bell (templates/_bell.html, static/portal/bell.js) lists the notices through the API,
    asking in the page's language (portal.js sends `<html lang>` as Accept-Language)."""
    alert = raise_low_stock(readers)
    escalate(alert)
    for username, expected in (("acme.warehouse", ESCALATED_EN), ("acme.planner", ESCALATED_ZH)):
        browser = Client()  # a browser that asks for no language: the reader's saved one
        browser.force_login(user(username))
        page = browser.get("/t/acme/").content.decode()
        lang = re.search(r'<html lang="([^"]+)"', page).group(1)
        assert 'data-testid="bell-count" data-count="' in page
        bell_api = re.search(r'data-list-api="([^"]+)"', page).group(1)
        answer = browser.get(bell_api + "?unread=1", headers={"accept-language": lang})
        assert answer.json()["results"][0]["text"] == expected, username


def test_an_outbound_email_is_in_the_recipients_language(readers):
    alert = raise_low_stock(readers)
    escalate(alert)
    for username, wanted, unwanted in (("acme.warehouse", ESCALATED_EN, ESCALATED_ZH),
                                       ("acme.planner", ESCALATED_ZH, ESCALATED_EN)):
        with translation.override("en" if username == "acme.planner" else "zh-hans"):  # not the sender's language
            notification_email(notice(username, "escalation")).send()
        email = mail.outbox[-1]
        assert email.to == [user(username).email]
        assert email.body == wanted and unwanted not in email.body
        assert email.extra_headers["Content-Language"] == ("en" if username == "acme.warehouse" else "zh-hans")
    assert mail.outbox[0].subject.startswith("Escalated to you: Escalated to level 1")
    assert mail.outbox[1].subject.startswith("已升级给您：已升级至第 1 级")
    # A recipient who saved no language: the tenant's default, Chinese; once they choose English, English
    raised = notice("supa.rep", "alert")
    assert notification_outbound(raised)["body"] == TITLE_ZH
    user_language_set(user=user("supa.rep"), language="en")
    assert notification_outbound(notice("supa.rep", "alert")) == {
        "language": "en", "subject": f"Alert: {TITLE_EN}", "body": TITLE_EN}


def test_notices_from_before_keyed_texts_show_as_they_were_stored(readers):
    acme, warehouse = readers["tenants"]["acme"], user("acme.warehouse")
    Notification.objects.bulk_create([
        Notification(tenant=acme, user=warehouse, kind="alert", text="SKU-1 低于安全库存"),  # an old row
        Notification(tenant=acme, user=warehouse, kind="escalation", level=2, text="旧的升级通知",
                     keyed_text={"key": "gone.from.the.catalogue", "params": {}}),  # its key no longer registered
    ])
    assert listed("acme.warehouse") == [("escalation", "旧的升级通知"), ("alert", "SKU-1 低于安全库存")]
    assert notification_outbound(notice("acme.warehouse", "alert"))["body"] == "SKU-1 低于安全库存"


def test_a_plain_title_is_shown_as_written(readers):
    """An alert raised with a plain string for a title (no key) notifies with that string."""
    services.alert_raise(tenant=readers["tenants"]["acme"], kind="low_stock", dedupe_key="plain", title="盘点差异",
                         subject_kind="sku", subject_ref="SKU-9", core_audience=("warehouse",))
    raised = notice("acme.warehouse", "alert")
    assert raised.keyed_text is None and raised.text == "盘点差异"
    assert listed("acme.warehouse") == [("alert", "盘点差异")]

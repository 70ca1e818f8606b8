"""One date and time format per language everywhere (scm_portal/formats/): the room list, the
alert board, a SKU's page and the dashboard print the same instant the same way, in the tenant's
time zone, and hand the same pattern to the page scripts (Portal.formatTime; the browser side is
checked in tests/e2e/test_bell_flow.py)."""

from datetime import datetime, timezone

import pytest

from alerts.models import Alert
from messaging.models import Room
from tests.alerts.test_alerts import raise_alert
from tests.api_contract import user

pytestmark = pytest.mark.django_db

INSTANT = datetime(2026, 3, 4, 5, 6, tzinfo=timezone.utc)  # 13:06 in Shanghai, acme's zone
EXPECTED = {"en": "4 Mar 2026, 13:06", "zh-hans": "2026-03-04 13:06"}
PATTERNS = {"en": "j M Y, H:i", "zh-hans": "Y-m-d H:i"}


@pytest.fixture
def dated(demo):
    assert demo["tenants"]["acme"].time_zone == "Asia/Shanghai"
    alert = raise_alert(demo)  # its cards leave the internal room unread for acme.warehouse
    Room.objects.filter(tenant__slug="acme").update(last_message_at=INSTANT)
    Alert.objects.filter(pk=alert.pk).update(opened_at=INSTANT)
    return alert


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_page_prints_an_instant_the_same_way(dated, client, language):
    client.force_login(user("acme.warehouse"))
    iso = 'datetime="2026-03-04T13:06:00+08:00"'
    for url in ("/t/acme/rooms/", "/t/acme/alerts/", "/t/acme/"):
        html = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert f'{iso}' in html, url
        texts = {chunk.split(">", 1)[1].split("<", 1)[0].strip() for chunk in html.split(iso)[1:]}
        assert texts == {EXPECTED[language]}, (url, texts)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_page_hands_its_format_and_zone_to_the_scripts(demo, client, language):
    client.force_login(user("acme.buyer"))
    html = client.get("/t/acme/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    head = html.split(">", 2)[1]
    assert f'data-datetime-format="{PATTERNS[language]}"' in head
    assert 'data-time-zone="Asia/Shanghai"' in head and 'data-time-format="H:i"' in head
    months = head.split('data-month-names="', 1)[1].split('"', 1)[0].split(",")
    assert len(months) == 12 and months[2] == {"en": "Mar", "zh-hans": "三月"}[language]
    assert "/static/portal/portal.js" in html.split("</head>", 1)[0]

"""A domain app adds an alert kind by registering it, without touching alerts/ or messaging/.

The kind here is registered the way a domain app does it, from its AppConfig.ready(), and then
lives through the same paths as inventory's: raised, listed by the API with its subject, shown
on the board with its label and column, counted by the KPIs, offered to escalation policies.
"""

import re

import pytest
from django.utils import translation

from alerts import registry, services
from alerts.models import Alert, Severity
from alerts.registry import AlertSubject, register_alert_kind
from tests.api_contract import user

pytestmark = pytest.mark.django_db

PO = AlertSubject(field="purchase_order", subject_kind="purchase_order", label="PO", per_label="Alerts per PO",
                  url=lambda tenant_slug, ref: f"/t/{tenant_slug}/orders/{ref}/")


def _render_unconfirmed(alert):
    """Title and body in the reader's language, from what the alert carries."""
    number = alert.payload["number"]
    if translation.get_language() == "zh-hans":
        return f"采购订单 {number} 未确认", f"已等待 {alert.payload['hours']} 小时"
    return f"{number} is not confirmed", f"waiting for {alert.payload['hours']} h"


class OrdersLikeConfig:
    """What a domain app's AppConfig does in ready()."""

    def ready(self):
        register_alert_kind("po_late_test", label="PO not confirmed (test)", severity=Severity.CRITICAL,
                            subject=PO, render=_render_unconfirmed)


@pytest.fixture
def kinds(monkeypatch):
    """The registry as the apps left it, plus what the test registers; restored afterwards."""
    # The orders app registers PO alerts of its own under the same subject field: they step aside.
    monkeypatch.setattr(registry, "KINDS", {kind: definition for kind, definition in registry.KINDS.items()
                                            if not (definition.subject and definition.subject.field == "purchase_order")})
    OrdersLikeConfig().ready()
    return registry.KINDS


def raise_unconfirmed(demo, number="PO-20231026"):
    with translation.override("zh-hans"):  # stored in the tenant's language, as domain services do
        alert, created = services.alert_raise(
            tenant=demo["tenants"]["acme"], kind="po_late_test", dedupe_key=f"po-late:{number}",
            subject_kind="purchase_order", subject_ref=number, partner=demo["organizations"]["sup-a"],
            core_audience=("buyer",), payload={"number": number, "hours": 48},
        )
    assert created
    return alert


def test_raising_a_kind_nobody_registered_is_an_error(demo):
    with pytest.raises(ValueError, match="register_alert_kind"):
        services.alert_raise(tenant=demo["tenants"]["acme"], kind="never_registered", dedupe_key="k", title="t")
    assert not Alert.objects.exists()


def test_a_registered_kind_gives_severity_and_the_stored_title(demo, kinds):
    alert = raise_unconfirmed(demo)
    assert alert.severity == Severity.CRITICAL  # the kind's, none named
    assert (alert.title, alert.body) == ("采购订单 PO-20231026 未确认", "已等待 48 小时")
    assert Alert.objects.get().title == "采购订单 PO-20231026 未确认"


def test_the_api_shows_the_kind_with_its_subject_and_renders_for_the_reader(demo, kinds, api):
    alert = raise_unconfirmed(demo)
    api.as_user(user("acme.buyer"))
    body = api.get("/api/v1/t/acme/alerts/?kind=po_late_test", HTTP_ACCEPT_LANGUAGE="en").json()["results"]
    assert [a["id"] for a in body] == [alert.pk]
    assert body[0]["purchase_order"] == "PO-20231026" and body[0]["sku"] is None  # every subject field, always
    assert (body[0]["title"], body[0]["body"]) == ("PO-20231026 is not confirmed", "waiting for 48 h")
    zh = api.get(f"/api/v1/t/acme/alerts/{alert.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert zh["title"] == "采购订单 PO-20231026 未确认"
    kpis = api.get("/api/v1/t/acme/kpis/alerts/").json()
    assert kpis["by_purchase_order"] == [{"purchase_order": "PO-20231026", "count": 1}]
    assert kpis["by_sku"] == []
    assert {"kind": "po_late_test", "count": 1} in kpis["by_kind"]


def test_the_board_shows_its_label_and_its_subject_column(demo, kinds, client):
    alert = raise_unconfirmed(demo)
    client.force_login(user("acme.buyer"))
    html = client.get("/t/acme/alerts/").content.decode()
    row = html.split(f'data-alert-id="{alert.pk}"')[1].split("</tr>")[0]
    assert "PO not confirmed (test)" in row and "PO-20231026 is not confirmed" in row
    assert '<a href="/t/acme/orders/PO-20231026/" data-testid="alert-purchase_order">PO-20231026</a>' in row
    assert re.search(r'data-field="sku">—<', row)  # inventory's column stays, empty for this kind
    assert '<span data-key="kind.po_late_test">PO not confirmed (test)</span>' in html
    assert '"field": "purchase_order"' in html  # the live rows' columns (alert-subjects)
    kpis = client.get("/t/acme/alerts/kpis/").content.decode()
    assert 'data-testid="chart-per-purchase_order"' in kpis and "Alerts per PO" in kpis
    client.force_login(user("acme.admin"))
    form = client.get("/t/acme/alerts/policies/new/").content.decode()
    assert '<option value="po_late_test">PO not confirmed (test)</option>' in form


def test_the_bot_lists_it_for_the_reader(demo, kinds):
    from messaging.models import Message
    from tests.messaging.helpers import post, room_of

    raise_unconfirmed(demo)
    room = room_of("acme", "sup-a")
    with translation.override("en"):
        post("acme.buyer", room, "/alerts")
    answer = Message.objects.get(room=room, kind="bot")
    assert "PO-20231026" in answer.body


def test_registering_is_explicit_and_checked(kinds):
    OrdersLikeConfig().ready()  # the same definition again: nothing changes
    with pytest.raises(ValueError, match="registered already"):
        register_alert_kind("po_late_test", label="Another label", subject=PO)
    with pytest.raises(ValueError, match="registered already"):  # one field, one meaning
        register_alert_kind("other_test", label="x", subject=AlertSubject(
            field="purchase_order", subject_kind="po", label="PO", per_label="Alerts per PO"))
    with pytest.raises(ValueError, match="lower-case word"):
        register_alert_kind("Bad Kind", label="x")
    with pytest.raises(ValueError, match="field of an alert"):
        register_alert_kind("shadow_test", label="x", subject=AlertSubject(
            field="title", subject_kind="x", label="x", per_label="x"))
    with pytest.raises(ValueError, match="needs a title"):
        register_alert_kind("plain_test", label="x")
        services.alert_raise(tenant=None, kind="plain_test", dedupe_key="k")
    stock_kinds = ["low_stock", "reorder_point", "step_drop", "velocity"]  # in their registration order, among other apps'
    assert [k.kind for k in registry.alert_kinds() if k.kind in stock_kinds] == stock_kinds


def test_messaging_and_alerts_name_no_domain_kind_and_import_no_domain_app():
    """The dependency rule, read off the source: domains → alerts → messaging → tenancy."""
    from pathlib import Path

    from django.apps import apps

    repo = Path(__file__).resolve().parents[2]
    sources = {
        "messaging": [*repo.glob("messaging/**/*.py"), *repo.glob("templates/messaging/*.html")],
        "alerts": [*repo.glob("alerts/**/*.py"), *repo.glob("templates/alerts/*.html"), repo / "static/portal/alerts.js"],
    }
    domain_kinds = [k.kind for k in registry.alert_kinds()]  # the apps' registrations (inventory's four)
    assert {"low_stock", "reorder_point", "step_drop", "velocity"} <= set(domain_kinds)
    domains = [c.name for c in apps.get_app_configs() if c.name in {"inventory", "orders", "finance"}]
    for app, files in sources.items():
        for path in files:
            text = path.read_text(encoding="utf-8")
            found = [kind for kind in domain_kinds if re.search(rf"\b{kind}\b", text)]
            assert not found, f"{path.relative_to(repo)} names the alert kind(s) {found}"
            imports = re.findall(r"^\s*(?:from|import)\s+(\w+)", text, re.MULTILINE)
            assert not set(imports) & set(domains), f"{path.relative_to(repo)} imports a domain app"
            if app == "messaging":
                assert "alerts" not in imports, f"{path.relative_to(repo)} imports alerts"

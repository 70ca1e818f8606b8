"""The alert board in a real browser: a stock movement makes its alert appear live, and
"Acknowledge" stops the escalation.

Runs against the demo data (`seed_demo`): SKU-1002 (M8 螺母, from sup-a) holds about 940 in
WH-SH against a safety stock of 300; acme's escalation policy escalates warning alerts after
five minutes. The movement is posted through the REST API with acme.warehouse's token, as the
ERP would send it; the board learns of the alert over its socket only. Texts are asserted through
data attributes, never through translated labels.
"""

import json
import secrets
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from tests.e2e.api import api_call, token_for

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


def open_board(new_context, login, username, query="", **options):
    page = new_context(**options).new_page()
    page.frames_received = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: page.frames_received.append(str(payload))))
    login(page, username)
    page.goto(f"/t/acme/alerts/{query}")
    board = page.locator("[data-testid=alert-board]")
    expect(board).to_have_attribute("data-socket", "open")
    return page


def level_of(base_url, token, sku, warehouse):
    levels = api_call(base_url, "GET", f"/api/v1/t/acme/stock/?sku={sku}&warehouse={warehouse}", token=token)["results"]
    return levels[0]


def find_alert(base_url, token, sku, kind="low_stock"):
    alerts = api_call(base_url, "GET", f"/api/v1/t/acme/alerts/?kind={kind}&state=open", token=token)["results"]
    matching = [alert for alert in alerts if alert["sku"] == sku]
    return matching[0] if matching else None


def test_a_movement_raises_an_alert_live_and_acknowledge_stops_its_escalation(new_context, login, portal_server):
    token = token_for(portal_server, "acme.warehouse")

    # Given acme.warehouse has the alert board open, live, with the demo's alerts on SKU-1001
    board = open_board(new_context, login, "acme.warehouse")
    rows = board.locator("[data-testid=alert-row]")
    assert rows.count() >= 1
    assert board.locator('[data-testid=alert-row] a[data-testid=alert-sku]:text-is("SKU-1002")').count() == 0
    board.evaluate("() => { window.__boardWasNotReloaded = true; }")

    # and SKU-1002 in WH-SH sits above its safety stock
    level = level_of(portal_server, token, "SKU-1002", "WH-SH")
    assert level["safety_stock"] == 300 and level["on_hand"] > 300
    delta = -(level["on_hand"] - 240)  # ≈ -700 on the demo data: down to 240, under the line

    # When the ERP (the REST API, as acme.warehouse) books a movement that drops it below safety stock
    result = api_call(portal_server, "POST", "/api/v1/t/acme/stock/movements/", [{
        "external_id": f"e2e-{secrets.token_hex(6)}", "sku": "SKU-1002", "warehouse": "WH-SH", "delta": delta,
        "reason": "e2e", "occurred_at": datetime.now(timezone.utc).isoformat(),
    }], token=token)
    assert result == {"created": 1, "duplicates": 0}
    alert = find_alert(portal_server, token, "SKU-1002")
    assert alert is not None and alert["severity"] == "warning"
    assert alert["next_escalation_at"] is not None  # the demo policy escalates it if nobody acknowledges

    # Then its row appears on the board without a reload: open, warning, level 0, linked to the SKU
    row = board.locator(f'[data-testid=alert-row][data-alert-id="{alert["id"]}"]')
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-state", "open")
    expect(row).to_have_attribute("data-kind", "low_stock")
    expect(row.locator("[data-field=severity]")).to_have_class("badge severity-warning")
    expect(row.locator("[data-testid=alert-level]")).to_have_text("0")
    expect(row.locator("a[data-testid=alert-sku]")).to_have_text("SKU-1002")
    expect(row.locator("a[data-testid=alert-sku]")).to_have_attribute("href", "/t/acme/stock/SKU-1002/")
    expect(row.locator("[data-field=partner]")).to_have_text("华东零部件有限公司")
    assert board.evaluate("() => window.__boardWasNotReloaded === true")
    frames = [json.loads(text) for text in board.frames_received]
    assert any(f.get("type") == "alert" and f.get("id") == alert["id"] for f in frames), "the socket told the board"
    # newest first: the new alert is the first row
    expect(rows.first).to_have_attribute("data-alert-id", str(alert["id"]))

    # When acme.warehouse presses "Acknowledge" on it
    row.locator("button[data-testid=alert-ack]").click()

    # Then the row shows it acknowledged, with only "Start" and "Resolve" left, still one row
    expect(row).to_have_attribute("data-state", "acknowledged")
    expect(row.locator("[data-testid=alert-state]")).to_have_class("badge state-acknowledged")
    expect(row.locator("button[data-action]")).to_have_count(2)
    expect(row.locator("button[data-testid=alert-ack]")).to_have_count(0)
    expect(board.locator("[data-testid=board-error]")).to_be_hidden()
    expect(board.locator(f'[data-alert-id="{alert["id"]}"]')).to_have_count(1)

    # and the API shows it acknowledged by acme.warehouse, with no escalation due any more
    stored = api_call(portal_server, "GET", f"/api/v1/t/acme/alerts/{alert['id']}/", token=token)
    assert stored["state"] == "acknowledged"
    assert stored["acknowledged_by"] == "acme.warehouse"
    assert stored["next_escalation_at"] is None

    # And after a reload the board still shows it once, acknowledged
    board.reload()
    expect(board.locator("[data-testid=alert-board]")).to_have_attribute("data-socket", "open")
    expect(board.locator(f'[data-alert-id="{alert["id"]}"]')).to_have_count(1)
    expect(board.locator(f'[data-alert-id="{alert["id"]}"]')).to_have_attribute("data-state", "acknowledged")


def test_changes_made_elsewhere_update_the_row_and_errors_are_shown(new_context, login, portal_server):
    planner_token = token_for(portal_server, "acme.planner")
    # Given an open alert on the board of acme.warehouse, filtered to open alerts
    board = open_board(new_context, login, "acme.warehouse", "?state=open")
    row = board.locator("[data-testid=alert-row]").first
    alert_id = row.get_attribute("data-alert-id")
    expect(row).to_have_attribute("data-state", "open")

    # When acme.planner starts it through the API
    api_call(portal_server, "POST", f"/api/v1/t/acme/alerts/{alert_id}/start/", token=planner_token)

    # Then it leaves the "open" board live
    expect(board.locator(f'[data-alert-id="{alert_id}"]')).to_have_count(0)

    # When the server refuses a press, the board says why and leaves the row as it was
    other = board.locator("[data-testid=alert-row]").first
    other_id = other.get_attribute("data-alert-id")
    board.route(
        f"**/api/v1/t/acme/alerts/{other_id}/resolve/",
        lambda route: route.fulfill(status=400, content_type="application/json", body=json.dumps(
            {"error": {"code": "validation_error", "message": "Some fields are invalid.",
                       "fields": {"state": ["E2E-REFUSED"]}}})),
    )
    other.locator("button[data-testid=alert-resolve]").click()
    error = board.locator("[data-testid=board-error]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("E2E-REFUSED")
    expect(other).to_have_attribute("data-state", "open")
    expect(other.locator("button[data-testid=alert-resolve]")).to_be_enabled()


def test_a_supplier_sees_its_own_alerts_on_a_phone(new_context, login, portal_server):
    board = open_board(new_context, login, "supb.rep", **PHONE)
    # sup-b has no alerts in the demo; the SKU-1001/1002 alerts are sup-a's
    expect(board.locator("[data-testid=alert-row]")).to_have_count(0)
    expect(board.locator("[data-testid=board-empty]")).to_be_visible()
    supplier = open_board(new_context, login, "supa.rep", **PHONE)
    expect(supplier.locator("[data-testid=alert-row]").first).to_be_visible()
    for page in (board, supplier):
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"the board overflows on a phone: {widths}"

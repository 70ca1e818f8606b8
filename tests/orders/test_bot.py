"""The bot's purchase order intents (orders.bot): /po, /eta and /pending, asked in Chinese or in
English, answered in the asker's language with only what the asker may see."""

import zoneinfo
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.bot import match_intent
from messaging.models import Message
from orders.bot import answer_language
from orders.models import PurchaseOrderState
from tests.api_contract import user
from tests.messaging.helpers import post, room_of
from tests.orders.factories_scorecard import make_po, make_shipment

pytestmark = pytest.mark.django_db

NUMBER = "PO-20231026"


def speak(tenant, language):
    tenant.default_language = language
    tenant.save(update_fields=["default_language"])


def ask(username, room, question):
    post(username, room, question)
    answer = Message.objects.filter(room=room, kind="bot").order_by("-seq").first()
    assert answer is not None and answer.recipient.username == username
    return answer


@pytest.fixture
def order(demo):
    """PO-20231026 of sup-a in acme, confirmed, promised for ten days from now, with one truck on
    its way (ETA in three days, last position an hour ago)."""
    tenant, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
    today = timezone.localdate()
    po = make_po(tenant, sup_a, number=NUMBER, state=PurchaseOrderState.SHIPPED, lines=[
        {"quantity": 100, "requested": today + timedelta(days=8), "promised": today + timedelta(days=10), "shipped": 100},
        {"quantity": 50, "requested": today + timedelta(days=12), "shipped": 20},
    ])
    make_shipment(po, carrier="顺丰速运", tracking="SF1234567890", eta=timezone.now() + timedelta(days=3),
                  last_position_at=timezone.now() - timedelta(hours=1))
    return po


class TestMatching:
    @pytest.mark.parametrize("question, intent", [
        ("/po PO-20231026", "po_status"),
        ("@bot what is the status of PO-20231026", "po_status"),
        ("@bot PO-20231026 什么状态？", "po_status"),
        ("@bot 帮我查一下PO-20231026的物流状态", "po_logistics"),
        ("/eta PO-20231026", "po_logistics"),
        ("@bot where is PO-20231026?", "po_logistics"),
        ("@bot 我的待确认订单", "po_to_confirm"),
        ("@bot my POs to confirm", "po_to_confirm"),
        ("/pending", "po_to_confirm"),
        ("@bot SKU-1001 还有多少库存", "stock"),  # the stock intent still gets its questions
    ])
    def test_questions_find_their_intent(self, question, intent):
        found, _match, _rest = match_intent(question)
        assert found is not None and found.name == intent


class TestPoStatus:
    @pytest.mark.parametrize("question", ["/po PO-20231026", "@bot what is the status of PO-20231026",
                                          "@bot PO-20231026 什么状态"])
    def test_english_asker_gets_english(self, demo, order, question):
        speak(demo["tenants"]["acme"], "en")
        answer = ask("supa.rep", room_of("acme", "sup-a"), question)
        assert answer.payload["intent"] == "po_status"
        assert "**PO-20231026**" in answer.body and "Shipped" in answer.body
        assert "2 lines: 150 ordered, 120 shipped, 0 received" in answer.body
        assert "顺丰速运" in answer.body and "SF1234567890" in answer.body and "on its way" in answer.body

    @pytest.mark.parametrize("question", ["/po PO-20231026", "@bot what is the status of PO-20231026",
                                          "@bot PO-20231026 什么状态"])
    def test_chinese_asker_gets_chinese(self, demo, order, question):
        speak(demo["tenants"]["acme"], "zh-hans")
        answer = ask("acme.buyer", room_of("acme", "sup-a"), question)
        assert "**PO-20231026**" in answer.body and "已发货" in answer.body
        assert "2 行：订购 150，已发 120，已收 0" in answer.body and "运输中" in answer.body
        assert "Shipped" not in answer.body

    def test_a_command_may_name_a_number_without_the_prefix(self, demo, order):
        speak(demo["tenants"]["acme"], "en")
        make_po(demo["tenants"]["acme"], demo["organizations"]["sup-a"], number="4500012345",
                lines=[{"quantity": 1, "requested": date(2026, 1, 5)}])
        answer = ask("acme.buyer", room_of("acme", "sup-a"), "/po 4500012345")
        assert "**4500012345**" in answer.body and "Confirmed" in answer.body

    def test_which_po(self, demo, order):
        speak(demo["tenants"]["acme"], "en")
        assert "Which purchase order?" in ask("supa.rep", room_of("acme", "sup-a"), "/po").body


class TestNotFound:
    """A PO the asker may not see is answered word for word as a PO that does not exist."""

    @pytest.mark.parametrize("language, missing", [("en", "I found no purchase order PO-99999999."),
                                                   ("zh-hans", "没有找到采购订单 PO-99999999。")])
    def test_a_missing_po(self, demo, order, language, missing):
        speak(demo["tenants"]["acme"], language)
        assert ask("supa.rep", room_of("acme", "sup-a"), "/po PO-99999999").body == missing

    @pytest.mark.parametrize("question", ["/po PO-20231026", "@bot 帮我查一下PO-20231026的物流状态",
                                          "@bot what is the status of PO-20231026"])
    def test_a_foreign_suppliers_po_is_not_found(self, demo, order, question):
        speak(demo["tenants"]["acme"], "en")
        answer = ask("supb.rep", room_of("acme", "sup-b"), question)
        assert answer.body == "I found no purchase order PO-20231026."

    def test_another_tenants_po_is_not_found(self, demo, order):
        """globex's own PO-77 (sup-a supplies both): asked in acme's room it does not exist, even
        for sup-a's rep who sees it under globex."""
        globex = demo["tenants"]["globex"]
        make_po(globex, demo["organizations"]["sup-a"], number="PO-77", lines=[{"quantity": 3, "requested": date(2026, 1, 5)}])
        speak(demo["tenants"]["acme"], "en")
        assert ask("supa.rep", room_of("acme", "sup-a"), "/po PO-77").body == "I found no purchase order PO-77."
        assert ask("acme.buyer", room_of("acme", "sup-a"), "/po PO-77").body == "I found no purchase order PO-77."
        speak(globex, "en")
        assert "**PO-77**" in ask("supa.rep", room_of("globex", "sup-a"), "/po PO-77").body

    def test_a_very_long_number_is_not_found_either(self, demo, order):
        speak(demo["tenants"]["acme"], "en")
        body = ask("supa.rep", room_of("acme", "sup-a"), "/po " + "9" * 200).body
        assert body.startswith("I found no purchase order")


class TestLogistics:
    @pytest.mark.parametrize("question", ["@bot 帮我查一下PO-20231026的物流状态", "/eta PO-20231026",
                                          "@bot where is PO-20231026?"])
    def test_shipments_with_carrier_tracking_eta_and_last_position(self, demo, order, question):
        speak(demo["tenants"]["acme"], "en")
        answer = ask("supa.rep", room_of("acme", "sup-a"), question)
        assert answer.payload["intent"] == "po_logistics"
        body = answer.body
        assert "顺丰速运" in body and "tracking SF1234567890" in body and "on its way" in body
        shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
        shipment = order_shipment(order)
        eta = timezone.localtime(shipment.eta, shanghai).strftime("%Y-%m-%d %H:%M")
        seen = timezone.localtime(shipment.last_position_at, shanghai).strftime("%Y-%m-%d %H:%M")
        assert f"ETA {eta}" in body and f"last position {seen}" in body

    def test_in_chinese(self, demo, order):
        speak(demo["tenants"]["acme"], "zh-hans")
        body = ask("acme.buyer", room_of("acme", "sup-a"), "@bot 帮我查一下PO-20231026的物流状态").body
        assert "运输中" in body and "运单号 SF1234567890" in body and "预计到达" in body and "最后定位" in body

    def test_late_when_the_eta_is_after_the_promised_date(self, demo, order):
        shipment = order_shipment(order)
        shipment.eta = timezone.now() + timedelta(days=20)
        shipment.save(update_fields=["eta"])
        speak(demo["tenants"]["acme"], "en")
        promised = order.lines.get(line=1).promised_date.isoformat()
        body = ask("acme.buyer", room_of("acme", "sup-a"), "/eta PO-20231026").body
        assert f"late: the ETA is after the promised date {promised}" in body

    def test_late_when_the_eta_has_passed(self, demo, order):
        shipment = order_shipment(order)
        shipment.eta = timezone.now() - timedelta(hours=2)
        shipment.save(update_fields=["eta"])
        speak(demo["tenants"]["acme"], "en")
        assert "late: the ETA has passed" in ask("acme.buyer", room_of("acme", "sup-a"), "/eta PO-20231026").body

    def test_no_shipment_yet(self, demo):
        make_po(demo["tenants"]["acme"], demo["organizations"]["sup-a"], number="PO-1",
                lines=[{"quantity": 1, "requested": date(2026, 1, 5)}])
        speak(demo["tenants"]["acme"], "en")
        body = ask("supa.rep", room_of("acme", "sup-a"), "/eta PO-1").body
        assert "No shipment yet. Confirmed; waiting for shipment." in body

    def test_query_budget(self, demo, order):
        """The PO and its shipments: two reads, however many shipments and lines."""
        from orders.bot import po_logistics_answer
        from scm_portal.tenancy.access import tenant_context_for

        for _ in range(5):
            make_shipment(order, tracking="SF-more")
        tenant, asker = demo["tenants"]["acme"], user("supa.rep")
        context = tenant_context_for(asker, tenant)
        with CaptureQueriesContext(connection) as queries:
            body = po_logistics_answer(tenant=tenant, user=asker, room=None, text="/eta PO-20231026", match=None,
                                       context=context)
        assert body.count("SF-more") == 5 and len(queries.captured_queries) == 2


def order_shipment(order):
    from orders.models import Shipment

    return Shipment.objects.get(lines__order_line__order=order, lines__order_line__line=1)


class TestToConfirm:
    @pytest.fixture
    def waiting(self, demo):
        acme, globex = demo["tenants"]["acme"], demo["tenants"]["globex"]
        sup_a, sup_b = demo["organizations"]["sup-a"], demo["organizations"]["sup-b"]
        line = [{"quantity": 1, "requested": date(2026, 5, 5)}]
        make_po(acme, sup_a, number="PO-A-SENT", state=PurchaseOrderState.SENT, lines=line)
        make_po(acme, sup_a, number="PO-A-CHANGE", state=PurchaseOrderState.CHANGE_REQUESTED, lines=line)
        make_po(acme, sup_a, number="PO-A-DONE", state=PurchaseOrderState.CONFIRMED, lines=line)
        make_po(acme, sup_b, number="PO-B-SENT", state=PurchaseOrderState.SENT, lines=line)
        make_po(acme, sup_b, number="PO-B-CHANGE", state=PurchaseOrderState.CHANGE_REQUESTED, lines=line)
        make_po(globex, sup_a, number="PO-G-SENT", state=PurchaseOrderState.SENT, lines=line)

    def test_a_supplier_rep_sees_what_was_sent_to_their_organisation(self, demo, waiting):
        speak(demo["tenants"]["acme"], "en")
        body = ask("supa.rep", room_of("acme", "sup-a"), "@bot my POs to confirm").body
        assert "PO-A-SENT" in body and "due 2026-05-05" in body
        # A change request waits for the buyer, not for the supplier (the dashboard's definition).
        assert "PO-A-CHANGE" not in body
        assert "PO-A-DONE" not in body and "PO-B-" not in body and "PO-G-" not in body

    def test_in_chinese(self, demo, waiting):
        speak(demo["tenants"]["acme"], "zh-hans")
        body = ask("supb.rep", room_of("acme", "sup-b"), "@bot 我的待确认订单").body
        assert "等待您确认的采购订单" in body and "PO-B-SENT" in body and "PO-B-CHANGE" not in body and "PO-A-" not in body

    def test_a_buyer_sees_the_change_requests_to_answer_and_the_drafts_to_send(self, demo, waiting):
        acme, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
        make_po(acme, sup_a, number="PO-A-DRAFT", state=PurchaseOrderState.DRAFT,
                lines=[{"quantity": 1, "requested": date(2026, 5, 5)}])
        speak(acme, "en")
        body = ask("acme.buyer", room_of("acme", "sup-a"), "/pending").body
        assert "proposed changes wait for your answer" in body and "Drafts waiting to be sent" in body
        assert "PO-A-CHANGE" in body and "PO-B-CHANGE" in body and "PO-A-DRAFT" in body
        assert "PO-A-SENT" not in body and "PO-G-" not in body
        # The sections come in one order: to answer before to send.
        assert body.index("PO-A-CHANGE") < body.index("Drafts waiting") < body.index("PO-A-DRAFT")

    def test_nothing_waiting(self, demo, waiting):
        speak(demo["tenants"]["acme"], "en")
        assert ask("acme.warehouse", room_of("acme", "sup-a"), "/pending").body == \
            "No purchase orders are waiting for your answer. 👍"
        speak(demo["tenants"]["globex"], "zh-hans")
        assert ask("globex.buyer", room_of("globex", "sup-a"), "/pending").body == "没有等待您答复的采购订单。👍"

    def test_a_long_list_is_cut(self, demo):
        acme, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
        for index in range(12):
            make_po(acme, sup_a, number=f"PO-S{index:02d}", state=PurchaseOrderState.SENT,
                    lines=[{"quantity": 1, "requested": date(2026, 5, 5)}])
        speak(acme, "en")
        body = ask("supa.rep", room_of("acme", "sup-a"), "/pending").body
        assert body.count("**PO-S") == 10 and "… and more" in body


def test_the_language_is_chosen_in_one_place(demo):
    acme = demo["tenants"]["acme"]
    speak(acme, "en")
    assert answer_language(user=user("supa.rep"), tenant=acme) == "en"
    speak(acme, "zh-hans")
    assert answer_language(user=user("supa.rep"), tenant=acme) == "zh-hans"

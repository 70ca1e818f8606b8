"""The financing buttons over the socket: two approvers with the same memberships get their own
frames (one verified, one not), a press carries the socket's own verification as it is when
pressed, and a reject carries its reason."""

import pytest

from finance.models import Approval, FinancingApplication
from messaging.models import Message
from tests.finance.factories import apply, confirmed_receivable
from tests.finance.test_actions import stale, verify
from tests.messaging.helpers import room_of
from tests.messaging.test_sockets import connect, frames_until, in_db_thread

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _requested():
    application = apply([confirmed_receivable()], "900.00")
    card = Message.objects.get(subject_ref=str(application.pk), text__key="finance.card.requested",
                               room=room_of("acme", "bank"))
    return application, card


def _state(application):
    application.refresh_from_db()
    return application.state, Approval.objects.filter(application=application).count()


async def test_each_approver_gets_their_own_buttons_and_a_press_checks_the_socket_now(demo_tx):
    await in_db_thread(verify)("acme.finance")
    finance = await connect("acme.finance", headers=[(b"accept-language", b"en")])
    cfo = await connect("acme.cfo", headers=[(b"accept-language", b"en")])  # never verified
    application, card = await in_db_thread(_requested)()
    is_card = lambda f: f["type"] == "message" and (f["room"], f["seq"]) == (card.room_id, card.seq)  # noqa: E731

    seen = (await frames_until(finance, is_card))[-1]
    assert [(a["name"], a["enabled"]) for a in seen["actions"]] == [("financing_approve", True), ("financing_reject", True)]
    greyed = (await frames_until(cfo, is_card))[-1]
    assert [(a["name"], a["enabled"]) for a in greyed["actions"]] == [("financing_approve", False), ("financing_reject", False)]
    assert greyed["actions"][0]["hint"].startswith("Verify with your authenticator code")

    # The unverified approver presses anyway: refused, in their language, nothing changed.
    await cfo.send_json_to({"type": "action", "room": card.room_id, "seq": card.seq, "action": "financing_approve",
                            "ref": "p1"})
    error = (await frames_until(cfo, lambda f: f["type"] == "error"))[-1]
    assert (error["code"], error["ref"]) == ("otp_required", "p1") and "authenticator" in error["message"]
    assert await in_db_thread(_state)(application) == ("requested", 0)

    # The verified one's verification grows old after the card was shown: the press reads it now.
    await in_db_thread(stale)("acme.finance")
    await finance.send_json_to({"type": "action", "room": card.room_id, "seq": card.seq, "action": "financing_reject",
                                "data": {"reason": "发票不符"}, "ref": "p2"})
    error = (await frames_until(finance, lambda f: f["type"] == "error"))[-1]
    assert (error["code"], error["ref"]) == ("otp_required", "p2")
    assert await in_db_thread(_state)(application) == ("requested", 0)

    # Verified again: the reject goes through with its reason, and the buttons leave the card live.
    await in_db_thread(verify)("acme.finance")
    await finance.send_json_to({"type": "action", "room": card.room_id, "seq": card.seq, "action": "financing_reject",
                                "data": {"reason": "发票不符"}, "ref": "p3"})
    update = (await frames_until(cfo, lambda f: f["type"] == "actions" and (f["room"], f["seq"]) == (card.room_id, card.seq)))[-1]
    assert update["actions"] == []
    assert await in_db_thread(_state)(application) == ("rejected", 1)
    stored = await in_db_thread(lambda: FinancingApplication.objects.get(pk=application.pk).reason)()
    assert stored == "发票不符"
    await finance.disconnect()
    await cfo.disconnect()

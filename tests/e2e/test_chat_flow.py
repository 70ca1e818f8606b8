"""The chat in real browsers: live messages between two people, isolation from a third,
live unread badges, reconnection and resync without loss or duplicates, internal notes and
bot answers reaching only their readers, an action button that shows as done for everyone,
scrolling back through a long history, attachments and search, and the pages on a phone.

Runs against the demo data (`seed_demo`, including messaging/demo.py): acme's sup-a room
holds a short conversation between acme.buyer and supa.rep and a quality event card with an
"Acknowledge" button; supb.rep sees only sup-b's room. Texts are asserted through data
attributes and canary strings, never through translated labels.
"""

import secrets

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.api import api_call

pytestmark = pytest.mark.e2e

DEMO_CARD_TEXT = "包装异常"  # in messaging/demo.py's quality event card
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


def canary(label):
    return f"{label}-{secrets.token_hex(5)}"


def record_frames(page):
    """Every socket frame the page receives, as text (attach before the page opens a socket)."""
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    return frames


def open_room(new_context, login, username, partner, **options):
    """Logs `username` in, opens acme's room list and then `partner`'s room; waits until it is live and synced."""
    page = new_context(**options).new_page()
    frames = record_frames(page)
    login(page, username)
    page.goto("/t/acme/rooms/")
    link = page.locator(f'li[data-partner="{partner}"] a[data-testid=room-link]')
    with page.expect_navigation():
        link.click()
    room = page.locator("[data-chat=room]")
    expect(room).to_have_attribute("data-history", "ready")
    expect(room).to_have_attribute("data-socket", "open")
    expect(room).to_have_attribute("data-synced", "true")
    page.frames_received = frames
    return page


def messages_with(page, text):
    return page.locator("[data-testid=chat-log] [data-testid=message]", has_text=text)


def assert_each_seq_once(page):
    seqs = page.locator("[data-testid=chat-log] [data-seq]").evaluate_all("nodes => nodes.map(n => n.dataset.seq)")
    assert len(seqs) == len(set(seqs)), f"a message is shown twice: {seqs}"
    assert seqs == sorted(seqs, key=int), f"messages out of order: {seqs}"


def send(page, text):
    box = page.locator("[data-testid=chat-input]")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def test_a_message_reaches_the_room_live_and_nobody_else(new_context, login):
    # Given acme.buyer and supa.rep in acme's sup-a room, supb.rep in sup-b's room,
    # and acme.planner (who follows sup-a) on the room list
    buyer = open_room(new_context, login, "acme.buyer", "sup-a")
    supplier = open_room(new_context, login, "supa.rep", "sup-a")
    outsider = open_room(new_context, login, "supb.rep", "sup-b")
    planner = new_context().new_page()
    login(planner, "acme.planner")
    planner.goto("/t/acme/rooms/")
    rooms = planner.locator("[data-chat=rooms]")
    expect(rooms).to_have_attribute("data-socket", "open")
    badge = planner.locator('li[data-partner="sup-a"] [data-testid=unread]')
    unread_before = int(badge.get_attribute("data-count"))

    # When the buyer types a message and presses Enter
    text = canary("canary")
    send(buyer, f"请确认交期 {text}\n第二行")

    # Then it appears once for both of them, live, rendered from the server's HTML
    expect(messages_with(supplier, text)).to_have_count(1)
    expect(messages_with(buyer, text)).to_have_count(1)
    expect(messages_with(supplier, text).locator(".msg-body br")).to_have_count(1)  # Enter sent it, the newline stayed
    expect(buyer.locator("[data-testid=pending-message]")).to_have_count(0)
    assert_each_seq_once(buyer)
    assert_each_seq_once(supplier)

    # And the planner's unread badge for the room goes up without a reload
    expect(badge).to_have_attribute("data-count", str(unread_before + 1))
    expect(badge).to_be_visible()
    expect(planner.locator('li[data-partner="sup-a"]')).to_have_count(1)

    # And supb.rep, connected to the same tenant, never receives it
    supplier.wait_for_timeout(500)
    assert text not in outsider.content()
    assert not [f for f in outsider.frames_received if text in f], "another supplier's socket received the message"
    assert any(text in f for f in supplier.frames_received)


def test_a_reconnecting_page_catches_up_without_duplicates(new_context, login):
    # Given both sides in the room
    buyer = open_room(new_context, login, "acme.buyer", "sup-a")
    supplier = open_room(new_context, login, "supa.rep", "sup-a")
    room = supplier.locator("[data-chat=room]")

    # When the supplier's connection drops and the buyer writes meanwhile
    supplier.evaluate("document.querySelector('[data-chat=room]').chatSocket.drop()")
    expect(room).not_to_have_attribute("data-socket", "open")
    first, second = canary("while-away"), canary("after-back")
    send(buyer, first)
    expect(messages_with(buyer, first)).to_have_count(1)

    # Then the supplier reconnects, syncs from its last seq and shows the message once
    expect(room).to_have_attribute("data-socket", "open")
    expect(messages_with(supplier, first)).to_have_count(1)
    send(buyer, second)
    expect(messages_with(supplier, second)).to_have_count(1)
    supplier.wait_for_timeout(300)
    assert_each_seq_once(supplier)

    # And a message the supplier sends after reconnecting reaches the buyer
    reply = canary("reply")
    send(supplier, reply)
    expect(messages_with(buyer, reply)).to_have_count(1)
    expect(messages_with(supplier, reply)).to_have_count(1)
    assert_each_seq_once(buyer)

    # When the server tells the page to resync (as it does for a client too far behind)
    shown = supplier.locator("[data-testid=chat-log] [data-seq]").count()
    head = int(supplier.locator("[data-testid=chat-log] [data-seq]").last.get_attribute("data-seq"))
    supplier.evaluate(
        "head => document.querySelector('[data-chat=room]').chatSocket.handlers.frame("
        "{type: 'resync', room: Number(document.querySelector('[data-chat=room]').dataset.room),"
        " reason: 'too_far_behind', last_seq: head})",
        head,
    )

    # Then it reloads the newest page from the server and carries on live, still without duplicates
    expect(room).to_have_attribute("data-history", "ready")
    expect(messages_with(supplier, reply)).to_have_count(1)
    expect(supplier.locator("[data-testid=chat-log] [data-seq]")).to_have_count(min(shown, 50))
    after = canary("after-resync")
    send(buyer, after)
    expect(messages_with(supplier, after)).to_have_count(1)
    assert_each_seq_once(supplier)


def test_pressing_acknowledge_shows_as_done_for_everyone_in_the_room(new_context, login):
    # Given the demo's quality event card (messaging/demo.py), seen by both sides
    buyer = open_room(new_context, login, "acme.buyer", "sup-a")
    supplier = open_room(new_context, login, "supa.rep", "sup-a")

    def acknowledge(page):
        card = page.locator("[data-testid=chat-log] .msg-event", has_text=DEMO_CARD_TEXT)
        return card.locator("button[data-action=acknowledge]")

    for page in (buyer, supplier):
        expect(acknowledge(page)).to_have_count(1)
        expect(acknowledge(page)).to_be_enabled()
        expect(acknowledge(page)).not_to_have_attribute("data-done", "true")
    card_seq = buyer.locator(".msg-event", has_text=DEMO_CARD_TEXT).get_attribute("data-seq")

    # When the buyer presses "Acknowledge"
    acknowledge(buyer).click()

    # Then the button shows as done on both pages, live, with the outcome message below
    for page in (buyer, supplier):
        expect(acknowledge(page)).to_have_attribute("data-done", "true")
        expect(acknowledge(page)).to_be_disabled()
        expect(page.locator(".msg-event", has_text=DEMO_CARD_TEXT).locator(".msg-action-note")).not_to_be_empty()
        outcome = page.locator("[data-testid=chat-log] .msg-system").last
        expect(outcome).to_contain_text("王采购")
        assert int(outcome.get_attribute("data-seq")) > int(card_seq)
        assert_each_seq_once(page)

    note = supplier.locator(".msg-event", has_text=DEMO_CARD_TEXT).locator(".msg-action-note")
    expect(note).to_contain_text("王采购")  # who pressed it, for the other side

    # And after a reload the card still shows as done (the outcome comes with the history)
    supplier.reload()
    expect(supplier.locator("[data-chat=room]")).to_have_attribute("data-history", "ready")
    expect(acknowledge(supplier)).to_have_attribute("data-done", "true")


def test_internal_notes_and_bot_answers_reach_only_their_readers(new_context, login):
    buyer = open_room(new_context, login, "acme.buyer", "sup-a")
    planner = open_room(new_context, login, "acme.planner", "sup-a")
    supplier = open_room(new_context, login, "supa.rep", "sup-a")
    auditor = open_room(new_context, login, "acme.auditor", "sup-a")

    # When the buyer writes an internal note in the supplier's room
    note = canary("internal")
    buyer.locator("[data-testid=internal-toggle]").check()
    send(buyer, f"内部：先别告诉供应商 {note}")
    buyer.locator("[data-testid=internal-toggle]").uncheck()

    # Then core staff see it, marked internal; the supplier never receives it
    for page in (buyer, planner):
        expect(messages_with(page, note)).to_have_count(1)
        expect(messages_with(page, note)).to_have_attribute("data-internal", "true")

    # When the buyer asks the bot
    send(buyer, "/help")

    # Then the answer is a bot message for the buyer alone
    answer = buyer.locator("[data-testid=chat-log] [data-kind=bot]").last
    expect(answer).to_contain_text("/help")
    question = buyer.locator("[data-testid=chat-log] [data-kind=chat]", has_text="/help").last
    question_seq = int(question.get_attribute("data-seq"))
    answer_seq = int(answer.get_attribute("data-seq"))
    assert answer_seq > question_seq
    # and the question is the buyer's alone too
    for page in (planner, supplier):
        for seq in (question_seq, answer_seq):
            expect(page.locator(f'[data-testid=chat-log] [data-seq="{seq}"]')).to_have_count(0)
    # but for the auditor, who reads every message of the rooms they follow: both arrive, live, marked
    # as another user's private question and answer
    for seq in (question_seq, answer_seq):
        shown = auditor.locator(f'[data-testid=chat-log] [data-seq="{seq}"]')
        expect(shown).to_have_count(1)
        expect(shown.locator("[data-testid=private-badge]")).to_have_count(1)
    expect(buyer.locator("[data-testid=chat-log] [data-testid=private-badge]")).to_have_count(0)
    expect(messages_with(auditor, note)).to_have_attribute("data-internal", "true")

    supplier.wait_for_timeout(300)
    assert note not in supplier.content()
    assert not [f for f in supplier.frames_received if note in f], "an internal note reached the supplier's socket"
    assert_each_seq_once(buyer)


def test_a_reply_to_a_message_the_reader_cannot_see_shows_no_seq(new_context, login, portal_server):
    # Given the planner and the supplier in acme's sup-a room
    planner = open_room(new_context, login, "acme.planner", "sup-a")
    supplier = open_room(new_context, login, "supa.rep", "sup-a")
    credentials = {"username": "acme.buyer", "password": DEMO_PASSWORD}
    token = api_call(portal_server, "POST", "/api/v1/auth/token/", credentials)["token"]
    room = next(r for r in api_call(portal_server, "GET", "/api/v1/t/acme/rooms/", token=token)
                if (r["partner"] or {}).get("organization") == "sup-a")
    path = f"/api/v1/t/acme/rooms/{room['id']}/messages/"

    # When the buyer answers an internal note in public
    note_text, reply_text = canary("note"), canary("reply")
    note = api_call(portal_server, "POST", path, {"body": f"内部 {note_text}", "internal": True}, token=token)
    api_call(portal_server, "POST", path, {"body": f"按原计划 {reply_text}", "refers_to": note["seq"],
                                           "relation": "reply"}, token=token)

    # Then the planner's reply links to the note; the supplier's names no seq, live and after a reload
    expect(messages_with(planner, reply_text).locator("[data-testid=reply-link]")).to_have_attribute(
        "data-jump", str(note["seq"]))
    for page in (supplier, None):
        if page is None:
            supplier.reload()
            expect(supplier.locator("[data-chat=room]")).to_have_attribute("data-history", "ready")
            page = supplier
        reply = messages_with(page, reply_text)
        expect(reply.locator("[data-testid=reply-hidden]")).to_have_count(1)
        expect(reply.locator("[data-testid=reply-link]")).to_have_count(0)
        assert f"#{note['seq']}" not in reply.inner_text()
    assert note_text not in supplier.content()


def test_scrolling_up_loads_the_whole_history_once(new_context, login, portal_server):
    # Given a long conversation in acme's sup-b room (written through the API)
    credentials = {"username": "supb.rep", "password": DEMO_PASSWORD}
    token = api_call(portal_server, "POST", "/api/v1/auth/token/", credentials)["token"]
    room = next(r for r in api_call(portal_server, "GET", "/api/v1/t/acme/rooms/", token=token)
                if (r["partner"] or {}).get("organization") == "sup-b")
    tag = canary("history")
    for number in range(1, 131):
        api_call(portal_server, "POST", f"/api/v1/t/acme/rooms/{room['id']}/messages/",
                 {"body": f"{tag} #{number}", "client_id": f"{tag}-{number}"}, token=token)

    # When supb.rep opens the room, it shows the newest page only
    page = open_room(new_context, login, "supb.rep", "sup-b")
    log = page.locator("[data-testid=chat-log] [data-testid=message]")
    expect(log.last).to_contain_text(f"{tag} #130")
    assert log.count() <= 50

    # And scrolling to the top loads earlier pages until the beginning
    start = page.locator("[data-role=history-start]")
    for _ in range(10):
        if start.is_visible():
            break
        page.locator("[data-role=scroll]").evaluate(
            "el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }"
        )
        page.wait_for_timeout(400)
    expect(start).to_be_visible()
    expect(log.filter(has_text=tag)).to_have_count(130)
    assert_each_seq_once(page)
    seqs = [int(s) for s in log.evaluate_all("nodes => nodes.map(n => n.dataset.seq)")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap in the history"
    assert seqs[0] == 1


def test_attachments_and_search(new_context, login, tmp_path):
    buyer = open_room(new_context, login, "acme.buyer", "sup-a")
    supplier = open_room(new_context, login, "supa.rep", "sup-a")

    # When the supplier uploads a file
    name = canary("qc-report") + ".txt"
    path = tmp_path / name
    path.write_text("质检报告 OK\n", encoding="utf-8")
    supplier.locator("[data-testid=attach-input]").set_input_files(str(path))

    # Then both see it with a download link into the room's attachments
    for page in (supplier, buyer):
        link = page.locator("[data-testid=chat-log] a[data-testid=attachment]", has_text=name)
        expect(link).to_have_count(1)
        assert "/attachments/" in link.get_attribute("href")
    with buyer.expect_download() as download:
        buyer.locator("a[data-testid=attachment]", has_text=name).click()
    assert download.value.suggested_filename == name

    # And search finds a message by a word in it
    word = canary("findme")
    send(buyer, f"检索测试 {word}")
    expect(messages_with(buyer, word)).to_have_count(1)
    buyer.locator("[data-testid=chat-search] summary").click()
    buyer.locator("[data-testid=search-input]").fill(word)
    buyer.locator("[data-testid=search-input]").press("Enter")
    hits = buyer.locator("[data-testid=search-hit]")
    expect(hits).to_have_count(1)
    expect(hits.first).to_contain_text(word)


def assert_fits(page, what):
    # On a phone, content wider than the screen widens the layout viewport itself, so compare
    # with the device width, not with window.innerWidth.
    widths = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    limit = PHONE["viewport"]["width"]
    assert widths["scroll"] <= limit and widths["inner"] <= limit, f"{what} overflows horizontally on a phone: {widths}"


def test_the_room_list_and_the_room_fit_a_phone(new_context, login):
    # acme.buyer has the widest composer (the internal-note switch, attach, send)
    buyer = open_room(new_context, login, "acme.buyer", "sup-a", **PHONE)
    assert_fits(buyer, "the room")
    expect(buyer.locator("[data-testid=chat-input]")).to_be_visible()
    expect(buyer.locator("[data-testid=chat-send]")).to_be_visible()
    expect(buyer.locator("[data-testid=chat-log] [data-testid=message]").last).to_be_visible()
    buyer.locator("[data-testid=back-to-rooms]").click()
    expect(buyer.locator("[data-chat=rooms]")).to_have_attribute("data-socket", "open")
    assert_fits(buyer, "the room list")

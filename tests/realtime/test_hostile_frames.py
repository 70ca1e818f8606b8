"""Hostile client frames never cost the sender its socket: each gets an error frame, the socket stays
open, and a valid send right after it succeeds.

The texts are written as a client puts them on the wire: a lone surrogate only exists there as a
JSON escape (the frame itself is valid UTF-8), a NUL as \\u0000.
"""

import json

import pytest

from messaging.models import Message
from tests.messaging.test_sockets import a_room, connect, frames_until, in_db_thread

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def send_text(room_id, **fields):
    """A send frame as JSON text, with `fields` spliced in verbatim (already JSON-encoded values)."""
    parts = {"type": '"send"', "room": str(room_id), "body": '"hi"', "client_id": '"c-1"'}
    parts.update(fields)
    return "{" + ",".join(f'"{k}":{v}' for k, v in parts.items()) + "}"


def hostile_frames(room_id):
    deep = "[" * 5000 + "]" * 5000
    return [
        ("NUL client_id", send_text(room_id, client_id=r'"a\u0000b"')),
        ("NUL body", send_text(room_id, body=r'"a\u0000b"')),
        ("surrogate body", send_text(room_id, body=r'"\ud800"')),
        ("surrogate client_id", send_text(room_id, client_id=r'"\udfff-x"')),
        ("surrogate type", r'{"type":"\ud800","room":%d}' % room_id),
        ("surrogate type of a known kind", r'{"type":"send\udc00","room":%d}' % room_id),
        ("surrogate unknown key", r'{"type":"send","room":%d,"body":"hi","client_id":"c-2","\ud83d":1}' % room_id),
        ("surrogate ref", r'{"type":"ping","ref":"\ud800"}'),
        ("surrogate action", r'{"type":"action","room":%d,"seq":1,"action":"\ud800"}' % room_id),
        ("surrogate subject kind", send_text(room_id, subject=r'{"kind":"\ud800","id":1}')),
        ("NUL subject id", send_text(room_id, subject=r'{"kind":"purchase_order","id":"PO\u0000"}')),
        ("NUL key", r'{"type":"send","room":%d,"body":"hi","client_id":"c-3","\u0000":1}' % room_id),
        ("nested 5,000 deep", deep),
        ("nested 5,000 deep in a field", send_text(room_id, subject=deep)),
        ("nested 5,000 deep objects", '{"a":' * 5000 + "1" + "}" * 5000),
        ("a huge seq", '{"type":"action","room":%d,"seq":%s,"action":"acknowledge"}' % (room_id, "9" * 40)),
        ("a huge after_seq", '{"type":"sync","room":%d,"after_seq":%s}' % (room_id, "9" * 40)),
        ("a huge read seq", '{"type":"read","room":%d,"seq":%s}' % (room_id, "9" * 40)),
        ("a huge room", '{"type":"sync","room":%s,"after_seq":0}' % ("9" * 40)),
        ("a huge subject id", send_text(room_id, subject='{"kind":"purchase_order","id":%s}' % ("9" * 40))),
        ("a huge subject id string", send_text(room_id, subject='{"kind":"alert","id":"%s"}' % ("9" * 40))),
        ("NaN", '{"type":"sync","room":%d,"after_seq":NaN}' % room_id),
        ("a float seq", '{"type":"action","room":%d,"seq":1e300,"action":"acknowledge"}' % room_id),
        ("a list client_id", send_text(room_id, client_id="[1,2]")),
        ("an object body", send_text(room_id, body='{"x":1}')),
    ]


async def test_each_hostile_frame_gets_an_error_and_the_socket_keeps_working(demo_tx):
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    for n, (name, text) in enumerate(hostile_frames(room.pk)):
        await rep.send_to(text_data=text)
        answer = await rep.receive_output(timeout=5)
        assert answer["type"] == "websocket.send", (name, answer)  # not a close
        frame = json.loads(answer["text"])
        assert frame["type"] == "error" and frame["code"] and frame["message"], (name, frame)
        # The error frame is plain UTF-8: it echoes no surrogate and no NUL.
        answer["text"].encode("utf-8")
        assert "\x00" not in answer["text"], name
        # ... and the socket still works: a valid send after it is stored and acknowledged.
        await rep.send_json_to({"type": "send", "room": room.pk, "body": f"after {name}", "client_id": f"ok-{n}"})
        frames = await frames_until(rep, lambda f: f["type"] in ("ack", "error"))
        assert frames[-1]["type"] == "ack" and frames[-1]["client_id"] == f"ok-{n}", (name, frames)
    assert await in_db_thread(Message.objects.filter(room=room).count)() == len(hostile_frames(room.pk))
    await rep.disconnect()


async def test_an_error_names_the_frame_it_answers_only_with_a_clean_ref(demo_tx):
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    await rep.send_to(text_data=send_text(room.pk, body=r'"\ud800"', client_id='"mine-1"'))
    frame = await rep.receive_json_from(timeout=5)
    assert (frame["type"], frame["code"], frame.get("ref")) == ("error", "bad_frame", "mine-1")
    await rep.send_to(text_data=send_text(room.pk, body=r'"x"', client_id=r'"\ud800"'))
    frame = await rep.receive_json_from(timeout=5)
    assert frame["type"] == "error" and "ref" not in frame
    await rep.send_to(text_data=send_text(room.pk, body=r'"a\u0000"', client_id='"mine-2"'))
    frame = await rep.receive_json_from(timeout=5)
    assert (frame["code"], frame.get("ref")) == ("validation_error", "mine-2")
    await rep.disconnect()


async def test_a_handler_that_fails_unexpectedly_answers_an_error_and_keeps_the_socket(demo_tx, monkeypatch):
    """The last line of defence: whatever a frame's handler raises, the sender gets an error frame."""
    from realtime import consumers

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(consumers, "_read", broken)
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    await rep.send_json_to({"type": "read", "room": room.pk, "seq": 0, "ref": "r-1"})
    frame = await rep.receive_json_from(timeout=5)
    assert (frame["type"], frame["code"], frame["ref"]) == ("error", "server_error", "r-1")
    await rep.send_json_to({"type": "ping"})
    assert (await rep.receive_json_from(timeout=5))["type"] == "pong"
    await rep.disconnect()


async def test_an_escaped_surrogate_pair_is_a_character_like_any_other(demo_tx):
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    await rep.send_to(text_data=send_text(room.pk, body=r'"\ud83d\ude00 \u4f60\u597d"', client_id='"emoji"'))
    frames = await frames_until(rep, lambda f: f["type"] in ("ack", "error"))
    assert frames[-1]["type"] == "ack"
    assert await in_db_thread(lambda: Message.objects.get(room=room).body)() == "😀 你好"
    await rep.disconnect()

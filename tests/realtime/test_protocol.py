"""realtime.protocol.decode_frame: the one door a socket's incoming text goes through."""

import json
import random

import pytest

from realtime.protocol import FrameError, decode_frame, error_frame

PIECES = [
    '"\\ud800"', '"\\udfff"', '"\\ud83d\\ude00"', '"\\u0000"', '"a\\u0000b"', '"\\ud800\\u0000"', "NaN", "-Infinity",
    "9" * 30, "-" + "9" * 30, "1e999", "0", "-1", "1.5", "true", "null", '""', '"send"', '"sync"', "[]", "{}",
    '"x' + "y" * 70 + '"', "[" * 40 + "]" * 40, '{"a":' * 40 + "1" + "}" * 40,
]
KEYS = ['"type"', '"room"', '"body"', '"client_id"', '"ref"', '"seq"', '"after_seq"', '"subject"', '"\\ud800"', '"\\u0000"']


def hostile_texts(count, seed=14):
    rng = random.Random(seed)
    for _ in range(count):
        fields = [f"{rng.choice(KEYS)}:{rng.choice(PIECES)}" for _ in range(rng.randint(0, 5))]
        text = "{" + ",".join(fields) + "}"
        if rng.random() < 0.2:
            text = "[" * rng.randint(1, 6000) + text
        if rng.random() < 0.1:
            text = text[: rng.randint(0, len(text))]
        yield text


def test_decoding_only_ever_raises_a_frame_error_and_lets_through_only_encodable_frames():
    accepted = 0
    for text in hostile_texts(3000):
        try:
            frame = decode_frame(text)
        except FrameError as exc:
            error = error_frame(exc.code, exc.message, exc.ref)
            json.dumps(error, ensure_ascii=False).encode("utf-8")  # every error frame can be sent
            continue
        accepted += 1
        assert isinstance(frame, dict) and isinstance(frame["type"], str)
        text_out = json.dumps(frame, ensure_ascii=False)
        text_out.encode("utf-8")
        assert "\x00" not in text_out
    assert accepted  # the generator also makes valid frames


@pytest.mark.parametrize("text, code", [
    (None, "bad_frame"),
    ("x" * 70_000, "bad_frame"),
    ('{"type":"ping","pad":"' + "界" * 22_000 + '"}', "bad_frame"),  # under 64 Ki characters, over 64 KiB
    ("[" * 5000 + "]" * 5000, "bad_frame"),
    ('{"type":"sync","after_seq":NaN}', "bad_json"),
    ('{"type":"sync","after_seq":' + "9" * 20 + "}", "validation_error"),
    ('{"type":"\\ud800"}', "bad_frame"),
    ('{"type":"send","body":"\\u0000"}', "validation_error"),
    ('{"type":"send","\\udc00":1}', "bad_frame"),
])
def test_what_is_refused_and_how(text, code):
    with pytest.raises(FrameError) as raised:
        decode_frame(text)
    assert raised.value.code == code


def test_an_error_frame_never_carries_a_surrogate_or_a_nul():
    frame = error_frame("unknown_type", "Unknown frame type: \ud800\x00", ref="\udfff")
    text = json.dumps(frame, ensure_ascii=False)
    text.encode("utf-8")
    assert "\x00" not in text

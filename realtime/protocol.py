"""Client frames in, error frames out: the one place a socket's incoming text becomes a frame.

`decode_frame()` turns the text of a WebSocket message into a frame the consumer may act on, or
raises `FrameError` and nothing else. What it refuses is what would otherwise kill the socket
later, far from here: text the database cannot store (NUL), text that cannot be encoded back to
UTF-8 (a lone surrogate, which JSON lets a client write as "\\ud800"), numbers no database column
holds, and nesting deep enough to exhaust the parser's recursion. What it lets through is plain
JSON whose every string may be stored and echoed.
"""

import json

FRAME_MAX_BYTES = 64 * 1024
MAX_DEPTH = 16  # a frame is an object of scalars, one level of `subject`; 16 leaves room
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # PostgreSQL's bigint
REF_MAX_CHARS = 64


class FrameError(Exception):
    """A frame the socket answers with {"type": "error", "code", "message", "ref"?}."""

    def __init__(self, code, message, ref=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def _clean(text):
    """A string that PostgreSQL stores and UTF-8 encodes as it is."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _problem(text):
    if "\x00" in text:
        return FrameError("validation_error", "Text may not contain the NUL character (U+0000).")
    return FrameError("bad_frame", "Text must be Unicode: a lone surrogate (U+D800 to U+DFFF) is not allowed.")


def ref_of(frame):
    """What the client named a frame by, echoed in the answer: `ref`, or a send's `client_id`.
    Only a clean string or a number of at most 64 characters is echoed."""
    if not isinstance(frame, dict):
        return None
    ref = frame.get("ref", frame.get("client_id"))
    if isinstance(ref, bool) or not isinstance(ref, (str, int)):
        return None
    if isinstance(ref, int):
        return ref if INT_MIN <= ref <= INT_MAX else None
    return ref if len(ref) <= REF_MAX_CHARS and _clean(ref) else None


def _check(frame):
    """Walks the decoded value without recursion; raises FrameError at the first thing refused."""
    stack = [(frame, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _clean(value):
                raise _problem(value)
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                raise FrameError("validation_error", "Numbers must be 64-bit integers.")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise FrameError("bad_frame", f"The frame is nested more than {MAX_DEPTH} levels deep.")
            if isinstance(value, dict):
                for key, item in value.items():
                    if not _clean(key):
                        raise _problem(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def decode_frame(text_data, bytes_data=None):
    """The frame in one WebSocket message: a dict with a string "type", every string clean and every
    integer a 64-bit one. Raises FrameError (with the frame's ref when that is clean), nothing else."""
    if not isinstance(text_data, str) or len(text_data) > FRAME_MAX_BYTES \
            or len(text_data.encode("utf-8", "surrogatepass")) > FRAME_MAX_BYTES:
        raise FrameError("bad_frame", "Frames are JSON text of at most 64 KiB.")
    try:
        frame = json.loads(text_data, parse_constant=_not_json)
    except RecursionError:
        raise FrameError("bad_frame", f"The frame is nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError:  # JSONDecodeError, and NaN / Infinity
        raise FrameError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError("bad_frame", 'A frame is a JSON object with a "type".')
    try:
        _check(frame)
    except FrameError as exc:
        exc.ref = ref_of(frame)
        raise
    if not isinstance(frame.get("type"), str):
        raise FrameError("bad_frame", 'A frame is a JSON object with a "type".', ref=ref_of(frame))
    return frame


def error_frame(code, message, ref=None):
    """An error frame whose text is always valid UTF-8, whatever was interpolated into it."""
    frame = {"type": "error", "code": code, "message": printable(message)}
    if ref is not None:
        frame["ref"] = ref if isinstance(ref, int) else printable(ref)
    return frame


def printable(text):
    text = str(text).replace("\x00", "\N{REPLACEMENT CHARACTER}")
    return text if _clean(text) else text.encode("utf-8", "replace").decode("utf-8")

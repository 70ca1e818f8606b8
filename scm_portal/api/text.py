"""What a request may carry in its text: the one check, made at the edge, for every client input.

PostgreSQL's text cannot hold a NUL character, and a lone surrogate (U+D800..U+DFFF not paired,
which JSON's "\\ud800" escape produces) cannot be encoded as UTF-8: the database, the JSON
renderer and every template would fail on it. Neither is ever meaningful input, so a request
carrying one is refused with a 400 where it enters, before a view, serializer, query or error
message can meet it: path and query string and headers in `StorableTextMiddleware`, JSON and
multipart bodies in the API's parsers (scm_portal/api/parsers.py), page forms in the middleware.

JSON bodies are also limited in depth: nothing in the API nests deeper than a few levels, and a
body nested thousands deep would exhaust the interpreter's stack in whatever walks it next.
"""

import re

from django.utils.translation import gettext_lazy as _

MAX_JSON_DEPTH = 32  # containers within containers; the API's bodies nest 4 deep at most

NUL = "\x00"
# A JSON escape that may decode to a NUL or a surrogate: only then are a body's strings walked.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")

UNSTORABLE_MESSAGE = _("Text may not contain NUL characters or unpaired surrogates.")
TOO_DEEP_MESSAGE = _("The body is nested too deeply.")


def is_unstorable(text):
    """True when `text` holds a NUL or a lone surrogate (a str holds a valid pair as one character)."""
    if NUL in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")  # faster than searching for the surrogate range
    except UnicodeEncodeError:
        return True
    return False


class UnstorableText(ValueError):
    """`code` is invalid_text or too_deep; `path` (keys and indexes from the top) leads to the
    offending value, or to the object holding an offending key (a key is never echoed)."""

    MESSAGES = {"invalid_text": UNSTORABLE_MESSAGE, "too_deep": TOO_DEEP_MESSAGE}

    def __init__(self, path, code="invalid_text"):
        self.path = tuple(path)
        self.code = code
        self.message = self.MESSAGES[code]
        super().__init__(str(self.message))

    @property
    def fields(self):
        return error_fields(self.path, self.message)


def check_json_value(value, raw_text=None):
    """Raises UnstorableText when `value` (parsed JSON) nests deeper than MAX_JSON_DEPTH or holds a
    NUL or lone surrogate in a key or a string. Given the text it was parsed from, strings are
    only walked when that text holds one or an escape that could have produced one; otherwise
    the check is a scan of the text and a walk over the containers, a level at a time (a batch of
    5,000 stock movements: about 2 ms)."""
    if raw_text is None or _SUSPECT_ESCAPE.search(raw_text) is not None or is_unstorable(raw_text):
        problem = _first_problem(value, strings=True)
    else:
        problem = _first_problem(value, strings=False) if _deeper_than(value, MAX_JSON_DEPTH) else None
    if problem is not None:
        raise problem


def _deeper_than(value, limit):
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
    return False


def _first_problem(value, *, strings):
    """The first problem, with the path to it, as an UnstorableText; None when there is none."""
    if isinstance(value, str):
        return UnstorableText(()) if strings and is_unstorable(value) else None
    if not isinstance(value, (dict, list)):
        return None
    stack = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return UnstorableText((), "too_deep")  # the message says it all
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            if strings and isinstance(key, str) and is_unstorable(key):
                return UnstorableText(path)  # the key itself is never echoed
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1, (*path, key)))
            elif strings and isinstance(item, str) and is_unstorable(item):
                return UnstorableText((*path, key))
    return None


def error_fields(path, message):
    """The contract's `fields` for a problem at `path`: nested like a serializer's errors, list
    indexes as string keys (as DRF's ListField gives them)."""
    if not path:
        return {"non_field_errors": [str(message)]}
    fields = [str(message)]
    for key in reversed(path):
        fields = {str(key): fields}
    return fields

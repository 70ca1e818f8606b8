"""The canonical bytes a hash chain hashes, written by one function per chain.

A chain (a room's messages: messaging.chain; a tenant's audit log: audit.chain) hashes each row's
canonical form: the sorted-key JSON of its write-once columns, as

    json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)

writes it, with the row's time in UTC ISO 8601 to the microsecond. `canonical_writer()` makes a
chain's one function for it, over plain values in the chain's column order, so that the model
path (a row being written, or read as a model instance) and the verifier's streamed rows
(audit/verify.py: tuples off a server-side cursor, jsonb as its text, the time already formatted
by PostgreSQL) hash the same bytes by the same code. It writes the JSON straight from the values
in the sorted key order, without a dict: a string, an int or a boolean by itself, any other value
through the one reused encoder, so the bytes are json.dumps's to the byte.
"""

import json
from datetime import UTC
from json.encoder import encode_basestring

from django.db.models import BooleanField, DateTimeField, JSONField

# The encoder json.dumps(..., sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
# builds on every call, built once.
encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode

_INTEGER_TYPES = {"IntegerField", "BigIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
                  "SmallIntegerField", "PositiveSmallIntegerField", "ForeignKey", "AutoField", "BigAutoField"}
_STRING_TYPES = {"CharField", "TextField", "SlugField"}


def canonical_time(value):
    """A row's time as the canonical form writes it (what PostgreSQL's
    to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00' gives too)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


# Python values (a model being written or read, values_list): each by itself for the commonest
# types (None among them: the encoder's own call costs more than the rest of a row); anything else
# through the encoder, so the bytes stay json.dumps's whatever a caller put in a field.
def _string(value):
    if value.__class__ is str:
        return encode_basestring(value)
    return "null" if value is None else encode(value)


def _integer(value):
    if value.__class__ is int:
        return int.__repr__(value)
    return "null" if value is None else encode(value)


def _boolean(value):
    return "true" if value is True else "false" if value is False else "null" if value is None else encode(value)


def _time(value):
    return "null" if value is None else encode_basestring(canonical_time(value))


def _json_value(value):
    if value is None:
        return "null"
    if not value and (value.__class__ is dict or value.__class__ is list):
        return "{}" if value.__class__ is dict else "[]"
    return encode(value)


# A row as PostgreSQL hands it over (`text=True`; audit.verify's select): strings, ints and
# booleans of their own types or None, jsonb as its text, the time as its canonical text.
def _row_string(value):
    return "null" if value is None else encode_basestring(value)


def _row_integer(value):
    return "null" if value is None else int.__repr__(value)


def _row_boolean(value):
    return "null" if value is None else "true" if value else "false"


def _row_time(value):
    return "null" if value is None else encode_basestring(value)


def _row_json(text):
    """jsonb as its text: parsed only when not empty, and written as the encoder writes the value."""
    if text is None:
        return "null"
    if text == "{}" or text == "[]":
        return text
    return encode(json.loads(text))


# A NOT NULL column of a row: the C function itself, no Python call of ours at all.
_ROW_NOT_NULL = {_row_string: encode_basestring, _row_time: encode_basestring, _row_integer: int.__repr__,
                 _row_boolean: ("false", "true").__getitem__}


def _encoders(field):
    """(for Python values, for a row's text forms) of one column."""
    if isinstance(field, JSONField):
        pair = _json_value, _row_json
    elif isinstance(field, DateTimeField):
        pair = _time, _row_time
    elif isinstance(field, BooleanField):
        pair = _boolean, _row_boolean
    elif field.get_internal_type() in _STRING_TYPES:
        pair = _string, _row_string
    elif field.get_internal_type() in _INTEGER_TYPES:
        pair = _integer, _row_integer
    else:
        return encode, encode  # anything else (an IP address, a decimal): the encoder itself
    if not field.null:
        pair = pair[0], _ROW_NOT_NULL.get(pair[1], pair[1])
    return pair


def canonical_writer(model, columns, *, when_set=()):
    """The canonical-bytes function of a chain of `model` rows over `columns` (attnames):

        canonical_values(values, text=False) -> bytes

    `values`: a sequence whose first len(columns) items are the columns' values in `columns` order
    (more items after them are ignored, so a streamed row may carry its prev_hash and hash too). A
    column of `when_set` is left out when None (rows written before it existed keep their form).
    `text=False`: Python values, as a model holds them (a time a datetime). `text=True`: a row as
    PostgreSQL hands it over, with jsonb as its text and times as their canonical text
    (`canonical_time`). Both give the same bytes for the same row.
    """
    fields = {name: model._meta.get_field(name) for name in columns}  # by attname too: "tenant_id"
    plans = ([], [])
    for position, key in enumerate(sorted(columns)):
        prefix = ("{" if position == 0 else ",") + encode_basestring(key) + ":"
        for form, encoder in enumerate(_encoders(fields[key])):
            plans[form].append((prefix, columns.index(key), encoder, key in when_set))
    plans = tuple(tuple(plan) for plan in plans)
    if plans[0][0][3]:
        raise ValueError("canonical_writer: the first key of the canonical form must always be present")

    def canonical_values(values, text=False):
        parts = []
        append = parts.append
        for prefix, index, encoder, optional in plans[text]:
            value = values[index]
            if optional and value is None:
                continue
            append(prefix)
            append(encoder(value))
        append("}")
        return "".join(parts).encode()

    canonical_values.columns = tuple(columns)
    return canonical_values

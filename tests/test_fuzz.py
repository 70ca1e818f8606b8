"""No request from any client causes a server error: hostile input on every endpoint, for every role.

For every operation of the OpenAPI schema and every demo role (and anonymous), the API gets
requests built from hostile values in its path parameters, its query string and its body: NUL
bytes, lone surrogates, very long strings, JSON nested 5,000 deep, numbers at and past the int64
limits, floats where integers belong, dates in year 1 and 9999, wrong types, unknown keys and
missing ones. Each operation gets a fixed table of such requests (the classes a fuzz run once
found, each tried on every parameter and field) and a bounded number of hypothesis-generated
ones, derandomized: every run sends the same requests. Every answer must be below 500, and
every 4xx of the API must have the contract's error shape. The pages (every URL pattern outside
/api/) get the same treatment in their path segments, query strings and form posts.

The demo world is built once for the module (module_full_demo) and each test runs in a
savepoint of it that is rolled back, so every role meets the same world. Each request runs in a
savepoint of its own that is rolled back too, so the demo world is the same for all of them and a
database error in one cannot hide behind another.
"""

import base64
import json
import logging
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from scm_portal.tenancy import demo as demo_data
from tests.api_contract import user

ROLES = ["acme.buyer", "acme.warehouse", "acme.admin", "acme.auditor", "supa.rep", "bank.officer", "globex.buyer", None]
HOME = {"globex.buyer": "globex"}  # everyone else works in acme
METHODS = ("get", "post", "put", "patch", "delete")
# Hypothesis examples per operation and role, on top of the fixed table; FUZZ_EXAMPLES=500 for a
# deeper run by hand (still derandomized: the same requests for the same number).
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "6"))

# --- hostile values ------------------------------------------------------------------------------

DEEP = object()  # stands for a JSON array nested 5,000 deep (json.dumps cannot build one)
DEEP_JSON = "[" * 5000 + "]" * 5000
LONG = "x" * 10_000

# Dates a fuzz run once broke the portal with, and their kin: the edges of the calendar, offsets
# that push them past it in UTC, and well-formed dates that do not exist.
HOSTILE_DATES = [
    "0001-01-01T00:00:00", "9999-12-31T23:59:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
    "0001-01-01", "9999-12-31", "2024-02-30T00:00:00", "2024-01-01T24:00:00", "2024-01-01T00:00:00+25:00",
]
HOSTILE_STRINGS = [
    "\x00", "a\x00b", "\ud800", "x\udfffy", "\udc00\ud800", "", " ", LONG, "é" * 3000, "😀", "\u202e\ufeff",
    "../../etc/passwd", "<script>alert(1)</script>", "' OR '1'='1", "%00", "\\u0000",
    "0001-01-01T00:00:00", "9999-12-31T23:59:59", "0001-01-01", "9999-12-31", "0001-01-01T00:00:00-23:59",
    "NaN", "-1", "1e400", "1.5", "9" * 30,
]
HOSTILE_NUMBERS = [0, -1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, 1.5, -0.0, 1e308, 5e-324]
HOSTILE_VALUES = [*HOSTILE_STRINGS, *HOSTILE_NUMBERS, None, True, False, [], {}, [None], {"\ud800": 1}, DEEP]
# What each field of a valid body is set to in the fixed table (one class each), and more for
# fields of a type that has more edges.
FIELD_CLASSES = ["\x00", "\ud800", LONG, 2**63, -(2**63) - 1, 1.5, "9999-12-31T23:59:59", None, {}, [LONG], DEEP]
TYPE_CLASSES = {
    "integer": [0, -1, 2**31, -(2**31) - 1, 2**63 - 1, 10**30, "1", 1.0, 1e308, True],
    "date-time": HOSTILE_DATES,
    "date": ["0001-01-01", "9999-12-31", "2024-02-30", "0001-01-01T00:00:00+23:59"],
    "string": ["", " ", "😀" * 100, 0, ["a"]],
    "decimal": [0.1, 1e308, "1e400", "NaN", "Infinity", "-0", "0.001", "9" * 40, 1e-300],  # floats for decimals
}
UNKNOWN_KEYS = ["\ud800", "\x00", "a\udfffb", "unknown", "__proto__", LONG]

HOSTILE_QUERY = [
    "\x00", "a\x00b", "\ud800", *HOSTILE_DATES, "-1", "0", str(2**63), "9" * 30, "x" * 5000, "1e400", "NaN", "1.5",
    "%", "true",
]
QUERY_VALUES = [v for v in HOSTILE_QUERY if "\x00" not in v]  # what gets past the edge
# A period's two ends, each pair valid as a period (since before until, shorter than a year).
HOSTILE_PERIODS = [
    ("0001-01-01T00:00:00+01:00", "0001-01-02T00:00:00+01:00"), ("0001-01-01T00:00:00", "0001-01-02T00:00:00"),
    ("9999-12-30T00:00:00", "9999-12-31T23:59:59"), ("9999-12-31T00:00:00-01:00", "9999-12-31T22:00:00-01:00"),
]
# Cursors as a client could forge them: base64 of a query string naming offset, reverse, position.
FORGED_CURSORS = [
    base64.b64encode(text.encode()).decode()
    for text in ["p=abc", "p=\x00", "p=" + "9" * 30, "p=-1&r=1", "o=-5", "o=" + "9" * 30, "r=" + "9" * 5000, "p=1.5"]
] + ["%%%", "AAAA", "\x00"]
# Query parameters worth trying on every list even when the schema does not name them.
EXTRA_QUERY_KEYS = [
    "cursor", "page", "page_size", "q", "code", "sku", "warehouse", "supplier", "state", "kind", "mine", "role",
    "unread", "since", "until", "after_seq", "before_seq", "limit", "room", "id", "format", "lang",
]
HOSTILE_IDS = ["0", "-1", str(2**31), str(2**63 - 1), str(2**63), "9" * 30, "%00", "1%00", "%ED%A0%80", "%FF", "abc",
               "x" * 1000]
HOSTILE_TENANTS = ["%00", "x" * 300, "ACME", "%ED%A0%80"]

# Headers that reach content negotiation and the parsers, each tried on every operation with its
# valid body; and bodies in charsets that decode to what UTF-8 never holds.
HOSTILE_HEADERS = [
    {"HTTP_ACCEPT": "application/xml"}, {"HTTP_ACCEPT": "text/html;q=abc, */*;q=-1"},
    {"HTTP_ACCEPT_LANGUAGE": "xx-YY, zh-hans;q=abc, " + "a" * 5000}, {"HTTP_IDEMPOTENCY_KEY": "k" * 5000},
    {"CONTENT_TYPE": "application/json; charset=utf-16"}, {"CONTENT_TYPE": "application/json; charset=bz2_codec"},
    {"CONTENT_TYPE": "application/json; charset=nope"}, {"CONTENT_TYPE": "multipart/form-data"},
    {"CONTENT_TYPE": "multipart/form-data; boundary="}, {"CONTENT_TYPE": "text/plain"},
]
ESCAPED_BODIES = [b'{"name": "\\ud800"}', b'{"name": "a\\x00b"}', b'{"\\udc00": 1}']  # charset=unicode_escape
OTHER_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]

RAW_BODIES = [
    DEEP_JSON, '{"a":' * 5000 + "1" + "}" * 5000, '{"\\ud800": 1}', '{"\\u0000": 1}', '{"a\\udfffb": "x"}',
    '"\\ud800"', '"\\u0000"', '{"x": "\\ud800"}', "[]", "{}", "null", "0", "1e400", "NaN", '{"a": NaN}',
    '{"a": Infinity}', "[" * 900 + "]" * 900, '{"a": ' + "9" * 5000 + "}", b'{"a": "\xff\xfe"}', b"\xef\xbb\xbf{}",
    "{", '{"a": 1,}', "", " ", '{"a": 1}{"b": 2}', '{"a": "' + "x" * 3_000_000 + '"}',  # past the upload limit
]


def encode(value):
    """JSON for `value`, lone surrogates as \\uXXXX escapes and DEEP as 5,000 nested arrays."""
    text = json.dumps(value, default=lambda o: "__DEEP__" if o is DEEP else str(o))
    return text.replace('"__DEEP__"', DEEP_JSON).encode()


def latin_square(keys, values):
    """len(values) dicts giving every key every value once: dict i gives key k value i + k."""
    return [{key: values[(i + k) % len(values)] for k, key in enumerate(keys)} for i in range(len(values))]


def query_string(params):
    """A query string as a client would send it: UTF-8, a lone surrogate as its (invalid) bytes."""
    def enc(value):
        return quote(str(value).encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{enc(k)}={enc('' if v is None else v)}" for k, v in params.items())


def multipart(fields, files):
    """A multipart body built by hand, so that any text (NUL, invalid UTF-8) can be sent."""
    boundary = "fuzzboundary7f3a"

    def b(text):
        return str(text).encode("utf-8", "surrogatepass")

    head = b"--" + b(boundary) + b'\r\nContent-Disposition: form-data; name="%s"'
    parts = [head % b(name) + b"\r\n\r\n" + b(value) + b"\r\n" for name, value in fields.items()]
    file_head = b'; filename="%s"\r\nContent-Type: application/octet-stream\r\n\r\n'
    parts += [
        head % b(name) + file_head % b(filename) + content + b"\r\n" for name, (filename, content) in files.items()
    ]
    return b"".join(parts) + b"--%s--\r\n" % b(boundary), f"multipart/form-data; boundary={boundary}"


# --- the schema -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    query: dict = field(hash=False)
    body: dict | None = field(hash=False)
    media: str | None


@lru_cache(maxsize=1)
def _schema_text():
    response = APIClient().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.content


def schema():
    return json.loads(_schema_text())


def operations(spec):
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            query = {p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p["in"] == "query"}
            content = op.get("requestBody", {}).get("content", {})
            media = next(iter(content), None)
            found.append(Operation(method, path, query, content[media].get("schema") if media else None, media))
    return found


class Schemas:
    """Resolves $ref, allOf, oneOf of the schema's components."""

    def __init__(self, spec):
        self.components = spec.get("components", {}).get("schemas", {})

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self.components[node["$ref"].rsplit("/", 1)[-1]]
        if isinstance(node, dict) and "allOf" in node:
            merged = {k: v for k, v in node.items() if k != "allOf"}
            for part in node["allOf"]:
                merged = {**self.resolve(part), **merged}
            return merged
        return node or {}

    def choices(self, node):
        node = self.resolve(node)
        if "oneOf" in node or "anyOf" in node:
            return [c for option in node.get("oneOf", node.get("anyOf")) for c in self.choices(option)]
        return [node]

    def properties(self, node):
        node = self.resolve(node)
        props = {k: v for k, v in node.get("properties", {}).items() if not self.resolve(v).get("readOnly")}
        return props, set(node.get("required", ())) & set(props)


# --- the demo world, as values to aim with --------------------------------------------------------


@dataclass
class World:
    tenant: str
    other_tenant: str
    pools: dict  # field name -> valid values
    ids: dict  # path parameter -> ids of real rows (strings)
    action_press: tuple | None  # (room id, seq, action name) of a real button


def world_for(tenant_slug):
    from alerts.models import Alert, EscalationPolicy
    from alerts.registry import alert_kinds
    from inventory.models import SKU, Warehouse
    from messaging.models import Attachment, Message, Room
    from messaging.registry import ACTIONS
    from scm_portal.tenancy.models import Invitation, Membership, Organization, Partnership
    from scm_portal.tenancy.roles import CORE_ROLE_VALUES

    def first(queryset, n=4):
        return [str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True)[:n]]

    suppliers = list(Partnership.objects.filter(tenant__slug=tenant_slug, kind="supplier")
                     .values_list("organization__slug", flat=True))
    usernames = list(Membership.objects.filter(tenant__slug=tenant_slug).values_list("user__username", flat=True))
    skus = list(SKU.objects.filter(tenant__slug=tenant_slug).values_list("code", flat=True)[:4])
    alerts = first(Alert.objects.filter(tenant__slug=tenant_slug))
    roles = [str(role) for role in CORE_ROLE_VALUES]
    pools = {
        "sku": skus, "code": ["FUZZ-1", *skus], "warehouse": list(Warehouse.objects.filter(tenant__slug=tenant_slug)
                                                                   .values_list("code", flat=True)),
        "supplier": suppliers, "default_supplier": suppliers,
        "organization": list(Organization.objects.values_list("slug", flat=True)),
        "user": usernames, "users": usernames, "username": usernames, "password": ["demo12345"],
        "roles": roles, "team_role": roles, "kind": [*(k.kind for k in alert_kinds()), "supplier", "alert"],
        "name": ["Fuzz"], "external_id": ["fuzz-1"], "occurred_at": [timezone.now().isoformat()],
        "body": ["hello", "/help", "@bot /stock"], "client_id": ["fuzz-client"], "id": alerts,
        "after_seconds": [60], "seq": [1], "delta": [-1, 5], "refers_to": [1],
    }
    room_ids = first(Room.objects.filter(tenant__slug=tenant_slug), 6)
    press = None
    event = Message.objects.filter(tenant__slug=tenant_slug, kind="event").exclude(actions=[]).order_by("pk").first()
    if event is not None:
        names = [a.get("name") for a in event.actions if isinstance(a, dict) and a.get("name") in ACTIONS]
        if names:
            press = (str(event.room_id), str(event.seq), names[0])
    ids = {
        "room_id": room_ids,
        "attachment_id": first(Attachment.objects.filter(tenant__slug=tenant_slug)),
        "seq": ["1", "2", "3"],
        "action_name": sorted(ACTIONS) or ["acknowledge"],
        "invitation": first(Invitation.objects.all()),
        "policy": first(EscalationPolicy.objects.filter(tenant__slug=tenant_slug)),
    }
    return World(tenant_slug, "globex" if tenant_slug == "acme" else "acme", pools, ids, press)


def model_ids(world, path):
    """Ids of real rows of the model behind a detail path ({id}), in the role's tenant."""
    url = path.replace("{tenant}", world.tenant)
    url = re.sub(r"\{[a-z_]+\}", "1", url)
    cls = getattr(resolve(url).func, "cls", None)
    serializer_meta = getattr(getattr(cls, "serializer_class", None), "Meta", None)
    model = getattr(cls, "model", None) or getattr(serializer_meta, "model", None)
    if model is None:
        return []
    rows = model.objects.all()
    if any(f.name == "tenant" for f in model._meta.fields):
        rows = rows.filter(tenant__slug=world.tenant)
    return [str(pk) for pk in rows.order_by("pk").values_list("pk", flat=True)[:4]]


def path_ids(world, op):
    """Real values for each path parameter of `op`."""
    real = {}
    for name in re.findall(r"\{([a-z_]+)\}", op.path):
        if name == "tenant":
            real[name] = [world.tenant]
        elif name == "id":
            real[name] = model_ids(world, op.path) or ["1"]
        else:
            real[name] = world.ids.get(name) or ["1"]
    return real


def fill(path, values):
    return re.sub(r"\{([a-z_]+)\}", lambda m: values[m.group(1)], path)


# --- valid bodies, and the fixed table ------------------------------------------------------------


def valid_value(schemas, node, name, world):
    node = schemas.choices(node)[0]
    if "enum" in node:
        options = [v for v in node["enum"] if v not in ("", None)]
        return options[0] if options else ""
    pool = world.pools.get(name)
    kind = node.get("type")
    if kind == "array":
        return [valid_value(schemas, node.get("items", {}), name, world)]
    if pool and kind in (None, "string", "integer"):
        return pool[0]
    if kind == "object" or "properties" in node:
        return valid_body(schemas, node, world)
    if kind == "integer":
        return max(node.get("minimum", 1), 1)
    if kind == "number":
        return "1.00"
    if kind == "boolean":
        return True
    if node.get("format") == "date-time":
        return timezone.now().isoformat()
    if node.get("format") == "date":
        return timezone.localdate().isoformat()
    return 1 if not node else "fuzz"


def valid_body(schemas, node, world, *, optional=False):
    """The required fields with valid values (and the optional ones too, when asked)."""
    props, required = schemas.properties(node)
    return {name: valid_value(schemas, sub, name, world) for name, sub in props.items() if optional or name in required}


def mutations(schemas, node, world):
    """A valid body; then that body with each field (and each field of its nested objects) left
    out, or set to a valid value, or to each hostile class; and with unknown keys."""
    node = schemas.resolve(node)
    if node.get("type") == "array":  # a list of objects (movements): mutate one row of it
        for row in mutations(schemas, node.get("items", {}), world):
            yield [row]
        return
    base = valid_body(schemas, node, world)
    yield base
    full = valid_body(schemas, node, world, optional=True)
    if full != base:
        yield full
    props, required = schemas.properties(node)
    for name, sub in props.items():
        yield {k: v for k, v in base.items() if k != name} if name in required else {**base, name: full[name]}
        inner = schemas.choices(sub)[0]
        for value in FIELD_CLASSES + TYPE_CLASSES.get(inner.get("format") or inner.get("type"), []):
            yield {**base, name: value}
        item = schemas.resolve(inner.get("items", {})) if inner.get("type") == "array" else None
        if item and item.get("properties"):
            for row in mutations(schemas, item, world):
                yield {**base, name: [row]}
    for key in UNKNOWN_KEYS:
        yield {**base, key: "x"}


def fixed_table(schemas, op, world):
    """(method, url, body bytes or None, content type) of the fixed hostile requests for `op` in
    its path and query string."""
    method = op.method.upper()
    real = path_ids(world, op)
    base_values = {name: values[0] for name, values in real.items()}
    base = fill(op.path, base_values)
    # path parameters: each one hostile in turn
    for name in real:
        for value in HOSTILE_TENANTS + [world.other_tenant] if name == "tenant" else HOSTILE_IDS:
            yield method, fill(op.path, {**base_values, name: value}), None, None
    # query parameters: each alone with a NUL (refused at the edge), then every other value
    keys = list(op.query) + [k for k in EXTRA_QUERY_KEYS if k not in op.query]
    for key in op.query:
        yield method, f"{base}?{query_string({key: chr(0)})}", None, None
    if op.method == "get":
        for params in latin_square(keys, QUERY_VALUES):
            yield method, f"{base}?{query_string(params)}", None, None
        if {"since", "until"} <= set(op.query):
            for since, until in HOSTILE_PERIODS:
                yield method, f"{base}?{query_string({'since': since, 'until': until})}", None, None
        if "cursor" in op.query:
            for cursor in FORGED_CURSORS:
                yield method, f"{base}?{query_string({'cursor': cursor})}", None, None


def base_url(path, world):
    """`path` with real values: the first row of each parameter's model (a button's press for an action)."""
    values = {name: found[0] for name, found in path_ids(world, Operation("get", path, {}, None, None)).items()}
    if path.endswith("/actions/{action_name}/") and world.action_press:
        values.update(zip(("room_id", "seq", "action_name"), world.action_press))
    return fill(path, values)


def body_table(schemas, op, world):
    """The fixed hostile bodies for `op`, a valid request first (see test_api_answers_no_server_error)."""
    method = op.method.upper()
    url = base_url(op.path, world)
    if op.method == "get":
        yield method, url, None, None
    elif op.media == "application/json":
        for body in mutations(schemas, op.body, world):
            yield method, url, encode(body), "application/json"
        for raw in RAW_BODIES:
            yield method, url, raw.encode() if isinstance(raw, str) else raw, "application/json"
    elif op.media == "multipart/form-data":
        yield (method, url, *multipart({"body": "hi"}, {"file": ("a.txt", b"data")}))
        for name in ["\x00", "a\x00.txt", "\ud800.txt", "x" * 1000 + ".txt", "", "../../x.txt", "%00.txt"]:
            yield (method, url, *multipart({"body": "hi"}, {"file": (name, b"data")}))
        for value in ["\x00", "a\x00b", "\ud800", LONG, "9" * 30]:
            for key in ("body", "client_id", value):
                yield (method, url, *multipart({key: value}, {"file": ("a.txt", b"data")}))
    else:  # an endpoint without a body still gets one
        yield method, url, None, None
        for raw in RAW_BODIES[:8]:
            yield method, url, raw.encode() if isinstance(raw, str) else raw, "application/json"


def header_table(first, op):
    """The operation's first fixed request (a valid one) with each hostile header, and for one
    with a JSON body also bodies in a charset that decodes to what UTF-8 never holds."""
    method, url, body, content_type = first
    for headers in HOSTILE_HEADERS[:4] if body is None else HOSTILE_HEADERS:
        headers = dict(headers)
        yield method, url, body, headers.pop("CONTENT_TYPE", content_type or "application/json"), headers
    if op.media == "application/json":
        for raw in ESCAPED_BODIES:
            yield method, url, raw, "application/json; charset=unicode_escape", {}


def other_methods(path, listed, world):
    url = base_url(path, world)
    for method in OTHER_METHODS:
        if method.lower() not in listed:
            yield method, url, b"{}", "application/json"


# --- generated requests ---------------------------------------------------------------------------

hostile_value = st.sampled_from(HOSTILE_VALUES)
wild_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


def typed(schemas, node, name, world, depth=0):
    """Values of the field's declared type (and its valid values), now and then a hostile one."""
    options = schemas.choices(node)
    if len(options) > 1:
        return st.one_of([typed(schemas, o, name, world, depth) for o in options])
    node = options[0]
    pool = world.pools.get(name) or []
    if "enum" in node:
        strategy = st.sampled_from(node["enum"])
    elif node.get("type") == "string":
        if node.get("format") == "date-time":
            strategy = st.datetimes().map(lambda d: d.isoformat())
        else:
            strategy = st.one_of(st.sampled_from(pool), wild_text) if pool else wild_text
    elif node.get("type") == "integer":
        strategy = st.integers(node.get("minimum", -(2**64)), node.get("maximum", 2**64))
    elif node.get("type") == "number":
        strategy = st.one_of(st.decimals(allow_nan=False, allow_infinity=False).map(str), st.floats())
    elif node.get("type") == "boolean":
        strategy = st.booleans()
    elif node.get("type") == "array" and depth < 3:
        strategy = st.lists(typed(schemas, node.get("items", {}), name, world, depth + 1), max_size=3)
    elif (node.get("type") == "object" or "properties" in node) and depth < 3:
        strategy = objects(schemas, node, world, depth + 1)
    else:
        strategy = st.one_of(st.integers(), wild_text, *([st.sampled_from(pool)] if pool else []))
    return st.integers(0, 3).flatmap(lambda i: hostile_value if i == 0 else strategy)


def objects(schemas, node, world, depth=0):
    props, required = schemas.properties(node)
    body = st.fixed_dictionaries(
        {k: typed(schemas, props[k], k, world, depth) for k in sorted(required)},
        optional={k: typed(schemas, props[k], k, world, depth) for k in sorted(set(props) - required)},
    )
    unknown = st.dictionaries(st.one_of(st.sampled_from(UNKNOWN_KEYS), wild_text), hostile_value, max_size=2)
    return st.tuples(body, st.integers(0, 4), unknown).map(lambda t: {**t[0], **t[2]} if t[1] == 0 else t[0])


def generated(schemas, op, world):
    """A strategy of (method, url, body, content type) for `op`."""
    real = path_ids(world, op)
    path_values = st.fixed_dictionaries({
        name: st.sampled_from([world.tenant] * 6 + HOSTILE_TENANTS + [world.other_tenant]) if name == "tenant"
        else st.sampled_from(values * 3 + HOSTILE_IDS)
        for name, values in real.items()
    })
    keys = list(op.query) + [k for k in EXTRA_QUERY_KEYS if k not in op.query]
    query_values = st.one_of(st.sampled_from(HOSTILE_QUERY), wild_text, st.integers().map(str))
    def as_text(value):
        return value if isinstance(value, str) else json.dumps(value, default=str)

    values_of = {k: query_values for k in keys}
    for k, node in op.query.items():
        values_of[k] = st.one_of(typed(schemas, node, k, world).map(as_text), query_values)
    # a few parameters at a time, so that one refused value does not hide what the others reach
    query = st.lists(st.sampled_from(keys), max_size=3, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({k: values_of[k] for k in chosen}))
    if op.media == "application/json":
        node = schemas.resolve(op.body)
        payload = typed(schemas, node, None, world).map(encode)
        raw = st.sampled_from(RAW_BODIES).map(lambda r: r.encode() if isinstance(r, str) else r)
        body = st.integers(0, 5).flatmap(lambda i: raw if i == 0 else payload).map(lambda b: (b, "application/json"))
    elif op.media == "multipart/form-data":
        body = st.tuples(
            st.dictionaries(st.sampled_from(["body", "client_id", "extra"]), wild_text, max_size=3),
            st.one_of(wild_text, st.sampled_from(HOSTILE_STRINGS)).filter(lambda n: not {'"', "\r", "\n"} & set(n)),
        ).map(lambda t: multipart(t[0], {"file": (t[1], b"data")}))
    else:
        body = st.just((None, None))

    def build(parts):
        values, params, (payload, content_type) = parts
        url = fill(op.path, values)
        if params:
            url += "?" + query_string(params)
        return op.method.upper(), url, payload, content_type

    return st.tuples(path_values, query, body).map(build)


# --- sending and checking -------------------------------------------------------------------------


class Report:
    def __init__(self, who):
        self.who = who
        self.sent = 0
        self.failures = {}  # a short signature -> the first request that showed it

    def send(self, client, method, url, body=None, content_type=None, headers=None, *, expect=None):
        kwargs = {} if body is None else {"data": body, "content_type": content_type}
        with transaction.atomic():
            response = client.generic(method, url, **kwargs, **(headers or {}))
            transaction.set_rollback(True)
        self.sent += 1
        problem = self.problem(method, url, response)
        if expect is None and "%00" in url:
            expect = 400  # a NUL in the address or query string is refused at the edge, for anyone
        if problem is None and expect is not None and response.status_code != expect:
            problem = f"{response.status_code}, expected {expect}"
        if problem:
            path = url.split("?")[0]
            signature = (method, re.sub(r"/[^/]*(%|\d)[^/]*/", "/*/", path), problem[:120])
            self.failures.setdefault(signature, f"{method} {url[:300]} body={(body or b'')[:300]!r} -> {problem}")
        return response

    @staticmethod
    def problem(method, url, response):
        status = response.status_code
        if status >= 500:
            exc = getattr(response, "exc_info", None)
            return f"{status} {exc[0].__name__}: {str(exc[1])[:200]}" if exc else f"{status}"
        if 400 <= status < 500 and url.startswith("/api/") and method != "HEAD":  # HEAD answers carry no body
            try:
                body = json.loads(response.content)
            except ValueError:
                return f"{status} not JSON: {response.content[:100]!r}"
            error = body.get("error") if isinstance(body, dict) else None
            if set(body) != {"error"} or not isinstance(error, dict) or set(error) != {"code", "message", "fields"}:
                return f"{status} not the contract's error shape: {response.content[:200]!r}"
        return None

    def assert_clean(self):
        listed = "\n".join(list(self.failures.values())[:200])
        assert not self.failures, (
            f"{self.who}: {len(self.failures)} kinds of failure in {self.sent} requests:\n{listed}"
        )


def client_for(username):
    client = APIClient(raise_request_exception=False)
    if username:
        token, _created = Token.objects.get_or_create(user=user(username))
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def explore(report, client, strategy):
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(request):
        report.send(client, *request)

    run()


@pytest.fixture(scope="module")
def module_full_demo(django_db_setup, django_db_blocker):
    """The full demo, built once for all the roles of this module inside a transaction that is
    rolled back after the last of them. Each test runs in a savepoint of its own within it
    (pytest-django's `db`), rolled back after the test: what one role's requests wrote (tokens,
    sessions, failed logins, anything a request let through) never reaches the next role's test."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
    try:
        with django_db_blocker.unblock():
            world = demo_data.seed_all()
        yield world
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def fuzz_world(module_full_demo, db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # uploads land here, not in the checkout
    # Thousands of 4xx and failed logins would each log a warning; the report lists what matters.
    loggers = [logging.getLogger(name) for name in ("django.request", "django.security", "axes")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield module_full_demo
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


@pytest.mark.parametrize("username", ROLES, ids=[r or "anonymous" for r in ROLES])
def test_api_answers_no_server_error(fuzz_world, username):
    spec = schema()
    schemas = Schemas(spec)
    ops = operations(spec)
    assert len(ops) >= 50, "the schema lists too few operations; is it served?"
    world = world_for(HOME.get(username, "acme"))
    client = client_for(username)
    report = Report(username or "anonymous")
    for op in ops:
        for request in fixed_table(schemas, op, world):
            report.send(client, *request)
        bodies = body_table(schemas, op, world)
        first = next(bodies)
        # A valid request refused for who the caller is (401, 403, 404) stops there: its body and
        # headers are tried by the roles whose requests get that far.
        if report.send(client, *first).status_code not in (401, 403, 404):
            for request in bodies:
                report.send(client, *request)
            for request in header_table(first, op):
                report.send(client, *request)
        explore(report, client, generated(schemas, op, world))
    for path, item in spec["paths"].items():
        for request in other_methods(path, set(item), world):
            report.send(client, *request)
    # the schema and its docs take a query string too
    for url in ["/api/v1/schema/", "/api/v1/docs/"]:
        for value in HOSTILE_QUERY:
            report.send(client, "GET", f"{url}?{query_string({'format': value, 'lang': value})}")
    print(f"\n{report.who}: {report.sent} requests, {len(report.failures)} kinds of server error or malformed error")
    report.assert_clean()


# --- pages ----------------------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"

PAGE_QUERY_KEYS = ["page", "q", "warehouse", "below", "state", "kind", "mine", "days", "since", "until", "next",
                   "sku", "room", "role", "lang"]
PAGE_FORM_KEYS = ["invitation", "partnership", "membership", "active", "organization", "kind", "username", "role",
                  "answer", "name", "min_severity", "add_level", "level-0-after_seconds", "level-0-roles",
                  "level-0-users", "level-0-channels", "language", "next", "password", "body"]
# Fewer than the API gets (a page costs more to render), one of each kind.
PAGE_VALUES = ["\ud800", "0001-01-01T00:00:00", "9999-12-31T23:59:59-23:59", "2024-02-30T00:00:00", "-1", "0",
               str(2**63), "9" * 30, "x" * 5000, "1e400", "NaN", "%"]
HOSTILE_SEGMENTS = ["%00", "a%00b", "%ED%A0%80", "%FF", "x" * 3000, "..", "%2F", "9" * 30, str(2**63), "-1", "0"]


def page_patterns(resolver=None, prefix=""):
    """Every URL pattern outside /api/ as (route text, converter names)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith("api/") or route.startswith("^static"):
            continue
        if isinstance(entry, URLResolver):
            yield from page_patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def page_urls(route, world):
    """The page at `route` with real values, then with each parameter hostile in turn."""
    names = re.findall(r"<(?:\w+:)?(\w+)>", route)
    real = {
        "tenant": world.tenant, "room_id": (world.ids["room_id"] or ["1"])[0], "code": (world.pools["sku"] or ["X"])[0],
        "pk": (world.ids["policy"] or ["1"])[0], "token": "t" * 40,
    }
    values = {name: real.get(name, "1") for name in names}

    def build(vals):
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: vals[m.group(1)], route)

    yield build(values)
    for name in names:
        for segment in HOSTILE_SEGMENTS + ([world.other_tenant] if name == "tenant" else []):
            yield build({**values, name: segment})


@pytest.mark.parametrize("username", ROLES, ids=[r or "anonymous" for r in ROLES])
def test_pages_answer_no_server_error(fuzz_world, username):
    from django.test import Client

    client = Client(raise_request_exception=False)
    if username:
        client.force_login(user(username))
    world = world_for(HOME.get(username, "acme"))
    report = Report(username or "anonymous")
    routes = list(page_patterns())
    assert any(r.startswith("t/<slug:tenant>/stock/") for r in routes), routes
    for route in routes:
        urls = list(page_urls(route, world))
        for url in urls:
            report.send(client, "GET", url)
        page = urls[0]
        if route == "accounts/logout/":
            continue  # it would end the session the other pages are tried with
        # a NUL anywhere is refused before the page sees it; every other value reaches the page
        report.send(client, "GET", f"{page}?{query_string(dict.fromkeys(PAGE_QUERY_KEYS, 'a' + chr(0)))}", expect=400)
        nul_form = dict.fromkeys(PAGE_FORM_KEYS, chr(0))
        report.send(client, "POST", page, query_string(nul_form).encode(), FORM, expect=400)
        report.send(client, "POST", page, *multipart(nul_form, {}), expect=400)
        for params in latin_square(PAGE_QUERY_KEYS, PAGE_VALUES):
            report.send(client, "GET", f"{page}?{query_string(params)}")
        for form in latin_square(PAGE_FORM_KEYS, PAGE_VALUES):
            report.send(client, "POST", page, query_string(form).encode(), FORM)
    print(f"\n{report.who}: {report.sent} page requests, {len(report.failures)} kinds of server error")
    report.assert_clean()

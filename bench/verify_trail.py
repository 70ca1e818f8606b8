"""verify_trail: recomputing a tenant's chains at 10^6 messages, beside floors of the same run.

    PostgreSQL (fresh database, migrated) — no server: the verifier runs in this process

A tenant with `--verify-rooms` rooms and `--verify-messages` chained messages in all (chat lines,
Chinese and English, event cards with payloads and texts), written with COPY; then, in order:

1. verify: audit.verify.tenant_verify(tenant) — what `manage.py verify_trail --tenant` runs:
   every room's rows streamed from PostgreSQL (a server-side cursor), each row's canonical JSON
   built by the chain's own canonical function (messaging.chain.canonical_values, the one that
   hashed the message when it was written) and hashed, chained. Target: within 3× of floor 1.
2. floor 1, "hashlib over the same bytes, read from the database": the same rows and columns
   streamed from the same table with psycopg's server-side cursor (raw text, no conversion), and
   sha256 chained over each row's canonical bytes (precomputed in memory: the bytes the verifier
   hashes). The work no verifier can skip: read the rows, hash the bytes.
3. floor 2, "hashlib alone": sha256 chained over the same canonical bytes in memory; shown for
   scale (it reads nothing from the database).

Each figure is the best of `--verify-rounds` rounds.

    .venv/bin/python bench/run.py verify_trail
    .venv/bin/python bench/verify_trail.py --verify-messages 100000      # a quicker look
"""

import argparse
import hashlib
import io
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, ThrowawayDatabase, add_shared_arguments, fmt, log, render_table, wait_quiet  # noqa: E402

NAME = "verify_trail"
TARGET = 3.0


def add_arguments(parser):
    g = parser.add_argument_group("verify_trail")
    g.add_argument("--verify-messages", type=int, default=1_000_000, help="messages in the tenant (all rooms)")
    g.add_argument("--verify-rooms", type=int, default=10, help="rooms they are spread over")
    g.add_argument("--verify-rounds", type=int, default=2, help="rounds of each measurement (the best is kept)")


def _django(db_url):
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _body(n):
    if n % 5 == 0:
        return f"PO-{n:08d} 已确认，预计 {n % 28 + 1} 日到货"
    return f"message {n}: the truck left the warehouse 第{n}条"


def _build(tenant, rooms, total):
    """COPY `total` chained messages into `rooms`; returns the canonical bytes in chain order."""
    from django.db import connection

    from messaging.chain import CANONICAL_COLUMNS, canonical_values
    from messaging.models import GENESIS_HASH, Room

    columns = [*CANONICAL_COLUMNS, "prev_hash", "hash"]
    per_room = total // len(rooms)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    all_bytes = []
    for room in rooms:
        buffer = io.StringIO()
        prev = GENESIS_HASH
        for seq in range(1, per_room + 1):
            n = room.pk * 10_000_000 + seq
            event = seq % 4 == 0
            values = {
                "tenant_id": tenant.pk, "room_id": room.pk, "seq": seq, "kind": "event" if event else "chat",
                "sender_id": None, "body": _body(n),
                "payload": {"purchase_order": f"PO-{n:08d}", "state": "confirmed", "amount": "1250.00"} if event else {},
                "actions": [{"name": "po_confirm"}] if event else [], "subject_kind": "purchase_order" if event else "",
                "subject_ref": f"PO-{n:08d}" if event else "", "internal": False, "core_audience": "",
                "recipient_id": None, "refers_to": None, "relation": "", "client_id": None if event else f"c-{n}",
                "text": {"key": "orders.po.confirmed", "params": {"number": f"PO-{n:08d}"}} if event else None,
                "created_at": start + timedelta(microseconds=n),
            }
            row = tuple(values.get(c) for c in columns[:-2])
            data = canonical_values(row)  # the chain's own canonical function, as message_post hashes
            digest = hashlib.sha256(prev.encode() + b"\n" + data).hexdigest()
            all_bytes.append(data)
            out = []
            for column, value in zip(columns, row + (prev, digest)):
                if value is None:
                    out.append("\\N")
                elif isinstance(value, (dict, list)):
                    out.append(json.dumps(value, ensure_ascii=False).replace("\\", "\\\\"))
                elif isinstance(value, bool):
                    out.append("t" if value else "f")
                elif isinstance(value, datetime):
                    out.append(value.isoformat())
                else:
                    out.append(str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n"))
            buffer.write("\t".join(out) + "\n")
            prev = digest
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY messaging_message ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
        Room.objects.filter(pk=room.pk).update(last_seq=per_room, last_hash=prev)
    connection.cursor().execute("ANALYZE messaging_message")
    return all_bytes


def _floor_db(room_ids, columns, canonical_bytes):
    """Stream the same rows and columns with psycopg (server-side cursor, text), hash the bytes."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    index = 0
    prev = "0" * 64
    with raw.transaction():
        for room_id in room_ids:
            with raw.cursor(name=f"floor_{room_id}") as cursor:
                cursor.itersize = 5000
                cursor.execute(
                    f"SELECT {', '.join(c + '::text' for c in columns)} FROM messaging_message WHERE room_id = %s ORDER BY seq",
                    [room_id])
                for _row in cursor:
                    prev = hashlib.sha256(prev.encode() + b"\n" + canonical_bytes[index]).hexdigest()
                    index += 1
    return index


def _floor_mem(canonical_bytes):
    prev = "0" * 64
    for data in canonical_bytes:
        prev = hashlib.sha256(prev.encode() + b"\n" + data).hexdigest()
    return prev


def run(options):
    with ThrowawayDatabase() as db:
        _django(db.url)
        from django.core.management import call_command

        log("migrating", db.name)
        call_command("migrate", verbosity=0)
        from audit.verify import _M_COLUMNS, tenant_verify
        from messaging.models import Room, RoomKind
        from scm_portal.tenancy.services import tenant_create

        tenant = tenant_create(slug="bench", name="Bench")
        rooms = list(Room.objects.filter(tenant=tenant))
        while len(rooms) < options.verify_rooms:
            rooms.append(Room.objects.create(tenant=tenant, kind=RoomKind.INTERNAL, name=f"bench {len(rooms)}"))
        log(f"writing {options.verify_messages} messages in {len(rooms)} rooms")
        started = time.perf_counter()
        canonical_bytes = _build(tenant, rooms, options.verify_messages)
        built_s = time.perf_counter() - started
        total = len(canonical_bytes)
        wait_quiet(options.wait_quiet, database=db.name)
        verify_s, floor_db_s, floor_mem_s = [], [], []
        for _round in range(options.verify_rounds):
            started = time.perf_counter()
            report = tenant_verify(tenant)
            verify_s.append(time.perf_counter() - started)
            assert report.ok and sum(c.checked for c in report.chains if c.chain == "room") == total, report.as_dict()
            started = time.perf_counter()
            assert _floor_db([r.pk for r in rooms], _M_COLUMNS, canonical_bytes) == total
            floor_db_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            _floor_mem(canonical_bytes)
            floor_mem_s.append(time.perf_counter() - started)
        best = {"verify": min(verify_s), "floor_db": min(floor_db_s), "floor_mem": min(floor_mem_s)}
        ratio = best["verify"] / best["floor_db"]
        return {
            "messages": total, "rooms": len(rooms), "bytes": sum(len(b) for b in canonical_bytes), "build_s": built_s,
            "rounds": {"verify_s": verify_s, "floor_db_s": floor_db_s, "floor_mem_s": floor_mem_s},
            "best_s": best, "ratio_to_floor_db": ratio, "ratio_to_floor_mem": best["verify"] / best["floor_mem"],
            "checks": [{"check": f"verify within {TARGET}× of reading and hashing the same bytes", "ok": ratio <= TARGET,
                        "ratio": round(ratio, 2)}],
        }


def report(data):
    rows = [
        ["verify_trail (tenant_verify)", fmt(data["best_s"]["verify"], 2), fmt(data["best_s"]["verify"] / data["messages"] * 1e6, 2), "—"],
        ["floor 1: read the rows + sha256", fmt(data["best_s"]["floor_db"], 2), fmt(data["best_s"]["floor_db"] / data["messages"] * 1e6, 2),
         fmt(data["ratio_to_floor_db"], 2) + "×"],
        ["floor 2: sha256 of the bytes alone", fmt(data["best_s"]["floor_mem"], 3), fmt(data["best_s"]["floor_mem"] / data["messages"] * 1e6, 2),
         fmt(data["ratio_to_floor_mem"], 1) + "×"],
    ]
    head = (f"{data['messages']} messages in {data['rooms']} rooms, {data['bytes'] / 1e6:.0f} MB of canonical bytes "
            f"(written in {data['build_s']:.0f} s)\n")
    checks = "\n".join(f"{'OK ' if c['ok'] else 'MISSED'} {c['check']}: {c['ratio']}×" for c in data["checks"])
    return head + render_table(["", "s (best)", "µs/message", "verify ÷ this"], rows) + "\n" + checks


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_arguments(parser)
    add_arguments(parser)
    opts = parser.parse_args()
    result = run(opts)
    print(report(result))
    sys.exit(0 if all(c["ok"] for c in result["checks"]) else 1)

"""The store-then-relay floor: the bare broadcaster (bench/ws_bare_broadcaster.py), except that each
frame is made durable before it is relayed, the least any relay does whose database is the truth
and whose sockets only tell (docs/ARCHITECTURE.md, "The event flow"):

    python bench/ws_bare_durable.py PORT DATABASE_URL

Per frame, on one PostgreSQL connection per sender, in one round trip (one prepared statement in
autocommit): lock the room row, insert the message with the next seq and its SHA-256 chain link,
move the room's head, and commit, which waits for the WAL flush. Then the frame, with its seq and
hash, goes to every listener as in the bare broadcaster.

Nothing else: no authentication, no access check, no idempotency on client_id, no Django, no
channel layer between processes, no sanitising, no per-socket queue. The portal does all of that
too, so this is a floor for it, not a target: the benchmark reports it beside the bare
broadcaster to show what committing before telling costs on this machine.
"""

import json
import sys

import psycopg
from websockets.asyncio.server import broadcast, serve
from ws_bare_broadcaster import CLIENTS, listen, run_loop

GENESIS = "0" * 64
ROOM = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS bare_room (id int PRIMARY KEY, last_seq bigint NOT NULL, last_hash char(64) NOT NULL);
CREATE TABLE IF NOT EXISTS bare_message (
    id bigserial PRIMARY KEY, room_id int NOT NULL REFERENCES bare_room, seq bigint NOT NULL, body text NOT NULL,
    prev_hash char(64) NOT NULL, hash char(64) NOT NULL, created_at timestamptz NOT NULL, UNIQUE (room_id, seq));
INSERT INTO bare_room VALUES (1, 0, '%s') ON CONFLICT DO NOTHING;
""" % GENESIS
# The whole append in one statement, run in autocommit (its COMMIT goes with it): one round trip.
# The chain link is computed by PostgreSQL, so nothing waits for the previous hash to come back.
APPEND = """
WITH head AS (SELECT last_seq + 1 AS seq, last_hash AS prev FROM bare_room WHERE id = %(room)s FOR UPDATE),
message AS (
    INSERT INTO bare_message (room_id, seq, body, prev_hash, hash, created_at)
    SELECT %(room)s, seq, %(body)s, prev,
           encode(sha256(convert_to(prev || E'\\n' || seq::text || E'\\n' || %(body)s, 'UTF8')), 'hex'), now()
    FROM head
    RETURNING seq, hash, created_at)
UPDATE bare_room SET last_seq = message.seq, last_hash = message.hash FROM message WHERE id = %(room)s
RETURNING message.seq, message.hash, message.created_at
"""


async def store(conn, frame):
    """Appends the frame's message to the room's chain and commits: one round trip."""
    cursor = await conn.execute(APPEND, {"room": ROOM, "body": frame["body"]})
    seq, digest, created_at = await cursor.fetchone()
    frame.update(seq=seq, hash=digest, created_at=created_at.isoformat())
    return frame


async def handler(ws, dsn):
    if ws.request.path.startswith("/send"):
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=0) as conn:
            async for message in ws:
                frame = await store(conn, json.loads(message))
                broadcast(CLIENTS, json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
        return
    await listen(ws)


async def main(port, dsn):
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(SCHEMA)
    async with serve(lambda ws: handler(ws, dsn), "127.0.0.1", port, max_size=2**22, backlog=2048,
                     compression=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    run_loop(main(int(sys.argv[1]), sys.argv[2]))

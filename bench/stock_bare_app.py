"""The bare baseline of the stock benchmark's alert latency: a plain ASGI app, nothing else.

    BARE_DATABASE_URL=... BARE_REDIS_URL=... BARE_CHANNEL=... uvicorn bench.stock_bare_app:app

- POST /movements/ (one movement object, as the portal takes it): one INSERT + COMMIT with
  psycopg (one connection opened at start-up), one Redis PUBLISH of an alert-shaped frame,
  answers 201 {"created": 1, "duplicates": 0}.
- websocket /ws/: subscribes to the Redis channel, says {"type": "hello"} once subscribed, then
  forwards every published frame to the client as is.

No framework, no auth, no rules, no channel layer: the floor under the portal's figure, served
by the same uvicorn (same loop and HTTP/websocket implementations) and measured with the same
client (bench/stock_ws_client.py). The table is created by bench/stock.py.
"""

import asyncio
import datetime
import json
import os

import psycopg
import redis.asyncio as aioredis

TABLE = "bench_bare_movement"
INSERT = (f"INSERT INTO {TABLE} (external_id, sku, warehouse, delta, reason, occurred_at) "
          "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, created_at")

state = {}


async def startup():
    url = os.environ["BARE_DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    state["db"] = await psycopg.AsyncConnection.connect(url)
    state["db_lock"] = asyncio.Lock()
    state["redis"] = aioredis.from_url(os.environ["BARE_REDIS_URL"])
    state["channel"] = os.environ["BARE_CHANNEL"]


async def shutdown():
    await state["db"].close()
    await state["redis"].aclose()


async def read_body(receive):
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send, status, payload):
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def post_movement(receive, send):
    row = json.loads(await read_body(receive))
    occurred = datetime.datetime.fromisoformat(row["occurred_at"])
    async with state["db_lock"]:
        async with state["db"].cursor() as cur:
            await cur.execute(INSERT, (row["external_id"], row["sku"], row["warehouse"], row["delta"], row.get("reason", ""), occurred))
            movement_id, created_at = await cur.fetchone()
        await state["db"].commit()
    frame = {
        "type": "alert", "id": movement_id, "kind": "low_stock", "state": "open", "severity": "warning", "level": 0,
        "title": f"{row['sku']} in {row['warehouse']} is below safety stock", "subject": {"kind": "sku", "id": row["sku"]},
        "partner": "sup-a", "cards": [], "opened_at": created_at.isoformat(), "next_escalation_at": None,
    }
    await state["redis"].publish(state["channel"], json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
    await respond(send, 201, {"created": 1, "duplicates": 0})


async def websocket(scope, receive, send):
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    pubsub = state["redis"].pubsub()
    await pubsub.subscribe(state["channel"])
    while (await pubsub.get_message(timeout=1.0)) is None:
        pass  # the subscribe confirmation
    await send({"type": "websocket.send", "text": json.dumps({"type": "hello"})})

    async def forward():
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None:
                await send({"type": "websocket.send", "text": message["data"].decode()})

    task = asyncio.create_task(forward())
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        task.cancel()
        await pubsub.aclose()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "websocket":
        await websocket(scope, receive, send)
    elif scope["method"] == "POST" and scope["path"] == "/movements/":
        await post_movement(receive, send)
    else:
        await respond(send, 404, {"detail": "Not found."})

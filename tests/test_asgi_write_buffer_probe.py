"""The write-buffer probe (scm_portal.asgi.with_write_buffer_probe) under a real uvicorn server,
with the socket implementation the make targets use."""

import asyncio
import socket

import pytest
import uvicorn
import websockets

from scm_portal.asgi import with_write_buffer_probe


async def _report_probe(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    probe = scope.get("portal_write_buffer_size")
    await send({"type": "websocket.send", "text": "absent" if probe is None else f"bytes={probe()}"})
    await send({"type": "websocket.close"})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("ws", ["websockets-sansio"])
def test_uvicorn_sockets_get_a_write_buffer_probe(ws):
    port = _free_port()
    config = uvicorn.Config(with_write_buffer_probe(_report_probe), host="127.0.0.1", port=port, ws=ws,
                            lifespan="off", log_level="warning", ws_per_message_deflate=False)
    server = uvicorn.Server(config)

    async def scenario():
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
                return await client.recv()
        finally:
            server.should_exit = True
            await serving

    assert asyncio.run(scenario()) == "bytes=0"

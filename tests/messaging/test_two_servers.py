"""Two real server processes sharing Redis deliver to each other's sockets.

A socket on server A receives a message posted over HTTP to server B, through the Redis
channel layer the production settings use. Needs REDIS_URL (CI sets it).
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.e2e.conftest import DEMO_PASSWORD, REPO, ThrowawayDatabase, _free_port, _run_manage, _server_env, _stop, _wait_until_serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the shared channel layer is Redis"),
]


def _production_like_env(database_url):
    env = _server_env(database_url)
    env["DJANGO_SETTINGS_MODULE"] = "scm_portal.settings.base"  # the Redis channel layer, as deployed
    env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


def _json(method, url, body=None, token=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def two_servers():
    tmp_dir = Path(tempfile.mkdtemp(prefix="scm-two-"))
    database = ThrowawayDatabase()
    env = _production_like_env(database.url)
    database.create()
    processes = []
    try:
        with open(tmp_dir / "servers.log", "w") as log:
            _run_manage(env, "migrate", "--noinput", "-v0", log=log)
            _run_manage(env, "seed_demo", "--password", DEMO_PASSWORD, log=log)
            urls = []
            for _ in range(2):
                port = _free_port()
                process = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "scm_portal.asgi:application", "--host", "127.0.0.1",
                     "--port", str(port), "--lifespan", "on", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--no-access-log"],
                    cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                )
                processes.append(process)
                urls.append(f"127.0.0.1:{port}")
                _wait_until_serving(f"http://{urls[-1]}/accounts/login/", process, tmp_dir / "servers.log")
            yield urls
    finally:
        for process in processes:
            _stop(process)
        database.drop()


def test_a_post_on_one_server_reaches_sockets_on_the_other(two_servers):
    a, b = two_servers
    tokens = {
        name: _json("POST", f"http://{b}/api/v1/auth/token/", {"username": name, "password": DEMO_PASSWORD})["token"]
        for name in ["acme.buyer", "supa.rep", "supb.rep"]
    }
    rooms = _json("GET", f"http://{b}/api/v1/t/acme/rooms/", token=tokens["acme.buyer"])
    room = next(r for r in rooms if r["partner"] and r["partner"]["organization"] == "sup-a")

    async def scenario():
        async with websockets.connect(f"ws://{a}/ws/t/acme/?token={tokens['supa.rep']}") as rep, websockets.connect(
            f"ws://{a}/ws/t/acme/?token={tokens['supb.rep']}"
        ) as other:
            assert json.loads(await asyncio.wait_for(rep.recv(), 5))["type"] == "hello"
            assert json.loads(await asyncio.wait_for(other.recv(), 5))["type"] == "hello"
            await asyncio.sleep(0.3)  # the subscriptions reach Redis
            await asyncio.to_thread(
                _json, "POST", f"http://{b}/api/v1/t/acme/rooms/{room['id']}/messages/",
                {"body": "CANARY-two-servers 跨进程", "client_id": "x-1"}, tokens["acme.buyer"],
            )
            frame = json.loads(await asyncio.wait_for(rep.recv(), 5))
            assert frame["type"] == "message" and frame["body"] == "CANARY-two-servers 跨进程"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(other.recv(), 1.0)  # supb.rep is not in sup-a's room

    asyncio.run(scenario())

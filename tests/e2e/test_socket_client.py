"""The bundled socket client (static/portal/portal.js, Portal.TenantSocket) in a real browser, against
a stand-in WebSocket and Playwright's clock: how it retries when the server closes at once.

While the server cannot reach Redis it accepts a socket and closes it with 1013 ("try again later"):
the client must back off exponentially, with jitter, not retry every second. A socket the server
took in (its hello arrived) starts the backoff afresh.
"""

import pytest

pytestmark = pytest.mark.e2e

FAKE_SOCKET = """
window.__attempts = [];
window.WebSocket = function (url) {
  var ws = this;
  window.__attempts.push(Date.now());
  ws.readyState = 0;
  setTimeout(function () {
    ws.readyState = 1;
    if (ws.onopen) ws.onopen();
    setTimeout(function () {
      if (window.__hello && ws.onmessage) ws.onmessage({ data: JSON.stringify({ type: "hello", rooms: [] }) });
      ws.readyState = 3;
      if (ws.onclose) ws.onclose({ code: window.__hello ? 4408 : 1013 });
    }, 20);
  }, 20);
};
window.WebSocket.prototype.send = function () {};
window.WebSocket.prototype.close = function () {};
"""


def attempts_over(page, portal_server, seconds, hello):
    page.clock.install()
    page.goto(f"{portal_server}/accounts/login/")
    page.add_script_tag(url="/static/portal/portal.js")
    page.evaluate(FAKE_SOCKET)
    page.evaluate("hello => { window.__hello = hello; }", hello)
    page.evaluate("""() => {
      var socket = new window.Portal.TenantSocket("/ws/t/acme/", { state: function () {}, frame: function () {} });
      socket.connect();
    }""")
    page.clock.run_for(seconds * 1000)
    times = page.evaluate("window.__attempts")
    return [round((b - a) / 1000, 2) for a, b in zip(times, times[1:])]


def test_a_socket_closed_at_once_with_1013_is_retried_with_growing_jittered_delays(page, portal_server):
    gaps = attempts_over(page, portal_server, 300, hello=False)
    # 1 s, 2 s, 4 s, ... up to 30 s, each delay between half and all of its step: 14 to 25 attempts
    # in five minutes, not one a second.
    assert 13 <= len(gaps) <= 25, gaps
    assert all(0.5 <= gap <= 1.1 for gap in gaps[:1]), gaps
    assert 8 <= gaps[4] <= 16.1 and all(15 <= gap <= 30.1 for gap in gaps[6:]), gaps
    assert len(set(gaps[6:])) > 1  # jitter: the delays are not all alike


def test_a_socket_the_server_took_in_reconnects_quickly_after_a_slow_consumer_close(page, portal_server):
    gaps = attempts_over(page, portal_server, 30, hello=True)
    assert len(gaps) >= 20 and all(gap <= 1.1 for gap in gaps), gaps

/*
 * A purchase order's page (/t/<tenant>/orders/<number>/), kept current over the tenant socket
 * /ws/t/<tenant>/: every message about this PO (its cards, button presses, chat linked to it)
 * re-reads the page's live part from the server, which is the truth; so does every (re)connect,
 * so a change made while the socket was down is never missed.
 *
 * Vanilla JS, no build step; the socket comes from portal.js (window.Portal).
 */
(function () {
  "use strict";

  var Portal = window.Portal;

  function init(root) {
    var t = Portal.loadStrings("po-strings");
    var number = root.getAttribute("data-number");
    var live = root.querySelector("#po-live");
    var loading = false;
    var again = false;

    function busy() {
      // Never replace what the reader is typing or choosing in a form.
      var active = document.activeElement;
      return !!active && live.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
    }

    function refresh() {
      if (loading) { again = true; return; }
      loading = true;
      fetch(root.getAttribute("data-live-url"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html !== null && busy()) {
            setTimeout(refresh, 2000); // once the reader has left the field
          } else if (html !== null) {
            live.innerHTML = html; // the server's own template, escaped there
            root.setAttribute("data-refreshed", String(Date.now()));
          }
        })
        .catch(function () { /* the next frame or reconnect tries again */ })
        .then(function () {
          loading = false;
          if (again) { again = false; refresh(); }
        });
    }

    function aboutThisOrder(frame) {
      if (frame.subject && frame.subject.kind === "purchase_order" && frame.subject.id === number) return true;
      return !!frame.payload && frame.payload.purchase_order === number;
    }

    var socket = new Portal.TenantSocket(root.getAttribute("data-ws-path"), {
      state: function (state) { Portal.showSocketState(root, t, state); },
      frame: function (frame) {
        if (frame.type === "hello") {
          refresh();
        } else if (frame.type === "message" && aboutThisOrder(frame)) {
          refresh();
        }
      }
    }, { liveOn: "hello" });
    socket.connect();
  }

  function start() {
    var root = document.querySelector("[data-po-detail]");
    if (root) init(root);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

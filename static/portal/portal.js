/*
 * Helpers the portal's page scripts share (chat.js, alerts.js): the tenant socket with
 * reconnection, the page's texts, DOM and fetch helpers, time formatting; and the live parts of
 * record pages (a PO, a financing application, the financing queues), started here for any page
 * that has them.
 *
 * Exposed as window.Portal. Load it before the page script; with `defer` on both, the order of
 * the <script> tags is the order they run in. Vanilla JS, no build step.
 */
(function () {
  "use strict";
  if (window.Portal) return; // base.html loads it on every page; a page that loads it again changes nothing

  var SOCKET_OPEN = 1;
  var PING_MS = 25000;
  var STOP_CODES = [4401, 4403, 4404]; // signed out, refused or access lost, no such tenant

  /*
   * The texts a template renders in a block of [data-key] elements (id `blockId`), as a function
   * t(key, params, fallback): `{name}` in the text is replaced by params.name; an unknown key gives
   * `fallback` when one is passed, else the key itself.
   */
  function loadStrings(blockId) {
    var dict = {};
    var block = document.getElementById(blockId);
    if (block) {
      block.querySelectorAll("[data-key]").forEach(function (node) {
        dict[node.getAttribute("data-key")] = node.textContent;
      });
    }
    return function t(key, params, fallback) {
      var text = Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : (fallback !== undefined ? fallback : key);
      if (params) {
        Object.keys(params).forEach(function (name) {
          text = text.split("{" + name + "}").join(String(params[name]));
        });
      }
      return text;
    };
  }

  /* A new element; text (if any) is set with textContent. */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
    } catch (e) { /* fall back to the cookie */ }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* The API's error text: error.message, and with `details` the field messages that differ from it. */
  function errorMessage(response, data, details) {
    var error = data && data.error ? data.error : {};
    var message = error.message || response.statusText || String(response.status);
    if (!details) return message;
    var extra = [];
    Object.keys(error.fields || {}).forEach(function (name) {
      var value = error.fields[name];
      (Array.isArray(value) ? value : [value]).forEach(function (item) {
        if (typeof item === "string" && item !== message) extra.push(item);
      });
    });
    return extra.length ? message + " " + extra.join(" ") : message;
  }

  /*
   * fetch() with the portal's JSON API conventions: same-origin credentials, the CSRF token on
   * anything but GET, a FormData body as it is and any other body as JSON. Resolves with the
   * parsed answer (null when empty); rejects with an Error carrying the API's
   * {"error": {"message"}} text and `status`.
   * options.details: append the API's field messages to the error text.
   * options.networkText: when the request does not reach the server, reject with this text
   *   (else with the browser's own error).
   */
  function api(method, url, body, options) {
    options = options || {};
    var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    // Cards, notices and buttons in the page's own language (the server renders them per reader).
    if (document.documentElement.lang) init.headers["Accept-Language"] = document.documentElement.lang;
    if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var failure = new Error(errorMessage(response, data, options.details));
          failure.status = response.status;
          throw failure;
        }
        return data;
      });
    }, function (error) {
      throw options.networkText !== undefined ? new Error(options.networkText) : error;
    });
  }

  /*
   * An Intl.DateTimeFormat in the time zone `zone` (falling back to the browser's when the zone
   * is unknown). options.locale: the locale (default: the page's lang); the other options are
   * Intl's (default: numeric date, 2-digit hour and minute).
   */
  function timeFormatter(zone, options) {
    var locale = document.documentElement.lang || undefined;
    var fields = { year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" };
    if (options) {
      fields = {};
      Object.keys(options).forEach(function (name) {
        if (name === "locale") locale = options.locale;
        else fields[name] = options[name];
      });
    }
    try {
      return new Intl.DateTimeFormat(locale, Object.assign({ timeZone: zone || undefined }, fields));
    } catch (e) {
      return new Intl.DateTimeFormat(locale, fields);
    }
  }

  /*
   * The portal's one date and time format (scm_portal/formats/): base.html puts the language's
   * Django patterns, the tenant's time zone and the month names on <html>, and this prints an
   * ISO time exactly as the server's templates do. kind: "datetime" (default), "date" or "time".
   * Without a zone (pages outside a tenant) the browser's is used. "" for a missing or bad time.
   */
  var formatParts = {};
  function timeParts(date, zone) {
    var key = zone || "";
    if (!formatParts[key]) {
      var fields = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
                     second: "2-digit", hourCycle: "h23" };
      try {
        formatParts[key] = new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone || undefined }, fields));
      } catch (e) {
        formatParts[key] = new Intl.DateTimeFormat("en-GB", fields); // an unknown zone: the browser's
      }
    }
    var out = {};
    formatParts[key].formatToParts(date).forEach(function (part) { out[part.type] = part.value; });
    if (out.hour === "24") out.hour = "00";
    return out;
  }

  function formatTime(iso, kind) {
    if (!iso) return "";
    var date = iso instanceof Date ? iso : new Date(iso);
    if (isNaN(date.getTime())) return "";
    var html = document.documentElement;
    var pattern = html.getAttribute("data-" + (kind || "datetime") + "-format") || "Y-m-d H:i";
    var months = (html.getAttribute("data-month-names") || "").split(",");
    var p = timeParts(date, html.getAttribute("data-time-zone"));
    var tokens = {
      Y: p.year, y: p.year.slice(-2), m: p.month, n: String(Number(p.month)), d: p.day,
      j: String(Number(p.day)), H: p.hour, G: String(Number(p.hour)), i: p.minute, s: p.second,
      M: months[Number(p.month) - 1] || p.month
    };
    var text = "";
    for (var i = 0; i < pattern.length; i++) {
      var c = pattern.charAt(i);
      if (c === "\\" && i + 1 < pattern.length) { text += pattern.charAt(++i); continue; }
      text += Object.prototype.hasOwnProperty.call(tokens, c) ? tokens[c] : c;
    }
    return text;
  }

  /* The socket's state on the page: root[data-socket] and the [data-role=status] text. */
  function showSocketState(root, t, state) {
    root.setAttribute("data-socket", state);
    var status = root.querySelector("[data-role=status]");
    if (!status) return;
    status.textContent = t({ open: "live", connecting: "connecting", reconnecting: "reconnecting", closed: "closed" }[state] || state);
  }

  /*
   * The tenant socket with reconnection: exponential backoff with jitter (1 s up to 30 s),
   * reset once the server's hello arrives (a socket the server accepts and then closes at once,
   * as with 1013 "try again later" while it cannot reach Redis, keeps backing off); an immediate
   * retry when the browser comes back online or the tab becomes visible; a ping every 25 s while
   * open. Close codes 4401/4403/4404 stop it; every other close (4408 "too slow", 1013, 1006, ...)
   * reconnects, and the page's open handler syncs from what it has.
   *
   * handlers.state(state): "connecting", "reconnecting", "open" or "closed".
   * handlers.frame(frame): every JSON frame with a string `type`.
   * handlers.open(): optional, after each successful open.
   * options.liveOn: "open" (default) reports "open" when the connection opens; "hello" only when
   *   the server's hello frame arrives (the server has accepted who we are).
   */
  function TenantSocket(path, handlers, options) {
    this.path = path;
    this.handlers = handlers;
    this.liveOnHello = !!options && options.liveOn === "hello";
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.pinger = null;
    this.stopped = false;
    TenantSocket.count += 1; // the header's bell listens on the page's socket when there is one
    var self = this;
    window.addEventListener("online", function () { self.reconnectNow(); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") self.reconnectNow();
    });
  }

  TenantSocket.count = 0;

  TenantSocket.prototype.url = function () {
    // A browser socket cannot set Accept-Language: the page's language goes in the query.
    var lang = document.documentElement.lang;
    var query = lang ? (this.path.indexOf("?") === -1 ? "?" : "&") + "lang=" + encodeURIComponent(lang) : "";
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + this.path + query;
  };

  TenantSocket.prototype.connect = function () {
    var self = this;
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.handlers.state(this.attempt ? "reconnecting" : "connecting");
    var ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = function () {
      if (!self.liveOnHello) self.handlers.state("open");
      self.pinger = setInterval(function () { self.send({ type: "ping" }); }, PING_MS);
      if (self.handlers.open) self.handlers.open();
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (!frame || typeof frame.type !== "string") return;
      if (frame.type === "hello") {
        self.attempt = 0; // the server took us in: the next failure starts the backoff afresh
        if (self.liveOnHello) self.handlers.state("open");
      }
      self.handlers.frame(frame);
      // Every frame also goes to the page's other listeners (the header's bell).
      document.dispatchEvent(new CustomEvent("portal:frame", { detail: frame }));
    };
    ws.onclose = function (event) {
      clearInterval(self.pinger);
      self.pinger = null;
      if (self.ws === ws) self.ws = null;
      if (STOP_CODES.indexOf(event.code) !== -1) {
        self.stopped = true;
        self.handlers.state("closed");
        return;
      }
      self.schedule();
    };
  };

  TenantSocket.prototype.schedule = function () {
    if (this.stopped || this.timer) return;
    var base = Math.min(30000, 1000 * Math.pow(2, this.attempt));
    this.attempt += 1;
    this.handlers.state("reconnecting");
    var self = this;
    this.timer = setTimeout(function () { self.timer = null; self.connect(); }, base / 2 + Math.random() * base / 2);
  };

  TenantSocket.prototype.reconnectNow = function () {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  };

  TenantSocket.prototype.isOpen = function () {
    return !!this.ws && this.ws.readyState === SOCKET_OPEN;
  };

  /* Sends one frame; false when the socket is not open (nothing is queued). */
  TenantSocket.prototype.send = function (frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  };

  TenantSocket.prototype.drop = function () {
    // Closes the current connection as a network failure would (reconnects with backoff).
    if (this.ws) this.ws.close();
  };

  /*
   * Live parts: a part of a page that the server renders again when its record moves. The page marks
   * it up, and this keeps it current over the tenant socket, with no script of its own:
   *
   *   <section data-live-part data-ws-path="/ws/t/<tenant>/" data-live-url="...?part=live"
   *            data-live-subject="purchase_order" data-live-id="PO-1">
   *     <span data-role="status"></span>            (the socket's state, texts from #live-strings)
   *     <div data-live-target>...</div>              (replaced by what data-live-url answers)
   *   </section>
   *
   * Every message frame about the subject (`frame.subject` {kind, id}, or a payload naming it:
   * `payload[kind] === id`; without data-live-id, any record of that kind) re-reads the part from
   * the server, which is the truth; so does every (re)connect (the server's hello), so a change
   * made while the socket was down is never missed. A part the reader is typing or choosing in is
   * never replaced: the read waits until they leave it (or send it). The parts of a page share one
   * socket (the header's bell listens on it too).
   */
  var LIVE_RETRY_MS = 2000;

  /* Whether the reader chose other options than the page gave (none marked: the first, in a list box none). */
  function selectChanged(select) {
    var options = select.options;
    if (select.multiple) {
      for (var i = 0; i < options.length; i++) {
        if (options[i].selected !== options[i].defaultSelected) return true;
      }
      return false;
    }
    var given = -1;
    for (var j = 0; j < options.length; j++) {
      if (options[j].defaultSelected) given = j;
    }
    if (given === -1 && select.size <= 1 && options.length) given = 0;
    return select.selectedIndex !== given;
  }

  function livePart(root) {
    var target = root.querySelector("[data-live-target]") || root;
    var kind = root.getAttribute("data-live-subject") || "";
    var id = root.getAttribute("data-live-id");
    var loading = false;
    var again = false;
    var waiting = null;

    function editing() {
      // The field that has the focus, or one whose value the reader changed and has not sent.
      var active = document.activeElement;
      if (active && target.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return true;
      var fields = target.querySelectorAll("input, select, textarea");
      for (var i = 0; i < fields.length; i++) {
        var field = fields[i];
        if (field.type === "hidden" || field.type === "submit" || field.type === "button") continue;
        if (field.type === "checkbox" || field.type === "radio") {
          if (field.checked !== field.defaultChecked) return true;
        } else if (field.tagName === "SELECT") {
          if (selectChanged(field)) return true;
        } else if (field.value !== field.defaultValue) {
          return true;
        }
      }
      return false;
    }

    function refresh() {
      if (loading) { again = true; return; }
      clearTimeout(waiting);
      waiting = null;
      loading = true;
      fetch(root.getAttribute("data-live-url"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html !== null && editing()) {
            waiting = setTimeout(refresh, LIVE_RETRY_MS); // once the reader has left the field
          } else if (html !== null) {
            target.innerHTML = html; // the server's own template, escaped there
            root.setAttribute("data-refreshed", String(Date.now()));
          }
        })
        .catch(function () { /* the next frame or reconnect tries again */ })
        .then(function () {
          loading = false;
          if (again) { again = false; refresh(); }
        });
    }

    function about(frame) {
      var subject = frame.subject;
      if (subject && subject.kind === kind && (id === null || String(subject.id) === id)) return true;
      var payload = frame.payload;
      return id !== null && !!payload && payload[kind] !== undefined && String(payload[kind]) === id;
    }

    return { root: root, refresh: refresh, about: about };
  }

  /* Starts the page's live parts (if any) on one tenant socket; returns the socket, or null. */
  function liveParts() {
    var roots = document.querySelectorAll("[data-live-part]");
    if (!roots.length) return null;
    var t = loadStrings("live-strings");
    var parts = Array.prototype.map.call(roots, livePart);
    var socket = new TenantSocket(roots[0].getAttribute("data-ws-path"), {
      state: function (state) {
        parts.forEach(function (part) { showSocketState(part.root, t, state); });
      },
      frame: function (frame) {
        parts.forEach(function (part) {
          if (frame.type === "hello" || (frame.type === "message" && part.about(frame))) part.refresh();
        });
      }
    }, { liveOn: "hello" });
    socket.connect();
    return socket;
  }

  window.Portal = {
    TenantSocket: TenantSocket,
    loadStrings: loadStrings,
    el: el,
    csrfToken: csrfToken,
    api: api,
    timeFormatter: timeFormatter,
    formatTime: formatTime,
    showSocketState: showSocketState,
    livePart: livePart,
    liveParts: liveParts,
  };

  // Before the header's bell starts (bell.js, loaded last), so that it listens on this socket.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", liveParts);
  } else {
    liveParts();
  }
})();

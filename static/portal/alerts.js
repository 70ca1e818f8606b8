/*
 * The live alert board (/t/<tenant>/alerts/): rows rendered by the server, kept current over
 * the tenant socket /ws/t/<tenant>/ (docs/CONTRACT.md, "WebSocket"), acted on through the REST API.
 *
 * Rules this file keeps:
 * - Alerts are keyed by id: whichever path brings one (page, socket frame, API answer), it is
 *   one row, updated in place.
 * - The database is the truth: on every (re)connect the board re-reads the first page from the
 *   API, so a frame sent while the socket was down is never missed.
 * - Every value reaches the DOM with textContent; texts come from the #alert-strings block the
 *   template renders in the page's language.
 *
 * Vanilla JS, no build step.
 */
(function () {
  "use strict";

  var PING_MS = 25000;
  var NEXT_ACTIONS = {
    open: ["ack", "start", "resolve"],
    acknowledged: ["start", "resolve"],
    in_progress: ["resolve"],
    resolved: []
  };

  function loadStrings() {
    var dict = {};
    var block = document.getElementById("alert-strings");
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

  function readJson(id) {
    var node = document.getElementById(id);
    if (!node) return {};
    try { return JSON.parse(node.textContent) || {}; } catch (e) { return {}; }
  }

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

  /* fetch() with the portal's error shape: rejects with the API's {"error": {"message"}} text. */
  function api(method, url, networkText) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken();
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var error = data && data.error ? data.error : {};
          var message = error.message || response.statusText || String(response.status);
          var details = [];
          Object.keys(error.fields || {}).forEach(function (name) {
            var value = error.fields[name];
            (Array.isArray(value) ? value : [value]).forEach(function (item) {
              if (typeof item === "string" && item !== message) details.push(item);
            });
          });
          var failure = new Error(details.length ? message + " " + details.join(" ") : message);
          failure.status = response.status;
          throw failure;
        }
        return data;
      });
    }, function () {
      throw new Error(networkText);
    });
  }

  /* "YYYY-MM-DD HH:mm" (and "HH:mm") in the tenant's time zone, as the server renders them. */
  function timeFormatter(zone) {
    var format;
    try {
      format = new Intl.DateTimeFormat("en-GB", {
        timeZone: zone || undefined, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      });
    } catch (e) {
      format = new Intl.DateTimeFormat("en-GB", {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      });
    }
    function parts(iso) {
      var date = new Date(iso);
      if (isNaN(date.getTime())) return null;
      var out = {};
      format.formatToParts(date).forEach(function (part) { out[part.type] = part.value; });
      return out;
    }
    return {
      full: function (iso) {
        var p = parts(iso);
        return p ? p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute : "";
      },
      clock: function (iso) {
        var p = parts(iso);
        return p ? p.hour + ":" + p.minute : "";
      }
    };
  }

  // --- the socket ---------------------------------------------------------------------------

  function TenantSocket(path, handlers) {
    this.path = path;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.pinger = null;
    this.stopped = false;
    var self = this;
    window.addEventListener("online", function () { self.reconnectNow(); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") self.reconnectNow();
    });
  }

  TenantSocket.prototype.connect = function () {
    var self = this;
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.handlers.state(this.attempt ? "reconnecting" : "connecting");
    var ws;
    try {
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + this.path);
    } catch (e) {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = function () {
      self.attempt = 0;
      self.pinger = setInterval(function () {
        if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" }));
      }, PING_MS);
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (!frame || typeof frame.type !== "string") return;
      if (frame.type === "hello") self.handlers.state("open");
      self.handlers.frame(frame);
    };
    ws.onclose = function (event) {
      clearInterval(self.pinger);
      self.pinger = null;
      if (self.ws === ws) self.ws = null;
      if (event.code === 4401 || event.code === 4403 || event.code === 4404) {
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

  // --- the board -----------------------------------------------------------------------------

  function initBoard(root) {
    var t = loadStrings();
    var partners = readJson("alert-partners");
    var format = timeFormatter(root.getAttribute("data-time-zone"));
    var rows = root.querySelector("[data-role=rows]");
    var table = root.querySelector("table");
    var empty = root.querySelector("[data-role=empty]");
    var errorBox = root.querySelector("[data-role=error]");
    var status = root.querySelector("[data-role=status]");
    var apiBase = root.getAttribute("data-api");
    var skuUrl = root.getAttribute("data-sku-url");
    var mayAct = root.getAttribute("data-may-act") === "1";
    var filter = {
      state: root.getAttribute("data-filter-state") || "active",
      kind: root.getAttribute("data-filter-kind") || "",
      mine: root.getAttribute("data-filter-mine") === "1"
    };
    var firstPage = (root.getAttribute("data-page") || "1") === "1";

    function rowOf(id) {
      return rows.querySelector('tr[data-alert-id="' + String(Number(id)) + '"]');
    }

    function matches(alert) {
      if (filter.kind && alert.kind !== filter.kind) return false;
      if (filter.state === "active") return alert.state !== "resolved";
      if (filter.state === "all") return true;
      return alert.state === filter.state;
    }

    function syncEmpty() {
      var any = !!rows.querySelector("tr[data-alert-id]");
      table.hidden = !any;
      empty.hidden = any;
    }

    function showError(message) {
      errorBox.textContent = message;
      errorBox.hidden = !message;
    }

    function cell(label, className) {
      var td = el("td", className);
      td.setAttribute("data-label", t(label));
      return td;
    }

    /* One row from a socket frame or an API answer (both carry the same fields). */
    function renderRow(alert) {
      var sku = alert.sku || (alert.subject && alert.subject.kind === "sku" ? alert.subject.id : "") || "";
      var severity = typeof alert.severity === "string" ? alert.severity : "";
      var tr = el("tr");
      tr.setAttribute("data-testid", "alert-row");
      tr.setAttribute("data-alert-id", String(alert.id));
      tr.setAttribute("data-state", alert.state);
      tr.setAttribute("data-kind", alert.kind);
      tr.setAttribute("data-opened", alert.opened_at || "");

      var td = cell("label.severity");
      var badge = el("span", "badge severity-" + severity, t("severity." + severity, null, severity));
      badge.setAttribute("data-field", "severity");
      td.appendChild(badge);
      tr.appendChild(td);

      td = cell("label.alert", "alert-title");
      var title = el("span", "", alert.title);
      title.setAttribute("data-field", "title");
      td.appendChild(title);
      td.appendChild(el("br"));
      var kind = el("small", "muted", t("kind." + alert.kind, null, alert.kind));
      kind.setAttribute("data-field", "kind");
      td.appendChild(kind);
      tr.appendChild(td);

      td = cell("label.state");
      badge = el("span", "badge state-" + alert.state, t("state." + alert.state, null, alert.state));
      badge.setAttribute("data-field", "state");
      badge.setAttribute("data-testid", "alert-state");
      td.appendChild(badge);
      tr.appendChild(td);

      td = cell("label.level");
      td.setAttribute("data-field", "level");
      var level = el("span", "", String(alert.level));
      level.setAttribute("data-testid", "alert-level");
      td.appendChild(level);
      if (alert.next_escalation_at) {
        td.appendChild(el("br"));
        var next = el("small", "muted", t("next") + " ");
        var when = el("time", "", format.clock(alert.next_escalation_at));
        when.setAttribute("datetime", alert.next_escalation_at);
        next.appendChild(when);
        td.appendChild(next);
      }
      tr.appendChild(td);

      td = cell("label.opened");
      var opened = el("time", "", format.full(alert.opened_at));
      opened.setAttribute("datetime", alert.opened_at || "");
      opened.setAttribute("data-field", "opened");
      td.appendChild(opened);
      tr.appendChild(td);

      td = cell("label.partner");
      td.setAttribute("data-field", "partner");
      td.textContent = alert.partner ? (partners[alert.partner] || alert.partner) : "—";
      tr.appendChild(td);

      td = cell("label.sku");
      td.setAttribute("data-field", "sku");
      if (sku) {
        var link = el("a", "", sku);
        link.href = skuUrl.replace("__sku__", encodeURIComponent(sku));
        link.setAttribute("data-testid", "alert-sku");
        td.appendChild(link);
      } else {
        td.textContent = "—";
      }
      tr.appendChild(td);

      td = cell("label.actions", "alert-actions");
      td.setAttribute("data-field", "actions");
      if (mayAct) {
        (NEXT_ACTIONS[alert.state] || []).forEach(function (action) {
          var button = el("button", "small" + (action === "ack" ? "" : " secondary outline"), t("action." + action, null, action));
          button.type = "button";
          button.setAttribute("data-action", action);
          button.setAttribute("data-testid", "alert-" + action);
          td.appendChild(button);
        });
      }
      tr.appendChild(td);
      return tr;
    }

    function openedTime(tr) {
      var value = Date.parse(tr.getAttribute("data-opened") || "");
      return isNaN(value) ? 0 : value;
    }

    /* Insert or update one alert: never two rows for one id; newest first, as the server orders them. */
    function upsert(alert, fresh) {
      if (!alert || typeof alert.id !== "number") return;
      var existing = rowOf(alert.id);
      if (!matches(alert)) {
        if (existing) existing.remove();
        syncEmpty();
        return;
      }
      if (!existing && !firstPage) return; // newer rows belong on the first page
      var row = renderRow(alert);
      if (existing) {
        existing.replaceWith(row);
      } else {
        var opened = openedTime(row);
        var before = null;
        rows.querySelectorAll("tr[data-alert-id]").forEach(function (other) {
          if (before) return;
          var otherOpened = openedTime(other);
          if (otherOpened < opened || (otherOpened === opened && Number(other.getAttribute("data-alert-id")) < alert.id)) {
            before = other;
          }
        });
        rows.insertBefore(row, before);
        if (fresh) {
          row.classList.add("is-new");
          setTimeout(function () { row.classList.remove("is-new"); }, 4000);
        }
      }
      syncEmpty();
    }

    /* Reads the first page again from the API: whatever happened while the socket was down. */
    function refresh() {
      if (!firstPage) return;
      var params = [];
      if (filter.state !== "active" && filter.state !== "all") params.push("state=" + encodeURIComponent(filter.state));
      if (filter.kind) params.push("kind=" + encodeURIComponent(filter.kind));
      if (filter.mine) params.push("mine=1");
      api("GET", apiBase + (params.length ? "?" + params.join("&") : ""), t("network")).then(function (data) {
        var results = (data && data.results) || [];
        results.slice().reverse().forEach(function (alert) { upsert(alert, false); });
      }).catch(function () { /* the socket keeps the board current; the next reconnect retries */ });
    }

    function setState(state) {
      root.setAttribute("data-socket", state);
      if (status) {
        status.textContent = t({ open: "live", connecting: "connecting", reconnecting: "reconnecting", closed: "closed" }[state] || state);
      }
    }

    rows.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button || !rows.contains(button)) return;
      var tr = button.closest("tr[data-alert-id]");
      var id = tr.getAttribute("data-alert-id");
      var action = button.getAttribute("data-action");
      tr.querySelectorAll("button[data-action]").forEach(function (b) { b.disabled = true; });
      tr.setAttribute("aria-busy", "true");
      showError("");
      api("POST", apiBase + encodeURIComponent(id) + "/" + action + "/", t("network")).then(function (alert) {
        upsert(alert, false);
      }).catch(function (error) {
        showError(t("action_failed", { reason: error.message }));
        var current = rowOf(id);
        if (current) {
          current.removeAttribute("aria-busy");
          current.querySelectorAll("button[data-action]").forEach(function (b) { b.disabled = false; });
        }
      });
    });

    var socket = new TenantSocket(root.getAttribute("data-ws-path"), {
      state: setState,
      frame: function (frame) {
        if (frame.type === "hello") {
          refresh();
        } else if (frame.type === "alert") {
          upsert(frame, true);
        }
      }
    });
    socket.connect();
    syncEmpty();
  }

  function start() {
    var root = document.querySelector("[data-alert-board]");
    if (root) initBoard(root);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

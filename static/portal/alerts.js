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
 * Vanilla JS, no build step; the socket and the fetch/DOM helpers come from portal.js (window.Portal).
 */
(function () {
  "use strict";

  var NEXT_ACTIONS = {
    open: ["ack", "start", "resolve"],
    acknowledged: ["start", "resolve"],
    in_progress: ["resolve"],
    resolved: []
  };

  var Portal = window.Portal;
  var el = Portal.el;

  function loadStrings() {
    return Portal.loadStrings("alert-strings");
  }

  function readJson(id) {
    var node = document.getElementById(id);
    if (!node) return {};
    try { return JSON.parse(node.textContent) || {}; } catch (e) { return {}; }
  }

  /* The API call with the board's error text: the field messages too; `networkText` when unreachable. */
  function api(method, url, networkText) {
    return Portal.api(method, url, undefined, { details: true, networkText: networkText });
  }

  /* The portal's one date and time format, in the tenant's time zone, as the server renders them. */
  var format = {
    full: function (iso) { return Portal.formatTime(iso, "datetime"); },
    clock: function (iso) { return Portal.formatTime(iso, "time"); }
  };

  // --- the board -----------------------------------------------------------------------------

  function initBoard(root) {
    var t = loadStrings();
    var partners = readJson("alert-partners");
    // What alerts are about, one column each: [{field, label, subject_kind, url}] (alerts.registry).
    var subjects = readJson("alert-subjects");
    if (!Array.isArray(subjects)) subjects = [];
    var rows = root.querySelector("[data-role=rows]");
    var table = root.querySelector("table");
    var empty = root.querySelector("[data-role=empty]");
    var errorBox = root.querySelector("[data-role=error]");
    var apiBase = root.getAttribute("data-api");
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
    /* The alert's reference to one subject: the API's field, or the frame's subject of that kind. */
    function subjectRef(alert, subject) {
      if (alert[subject.field]) return String(alert[subject.field]);
      if (alert.subject && alert.subject.kind === subject.subject_kind && alert.subject.id) return String(alert.subject.id);
      return "";
    }

    function renderRow(alert) {
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
        when.setAttribute("data-format", "time");
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

      subjects.forEach(function (subject) {
        var ref = subjectRef(alert, subject);
        var subjectCell = cell("label." + subject.field);
        subjectCell.setAttribute("data-field", subject.field);
        if (ref) {
          var shown = el(subject.url ? "a" : "span", "", ref);
          if (subject.url) shown.href = subject.url.replace("__ref__", encodeURIComponent(ref));
          shown.setAttribute("data-testid", "alert-" + subject.field);
          subjectCell.appendChild(shown);
        } else {
          subjectCell.textContent = "—";
        }
        tr.appendChild(subjectCell);
      });

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

    var refreshTimer = null;
    function refreshSoon() {
      if (refreshTimer) return;
      refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, 300);
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

    // "live" once the server's hello arrives; every hello (a new connection) re-reads the first page.
    var socket = new Portal.TenantSocket(root.getAttribute("data-ws-path"), {
      state: function (state) { Portal.showSocketState(root, t, state); },
      frame: function (frame) {
        if (frame.type === "hello") {
          refresh();
        } else if (frame.type === "alert") {
          // Every alert the reader may see arrives live; whether it is addressed to them ("mine")
          // is the server's answer, so a new one under that filter is read from the API.
          if (filter.mine && !rowOf(frame.id)) refreshSoon();
          else upsert(frame, true);
        }
      }
    }, { liveOn: "hello" });
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

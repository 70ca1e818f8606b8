/*
 * The header's notification bell (templates/_bell.html): the unread count, the list of unread
 * notices when opened, and marking them read through the notifications API.
 *
 * Live: every `alert` frame of the tenant socket (an alert raised for the reader or escalated to
 * them comes with its notice) re-reads the count, as does each (re)connection, which covers what
 * was missed meanwhile. The bell listens on the page's own socket when the page has one (chat,
 * board) and opens one only on pages without: a page never holds two sockets for it.
 */
(function () {
  "use strict";

  var LIST_SIZE = 20;
  var REFRESH_DELAY_MS = 250;

  function init() {
    var root = document.querySelector("[data-bell]");
    if (!root || !window.Portal) return;
    var t = Portal.loadStrings("bell-strings");
    var el = Portal.el;
    var menu = root.querySelector("[data-role=bell-menu]");
    var badge = root.querySelector("[data-role=bell-count]");
    var list = root.querySelector("[data-role=bell-list]");
    var empty = root.querySelector("[data-role=bell-empty]");
    var loading = root.querySelector("[data-role=bell-loading]");
    var actions = root.querySelector("[data-role=bell-actions]");
    var readAll = root.querySelector("[data-role=bell-read-all]");
    var refreshTimer = null;

    function setCount(count) {
      count = Number(count) || 0;
      badge.setAttribute("data-count", String(count));
      badge.textContent = count > 99 ? "99+" : String(count);
      badge.hidden = count <= 0;
      readAll.hidden = count <= 0;
      if (count <= 0) {
        list.querySelectorAll("[data-notification]").forEach(function (node) { node.remove(); });
      }
      empty.hidden = count > 0 || list.querySelector("[data-notification]") !== null;
    }

    function refreshCount() {
      return Portal.api("GET", root.getAttribute("data-count-api")).then(function (data) {
        setCount(data && data.unread);
        if (menu.open) loadList();
      }, function () { /* the next frame or reconnection tries again */ });
    }

    function scheduleRefresh() {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refreshCount, REFRESH_DELAY_MS);
    }

    function item(notice) {
      var li = el("li", "bell-item");
      li.setAttribute("data-notification", String(notice.id));
      li.setAttribute("data-testid", "bell-item");
      var label = t(notice.kind === "escalation" ? "escalation" : "alert");
      var link = el("a", null, notice.text || label);
      link.href = root.getAttribute("data-board-url") + "?mine=1";
      link.title = label;
      li.appendChild(link);
      var when = el("time", "muted", Portal.formatTime(notice.created_at));
      when.setAttribute("datetime", notice.created_at || "");
      li.appendChild(el("br"));
      li.appendChild(when);
      var button = el("button", "secondary outline small", t("read"));
      button.type = "button";
      button.setAttribute("data-testid", "bell-read-one");
      button.addEventListener("click", function (event) {
        event.preventDefault();
        markRead([notice.id]);
      });
      li.appendChild(button);
      return li;
    }

    function loadList() {
      loading.hidden = false;
      var url = root.getAttribute("data-list-api") + "?unread=1&page_size=" + LIST_SIZE;
      return Portal.api("GET", url).then(function (data) {
        loading.hidden = true;
        list.querySelectorAll("[data-notification]").forEach(function (node) { node.remove(); });
        (data && data.results || []).forEach(function (notice) { list.insertBefore(item(notice), actions); });
        empty.hidden = list.querySelector("[data-notification]") !== null;
      }, function () {
        loading.hidden = true;
        empty.hidden = false;
        empty.textContent = t("failed");
      });
    }

    function markRead(ids) {
      var body = ids ? { ids: ids } : {};
      return Portal.api("POST", root.getAttribute("data-read-api"), body).then(function (data) {
        (ids || []).forEach(function (id) {
          var node = list.querySelector('[data-notification="' + Number(id) + '"]');
          if (node) node.remove();
        });
        setCount(data && data.unread);
      }, function () { scheduleRefresh(); });
    }

    menu.addEventListener("toggle", function () { if (menu.open) loadList(); });
    readAll.addEventListener("click", function (event) {
      event.preventDefault();
      markRead(null);
    });
    document.addEventListener("portal:frame", function (event) {
      var frame = event.detail || {};
      if (frame.type === "alert" || frame.type === "hello") scheduleRefresh();
    });

    if (Portal.TenantSocket.count === 0) {
      var socket = new Portal.TenantSocket(root.getAttribute("data-ws-path"), {
        state: function (state) { root.setAttribute("data-socket", state); },
        frame: function () { /* read through the portal:frame event above */ },
      });
      root.bellSocket = socket;
      socket.connect();
    }
  }

  // Deferred after the page's own scripts (base.html loads it last): their socket exists by now.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

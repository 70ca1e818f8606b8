/*
 * Chat pages: the room list (live unread counts) and a room (history, live messages, send,
 * read marks, action buttons, attachments, search), over the tenant socket
 * /ws/t/<tenant>/ described in docs/CONTRACT.md ("WebSocket").
 *
 * Rules this file keeps:
 * - Message text reaches the DOM only as the server's sanitised `body_html`; every other
 *   value (names, file names, labels, errors) is set with textContent.
 * - Messages are keyed by their room `seq`: whatever path delivers one (history, sync, live
 *   frame, POST answer), it is shown once.
 * - The database is the truth: after a reconnect the room re-syncs from the last seq it knows.
 *
 * Vanilla JS, no build step; the socket and the fetch/DOM helpers come from portal.js (window.Portal).
 * Texts come from the #chat-strings block the template renders.
 */
(function () {
  "use strict";

  var ACK_TIMEOUT_MS = 8000;
  var PAGE = 50;
  var MAX_UPLOAD = 10 * 1024 * 1024;  // fallback; the page states the server's limit in data-max-upload

  // --- helpers (the shared ones are in portal.js) ----------------------------------------------

  var Portal = window.Portal;
  var TenantSocket = Portal.TenantSocket;
  var el = Portal.el;
  var api = Portal.api;
  var formatTime = Portal.formatTime; // the portal's one format, in the tenant's time zone
  var showState = Portal.showSocketState;

  function loadStrings() {
    return Portal.loadStrings("chat-strings");
  }

  function newClientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function errorText(t, error) {
    return (error && error.message && error.message !== "Failed to fetch") ? error.message : t("network");
  }

  // --- the room list ---------------------------------------------------------------------------

  function initRoomList(root) {
    var t = loadStrings();
    var me = Number(root.getAttribute("data-user"));
    var list = root.querySelector("[data-role=rooms]");
    var refreshTimer = null;
    var hellos = 0;

    function item(roomId) {
      return list ? list.querySelector('li[data-room="' + Number(roomId) + '"]') : null;
    }

    function setUnread(li, count) {
      var badge = li.querySelector("[data-role=unread]");
      badge.setAttribute("data-count", String(count));
      // The server counts up to 100: from there on the badge says 99+.
      badge.querySelector("[data-role=unread-count]").textContent = count > 99 ? "99+" : String(count);
      badge.hidden = count <= 0;
    }

    function setActivity(li, iso) {
      var time = li.querySelector("[data-role=activity]");
      if (!iso) return;
      time.setAttribute("datetime", iso);
      time.textContent = formatTime(iso);
    }

    function onMessage(frame) {
      var li = item(frame.room);
      if (!li) return;
      setActivity(li, frame.created_at);
      var mine = frame.sender && frame.sender.id === me;
      if (!mine) {
        var badge = li.querySelector("[data-role=unread]");
        setUnread(li, Number(badge.getAttribute("data-count") || 0) + 1);
      }
      if (list.firstElementChild !== li) list.insertBefore(li, list.firstElementChild);
    }

    // The server's counts are the truth: fetched after a reconnect, a read elsewhere, or an access change.
    function refresh() {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(function () {
        api("GET", root.getAttribute("data-rooms-api")).then(function (data) {
          var rooms = Array.isArray(data) ? data : (data && data.results) || [];
          var shown = list ? list.querySelectorAll("li[data-room]").length : 0;
          var known = rooms.every(function (room) { return !!item(room.id); });
          if (!known || rooms.length !== shown) {
            location.reload();
            return;
          }
          rooms.forEach(function (room) {
            var li = item(room.id);
            setUnread(li, room.unread || 0);
            setActivity(li, room.last_message_at);
          });
        }).catch(function () { /* the next event retries */ });
      }, 300);
    }

    var socket = new TenantSocket(root.getAttribute("data-ws-path"), {
      state: function (state) { showState(root, t, state); },
      frame: function (frame) {
        if (frame.type === "hello") {
          hellos += 1;
          if (hellos > 1) refresh(); // messages may have arrived while disconnected
        } else if (frame.type === "message") {
          onMessage(frame);
        } else if (frame.type === "read" && frame.user === me) {
          refresh();
        } else if (frame.type === "rooms" || frame.type === "resync") {
          refresh();
        }
      },
    });
    root.chatSocket = socket;
    socket.connect();
  }

  // --- a room ------------------------------------------------------------------------------------

  function initRoom(root) {
    var t = loadStrings();
    var roomId = Number(root.getAttribute("data-room"));
    var me = Number(root.getAttribute("data-user"));
    var roomApi = root.getAttribute("data-room-api");
    var searchApi = root.getAttribute("data-search-api");
    var $ = function (role) { return root.querySelector("[data-role=" + role + "]"); };
    var scroller = $("scroll");
    var log = $("log");
    var pendingBox = $("pending");
    var compose = $("compose");
    var input = compose ? compose.querySelector("textarea") : null;
    var internalToggle = compose ? compose.querySelector("input[name=internal]") : null;
    var composeError = $("compose-error");

    var state = {
      head: Number(root.getAttribute("data-last-seq")) || 0, // the room's newest seq when we last asked
      cursor: 0,           // every message up to here has been delivered (or is not ours to see)
      oldest: null,        // the lowest seq loaded
      hasMore: false,
      loadingOlder: null,
      ready: false,        // the latest page is loaded
      generation: 0,       // bumped on a full reload, so stale answers are dropped
      seen: new Map(),     // seq -> {frame, node}
      outcomes: new Map(), // "cardSeq:action" -> outcome frame (a system message answering a press)
      patches: new Map(),  // seq -> the newest edit/retract frame that refers to it
      actionUpdates: new Map(), // seq -> buttons of an `actions` frame for a message not shown yet
      destroyed: new Map(), // seq -> the notice of a `destroyed` frame (retention), for a message shown later too
      pending: new Map(),  // client_id -> {body, internal, node, timer}
      lastRead: 0,
      noAccess: false,
    };

    // --- rendering ---

    function nearBottom() {
      return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    }

    function scrollToBottom() {
      scroller.scrollTop = scroller.scrollHeight;
      $("jump").hidden = true;
    }

    function newestSeq() {
      var last = log.lastElementChild;
      return last ? Number(last.getAttribute("data-seq")) : 0;
    }

    function senderName(frame) {
      if (frame.sender) return frame.sender.id === me ? t("you") : frame.sender.name;
      return frame.kind === "bot" ? t("bot") : t("system");
    }

    function outcomeKey(seq, action) { return seq + ":" + action; }

    function markDone(button, outcome) {
      button.disabled = true;
      button.setAttribute("data-done", "true");
      button.removeAttribute("aria-busy");
      var label = button.getAttribute("data-label");
      button.textContent = "✓ " + label;
      var note = button.parentNode.querySelector('[data-note-for="' + button.getAttribute("data-action") + '"]');
      if (!note) {
        note = el("span", "msg-action-note");
        note.setAttribute("data-note-for", button.getAttribute("data-action"));
        button.insertAdjacentElement("afterend", note);
      }
      note.textContent = outcome && outcome.sender ? t("done_by", { name: senderName(outcome) }) : "";
    }

    function applyOutcome(outcome) {
      var target = state.seen.get(outcome.refers_to);
      if (!target || !target.node) return;
      var button = target.node.querySelector('button[data-action="' + CSS.escape(outcome.payload.action) + '"]');
      if (button) markDone(button, outcome);
    }

    function applyPatch(node, patch) {
      var body = node.querySelector(".msg-body");
      if (patch.relation === "retract") {
        node.classList.add("msg-retracted");
        body.textContent = t("retracted");
        node.querySelectorAll(".msg-attachments, .msg-actions").forEach(function (n) { n.remove(); });
      } else {
        body.innerHTML = patch.body_html; // sanitised by the server (messaging.sanitize)
        if (!node.querySelector(".msg-edited")) node.querySelector(".msg-meta").appendChild(el("span", "msg-edited", t("edited")));
      }
    }

    function buildMessage(frame) {
      var node = el("div", "msg msg-" + frame.kind);
      node.id = "msg-" + frame.seq;
      node.setAttribute("data-seq", String(frame.seq));
      node.setAttribute("data-kind", frame.kind);
      node.setAttribute("data-testid", "message");
      var mine = frame.sender && frame.sender.id === me;
      if (mine && frame.kind === "chat") node.classList.add("msg-mine");
      if (frame.internal) {
        node.classList.add("msg-internal");
        node.setAttribute("data-internal", "true");
      }
      if (frame.destroyed) {
        // A tombstone: its body is the server's notice, never the old content.
        node.classList.add("msg-destroyed");
        node.setAttribute("data-destroyed", "true");
      }

      var meta = el("div", "msg-meta");
      meta.appendChild(el("span", "msg-sender", senderName(frame)));
      var time = el("time", null, formatTime(frame.created_at));
      time.setAttribute("datetime", frame.created_at);
      meta.appendChild(time);
      if (frame.internal) meta.appendChild(el("span", "msg-badge badge-internal", t("internal_note")));
      if (frame.kind === "event") meta.appendChild(el("span", "msg-badge", t("event")));
      if (frame.kind === "bot" && frame.recipient === me) meta.appendChild(el("span", "msg-badge", t("bot_private")));
      if (frame.kind === "chat" && frame.recipient === me) meta.appendChild(el("span", "msg-badge", t("question_private")));
      if (frame.recipient && frame.recipient !== me) {
        // Someone else's private question or answer: only a whole-room reader (the auditor) gets it.
        var othersBadge = el("span", "msg-badge", t("private_other"));
        othersBadge.setAttribute("data-testid", "private-badge");
        meta.appendChild(othersBadge);
      }
      if (frame.subject) meta.appendChild(el("span", "msg-badge msg-subject", frame.subject.kind + " " + frame.subject.id));
      node.appendChild(meta);

      if (frame.refers_to && frame.relation === "reply" && frame.kind !== "system") {
        var ref = el("a", "msg-ref", t("reply_to", { seq: frame.refers_to }));
        ref.href = "#msg-" + Number(frame.refers_to);
        ref.setAttribute("data-jump", String(frame.refers_to));
        ref.setAttribute("data-testid", "reply-link");
        node.appendChild(ref);
      } else if (!frame.refers_to && frame.relation === "reply" && frame.kind !== "system") {
        // The server leaves out a reference this reader may not see: no seq, no link.
        var hidden = el("span", "msg-ref", t("reply_hidden"));
        hidden.setAttribute("data-testid", "reply-hidden");
        node.appendChild(hidden);
      }

      var body = el("div", "msg-body");
      body.innerHTML = frame.body_html; // sanitised by the server (messaging.sanitize); nothing else is HTML
      node.appendChild(body);

      if (frame.attachments && frame.attachments.length) {
        var files = el("ul", "msg-attachments");
        frame.attachments.forEach(function (att) {
          var li = el("li");
          var link = el("a", null, att.name);
          link.href = roomApi + "attachments/" + Number(att.id) + "/";
          link.setAttribute("download", "");
          link.setAttribute("data-testid", "attachment");
          li.appendChild(link);
          li.appendChild(el("small", "muted", " · " + formatSize(att.size)));
          files.appendChild(li);
        });
        node.appendChild(files);
      }

      // A later `actions` frame (the record moved on) wins over what the message carried.
      var current = state.actionUpdates.get(frame.seq);
      if (current) state.actionUpdates.delete(frame.seq);
      renderActions(node, frame.seq, current || frame.actions);

      var patch = state.patches.get(frame.seq);
      if (patch) applyPatch(node, patch);
      // Destroyed since this frame was read (a sync that crossed the sweep): the notice, not the content.
      if (!frame.destroyed && state.destroyed.has(frame.seq)) markDestroyed(node, state.destroyed.get(frame.seq));
      return node;
    }

    /* A message destroyed under the retention policy while shown: its body becomes the notice, and
       its files, buttons and edit marks go (the server keeps none of them). */
    function markDestroyed(node, notice) {
      node.classList.add("msg-destroyed");
      node.classList.remove("msg-retracted");
      node.setAttribute("data-destroyed", "true");
      node.querySelectorAll(".msg-attachments, .msg-actions, .msg-edited").forEach(function (n) { n.remove(); });
      var body = node.querySelector(".msg-body");
      if (body) body.textContent = notice;
    }

    function applyDestroyed(frame) {
      var notice = typeof frame.body === "string" && frame.body ? frame.body : t("destroyed");
      (frame.seqs || []).forEach(function (seq) {
        if (typeof seq !== "number") return;
        state.destroyed.set(seq, notice);
        var target = state.seen.get(seq);
        if (target && target.node) markDestroyed(target.node, notice);
      });
    }

    // The buttons this reader may press now ([{name, label, enabled}]); none left: no button row.
    function renderActions(node, seq, list) {
      var old = node.querySelector(".msg-actions");
      if (old) old.remove();
      if (!list || !list.length) return;
      var actions = el("div", "msg-actions");
      list.forEach(function (action) {
        if (action.url) {
          // A link button: the next step needs input (a reason, a form) on its page.
          var link = el("a", "small", action.label);
          link.setAttribute("role", "button");
          link.setAttribute("data-action-link", action.name);
          link.setAttribute("data-testid", "action-link");
          if (action.enabled === false) {
            // Greyed: no href, so it cannot be followed (an aria-disabled link still would be).
            link.setAttribute("aria-disabled", "true");
            link.setAttribute("data-enabled", "false");
            if (action.hint) link.title = action.hint;
          } else {
            link.setAttribute("href", action.url);
          }
          actions.appendChild(link);
          return;
        }
        var button = el("button", "small", action.label);
        button.type = "button";
        button.setAttribute("data-action", action.name);
        button.setAttribute("data-label", action.label);
        button.setAttribute("data-testid", "action-button");
        if (action.enabled === false) {
          button.disabled = true;
          button.setAttribute("data-enabled", "false");
          if (action.hint) button.title = action.hint; // why it is greyed (e.g. verify with TOTP first)
        }
        if (action.input && action.input.length) button.setAttribute("data-input", action.input.join(","));
        actions.appendChild(button);
        var outcome = state.outcomes.get(outcomeKey(seq, action.name));
        if (outcome) markDone(button, outcome);
      });
      var body = node.querySelector(".msg-body");
      var files = node.querySelector(".msg-attachments");
      (files || body).insertAdjacentElement("afterend", actions);
    }

    function applyActions(frame) {
      var target = state.seen.get(frame.seq);
      if (target && target.node) renderActions(target.node, frame.seq, frame.actions);
      else state.actionUpdates.set(frame.seq, frame.actions);
    }

    function insert(node, seq) {
      var after = log.lastElementChild;
      while (after && Number(after.getAttribute("data-seq")) > seq) after = after.previousElementSibling;
      if (after) after.insertAdjacentElement("afterend", node);
      else log.insertBefore(node, log.firstElementChild);
    }

    /* Shows one message frame, once. Returns true when it was new. */
    function show(frame) {
      if (frame.room !== roomId || typeof frame.seq !== "number" || state.seen.has(frame.seq)) return false;
      var record = { frame: frame, node: null };
      state.seen.set(frame.seq, record);
      if (frame.seq > state.cursor && state.ready) state.cursor = frame.seq;

      if (frame.relation === "edit" || frame.relation === "retract") {
        var current = state.patches.get(frame.refers_to);
        if (!current || current.seq < frame.seq) {
          state.patches.set(frame.refers_to, frame);
          var target = state.seen.get(frame.refers_to);
          if (target && target.node) applyPatch(target.node, frame);
        }
      } else {
        record.node = buildMessage(frame);
        insert(record.node, frame.seq);
        if (frame.kind === "system" && frame.refers_to && frame.payload && frame.payload.action) {
          state.outcomes.set(outcomeKey(frame.refers_to, frame.payload.action), frame);
          applyOutcome(frame);
        }
      }
      if (frame.client_id && frame.sender && frame.sender.id === me) settlePending(frame.client_id);
      $("empty").hidden = true;
      return true;
    }

    /* Live frames: keep the reader at the bottom if they were there, else offer a jump. */
    function showLive(frames) {
      var stick = nearBottom();
      var mineAdded = false;
      var added = false;
      frames.forEach(function (frame) {
        if (show(frame)) {
          added = true;
          if (frame.sender && frame.sender.id === me) mineAdded = true;
        }
      });
      if (!added) return;
      if (stick || mineAdded) scrollToBottom();
      else $("jump").hidden = false;
      markRead();
    }

    function showOlder(frames) {
      var before = scroller.scrollHeight;
      var top = scroller.scrollTop;
      frames.forEach(show);
      scroller.scrollTop = top + (scroller.scrollHeight - before);
    }

    // --- history ---

    function setPageError(text) {
      var box = $("page-error");
      box.textContent = text || "";
      box.hidden = !text;
    }

    function updateHistoryMarkers() {
      $("load-earlier").hidden = !state.hasMore;
      $("history-start").hidden = state.hasMore || !log.firstElementChild;
      $("empty").hidden = !!log.firstElementChild || state.pending.size > 0;
    }

    function loadLatest(retry) {
      var generation = ++state.generation;
      state.ready = false;
      root.setAttribute("data-history", "loading");
      var head = state.head;
      return api("GET", roomApi + "messages/?before_seq=" + (head + 1) + "&limit=" + PAGE).then(function (data) {
        if (generation !== state.generation) return;
        var frames = data.results || [];
        frames.forEach(show);
        state.oldest = frames.length ? frames[0].seq : null;
        state.hasMore = !!data.next;
        // Everything up to `head` is now shown or is not ours to see; newer ones come by sync.
        state.cursor = Math.max(state.cursor, head, newestSeq());
        state.ready = true;
        root.setAttribute("data-history", "ready");
        setPageError("");
        updateHistoryMarkers();
        scrollToBottom();
        sync();
        markRead();
      }).catch(function (error) {
        if (generation !== state.generation) return;
        setPageError(error.status === 404 ? t("no_access") : t("load_failed"));
        if (error.status !== 404) setTimeout(function () { loadLatest(true); }, retry ? 5000 : 2000);
      });
    }

    function loadOlder() {
      if (!state.hasMore || state.oldest === null) return Promise.resolve();
      if (state.loadingOlder) return state.loadingOlder;
      var generation = state.generation;
      var button = $("load-earlier");
      button.setAttribute("aria-busy", "true");
      state.loadingOlder = api("GET", roomApi + "messages/?before_seq=" + state.oldest + "&limit=" + PAGE).then(function (data) {
        if (generation !== state.generation) return;
        var frames = data.results || [];
        showOlder(frames);
        if (frames.length) state.oldest = frames[0].seq;
        state.hasMore = !!data.next && frames.length > 0;
        updateHistoryMarkers();
      }).catch(function (error) {
        setPageError(errorText(t, error));
      }).then(function () {
        button.removeAttribute("aria-busy");
        state.loadingOlder = null;
      });
      return state.loadingOlder;
    }

    /* Drops what is shown and loads the newest page again (the server asked for a resync). */
    function reloadHistory(head) {
      state.seen.clear();
      state.outcomes.clear();
      state.patches.clear();
      state.cursor = 0;
      state.oldest = null;
      state.hasMore = false;
      if (typeof head === "number") state.head = Math.max(state.head, head);
      log.textContent = "";
      loadLatest();
    }

    // --- the socket ---

    function sync() {
      if (state.ready && !state.noAccess) socket.send({ type: "sync", room: roomId, after_seq: state.cursor });
    }

    function onFrame(frame) {
      switch (frame.type) {
        case "hello":
          if (Array.isArray(frame.rooms) && frame.rooms.indexOf(roomId) === -1) lostAccess();
          break;
        case "message":
          if (frame.room === roomId) showLive([frame]);
          break;
        case "synced":
          if (frame.room === roomId) {
            state.cursor = Math.max(state.cursor, frame.last_seq);
            state.head = Math.max(state.head, frame.last_seq);
            root.setAttribute("data-synced", "true");
          }
          break;
        case "resync":
          // "too_far_behind": more than a sync would send; anything else: sync from what we have.
          if (frame.room !== undefined && frame.room !== roomId) break;
          if (frame.reason === "too_far_behind") reloadHistory(frame.last_seq);
          else sync();
          break;
        case "ack":
          if (frame.room === roomId) onAck(frame);
          break;
        case "actions":
          if (frame.room === roomId) applyActions(frame);
          break;
        case "destroyed":
          if (frame.room === roomId) applyDestroyed(frame);
          break;
        case "error":
          onError(frame);
          break;
        case "rooms":
          if (Array.isArray(frame.rooms) && frame.rooms.indexOf(roomId) === -1) lostAccess();
          break;
        default:
          break; // read receipts, pong, action results (the outcome message follows), alerts
      }
    }

    function lostAccess() {
      state.noAccess = true;
      setPageError(t("no_access"));
      if (compose) compose.hidden = true;
    }

    var socket = new TenantSocket(root.getAttribute("data-ws-path"), {
      state: function (s) { showState(root, t, s); },
      open: function () {
        root.removeAttribute("data-synced");
        sync();
        // Sends waiting for an answer go again (the same client_id: the server keeps the first).
        state.pending.forEach(function (p) { if (!p.failed && !p.acked) sendPending(p); });
      },
      frame: onFrame,
    });
    root.chatSocket = socket;

    // --- sending ---

    function pendingNode(p) {
      var node = el("div", "msg msg-chat msg-mine msg-pending");
      node.setAttribute("data-testid", "pending-message");
      if (p.internal) node.classList.add("msg-internal");
      var meta = el("div", "msg-meta");
      meta.appendChild(el("span", "msg-sender", t("you")));
      meta.appendChild(el("span", "msg-status", t("sending")));
      node.appendChild(meta);
      node.appendChild(el("div", "msg-body msg-plain", p.body)); // plain text until the server's rendering arrives
      return node;
    }

    function settlePending(clientId) {
      var p = state.pending.get(clientId);
      if (!p) return;
      clearTimeout(p.timer);
      p.node.remove();
      state.pending.delete(clientId);
      updateHistoryMarkers();
    }

    function failPending(p, reason) {
      clearTimeout(p.timer);
      p.failed = true;
      p.node.classList.add("msg-failed");
      p.node.querySelector(".msg-status").textContent = "";
      var old = p.node.querySelector(".chat-error");
      if (old) old.remove();
      var box = el("p", "chat-error", t("send_failed", { reason: reason }));
      box.setAttribute("role", "alert");
      var retry = el("button", "secondary outline small", t("retry"));
      retry.type = "button";
      retry.addEventListener("click", function () {
        p.failed = false;
        p.node.classList.remove("msg-failed");
        box.remove();
        p.node.querySelector(".msg-status").textContent = t("sending");
        sendPending(p);
      });
      box.appendChild(retry);
      p.node.appendChild(box);
    }

    function postPending(p) {
      if (!state.pending.has(p.clientId)) return;
      var payload = { body: p.body, client_id: p.clientId };
      if (p.internal) payload.internal = true;
      api("POST", roomApi + "messages/", payload).then(function (frame) {
        showLive([frame]);
        settlePending(p.clientId);
      }).catch(function (error) {
        if (state.pending.has(p.clientId)) failPending(p, errorText(t, error));
      });
    }

    function sendPending(p) {
      clearTimeout(p.timer);
      var frame = { type: "send", room: roomId, body: p.body, client_id: p.clientId };
      if (p.internal) frame.internal = true;
      if (socket.send(frame)) {
        // No answer in time: the same message over HTTP (idempotent on client_id).
        p.timer = setTimeout(function () { postPending(p); }, ACK_TIMEOUT_MS);
      } else {
        postPending(p);
      }
    }

    function onAck(frame) {
      var p = state.pending.get(frame.client_id);
      if (!p) return;
      clearTimeout(p.timer);
      p.acked = true;
      var record = state.seen.get(frame.seq);
      if (record) settlePending(frame.client_id);
      else if (!frame.created) settlePending(frame.client_id); // an earlier send already delivered it
    }

    function onError(frame) {
      var p = frame.ref ? state.pending.get(frame.ref) : null;
      if (p) {
        failPending(p, frame.message);
      } else if (frame.code !== "unknown_room" || !state.noAccess) {
        setPageError(frame.message);
      }
    }

    function submit() {
      if (!input) return;
      var body = input.value;
      if (!body.trim()) return;
      var p = { clientId: newClientId(), body: body, internal: !!(internalToggle && internalToggle.checked), timer: null };
      p.node = pendingNode(p);
      state.pending.set(p.clientId, p);
      pendingBox.appendChild(p.node);
      $("empty").hidden = true;
      input.value = "";
      composeError.hidden = true;
      scrollToBottom();
      sendPending(p);
    }

    if (compose) {
      compose.addEventListener("submit", function (event) {
        event.preventDefault();
        submit();
      });
      input.addEventListener("keydown", function (event) {
        // Enter sends; Shift+Enter is a new line; never while an input method is composing (Chinese).
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
          event.preventDefault();
          submit();
        }
      });
    }

    // --- read marks ---

    var readTimer = null;
    function markRead() {
      clearTimeout(readTimer);
      readTimer = setTimeout(function () {
        if (document.visibilityState !== "visible" || !nearBottom() || state.noAccess) return;
        var seq = newestSeq();
        if (!seq || seq <= state.lastRead) return;
        state.lastRead = seq;
        if (!socket.send({ type: "read", room: roomId, seq: seq })) {
          api("POST", roomApi + "read/", { seq: seq }).catch(function () { state.lastRead = 0; });
        }
      }, 400);
    }
    document.addEventListener("visibilitychange", markRead);
    window.addEventListener("focus", markRead);

    // --- scrolling ---

    scroller.addEventListener("scroll", function () {
      if (nearBottom()) {
        $("jump").hidden = true;
        markRead();
      }
      if (scroller.scrollTop < 120 && state.ready) loadOlder();
    }, { passive: true });
    $("load-earlier").addEventListener("click", loadOlder);
    $("jump").addEventListener("click", function () { scrollToBottom(); markRead(); });

    function jumpTo(seq) {
      var tries = 0;
      function attempt() {
        var record = state.seen.get(seq);
        var node = record && (record.node || (state.seen.get(record.frame.refers_to) || {}).node);
        if (node) {
          node.scrollIntoView({ block: "center" });
          node.classList.add("msg-highlight");
          setTimeout(function () { node.classList.remove("msg-highlight"); }, 2500);
          return;
        }
        if (state.hasMore && tries++ < 40 && (state.oldest === null || state.oldest > seq)) loadOlder().then(attempt);
      }
      attempt();
    }

    log.addEventListener("click", function (event) {
      var ref = event.target.closest("[data-jump]");
      if (ref) {
        event.preventDefault();
        jumpTo(Number(ref.getAttribute("data-jump")));
        return;
      }
      var button = event.target.closest("button[data-action]");
      if (button && !button.disabled) press(button);
    });

    // --- action buttons ---

    function press(button) {
      var node = button.closest("[data-seq]");
      var seq = Number(node.getAttribute("data-seq"));
      var action = button.getAttribute("data-action");
      // A button that takes fields (a reject's reason) asks for them first; cancelling presses nothing.
      var body;
      var fields = (button.getAttribute("data-input") || "").split(",").filter(Boolean);
      for (var i = 0; i < fields.length; i++) {
        var value = window.prompt(t("action_input_" + fields[i]) || fields[i], "");
        if (value === null || !value.trim()) return;
        body = body || {};
        body[fields[i]] = value.trim();
      }
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      var note = button.parentNode.querySelector(".chat-error");
      if (note) note.remove();
      var url = roomApi + "messages/" + seq + "/actions/" + encodeURIComponent(action) + "/";
      api("POST", url, body).then(function (result) {
        // The outcome message arrives for everyone in the room; this answer is only quicker.
        var outcome = state.seen.get(result.outcome_seq);
        markDone(button, outcome ? outcome.frame : null);
        if (!outcome) {
          var label = button.parentNode.querySelector('[data-note-for="' + CSS.escape(action) + '"]');
          if (label && result.pressed_by) label.textContent = t("done_by", { name: result.pressed_by });
        }
      }).catch(function (error) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        var box = el("span", "chat-error", t("action_failed", { reason: errorText(t, error) }));
        box.setAttribute("role", "alert");
        button.parentNode.appendChild(box);
      });
    }

    // --- attachments ---

    var fileInput = $("file");
    if (fileInput) {
      fileInput.addEventListener("change", function () {
        var file = fileInput.files && fileInput.files[0];
        if (!file) return;
        fileInput.value = "";
        if (file.size > (Number(root.getAttribute("data-max-upload")) || MAX_UPLOAD)) {
          composeError.textContent = t("file_too_large");
          composeError.hidden = false;
          return;
        }
        composeError.textContent = t("uploading", { name: file.name });
        composeError.hidden = false;
        var form = new FormData();
        form.append("file", file);
        form.append("client_id", newClientId());
        api("POST", roomApi + "attachments/", form).then(function (frame) {
          composeError.hidden = true;
          showLive([frame]);
          scrollToBottom();
        }).catch(function (error) {
          composeError.textContent = t("upload_failed", { reason: errorText(t, error) });
          composeError.hidden = false;
        });
      });
    }

    // --- search ---

    var searchForm = $("search-form");
    var results = $("search-results");
    searchForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var q = searchForm.querySelector("input[name=q]").value.trim();
      if (!q) return;
      results.textContent = "";
      results.setAttribute("aria-busy", "true");
      api("GET", searchApi + "?q=" + encodeURIComponent(q) + "&room=" + roomId).then(function (data) {
        results.removeAttribute("aria-busy");
        var hits = (data && data.results) || [];
        if (!hits.length) {
          results.appendChild(el("p", "muted", t("search_none")));
          return;
        }
        hits.forEach(function (frame) {
          var hit = el("button", "search-hit");
          hit.type = "button";
          hit.setAttribute("data-seq", String(frame.seq));
          hit.setAttribute("data-testid", "search-hit");
          var meta = el("div", "msg-meta");
          meta.appendChild(el("span", "msg-sender", senderName(frame)));
          meta.appendChild(el("time", null, formatTime(frame.created_at)));
          if (frame.internal) meta.appendChild(el("span", "msg-badge badge-internal", t("internal_note")));
          hit.appendChild(meta);
          var body = el("div", "msg-body");
          body.innerHTML = frame.body_html; // sanitised by the server
          hit.appendChild(body);
          hit.addEventListener("click", function () { jumpTo(frame.seq); });
          results.appendChild(hit);
        });
      }).catch(function (error) {
        results.removeAttribute("aria-busy");
        results.appendChild(el("p", "chat-error", t("search_failed", { reason: errorText(t, error) })));
      });
    });

    // --- start: the newest page over HTTP, then the socket (which syncs from there) ---
    loadLatest().then(function () { socket.connect(); });
  }

  function start() {
    document.querySelectorAll("[data-chat=rooms]").forEach(initRoomList);
    document.querySelectorAll("[data-chat=room]").forEach(initRoom);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

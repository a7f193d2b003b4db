/* Invekto's browser code: the inbox's live updates over /ws, the composer, infinite scroll and
 * notifications. The server renders every piece of HTML; this file only fetches fragments and
 * puts them in place, so there is one source of truth for how things look and what is escaped. */
(() => {
  "use strict";

  htmx.config.allowNestedOobSwaps = false; // only top-level hx-swap-oob elements swap out of band
  const I18N = JSON.parse(document.getElementById("i18n")?.textContent || "{}");
  const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const inbox = () => $("#inbox");
  const ME = $(".shell")?.dataset.me || null;

  // ---- small helpers --------------------------------------------------------------------------

  function toast(text, kind = "info", ms = 5000) {
    const stack = $("#toasts");
    if (!stack) return;
    const node = document.createElement("div");
    node.className = `app-toast ${kind}`;
    node.setAttribute("role", kind === "error" ? "alert" : "status");
    node.textContent = text;
    stack.appendChild(node);
    setTimeout(() => node.remove(), ms);
  }

  async function request(url, options = {}) {
    const response = await fetch(url, {
      credentials: "same-origin", ...options,
      headers: { "x-csrf-token": CSRF, "hx-request": "true", ...(options.headers || {}) },
    });
    if (response.status === 401) {
      window.location.assign("/login");
      throw new Error("signed out");
    }
    return response;
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      return body.error?.message || I18N.error;
    } catch {
      return I18N.error;
    }
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function newId() {
    return (crypto.randomUUID && crypto.randomUUID()) ||
      `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  }

  // Errors from HTMX requests: the server's message, already in the user's language.
  document.body.addEventListener("htmx:responseError", async (event) => {
    const xhr = event.detail.xhr;
    let message = I18N.error;
    try { message = JSON.parse(xhr.responseText).error.message || message; } catch { /* keep */ }
    toast(message, "error");
  });
  document.body.addEventListener("htmx:sendError", () => toast(I18N.connection_lost, "error"));

  // ---- panes (phone and tablet widths show one or two at a time) ----------------------------

  function showPane(name) {
    if (inbox()) inbox().dataset.pane = name;
  }
  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-show-pane]");
    if (target) showPane(target.dataset.showPane);
  });

  // ---- the conversation list ------------------------------------------------------------------

  function listQuery() {
    return inbox()?.dataset.listQuery || "";
  }

  function openConversationId() {
    return $("#thread")?.dataset.conversationId || null;
  }

  function markActiveRow() {
    const open = openConversationId();
    $$(".conv-row").forEach((row) => row.classList.toggle("active", row.dataset.id === open));
  }

  document.body.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt.id !== "list-filters") return;
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(event.detail.parameters)) {
      if (value) params.set(key, value);
    }
    inbox().dataset.listQuery = params.toString();
    const open = openConversationId();
    if (open) params.set("c", open);
    history.replaceState(null, "", `/inbox?${params}`);
    $$(".tab-pill").forEach((pill) => pill.classList.toggle(
      "active", pill.dataset.tab === (event.detail.parameters.tab || "mine")));
    refreshCounts();
  });

  async function refreshCounts() {
    const response = await request(`/inbox/counts?${listQuery()}`);
    if (!response.ok) return;
    const counts = await response.json();
    for (const [tab, count] of Object.entries(counts)) {
      const node = $(`[data-count-for="${tab}"]`);
      if (node) node.textContent = count >= 1000 ? "999+" : count.toLocaleString(document.documentElement.lang);
    }
  }

  function reloadList() {
    const form = $("#list-filters");
    if (form) htmx.trigger(form, "submit");
  }
  document.body.addEventListener("inbox-refresh", () => {
    reloadList();
    $$(".row-select:checked").forEach((box) => { box.checked = false; });
    updateBulkBar();
  });

  // A row as the server renders it for the current filters; gone when it no longer belongs.
  async function refreshRow(conversationId, moveToTop) {
    const list = $("#conversation-list");
    if (!list) return;
    const response = await request(`/inbox/rows/${conversationId}?${listQuery()}`);
    const existing = document.getElementById(`row-${conversationId}`);
    countsSoon();
    if (response.status === 204) {
      existing?.remove();
      return;
    }
    if (!response.ok) return;
    const row = fragment(await response.text()).firstElementChild;
    const selected = existing?.querySelector(".row-select")?.checked;
    if (existing && !moveToTop) {
      existing.replaceWith(row);
    } else {
      existing?.remove();
      $("#list-empty")?.remove();
      list.prepend(row);
      row.classList.add("flash");
    }
    if (selected) row.querySelector(".row-select").checked = true;
    htmx.process(row);
    markActiveRow();
  }

  // Tab counts follow the list, at most once a second however busy the socket is.
  let countsTimer = null;
  function countsSoon() {
    if (countsTimer) return;
    countsTimer = setTimeout(() => { countsTimer = null; refreshCounts(); }, 1000);
  }

  // ---- bulk actions ---------------------------------------------------------------------------

  function updateBulkBar() {
    const bar = $("#bulk-form");
    if (!bar) return;
    const count = $$(".row-select:checked").length;
    bar.hidden = count === 0;
    $("#bulk-count").textContent = String(count);
  }
  document.addEventListener("change", (event) => {
    if (event.target.classList?.contains("row-select")) updateBulkBar();
    if (event.target.id === "bulk-action") {
      $("#bulk-user").hidden = event.target.value !== "assign";
      $("#bulk-tag").hidden = event.target.value !== "tag";
    }
  });

  // ---- saved views ----------------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const button = event.target.closest("#save-view");
    if (!button) return;
    const name = window.prompt(button.dataset.prompt || I18N.new_view);
    if (name && name.trim()) {
      htmx.ajax("POST", `/inbox/views?${listQuery()}`, { values: { name }, swap: "none" });
    }
  });

  // ---- exporting the list as filtered (admins) ---------------------------------------------

  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-export-format]");
    if (link) link.href = `/inbox/export?${listQuery()}&format=${link.dataset.exportFormat}`;
  });

  // ---- the thread -----------------------------------------------------------------------------

  function timeline() {
    return $("#timeline");
  }

  function nearBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 120;
  }

  function scrollToBottom() {
    const node = timeline();
    if (node) node.scrollTop = node.scrollHeight;
  }

  // Day separators, recomputed from the items' days whenever the timeline changes.
  function decorateDays() {
    const node = timeline();
    if (!node) return;
    $$(".day-sep", node).forEach((sep) => sep.remove());
    let previous = null;
    for (const item of $$(".item[data-day]", node)) {
      if (item.dataset.day !== previous) {
        const sep = document.createElement("div");
        sep.className = "day-sep";
        sep.dataset.day = item.dataset.day;
        sep.textContent = item.dataset.dayLabel || item.dataset.day;
        item.before(sep);
        previous = item.dataset.day;
      }
    }
  }

  // Infinite scroll upward: the sentinel at the top loads the next older page when it shows.
  let olderObserver = null;
  function watchOlder() {
    olderObserver?.disconnect();
    const node = timeline();
    const sentinel = node && $(".older-sentinel", node);
    if (!sentinel) return;
    olderObserver = new IntersectionObserver(async (entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return;
      olderObserver.disconnect();
      const response = await request(sentinel.dataset.olderUrl);
      if (!response.ok) return;
      const before = node.scrollHeight;
      const top = node.scrollTop;
      const content = fragment(await response.text());
      sentinel.replaceWith(content);
      decorateDays();
      node.scrollTop = top + (node.scrollHeight - before); // keep the reader where they were
      watchOlder();
    }, { root: node, rootMargin: "200px 0px 0px 0px" });
    olderObserver.observe(sentinel);
  }

  function placeItem(node) {
    const list = timeline();
    if (!list || !node) return;
    const stick = nearBottom(list);
    const existing = document.getElementById(node.id);
    const pending = node.dataset.clientId && document.getElementById(`pending-${node.dataset.clientId}`);
    if (existing) existing.replaceWith(node);
    else if (pending) pending.replaceWith(node);
    else list.appendChild(node);
    htmx.process(node);
    decorateDays();
    if (stick) scrollToBottom();
  }

  async function loadItem(kind, id) {
    const response = await request(`/inbox/items/${kind}/${id}`);
    if (!response.ok) return;
    placeItem(fragment(await response.text()).firstElementChild);
  }

  function threadOpened() {
    markActiveRow();
    decorateDays();
    scrollToBottom();
    watchOlder();
    setupComposer();
    const open = openConversationId();
    if (open) mineUnread.delete(open);
    updateBadges();
  }

  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "thread-pane") {
      showPane("thread");
      threadOpened();
    }
  });
  document.body.addEventListener("htmx:oobAfterSwap", (event) => {
    if (event.detail.target?.id === "timeline") {
      decorateDays();
      scrollToBottom();
      // The same event may also have arrived over the socket: keep one of each.
      const seen = new Set();
      $$(".item[id]", timeline()).forEach((item) => {
        if (seen.has(item.id)) item.remove(); else seen.add(item.id);
      });
    }
    if (event.detail.target?.id === "composer-area") setupComposer();
  });
  // A header action (tag, priority...) re-renders the composer too; the same kind of composer
  // is kept as it is, so a draft or a chosen file is never lost.
  document.body.addEventListener("htmx:oobBeforeSwap", (event) => {
    const incoming = event.detail.fragment.firstElementChild || event.detail.fragment;
    if (sameComposer(event.detail.target, incoming)) event.detail.shouldSwap = false;
  });

  function sameComposer(current, incoming) {
    return current?.id === "composer-area" && incoming?.id === "composer-area" &&
      current.dataset.mode === incoming.dataset.mode;
  }

  // Snooze presets send an exact moment (with its zone); the custom field is company time.
  document.addEventListener("click", (event) => {
    const preset = event.target.closest("[data-snooze-hours]");
    if (!preset) return;
    const form = preset.closest("form");
    const until = new Date(Date.now() + Number(preset.dataset.snoozeHours) * 3600 * 1000);
    htmx.ajax("POST", form.getAttribute("hx-post"), {
      target: "#thread-header", swap: "outerHTML", values: { until: until.toISOString() },
    });
  });

  // Someone else changed the open conversation: its header and composer as they are now, or a
  // notice when it has left what this user may see (transferred away, taken over).
  async function refreshHeader(conversationId) {
    const response = await request(`/inbox/c/${conversationId}/header`);
    if (openConversationId() !== conversationId) return;
    if (response.status === 404) {
      const pane = $("#thread-pane");
      pane.replaceChildren();
      const notice = document.createElement("div");
      notice.className = "empty-thread";
      notice.id = "conversation-gone";
      notice.textContent = I18N.gone;
      pane.appendChild(notice);
      $("#contact-pane")?.replaceChildren();
      return;
    }
    if (!response.ok) return;
    // Read the answer first: the check below and the redraw must not have a wait between them,
    // or a menu opened meanwhile would be closed by the redraw.
    const content = fragment(await response.text());
    const header = $("#thread-header");
    if (header?.querySelector(".dropdown-menu.show")) {
      // The agent has a menu of the header open (transfer, snooze...): redrawing it now would
      // close the menu under their hand. Catch up once it closes.
      header.addEventListener("hidden.bs.dropdown", () => refreshHeader(conversationId),
                              { once: true });
      return;
    }
    for (const node of Array.from(content.children)) {
      const oob = node.getAttribute("hx-swap-oob");
      const current = node.id && document.getElementById(node.id);
      if (node.id === "thread-header") current?.replaceWith(node);
      else if (oob === "true" && current && !sameComposer(current, node)) current.replaceWith(node);
      else if (oob?.startsWith("beforeend:")) continue; // events arrive on their own
      htmx.process(node);
    }
    setupComposer();
  }

  // ---- the composer ---------------------------------------------------------------------------

  let popup = { items: [], index: 0, kind: null };

  function setupComposer() {
    setupTemplates();
    setupSuggestions();
    const form = $("#composer");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    const input = $("#composer-input", form);
    const fileInput = $("#composer-file-input", form);

    $$(".mode", form).forEach((button) => button.addEventListener("click", () => {
      const note = button.dataset.mode === "note";
      form.classList.toggle("note-mode", note);
      $$(".mode", form).forEach((b) => {
        b.classList.toggle("active", b === button);
        b.setAttribute("aria-selected", String(b === button));
      });
      input.placeholder = note ? input.dataset.notePlaceholder : input.dataset.replyPlaceholder;
      input.focus();
    }));

    input.addEventListener("input", () => {
      input.style.height = "auto";
      input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
      suggest(form, input);
    });
    input.addEventListener("keydown", (event) => {
      // Alt+1, Alt+2, Alt+3: that suggested reply (by the key's place: Alt+digit types other
      // characters on some layouts).
      const digit = /^Digit([1-3])$/.exec(event.code);
      if (digit && event.altKey && !event.ctrlKey && !event.metaKey) {
        const card = $(`#reply-suggestions:not([hidden]) .suggestion-card[data-suggestion="${digit[1]}"]`);
        if (card) {
          event.preventDefault();
          insertSuggestion(card);
        }
        return;
      }
      if (!$("#composer-popup").hidden && popup.items.length) {
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          const step = event.key === "ArrowDown" ? 1 : -1;
          popup.index = (popup.index + step + popup.items.length) % popup.items.length;
          renderPopup(input);
          return;
        }
        if (event.key === "Enter" || event.key === "Tab") {
          event.preventDefault();
          choose(input, popup.items[popup.index]);
          return;
        }
        if (event.key === "Escape") { closePopup(); return; }
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    const forgetQuickReplyFile = () => {
      delete form.dataset.quickReply;
      delete form.dataset.quickReplyFile;
    };
    fileInput.addEventListener("change", () => {
      forgetQuickReplyFile();
      const box = $("#composer-file");
      box.hidden = !fileInput.files.length;
      $(".file-name", box).textContent = fileInput.files[0]?.name || "";
    });
    $("#clear-file").addEventListener("click", () => {
      forgetQuickReplyFile();
      fileInput.value = "";
      $("#composer-file").hidden = true;
    });

    $$(".emoji", form).forEach((button) => button.addEventListener("click", () => {
      const start = input.selectionStart ?? input.value.length;
      input.setRangeText(button.dataset.emoji, start, input.selectionEnd ?? start, "end");
      input.focus();
    }));

    $("#record-button").addEventListener("click", () => toggleRecording(form));
    setupChoices(form, input);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const note = form.classList.contains("note-mode");
      const body = input.value;
      const file = fileInput.files[0] || null;
      const choices = note ? null : collectChoices();
      const quickReply = note || file ? null : form.dataset.quickReply || null;
      const quickReplyFile = form.dataset.quickReplyFile;
      if (!body.trim() && !file && !quickReply) return;
      forgetQuickReplyFile();
      input.value = "";
      input.style.height = "auto";
      input.dispatchEvent(new Event("input")); // what counts the text (SMS parts) sees it empty
      fileInput.value = "";
      $("#composer-file").hidden = true;
      closePopup();
      if (choices) resetChoices();
      if (note) sendNote(form, body);
      else sendMessage(form, { body, file, choices, quickReply, quickReplyFile, clientId: newId() });
    });
  }

  // ---- suggested replies: above the composer, fetched after the thread shows -----------------

  // Dismissed strips, per conversation: the question they answered (sessionStorage, so a
  // reload keeps them hidden). The customer writing again brings suggestions back.
  const DISMISSED = "invekto.suggestions-dismissed";
  function dismissals() {
    try { return JSON.parse(sessionStorage.getItem(DISMISSED) || "{}"); } catch { return {}; }
  }
  function saveDismissals(map) {
    try { sessionStorage.setItem(DISMISSED, JSON.stringify(map)); } catch { /* a nicety */ }
  }
  function forgetDismissal(conversationId) {
    const map = dismissals();
    if (!(conversationId in map)) return;
    delete map[conversationId];
    saveDismissals(map);
  }

  function setupSuggestions() {
    const box = $("#reply-suggestions");
    if (!box || box.dataset.ready) return;
    box.dataset.ready = "1";
    loadSuggestions();
  }

  // The server renders the strip (escaped); only the answer to the latest request is shown.
  // A failure leaves the strip as it was: suggestions are a help, never in the way.
  let suggestionsAsked = 0;
  async function loadSuggestions() {
    const box = $("#reply-suggestions");
    if (!box) return;
    const asked = ++suggestionsAsked;
    let response;
    try {
      response = await request(box.dataset.url);
    } catch {
      return;
    }
    if (!response.ok) return;
    const content = fragment(await response.text());
    if (asked !== suggestionsAsked || !box.isConnected) return;
    box.replaceChildren(content);
    const key = $(".suggestions-head", box)?.dataset.questionKey;
    box.hidden = !$(".suggestion-card", box) ||
      dismissals()[box.dataset.conversationId] === key;
  }

  function insertSuggestion(card) {
    const input = $("#composer-input");
    if (!input) return;
    const text = card.dataset.text || ""; // plain text, never parsed as HTML
    const current = input.value;
    input.value = !current.trim() ? text
      : `${current}${current.endsWith("\n") ? "" : "\n"}${text}`;
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    input.dispatchEvent(new Event("input")); // the height and the SMS count follow
    input.scrollTop = input.scrollHeight;
  }

  document.addEventListener("click", (event) => {
    // A suggestion, or any other ready sentence offered for the reply (an order's status).
    const card = event.target.closest("#reply-suggestions .suggestion-card, [data-insert-reply]");
    if (card) {
      insertSuggestion(card);
      return;
    }
    if (!event.target.closest("#reply-suggestions [data-action=dismiss-suggestions]")) return;
    const box = $("#reply-suggestions");
    const map = dismissals();
    map[box.dataset.conversationId] = $(".suggestions-head", box)?.dataset.questionKey || "";
    saveDismissals(map);
    box.hidden = true;
    $("#composer-input")?.focus();
  });

  // ---- templates (WhatsApp, after the 24-hour window): approved ones, placeholders filled ------

  function setupTemplates() {
    const form = $("#template-composer");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    const select = $("#template-select", form);
    const fields = $("#template-parameters", form);
    const preview = $("#template-preview", form);
    const send = $("#template-send", form);
    const chosen = () => select.selectedOptions[0];
    const values = () => Object.fromEntries($$("input", fields).map(
      (field) => [field.dataset.placeholder, field.value.trim()]));
    const render = () => {
      const body = chosen()?.dataset.body || "";
      const filled = values();
      // The customer's text as it will read; textContent, never HTML.
      preview.textContent = body.replace(/\{\{\s*(\w+)\s*\}\}/g, (all, key) => filled[key] || all);
      preview.hidden = !body;
      send.disabled = !chosen()?.value || Object.values(filled).some((value) => !value);
    };
    select.addEventListener("change", () => {
      fields.replaceChildren();
      for (const name of (chosen()?.dataset.parameters || "").split(",").filter(Boolean)) {
        const input = document.createElement("input");
        input.className = "form-control form-control-sm";
        input.dataset.placeholder = name;
        input.maxLength = 1024;
        input.placeholder = fields.dataset.label.replace("NAME", `{{${name}}}`);
        input.setAttribute("aria-label", input.placeholder);
        input.addEventListener("input", render);
        fields.appendChild(input);
      }
      render();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const option = chosen();
      if (!option?.value || send.disabled) return;
      const template = { name: option.dataset.name, language: option.dataset.language,
                         parameters: values() };
      sendMessage(form, { body: preview.textContent, file: null, template, clientId: newId() });
      select.value = "";
      select.dispatchEvent(new Event("change"));
    });
  }

  // ---- reply buttons and lists (WhatsApp): the message text is the question --------------------

  function setupChoices(form, input) {
    const panel = $("#composer-choices", form);
    const toggle = $("#choices-button", form);
    if (!panel || !toggle) return;
    const show = (open) => {
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      toggle.classList.toggle("active", open);
    };
    toggle.addEventListener("click", () => {
      show(panel.hidden);
      if (!panel.hidden) $(".choice-title", panel)?.focus();
    });
    $("#choices-close", panel).addEventListener("click", () => { resetChoices(); input.focus(); });
    $$("input[name=choices-type]", panel).forEach((radio) => radio.addEventListener("change", () => {
      $$("[data-choices-kind]", panel).forEach((part) => {
        part.hidden = part.dataset.choicesKind !== radio.value;
      });
    }));
    $("#choices-add-row", panel).addEventListener("click", () => {
      const rows = $("#choices-rows", panel);
      if (rows.children.length >= 10) return; // WhatsApp's limit
      const row = rows.firstElementChild.cloneNode(true);
      $$("input", row).forEach((field) => { field.value = ""; });
      rows.appendChild(row);
      $(".row-title", row).focus();
    });
  }

  // The panel's buttons or list as MessageSend.choices, or null when it is closed or empty.
  function collectChoices() {
    const panel = $("#composer-choices");
    if (!panel || panel.hidden) return null;
    const type = $("input[name=choices-type]:checked", panel).value;
    if (type === "buttons") {
      const buttons = $$(".choice-title", panel).map((f) => f.value.trim()).filter(Boolean)
        .map((title) => ({ title }));
      return buttons.length ? { type, buttons } : null;
    }
    const rows = $$(".choice-row", panel).map((row) => ({
      title: $(".row-title", row).value.trim(),
      description: $(".row-description", row).value.trim() || null,
    })).filter((row) => row.title);
    return rows.length ? { type, button: $("#choices-list-button", panel).value.trim(),
                           sections: [{ rows }] } : null;
  }

  function resetChoices() {
    const panel = $("#composer-choices");
    if (!panel) return;
    $$("input:not([type=radio])", panel).forEach((field) => { field.value = ""; });
    $$(".choice-row", panel).slice(1).forEach((row) => row.remove());
    panel.hidden = true;
    $("#choices-button")?.setAttribute("aria-expanded", "false");
    $("#choices-button")?.classList.remove("active");
  }

  function pendingBubble(clientId, body, fileName) {
    const node = document.createElement("div");
    node.className = "item msg msg-outbound pending-local";
    node.id = `pending-${clientId}`;
    node.dataset.day = new Date().toISOString().slice(0, 10);
    const lastDay = $$(".item[data-day]", timeline()).pop();
    node.dataset.day = lastDay?.dataset.day || node.dataset.day;
    node.dataset.dayLabel = lastDay?.dataset.dayLabel || I18N.today;
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    if (fileName) {
      const file = document.createElement("div");
      file.className = "media-file";
      file.textContent = `📎 ${fileName}`;
      bubble.appendChild(file);
    }
    if (body) {
      const text = document.createElement("div");
      text.className = "msg-body";
      text.textContent = body; // the user's own text, never parsed as HTML
      bubble.appendChild(text);
    }
    const meta = document.createElement("div");
    meta.className = "msg-meta";
    meta.innerHTML = '<span class="ticks ticks-pending"><i class="ti ti-clock"></i></span>';
    bubble.appendChild(meta);
    node.appendChild(bubble);
    return node;
  }

  // Optimistic: the bubble shows at once; the server's rendering replaces it. A retry reuses the
  // same client_message_id, so the server sends it once however often it is asked.
  async function sendMessage(form, message) {
    const { body, file, choices, template, quickReply, quickReplyFile, clientId } = message;
    let bubble = document.getElementById(`pending-${clientId}`);
    if (!bubble) {
      bubble = pendingBubble(clientId, body, file?.name || quickReplyFile);
      timeline().appendChild(bubble);
      decorateDays();
      scrollToBottom();
    }
    bubble.classList.remove("send-failed");
    $(".msg-error", bubble)?.remove();
    const data = new FormData();
    data.set("body", body);
    data.set("client_message_id", clientId);
    if (file) data.set("file", file, file.name);
    if (choices) data.set("choices", JSON.stringify(choices));
    if (template) data.set("template", JSON.stringify(template));
    if (quickReply) data.set("quick_reply", quickReply);
    let response;
    try {
      response = await request(form.dataset.sendUrl, { method: "POST", body: data });
    } catch {
      return failBubble(bubble, I18N.connection_lost, form, message);
    }
    if (!response.ok) return failBubble(bubble, await errorMessage(response), form, message);
    const node = fragment(await response.text()).firstElementChild;
    if (document.getElementById(node.id)) bubble.remove(); // the socket was faster
    else placeItem(node);
  }

  function failBubble(bubble, text, form, message) {
    bubble.classList.add("send-failed");
    const error = document.createElement("div");
    error.className = "msg-error";
    error.textContent = `${I18N.sending_failed}: ${text} `;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn btn-sm btn-link p-0";
    retry.textContent = I18N.retry;
    retry.addEventListener("click", () => sendMessage(form, message));
    error.appendChild(retry);
    $(".bubble", bubble).appendChild(error);
  }

  async function sendNote(form, body) {
    const data = new FormData();
    data.set("body", body);
    const response = await request(form.dataset.noteUrl, { method: "POST", body: data });
    if (!response.ok) {
      toast(await errorMessage(response), "error");
      $("#composer-input").value = body;
      return;
    }
    placeItem(fragment(await response.text()).firstElementChild);
    scrollToBottom();
  }

  // "/" at the start offers quick replies; "@name" in a note offers colleagues. Only the answer
  // to the latest keystroke is shown (answers can arrive out of order).
  let suggestion = 0;
  async function suggest(form, input) {
    const asked = ++suggestion;
    const before = input.value.slice(0, input.selectionStart);
    const note = form.classList.contains("note-mode");
    let match = !note && /^\/(\S*)$/.exec(before);
    if (match) {
      const open = openConversationId();
      const response = await request(`/inbox/quick-replies?q=${encodeURIComponent(match[1])}` +
                                     (open ? `&c=${open}` : ""));
      if (!response.ok) return;
      const replies = await response.json();
      if (asked !== suggestion) return;
      popup = { kind: "reply", index: 0,
        items: replies.map((r) => ({ label: `/${r.shortcut}`, insert: r.body, whole: true,
          detail: r.file ? `📎 ${r.file} · ${r.body}` : r.body, replyId: r.id, file: r.file })) };
      if (!popup.items.length) popup.empty = I18N.no_quick_replies;
      renderPopup(input);
      return;
    }
    match = note && /(^|\s)@([\w.-]*)$/.exec(before);
    if (match) {
      const response = await request(`/inbox/people?q=${encodeURIComponent(match[2])}`);
      if (!response.ok) return;
      const people = await response.json();
      if (asked !== suggestion) return;
      popup = { kind: "mention", index: 0, query: match[2],
        items: people.map((p) => ({ label: `@${p.username}`, detail: p.name, insert: `@${p.username} ` })) };
      renderPopup(input);
      return;
    }
    closePopup();
  }

  function renderPopup(input) {
    const box = $("#composer-popup");
    box.replaceChildren();
    if (!popup.items.length) {
      if (!popup.empty) return closePopup();
      const empty = document.createElement("div");
      empty.className = "option text-secondary";
      empty.textContent = popup.empty;
      box.appendChild(empty);
      popup.empty = null;
    }
    popup.items.forEach((entry, index) => {
      const option = document.createElement("button");
      option.type = "button";
      option.className = `option${index === popup.index ? " active" : ""}`;
      option.setAttribute("role", "option");
      const label = document.createElement("b");
      label.textContent = entry.label;
      option.append(label, document.createTextNode(entry.detail.slice(0, 120)));
      option.addEventListener("mousedown", (event) => { event.preventDefault(); choose(input, entry); });
      box.appendChild(option);
    });
    box.hidden = false;
  }

  function closePopup() {
    const box = $("#composer-popup");
    if (box) { box.hidden = true; box.replaceChildren(); }
    popup = { items: [], index: 0, kind: null };
  }

  function choose(input, entry) {
    if (entry.file) {
      // The quick reply's file goes with it (the server sends a copy of the library's file).
      const form = input.closest("form");
      form.dataset.quickReply = entry.replyId;
      form.dataset.quickReplyFile = entry.file;
      $("#composer-file-input", form).value = "";
      const box = $("#composer-file", form);
      box.hidden = false;
      $(".file-name", box).textContent = entry.file;
    }
    if (entry.whole) {
      input.value = entry.insert;
    } else {
      const caret = input.selectionStart;
      const before = input.value.slice(0, caret).replace(/@[\w.-]*$/, entry.insert);
      input.value = before + input.value.slice(caret);
      input.setSelectionRange(before.length, before.length);
    }
    closePopup();
    input.dispatchEvent(new Event("input"));
    input.focus();
  }

  // Voice notes: recorded in the browser, sent as an audio file like any other.
  let recorder = null;
  async function toggleRecording(form) {
    const button = $("#record-button");
    if (recorder) { recorder.stop(); return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      toast(I18N.mic_denied, "error");
      return;
    }
    const type = ["audio/ogg;codecs=opus", "audio/webm;codecs=opus", "audio/webm"]
      .find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t));
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      button.classList.remove("recording");
      const mime = (recorder.mimeType || "audio/webm").split(";")[0];
      const file = new File(chunks, `voice-note.${mime.endsWith("ogg") ? "ogg" : "webm"}`, { type: mime });
      recorder = null;
      sendMessage(form, { body: "", file, clientId: newId() });
    });
    recorder.start();
    button.classList.add("recording");
    toast(I18N.recording, "info", 3000);
  }

  // ---- notifications --------------------------------------------------------------------------

  const mineUnread = new Set();
  let mentionCount = Number($("#mention-count")?.textContent || 0);
  const baseTitle = document.title;

  function updateBadges() {
    const badge = $("#mine-unread");
    if (badge) {
      badge.hidden = mineUnread.size === 0;
      badge.textContent = String(mineUnread.size);
    }
    const mentions = $("#mention-count");
    if (mentions) {
      mentions.hidden = mentionCount === 0;
      mentions.textContent = String(mentionCount);
    }
    const total = mineUnread.size + mentionCount;
    document.title = total ? `(${total}) ${baseTitle}` : baseTitle;
  }

  let audio = null;
  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + 0.35);
    } catch { /* sound is a nicety */ }
  }

  // One notification: the count, a chime, a toast, the system notification and the menu's entry.
  function notify(toastText, body, entryText, conversationId, kind) {
    const url = `/inbox?c=${conversationId}`;
    mentionCount += 1;
    updateBadges();
    chime();
    toast(toastText);
    browserNotify(kind === "mention" ? I18N.mentioned : toastText, body, url);
    const list = $("#mentions-list");
    if (list) {
      $("#no-mentions")?.remove();
      const link = document.createElement("a");
      link.className = "dropdown-item";
      link.href = url;
      link.dataset.kind = kind;
      link.textContent = entryText;
      list.prepend(link);
    }
  }

  function browserNotify(title, body, url) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    const notification = new Notification(title, { body, tag: url });
    notification.onclick = () => { window.focus(); window.location.assign(url); };
  }

  // Asked once, on the first click (browsers refuse a prompt nobody asked for).
  document.addEventListener("click", () => {
    if (!("Notification" in window) || Notification.permission !== "default") return;
    if (localStorage.getItem("invekto.notifications-asked")) return;
    localStorage.setItem("invekto.notifications-asked", "1");
    Notification.requestPermission();
  }, { once: true });

  // ---- live events ----------------------------------------------------------------------------

  const handlers = {
    "message.created": async (data) => {
      await refreshRow(data.conversation_id, true);
      if ($("#thread")?.dataset.contactId === data.contact_id) {
        await loadItem("message", data.message_id);
      }
      // The customer wrote again: suggestions for what they ask now (never for the agents'
      // own messages, which do not change the question).
      if (data.direction === "inbound") {
        forgetDismissal(data.conversation_id);
        if (openConversationId() === data.conversation_id) loadSuggestions();
      }
      const mine = data.assignee_id === ME;
      const watching = !document.hidden && openConversationId() === data.conversation_id;
      if (data.direction === "inbound" && mine && !watching) {
        mineUnread.add(data.conversation_id);
        updateBadges();
        chime();
        browserNotify(I18N.new_message, document.getElementById(`row-${data.conversation_id}`)
          ?.querySelector(".conv-preview")?.textContent || "", `/inbox?c=${data.conversation_id}`);
      }
    },
    "message.status": (data) => {
      if (document.getElementById(`message-${data.message_id}`)) loadItem("message", data.message_id);
    },
    "note.created": (data) => {
      if ($("#thread")?.dataset.contactId === data.contact_id && !document.getElementById(`note-${data.note_id}`)) {
        loadItem("note", data.note_id);
      }
    },
    "conversation.updated": async (data) => {
      await refreshRow(data.conversation_id, false);
      if (openConversationId() !== data.conversation_id) return;
      if (data.event_id && !document.getElementById(`event-${data.event_id}`)) {
        await loadItem("event", data.event_id);
      }
      if (data.action !== "conversation.read") await refreshHeader(data.conversation_id);
      // A payment link settled: its list under the composer shows the new status at once.
      const links = document.getElementById("payment-link-list");
      if (data.action === "payment" && links) htmx.trigger(links, "payment-settled");
    },
    // A conversation moved to or from this agent by a timer (idle reassignment, an SLA).
    notified: (data) => {
      const text = I18N[data.kind];
      if (text) notify(text, "", text, data.conversation_id, data.kind);
    },
    mention: (data) => {
      notify(`${I18N.mentioned}: ${data.preview}`, data.preview, data.preview,
             data.conversation_id, "mention");
    },
    "presence.changed": (data) => {
      if (data.user_id !== ME) return;
      const dot = $("#my-presence");
      if (dot) dot.className = `presence-dot presence-${data.presence}`;
      $$("#presence-form [data-presence]").forEach((button) => {
        button.classList.toggle("btn-primary", button.dataset.presence === data.presence);
        button.classList.toggle("btn-outline-secondary", button.dataset.presence !== data.presence);
      });
    },
    resync: () => { reloadList(); },
  };

  // The supervisors' monitor and the reports' live panel re-render (at most every 2 s) when
  // anything they show changes.
  const MONITORED = new Set(["presence.changed", "conversation.updated", "message.created"]);
  let monitorTimer = null;
  function refreshMonitor() {
    if (monitorTimer) return;
    monitorTimer = setTimeout(() => {
      monitorTimer = null;
      htmx.trigger(document.body, "monitor-refresh");
    }, 2000);
  }

  let socket = null;
  let retryIn = 1000;
  let pingTimer = null;
  let wasConnected = false;

  function connect() {
    if (!CSRF) return; // not signed in
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    socket.addEventListener("open", () => {
      retryIn = 1000;
      document.body.dataset.live = "true";
      if (wasConnected) {
        // Events sent while we were away are lost: fetch the present state instead.
        toast(I18N.reconnected, "info", 2000);
        reloadList();
      }
      wasConnected = true;
      clearInterval(pingTimer);
      pingTimer = setInterval(() => socket.readyState === 1 && socket.send('{"type":"ping"}'), 25000);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      const handler = handlers[message.type];
      if (handler) Promise.resolve(handler(message.data || {})).catch(() => {});
      if (($("#monitor") || $("#reports-now")) && MONITORED.has(message.type)) refreshMonitor();
    });
    socket.addEventListener("close", () => {
      document.body.dataset.live = "false";
      clearInterval(pingTimer);
      setTimeout(connect, retryIn);
      retryIn = Math.min(retryIn * 2, 15000);
    });
  }

  // ---- start ----------------------------------------------------------------------------------

  window.Invekto = { toast, showPane, refreshRow };
  if ($("#thread")) threadOpened();
  connect();
})();

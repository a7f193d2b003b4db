/* The demo's customer phone (/demo/phone). The server renders the chat; this file polls it every
 * second, posts what the customer types or taps, and sends the business's messages back as
 * delivered and then read once they are on screen. Messages are only ever put in the page as the
 * server's escaped HTML; errors and file names as text. */
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const chat = $("phone-chat");
  if (!chat) return;
  const I18N = JSON.parse($("phone-i18n")?.textContent || "{}");
  const who = $("phone-who"), whoToggle = $("phone-who-toggle");
  const nameInput = $("phone-name"), numberInput = $("phone-number");
  const composer = $("phone-composer"), text = $("phone-text"), image = $("phone-image");
  const send = $("phone-send"), errorBox = $("phone-error");
  const STORE = "invekto-demo-phone";
  let version = "";
  let polling = false, sending = false, offline = false, errorTimer = null;

  // ---- who the customer is: kept in this browser ------------------------------------------

  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(STORE) || "null"); } catch { saved = null; }
  if (saved && saved.name && saved.number) {
    nameInput.value = saved.name;
    numberInput.value = saved.number;
  } else {
    showWho(true);
  }

  function identity() {
    return { name: nameInput.value.trim(), number: numberInput.value.trim() };
  }

  function showWho(open) {
    who.hidden = !open;
    whoToggle.setAttribute("aria-expanded", String(open));
    if (open) nameInput.focus();
  }

  whoToggle.addEventListener("click", () => showWho(who.hidden));
  who.addEventListener("submit", (event) => {
    event.preventDefault();
    const { name, number } = identity();
    if (!name || !number) return showError(I18N.who);
    try { localStorage.setItem(STORE, JSON.stringify({ name, number })); } catch { /* private mode */ }
    showWho(false);
    version = "";
    chat.replaceChildren();
    poll();
    text.focus();
  });

  // ---- talking to the server ----------------------------------------------------------------

  function showError(message) {
    errorBox.textContent = message || I18N.error;
    errorBox.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => { errorBox.hidden = true; }, 6000);
  }

  async function errorOf(response) {
    try {
      const body = await response.json();
      return body.error?.message || I18N.error;
    } catch {
      return I18N.error;
    }
  }

  function show(html, newVersion, scroll) {
    const atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
    chat.innerHTML = html;
    version = newVersion || "";
    if (scroll || atBottom) chat.scrollTop = chat.scrollHeight;
    receipts();
  }

  function form(values) {
    const data = new FormData();
    for (const [key, value] of Object.entries(values)) {
      for (const one of [].concat(value)) data.append(key, one);
    }
    return data;
  }

  async function poll() {
    const { number } = identity();
    if (polling || !number || !who.hidden) return;
    polling = true;
    try {
      const response = await fetch(`/demo/phone/chat?number=${encodeURIComponent(number)}` +
                                   `&v=${encodeURIComponent(version)}`);
      if (response.status === 200) {
        show(await response.text(), response.headers.get("X-Phone-Version"));
      } else if (response.status !== 204) {
        showError(await errorOf(response));
        if (response.status === 422) showWho(true);
      }
      offline = false;
    } catch {
      if (!offline) showError(I18N.connection_lost);
      offline = true;
    } finally {
      polling = false;
    }
  }

  async function post(url, values) {
    let response;
    try {
      response = await fetch(url, { method: "POST", body: form({ ...identity(), ...values }) });
    } catch {
      showError(I18N.connection_lost);
      return false;
    }
    if (!response.ok) {
      showError(await errorOf(response));
      return false;
    }
    errorBox.hidden = true;
    if (response.status === 200) show(await response.text(), response.headers.get("X-Phone-Version"), true);
    return true;
  }

  // ---- writing ----------------------------------------------------------------------------

  function picked() {
    const file = image.files && image.files[0];
    $("phone-picked").hidden = !file;
    $("phone-picked-name").textContent = file ? file.name : "";
  }

  image.addEventListener("change", picked);
  $("phone-unpick").addEventListener("click", () => { image.value = ""; picked(); });

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (sending) return;
    const file = image.files && image.files[0];
    if (!text.value.trim() && !file) return;
    sending = true;
    send.disabled = true;
    const values = { text: text.value };
    if (file) values.image = file;
    if (await post("/demo/phone/messages", values)) {
      text.value = "";
      image.value = "";
      picked();
      grow();
    }
    sending = false;
    send.disabled = false;
    text.focus();
  });

  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  function grow() {
    text.style.height = "auto";
    text.style.height = `${Math.min(text.scrollHeight, 140)}px`;
  }
  text.addEventListener("input", grow);

  // Reply buttons, list rows and a template's quick replies.
  chat.addEventListener("click", (event) => {
    const option = event.target.closest("[data-option-id]");
    if (!option) return;
    option.closest("details")?.removeAttribute("open");
    post("/demo/phone/replies", { message_id: option.dataset.messageId,
                                  option_id: option.dataset.optionId });
  });

  // ---- receipts: the business's messages arrived, and were seen ---------------------------

  function receipts() {
    const theirs = Array.from(chat.querySelectorAll(".wa-theirs"));
    const status = document.visibilityState === "visible" ? "read" : "delivered";
    const due = theirs.filter((el) => (status === "read" ? el.dataset.status !== "read"
                                                       : el.dataset.status === "received"));
    if (!due.length) return;
    due.forEach((el) => { el.dataset.status = status; });
    fetch("/demo/phone/receipts", {
      method: "POST",
      body: form({ number: identity().number, status, message_ids: due.map((el) => el.dataset.wamid) }),
    }).catch(() => { version = ""; /* shown again on the next poll, and sent again */ });
  }

  document.addEventListener("visibilitychange", receipts);

  poll();
  setInterval(poll, 1000);
})();

/* Invekto website chat: one <script src=".../widget.js" data-channel="<id>" async> on a
 * company's page. No dependencies, nothing taken from or leaked into the host page: the widget
 * lives in a shadow root, writes text only through textContent, and talks to the Invekto
 * server it was loaded from (the server allows only the channel's own websites).
 * The visitor's token stays in this site's localStorage, so a reload continues the chat. */
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector("script[data-channel][src*='widget.js']");
  if (!script || window.__invektoChat) return;
  window.__invektoChat = true;

  var channel = script.getAttribute("data-channel");
  var base = new URL(script.src, location.href).origin;
  var api = base + "/widget/api/" + channel;
  var lang = (script.getAttribute("data-lang") || navigator.language || "tr")
    .slice(0, 2).toLowerCase() === "tr" ? "tr" : "en";
  var TEXT = {
    tr: {
      open: "Sohbeti aç", close: "Kapat", online: "Çevrimiçiyiz", offline: "Şu an çevrimdışıyız",
      offlineDefault: "Şu an kimse çevrimiçi değil. Mesajınızı bırakın, size en kısa sürede dönelim.",
      name: "Adınız", phone: "Telefon", email: "E-posta", phoneOrEmail: "Telefon veya e-posta",
      consent: "Aydınlatma metnini okudum, kabul ediyorum.", privacy: "Aydınlatma metni",
      first: "Mesajınız", start: "Sohbeti başlat", write: "Mesajınızı yazın…", send: "Gönder",
      attach: "Dosya ekle", sending: "Gönderiliyor…", failed: "Gönderilemedi, tekrar denemek için dokunun",
      error: "Bir sorun oldu, lütfen tekrar deneyin.", you: "Siz", tooBig: "Dosya çok büyük."
    },
    en: {
      open: "Open chat", close: "Close", online: "We are online", offline: "We are offline now",
      offlineDefault: "Nobody is online right now. Leave a message and we will get back to you soon.",
      name: "Your name", phone: "Phone", email: "E-mail", phoneOrEmail: "Phone or e-mail",
      consent: "I have read and accept the privacy notice.", privacy: "Privacy notice",
      first: "Your message", start: "Start chat", write: "Write a message…", send: "Send",
      attach: "Attach a file", sending: "Sending…", failed: "Not sent, tap to try again",
      error: "Something went wrong, please try again.", you: "You", tooBig: "The file is too large."
    }
  }[lang];
  var KEY = "invekto-chat:" + channel;
  var memory = {};
  function stored(name, value) {
    try {
      if (value === undefined) return localStorage.getItem(KEY + name);
      if (value === null) localStorage.removeItem(KEY + name); else localStorage.setItem(KEY + name, value);
    } catch (e) {  // storage switched off: the chat lasts as long as the page
      if (value === undefined) return memory[name] || null;
      memory[name] = value;
    }
    return null;
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16)), h = [];
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    for (var i = 0; i < 16; i++) h.push((b[i] + 256).toString(16).slice(1));
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") +
      "-" + h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }

  function request(method, path, body, isForm) {
    var headers = {"Accept-Language": lang};
    var token = stored("token");
    if (token) headers.Authorization = "Bearer " + token;
    if (body && !isForm) headers["Content-Type"] = "application/json";
    return fetch(api + path, {method: method, headers: headers, mode: "cors", credentials: "omit",
                              body: body ? (isForm ? body : JSON.stringify(body)) : undefined})
      .then(function (response) {
        if (response.status === 204) return null;
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.ok) return data;
          var error = new Error((data.error && data.error.message) || TEXT.error);
          error.status = response.status; error.field = data.error && data.error.field;
          throw error;
        });
      });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), attrs[name]);
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var config, root, panel, bubble, badge, body, socket, shown = {}, lastRead = null;
  var pending = [], reconnectDelay = 1000, refreshTimer = null;

  request("GET", "/config").then(function (found) {
    config = found;
    build();
    if (stored("token")) refresh().then(connect);
    if (stored("open") === "1") toggle(true);
  }).catch(function (error) {
    // Not allowed here (the site is not one of the channel's), or switched off: show nothing.
    if (window.console) console.warn("Invekto chat is not available on this page:", error.message);
  });

  function build() {
    var color = /^#[0-9a-fA-F]{6}$/.test(config.color) ? config.color : "#206bc4";
    var host = el("div", {id: "invekto-chat"});
    document.body.appendChild(host);
    root = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
    root.appendChild(el("style", {text: STYLE.replace(/COLOR/g, color)}));
    badge = el("span", {class: "badge", hidden: ""});
    bubble = el("button", {class: "bubble", type: "button", "aria-label": TEXT.open,
                           "data-part": "bubble", onclick: function () { toggle(); }},
                [el("span", {class: "icon", "aria-hidden": "true", text: "💬"}), badge]);
    body = el("div", {class: "body", "data-part": "body", "aria-live": "polite"});
    panel = el("section", {class: "panel", hidden: "", role: "dialog", "aria-label": config.title,
                           "data-part": "panel", lang: lang}, [
      el("header", {}, [
        el("div", {}, [el("strong", {text: config.title}),
                       el("small", {"data-part": "status",
                                    text: config.online ? TEXT.online : TEXT.offline})]),
        el("button", {type: "button", class: "close", "aria-label": TEXT.close, text: "×",
                      onclick: function () { toggle(false); }})]),
      body]);
    root.appendChild(panel);
    root.appendChild(bubble);
    render();
  }

  function toggle(open) {
    open = open === undefined ? panel.hidden : open;
    panel.hidden = !open;
    stored("open", open ? "1" : null);
    if (open) { badge.hidden = true; markRead(); }
  }

  function render() {
    body.textContent = "";
    if (stored("token")) return renderChat();
    var notice = [];
    if (config.welcome_text) notice.push(el("p", {class: "welcome", text: config.welcome_text}));
    if (!config.online) notice.push(el("p", {class: "offline", "data-part": "offline",
                                             text: config.offline_text || TEXT.offlineDefault}));
    var error = el("p", {class: "error", role: "alert", "data-part": "error", hidden: ""});
    var form = el("form", {class: "prechat", "data-part": "prechat", novalidate: ""}, [
      field("name", TEXT.name, "text", true, "name"),
      field("phone", TEXT.phone, "tel", false, "tel"),
      field("email", TEXT.email, "email", false, "email"),
      config.consent_text ? el("div", {class: "consent"}, [
        el("p", {class: "consent-text", text: config.consent_text}),
        /^https?:\/\//.test(config.privacy_url) ? el("a", {href: config.privacy_url,
          target: "_blank", rel: "noopener", text: TEXT.privacy}) : null,
        el("label", {}, [el("input", {type: "checkbox", name: "consent", required: ""}),
                         el("span", {text: " " + TEXT.consent})])]) : null,
      // Campaign messages: a box of its own, never ticked for the visitor.
      config.marketing_consent_text ? el("div", {class: "consent", "data-part": "marketing"}, [
        el("label", {}, [el("input", {type: "checkbox", name: "marketing_consent"}),
                         el("span", {text: " " + config.marketing_consent_text})])]) : null,
      el("label", {}, [el("span", {text: TEXT.first}),
                       el("textarea", {name: "body", rows: "3", required: ""})]),
      error,
      el("button", {type: "submit", class: "primary", text: TEXT.start})]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(form), button = form.querySelector("button[type=submit]");
      var first = String(data.get("body") || "").trim();
      error.hidden = true;
      button.disabled = true;
      request("POST", "/visitors", {
        name: String(data.get("name") || "").trim(), phone: data.get("phone") || null,
        email: data.get("email") || null, consent: data.get("consent") === "on",
        marketing_consent: data.get("marketing_consent") === "on",
        language: lang, page: location.href
      }).then(function (visitor) {
        stored("token", visitor.token);
        render();
        connect();
        if (first) send(first);
      }).catch(function (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        var bad = failure.field && form.querySelector("[name=" + failure.field + "]");
        if (bad) bad.focus();
      }).then(function () { button.disabled = false; });
    });
    notice.concat([form]).forEach(function (node) { body.appendChild(node); });
  }

  function field(name, label, type, required, autocomplete) {
    var attrs = {name: name, type: type, autocomplete: autocomplete, maxlength: "200"};
    if (required) attrs.required = "";
    return el("label", {}, [el("span", {text: label}), el("input", attrs)]);
  }

  var list, composer;
  function renderChat() {
    list = el("ol", {class: "messages", "data-part": "messages"});
    var text = el("textarea", {rows: "1", placeholder: TEXT.write, "aria-label": TEXT.write,
                               maxlength: "4096", "data-part": "input"});
    var file = el("input", {type: "file", hidden: "", "data-part": "file"});
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); submit(); }
    });
    file.addEventListener("change", function () {
      if (file.files[0]) upload(file.files[0]);
      file.value = "";
    });
    function submit() {
      var value = text.value.trim();
      if (!value) return;
      text.value = "";
      send(value);
    }
    composer = el("form", {class: "composer", onsubmit: function (e) { e.preventDefault(); submit(); }}, [
      el("button", {type: "button", class: "attach", "aria-label": TEXT.attach, text: "📎",
                    onclick: function () { file.click(); }}),
      file, text,
      el("button", {type: "submit", class: "primary", "data-part": "send", text: TEXT.send})]);
    if (!config.online) body.appendChild(el("p", {class: "offline", "data-part": "offline",
      text: config.offline_text || TEXT.offlineDefault}));
    body.appendChild(list);
    body.appendChild(composer);
    shown = {};
    pending.forEach(drawPending);
  }

  function refresh() {
    return request("GET", "/messages").then(function (messages) {
      if (!list) render();
      var newFromAgent = false;
      messages.forEach(function (message) {
        if (shown[message.id]) return;
        shown[message.id] = true;
        list.appendChild(drawMessage(message));
        if (message.author === "agent") newFromAgent = true;
      });
      list.scrollTop = list.scrollHeight;
      if (newFromAgent) {
        if (panel.hidden) badge.hidden = false; else markRead();
      }
    }).catch(function (error) {
      if (error.status === 401 || error.status === 404) {  // the chat ended: start again
        stored("token", null);
        list = null;
        render();
      }
    });
  }

  function markRead() {
    var replies = list ? list.querySelectorAll("[data-author=agent]") : [];
    var last = replies.length ? replies[replies.length - 1].getAttribute("data-id") : null;
    if (last && last !== lastRead) {
      lastRead = last;
      request("POST", "/read", {up_to: last}).catch(function () { lastRead = null; });
    }
  }

  function drawMessage(message) {
    var item = el("li", {class: "message " + message.author, "data-id": message.id,
                         "data-author": message.author});
    if (message.agent) {
      item.appendChild(el("span", {class: "avatar", "aria-hidden": "true",
                                   text: message.agent.initials}));
    }
    var bubbleBody = el("div", {class: "text"});
    if (message.agent) bubbleBody.appendChild(el("small", {class: "who", text: message.agent.name}));
    if (message.file) bubbleBody.appendChild(drawFile(message.file));
    if (message.body) bubbleBody.appendChild(el("span", {text: message.body}));
    item.appendChild(bubbleBody);
    return item;
  }

  function drawFile(file) {
    var link = el("a", {href: "#", class: "file", text: "📄 " + file.name});
    function fetchBlob() {
      return fetch(api + "/files/" + file.id, {headers: {Authorization: "Bearer " + stored("token")},
                                                 credentials: "omit"})
        .then(function (response) { return response.blob(); });
    }
    if (/^image\/(png|jpeg|gif|webp)$/.test(file.content_type)) {
      var image = el("img", {alt: file.name, class: "image"});
      fetchBlob().then(function (blob) { image.src = URL.createObjectURL(blob); });
      return image;
    }
    link.addEventListener("click", function (event) {
      event.preventDefault();
      fetchBlob().then(function (blob) {
        var a = el("a", {href: URL.createObjectURL(blob), download: file.name});
        a.click();
      });
    });
    return link;
  }

  function drawPending(item) {
    if (!list) return;
    item.node = item.node || el("li", {class: "message visitor pending", "data-pending": item.id}, [
      el("div", {class: "text"}, [el("span", {text: item.body || item.file.name}),
                                  el("small", {class: "state", text: TEXT.sending})])]);
    list.appendChild(item.node);
    list.scrollTop = list.scrollHeight;
  }

  function deliver(item) {
    var state = item.node && item.node.querySelector(".state");
    if (state) state.textContent = TEXT.sending;
    var sending;
    if (item.file) {
      var form = new FormData();
      form.append("client_id", item.id);
      form.append("file", item.file, item.file.name);
      sending = request("POST", "/files", form, true);
    } else {
      sending = request("POST", "/messages", {client_id: item.id, body: item.body});
    }
    return sending.then(function (message) {
      pending = pending.filter(function (p) { return p !== item; });
      if (item.node) item.node.remove();
      if (!shown[message.id] && list) {
        shown[message.id] = true;
        list.appendChild(drawMessage(message));
        list.scrollTop = list.scrollHeight;
      }
    }).catch(function (error) {
      if (!item.node) return;
      item.node.classList.add("failed");
      state.textContent = error.status && error.status < 500 ? error.message : TEXT.failed;
      // Tapping sends it again with the same id: the server keeps it once.
      item.node.onclick = function () { item.node.classList.remove("failed"); deliver(item); };
    });
  }

  function send(body) {
    var item = {id: newId(), body: body};
    pending.push(item);
    drawPending(item);
    return deliver(item);
  }

  function upload(file) {
    if (file.size > config.max_file_bytes) { alert(TEXT.tooBig); return; }
    var item = {id: newId(), file: file};
    pending.push(item);
    drawPending(item);
    deliver(item);
  }

  function connect() {
    if (socket || !stored("token")) return;
    socket = new WebSocket(base.replace(/^http/, "ws") + "/widget/ws/" + channel);
    var ping;
    socket.onopen = function () {
      socket.send(JSON.stringify({token: stored("token")}));
      ping = setInterval(function () { socket.send("ping"); }, 25000);
    };
    socket.onmessage = function (event) {
      if (event.data === "pong") return;
      var data = JSON.parse(event.data);
      if (data.type === "ready") { reconnectDelay = 1000; root.host && root.host.setAttribute("data-live", "true"); }
      // Several changes at once (a reply and its status) make one fetch.
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refresh, 100);
    };
    socket.onclose = function () {
      clearInterval(ping);
      socket = null;
      if (root.host) root.host.removeAttribute("data-live");
      if (!stored("token")) return;
      setTimeout(function () { refresh().then(connect); }, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 30000);
    };
  }

  var STYLE = [
    ":host{all:initial;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d273b}",
    "*{box-sizing:border-box;font:inherit}",
    ".bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;",
    "background:COLOR;color:#fff;font-size:24px;cursor:pointer;box-shadow:0 4px 12px rgba(0,0,0,.25);z-index:2147483000}",
    ".badge{position:absolute;top:2px;right:2px;width:14px;height:14px;border-radius:50%;background:#d63939}",
    ".panel{position:fixed;right:20px;bottom:88px;width:360px;max-width:calc(100vw - 40px);height:520px;",
    "max-height:calc(100vh - 120px);display:flex;flex-direction:column;background:#fff;border-radius:12px;",
    "box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483000}",
    ".panel[hidden],[hidden]{display:none}",
    "header{display:flex;justify-content:space-between;align-items:center;padding:12px 14px;background:COLOR;color:#fff}",
    "header small{display:block;opacity:.85;font-size:12px}",
    ".close{background:none;border:0;color:#fff;font-size:22px;cursor:pointer}",
    ".body{flex:1;display:flex;flex-direction:column;overflow:auto;padding:12px}",
    ".prechat label{display:block;margin-bottom:8px}.prechat label>span{display:block;font-size:12px;color:#667382}",
    "input[type=text],input[type=tel],input[type=email],textarea{width:100%;padding:7px 9px;border:1px solid #dadfe5;border-radius:6px;background:#fff;color:inherit}",
    ".consent{font-size:12px;color:#49566c;margin:8px 0}.consent-text{white-space:pre-line;margin:0 0 4px}",
    ".consent label{display:flex;gap:6px;align-items:flex-start;margin-top:6px}",
    ".primary{background:COLOR;color:#fff;border:0;border-radius:6px;padding:8px 14px;cursor:pointer}",
    ".primary:disabled{opacity:.6}",
    ".error{color:#d63939;margin:6px 0}.offline{background:#fff4e5;border-radius:6px;padding:8px;margin:0 0 8px}",
    ".welcome{margin:0 0 10px}",
    ".messages{list-style:none;margin:0;padding:0;flex:1;overflow:auto}",
    ".message{display:flex;gap:6px;margin:6px 0;align-items:flex-end}",
    ".message .text{max-width:78%;padding:7px 10px;border-radius:10px;background:#f1f3f6;white-space:pre-wrap;word-wrap:break-word}",
    ".message.visitor{justify-content:flex-end}.message.visitor .text{background:COLOR;color:#fff}",
    ".message .who{display:block;font-size:11px;color:#667382}",
    ".message.pending .text{opacity:.7}.message .state{display:block;font-size:11px}",
    ".message.failed .text{background:#d63939;cursor:pointer;opacity:1}",
    ".avatar{width:28px;height:28px;border-radius:50%;background:#dfe5ef;color:#1d273b;display:flex;",
    "align-items:center;justify-content:center;font-size:11px;font-weight:600;flex:none}",
    ".image{max-width:100%;border-radius:6px;display:block}.file{color:inherit}",
    ".composer{display:flex;gap:6px;align-items:flex-end;border-top:1px solid #eef0f3;padding-top:8px;margin-top:8px}",
    ".composer textarea{flex:1;resize:none}.attach{background:none;border:0;font-size:18px;cursor:pointer}"
  ].join("");
})();

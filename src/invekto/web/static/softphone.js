/* The agent's browser softphone: when a Twilio voice channel of the agent's group takes calls in
 * browsers, its incoming calls ring here (Twilio's Voice SDK, loaded only then). The server gives
 * a short-lived token (/api/v1/me/softphone) and renders the panel (#softphone, translated);
 * this file only connects the two. */
(() => {
  "use strict";
  const panel = document.getElementById("softphone");
  if (!panel) return;
  const $ = (id) => document.getElementById(id);
  const title = $("softphone-title"), caller = $("softphone-caller");
  const answer = $("softphone-answer"), mute = $("softphone-mute"), hangup = $("softphone-hangup");
  let device = null, current = null;

  function show(state, call) {
    panel.dataset.state = state;
    panel.hidden = state === "idle" || state === "ready";
    if (state === "ringing" || state === "talking") {
      title.textContent = title.dataset[state];
      caller.textContent = (call && call.parameters && call.parameters.From) || "";
      answer.hidden = state !== "ringing";
      mute.hidden = state !== "talking";
      const label = hangup.querySelector("span");
      label.textContent = label.dataset[state === "ringing" ? "decline" : "hangup"];
    }
  }

  // A call the SDK hands over ("incoming"): ring until answered, declined or given up.
  function ring(call) {
    if (current) { call.reject(); return; }  // already on a call: the next agent takes it
    current = call;
    const done = () => { current = null; mute.textContent = mute.dataset.mute; show("ready"); };
    call.on("accept", () => show("talking", call));
    ["disconnect", "cancel", "reject", "error"].forEach((event) => call.on(event, done));
    show("ringing", call);
  }

  answer.addEventListener("click", () => current && current.accept());
  hangup.addEventListener("click", () => {
    if (!current) return;
    if (panel.dataset.state === "ringing") current.reject(); else current.disconnect();
  });
  mute.addEventListener("click", () => {
    if (!current) return;
    const muted = !current.isMuted();
    current.mute(muted);
    mute.textContent = mute.dataset[muted ? "unmute" : "mute"];
  });

  async function token() {
    const response = await fetch("/api/v1/me/softphone", {credentials: "same-origin"});
    return response.ok ? response.json() : {};
  }

  function loadSdk() {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/twilio-voice/twilio.min.js";
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  async function start() {
    const given = await token();
    if (!given.token) return;  // no browser calls for this agent
    panel.dataset.identity = given.identity;
    await loadSdk();
    device = new window.Twilio.Device(given.token, {closeProtection: true});
    device.on("incoming", ring);
    device.on("registered", () => show("ready"));
    device.on("error", (error) => { panel.dataset.error = (error && error.code) || "error"; });
    device.on("tokenWillExpire", async () => {
      const renewed = await token();
      if (renewed.token) device.updateToken(renewed.token);
    });
    panel.dataset.state = "registering";
    device.register().catch((error) => { panel.dataset.error = (error && error.code) || "error"; });
  }

  window.invektoSoftphone = {ring};  // for the tests: a call as the SDK hands it over
  start().catch(() => { panel.dataset.error = "unavailable"; });
})();

/* Small behaviours that templates ask for with data- attributes. The Content-Security-Policy
 * allows no inline script and no inline event handler (onclick=, hx-on), so what used to be
 * written in the templates lives here, and a template only names what it wants. */
(() => {
  "use strict";

  // Forms that answer a refusal with their part drawn again (each reason beside its field, what
  // was typed kept): a page with [data-refusals-in-place] puts a 4xx HTML answer in place instead
  // of the usual toast (app.js). Its value, when given, limits that to one target's id.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const marker = document.querySelector("[data-refusals-in-place]");
    const xhr = event.detail.xhr;
    if (!marker || xhr.status < 400 || xhr.status >= 500) return;
    const onlyTarget = marker.dataset.refusalsInPlace;
    if (onlyTarget && event.detail.target?.id !== onlyTarget) return;
    if ((xhr.getResponseHeader("content-type") || "").startsWith("text/html")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A refused change on a page with [data-mark-refused-fields] (the settings): besides the
  // toast, mark the field the server named; the next request of the form clears the marks.
  const marksFields = () => document.querySelector("[data-mark-refused-fields]");
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    if (!marksFields()) return;
    event.detail.elt.closest?.("form")?.querySelectorAll(".is-invalid")
      .forEach((node) => node.classList.remove("is-invalid"));
  });
  document.body.addEventListener("htmx:responseError", (event) => {
    if (!marksFields()) return;
    const form = event.detail.elt.closest?.("form");
    let field = null;
    try { field = JSON.parse(event.detail.xhr.responseText).error.field; } catch { return; }
    const input = form && field &&
      form.querySelector(`[name="${CSS.escape(field.split(".")[0])}"]:not([type=hidden])`);
    if (input) { input.classList.add("is-invalid"); input.focus(); }
  });

  // After an element's successful HTMX request: empty the inputs named by
  // data-on-success-clear (a selector), and send the event data-on-success-trigger names to the
  // element data-on-success-target selects.
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail.elt;
    if (!event.detail.successful || !elt?.dataset) return;
    const { onSuccessClear, onSuccessTrigger, onSuccessTarget } = elt.dataset;
    if (onSuccessClear) document.querySelectorAll(onSuccessClear).forEach((input) => { input.value = ""; });
    if (onSuccessTrigger && onSuccessTarget) htmx.trigger(onSuccessTarget, onSuccessTrigger);
  });

  // A button with data-empties="<id>" empties that element (closes a dialog drawn into it).
  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-empties]");
    if (button) document.getElementById(button.dataset.empties)?.replaceChildren();
  });
})();

/* The chatbot flow builder: a Drawflow canvas (nodes dragged from the palette, connections drawn
 * from a node's outputs to another's input), a side panel (Alpine.js) editing the selected step,
 * the flow's triggers and a test chat with the draft.
 *
 * The flow is stored in its own graph format (docs/flows.md), never as a
 * Drawflow export: the canvas is drawn from the graph when the page opens and turned back into a
 * graph when saved, positions included. Each step's outputs are its exits in order (a question's
 * options then its timeout, a condition's branches then "else", an input's timeout, an HTTP
 * request's error...); a connection from an output sets that exit to the node it reaches. */
(() => {
  "use strict";

  const C = () => window.InvektoConditions;
  let conditions = null; // the condition editor's helpers, for the page's catalogue
  const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const NUMBER_KEYS = ["timeout_minutes", "seconds", "timeout_seconds"];
  const ICONS = {
    message: "ti-message", question: "ti-list-check", input: "ti-forms", condition: "ti-git-branch",
    set: "ti-tag", http: "ti-world-upload", handoff: "ti-headset", wait: "ti-clock",
    end: "ti-flag", lookup: "ti-search", appointment: "ti-calendar", ai_answer: "ti-sparkles",
  };
  // A new node of each built-in kind starts as this (an id and a position are added).
  const BLANK = {
    message: () => ({ text: "", attachment_id: null }),
    question: () => ({ text: "", style: "buttons", button: "", options: [], save_as: "",
                       timeout_minutes: "", invalid_text: "" }),
    input: () => ({ text: "", save_to: "var.answer", validate: "text", pattern: "",
                    invalid_text: "", timeout_minutes: "" }),
    condition: () => ({ branches: [] }),
    set: () => ({ add_tags: "", remove_tags: "", fields: [] }),
    http: () => ({ method: "GET", url: "https://", headers: [], body: "", save: [],
                   timeout_seconds: 5 }),
    handoff: () => ({ group_id: "", note: "", text: "" }),
    wait: () => ({ seconds: 30 }),
    end: () => ({ text: "" }),
  };

  let keys = 0;
  const nextKey = () => `k${++keys}`;

  function escapeHtml(text) {
    return String(text ?? "").replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": CSRF },
      body: JSON.stringify(body),
    });
    if (response.status === 401) { window.location.assign("/login"); throw new Error("signed out"); }
    let data = {};
    try { data = await response.json(); } catch { /* an empty or HTML answer */ }
    return { ok: response.ok, status: response.status, data };
  }

  // ---- graph nodes <-> the panel's models -------------------------------------------------------

  const rowsOf = (object) => Object.entries(object || {}).map(([key, value]) => ({ k: nextKey(), key, value }));
  const objectOf = (rows) => Object.fromEntries((rows || []).filter((r) => String(r.key).trim())
    .map((r) => [String(r.key).trim(), r.value]));
  const joined = (list) => (Array.isArray(list) ? list.join(", ") : list || "");
  const split = (text) => String(text || "").split(",").map((w) => w.trim()).filter(Boolean);

  /** A graph node as the panel edits it (exits left out: the canvas's connections hold them). */
  function modelOf(id, node) {
    const model = { ...node, id,
                    _exits: Object.keys(node).filter((k) => k === "next" || k.endsWith("_next")) };
    for (const key of ["next", "timeout_next", "error_next", "else_next", "not_found_next", "x", "y"]) {
      delete model[key];
    }
    for (const key of NUMBER_KEYS) if (key in model && model[key] === null) model[key] = "";
    switch (node.type) {
      case "question":
        model.options = (node.options || []).map((o) => ({ id: o.id, title: o.title || "" }));
        model.save_as = node.save_as || "";
        break;
      case "condition":
        model.branches = (node.branches || []).map((b) => ({ key: nextKey(), ui: conditions.fromTree(b.when || {}) }));
        break;
      case "set":
        model.add_tags = joined(node.add_tags); model.remove_tags = joined(node.remove_tags);
        model.fields = rowsOf(node.fields);
        break;
      case "http":
        model.headers = rowsOf(node.headers); model.save = rowsOf(node.save);
        break;
      case "handoff":
        model.group_id = node.group_id || "";
        break;
      default: break;
    }
    return model;
  }

  /** The panel's model back as a graph node, without its exits and position. */
  function graphNodeOf(model) {
    const node = {};
    for (const [key, value] of Object.entries(model)) {
      if (key === "id" || key.startsWith("_")) continue;
      node[key] = value;
    }
    for (const key of NUMBER_KEYS) {
      if (!(key in node)) continue;
      const value = String(node[key] ?? "").trim();
      node[key] = value === "" ? null : (Number.isFinite(Number(value)) ? Number(value) : value);
    }
    if (!node.label) delete node.label;
    switch (model.type) {
      case "question":
        node.options = model.options.map((o) => ({ id: o.id, title: o.title }));
        node.save_as = model.save_as || null;
        if (model.style !== "list") delete node.button;
        break;
      case "input":
        if (model.validate !== "regex") delete node.pattern;
        break;
      case "condition":
        node.branches = model.branches.map((b) => ({ when: conditions.toTree(b.ui) }));
        break;
      case "set":
        node.add_tags = split(model.add_tags); node.remove_tags = split(model.remove_tags);
        node.fields = objectOf(model.fields);
        break;
      case "http":
        node.headers = objectOf(model.headers); node.save = objectOf(model.save);
        break;
      case "handoff":
        node.group_id = model.group_id || null;
        break;
      default: break;
    }
    return node;
  }

  // ---- the builder ----------------------------------------------------------------------------

  function flowBuilder() {
    const data = C().readJson("flow-data");
    conditions = C().conditionHelpers(data.catalogue);
    const kinds = Object.fromEntries(data.kinds.map((k) => [k.kind, k]));
    const L = data.labels; // the few words the canvas draws itself, translated by the page
    let editor = null;
    let startId = null; // the Drawflow id of the "start" marker
    const models = {}; // Drawflow id -> the step's model (what the panel edits)
    const portKeys = {}; // Drawflow id -> the exits its outputs stand for, in order

    /** The exits of a step, in the order of its outputs. */
    function ports(model) {
      // A kind nobody offers now (its module is gone): the exits the step has are kept.
      const kind = kinds[model.type] || { exits: model._exits || ["next"] };
      const timed = String(model.timeout_minutes ?? "").trim() !== "";
      switch (model.type) {
        case "question":
          // Numbered as the step lists its options (the titles are too long beside a dot).
          return [...model.options.map((o, i) => ({ key: `option:${o.id}`, label: `${i + 1}`, title: o.title })),
                  ...(timed ? [{ key: "timeout_next", label: L.timeout }] : [])];
        case "condition":
          return [...model.branches.map((b, i) => ({ key: `branch:${b.key}`, label: `${i + 1}` })),
                  { key: "else_next", label: L.else }];
        case "input":
          return [{ key: "next", label: "" }, ...(timed ? [{ key: "timeout_next", label: L.timeout }] : [])];
        default:
          return (kind.exits || []).map((key) => ({ key, label: L.exits[key] ?? "" }));
      }
    }

    function summary(model) {
      switch (model.type) {
        case "question":
          return `${escapeHtml(model.text)}${model.options.length ? `<ol class="fb-options">${model.options
            .map((o) => `<li>${escapeHtml(o.title)}</li>`).join("")}</ol>` : ""}`;
        case "input": return `${escapeHtml(model.text)}<div class="fb-meta">→ ${escapeHtml(model.save_to)}</div>`;
        case "handoff": {
          const group = data.choices.groups.find((g) => g.value === model.group_id);
          return `${escapeHtml(model.text)}<div class="fb-meta"><i class="ti ti-users"></i> ${escapeHtml(group ? group.label : L.any_group)}</div>`;
        }
        case "condition": return `<div class="fb-meta">${model.branches.length} × ${escapeHtml(L.branch)}</div>`;
        case "http": return `<div class="fb-meta">${escapeHtml(model.method)} ${escapeHtml(model.url)}</div>`;
        case "wait": return `<div class="fb-meta">${escapeHtml(model.seconds)} s</div>`;
        case "set": return `<div class="fb-meta">${escapeHtml(model.add_tags)}</div>`;
        default: return escapeHtml(model.text || "");
      }
    }

    function nodeHtml(model) {
      const kind = kinds[model.type] || { label: model.type };
      return `<div class="fb-node" data-type="${escapeHtml(model.type)}">
        <div class="fb-node-head"><i class="ti ${ICONS[model.type] || "ti-puzzle"}" aria-hidden="true"></i>
          <span class="fb-node-kind">${escapeHtml(model.label || kind.label)}</span>
          <span class="fb-node-id">${escapeHtml(model.id)}</span></div>
        <div class="fb-node-body">${summary(model)}</div></div>`;
    }

    function element(dfId) { return document.getElementById(`node-${dfId}`); }

    function labelOutputs(dfId) {
      const list = ports(models[dfId]);
      element(dfId)?.querySelectorAll(".outputs .output").forEach((dot, i) => {
        dot.dataset.label = list[i]?.label || "";
        dot.dataset.exit = list[i]?.key || "";
        dot.title = list[i]?.title || list[i]?.label || "";
      });
    }

    function redraw(dfId) {
      const node = element(dfId);
      if (!node) return;
      node.querySelector(".drawflow_content_node").innerHTML = nodeHtml(models[dfId]);
      node.dataset.nodeId = models[dfId].id;
      node.dataset.type = models[dfId].type;
    }

    function targetOf(dfId, index) {
      const output = editor.getNodeFromId(dfId).outputs[`output_${index + 1}`];
      return output && output.connections.length ? output.connections[0].node : null;
    }

    /** The outputs follow the step's exits: kept connections stay on the exit they were on. */
    function syncOutputs(dfId) {
      const before = portKeys[dfId] || [];
      const after = ports(models[dfId]);
      const same = before.length === after.length && before.every((k, i) => k === after[i].key);
      if (!same) {
        const kept = {};
        before.forEach((key, i) => { const t = targetOf(dfId, i); if (t) kept[key] = t; });
        before.forEach((key, i) => {
          const t = targetOf(dfId, i);
          if (t) editor.removeSingleConnection(dfId, t, `output_${i + 1}`, "input_1");
        });
        let count = Object.keys(editor.getNodeFromId(dfId).outputs).length;
        while (count < after.length) { editor.addNodeOutput(dfId); count += 1; }
        while (count > after.length) { editor.removeNodeOutput(dfId, `output_${count}`); count -= 1; }
        after.forEach((port, i) => {
          if (kept[port.key]) editor.addConnection(dfId, kept[port.key], `output_${i + 1}`, "input_1");
        });
        portKeys[dfId] = after.map((p) => p.key);
      }
      labelOutputs(dfId);
    }

    function freeId() {
      const used = new Set(Object.values(models).map((m) => m.id));
      let n = used.size + 1;
      while (used.has(`n${n}`)) n += 1;
      return `n${n}`;
    }

    function addStep(model, x, y) {
      const inputs = 1;
      const dfId = editor.addNode(model.type, inputs, 0, x, y, `fb-kind-${model.type}`, {}, "");
      models[dfId] = model;
      portKeys[dfId] = [];
      redraw(dfId);
      syncOutputs(dfId);
      return dfId;
    }

    function dfIdOf(nodeId) {
      return Object.keys(models).find((dfId) => models[dfId].id === nodeId) || null;
    }

    // ---- to and from the graph ----------------------------------------------------------------

    function draw(graph) {
      const nodes = graph.nodes || {};
      const ids = Object.keys(nodes);
      ids.forEach((id, i) => {
        const node = nodes[id];
        const x = Number.isFinite(node.x) ? node.x : 280 + (i % 4) * 260;
        const y = Number.isFinite(node.y) ? node.y : 60 + Math.floor(i / 4) * 200;
        addStep(modelOf(id, node), x, y);
      });
      for (const dfId of Object.keys(models)) {
        const node = nodes[models[dfId].id];
        ports(models[dfId]).forEach((port, i) => {
          // A condition's branch outputs come first, in the order of its branches.
          const next = port.key.startsWith("branch:") ? ((node.branches || [])[i] || {}).next
            : exitOf(node, port.key);
          const target = dfIdOf(next);
          if (target) editor.addConnection(dfId, target, `output_${i + 1}`, "input_1");
        });
      }
      // The start marker left of the first step (the view moves so that both show).
      const first = nodes[graph.start];
      const at = first && Number.isFinite(first.x) ? [first.x - 170, first.y ?? 60] : [40, 60];
      const left = Math.min(at[0], ...Object.values(nodes).map((n) => (Number.isFinite(n.x) ? n.x : 0)));
      if (left < 20) {
        editor.canvas_x = 20 - left;
        editor.precanvas.style.transform = `translate(${editor.canvas_x}px, 0px) scale(${editor.zoom})`;
      }
      startId = editor.addNode("start", 0, 1, at[0], at[1], "fb-start", {},
        `<div class="fb-node fb-start-node" data-type="start"><i class="ti ti-player-play" aria-hidden="true"></i> ${escapeHtml(L.start)}</div>`);
      element(startId).dataset.nodeId = "start";
      const target = dfIdOf(graph.start);
      if (target) editor.addConnection(startId, target, "output_1", "input_1");
    }

    function exitOf(node, key) {
      if (key.startsWith("option:")) {
        return ((node.options || []).find((o) => `option:${o.id}` === key) || {}).next || null;
      }
      return node[key] || null;
    }

    function toGraph() {
      const nodes = {};
      for (const [dfId, model] of Object.entries(models)) {
        const drawn = editor.getNodeFromId(dfId);
        const node = graphNodeOf(model);
        ports(model).forEach((port, i) => {
          const target = targetOf(dfId, i);
          const next = target && models[target] ? models[target].id : null;
          if (port.key.startsWith("option:")) {
            node.options.find((o) => `option:${o.id}` === port.key).next = next;
          } else if (port.key.startsWith("branch:")) {
            node.branches[model.branches.findIndex((b) => `branch:${b.key}` === port.key)].next = next;
          } else {
            node[port.key] = next;
          }
        });
        node.x = Math.round(drawn.pos_x);
        node.y = Math.round(drawn.pos_y);
        nodes[model.id] = node;
      }
      const first = targetOf(startId, 0);
      return { start: first && models[first] ? models[first].id : null, nodes };
    }

    function triggersOut(t) {
      return { channel_ids: [...t.channel_ids], first_message: !!t.first_message,
               keywords: split(t.keywords), ref_codes: split(t.ref_codes) };
    }

    return {
      ...conditions,
      ...C().errorHelpers({}),
      name: data.flow.name,
      tab: "triggers",
      node: null, // the selected step's model
      nodeError: "",
      errorField: "",
      status: "",
      statusKind: "",
      busy: false,
      dirty: false,
      published: data.flow.published_version,
      triggers: {
        channel_ids: (data.triggers.channel_ids || []).map(String),
        first_message: !!data.triggers.first_message,
        keywords: joined(data.triggers.keywords), ref_codes: joined(data.triggers.ref_codes),
      },
      chat: [], trail: [], testState: null, testText: "", testEnded: "",
      choices: data.choices,
      kinds,

      init() {
        // Drawflow owns the canvas's DOM (Alpine leaves it alone: x-ignore).
        const canvas = document.getElementById("flow-canvas");
        editor = new window.Drawflow(canvas);
        editor.reroute = false;
        editor.force_first_input = true; // a connection dropped anywhere on a step reaches it
        editor.start();
        // The start marker is part of every flow: it cannot be deleted.
        const remove = editor.removeNodeId.bind(editor);
        editor.removeNodeId = (id) => { if (id !== `node-${startId}`) remove(id); };
        draw(data.graph || {});
        editor.on("nodeSelected", (id) => this.select(id));
        editor.on("nodeUnselected", () => { this.node = null; });
        editor.on("nodeRemoved", (id) => {
          if (this.node && this.node === models[id]) this.node = null;
          delete models[id]; delete portKeys[id];
          this.dirty = true;
        });
        editor.on("nodeMoved", () => { this.dirty = true; });
        editor.on("connectionCreated", (c) => {
          // One connection per output: the newest replaces the one before.
          const output = editor.getNodeFromId(c.output_id).outputs[c.output_class];
          output.connections.filter((x) => String(x.node) !== String(c.input_id)).forEach((old) => {
            editor.removeSingleConnection(c.output_id, old.node, c.output_class, old.output);
          });
          this.dirty = true;
        });
        editor.on("connectionRemoved", () => { this.dirty = true; });
        window.addEventListener("beforeunload", (event) => { if (this.dirty) event.preventDefault(); });
        canvas.dataset.ready = "true";
      },

      select(dfId) {
        if (!models[dfId]) { this.node = null; return; }
        this.node = models[dfId];
        this.tab = "node";
        this.nodeError = this.node._error || "";
        this.errorField = this.node._errorField || "";
      },

      // ---- the palette ----------------------------------------------------------------------
      dragKind(event, kind) { event.dataTransfer.setData("text/plain", kind); },
      drop(event) {
        const kind = event.dataTransfer.getData("text/plain");
        if (!kinds[kind]) return;
        const rect = editor.precanvas.getBoundingClientRect();
        this.create(kind, (event.clientX - rect.x) / editor.zoom, (event.clientY - rect.y) / editor.zoom);
      },
      /** A step of `kind` at a canvas position (or beside the others: the palette's keyboard use). */
      create(kind, x, y) {
        const fields = Object.fromEntries((kinds[kind].fields || []).map((f) => [f.key, ""]));
        const model = { type: kind, ...(BLANK[kind] ? BLANK[kind]() : fields), id: freeId() };
        if (x === undefined) {
          const placed = Object.values(editor.export().drawflow.Home.data);
          x = 260 + (placed.length % 4) * 240; y = 60 + Math.floor(placed.length / 4) * 200;
        }
        const dfId = addStep(model, Math.round(x), Math.round(y));
        this.dirty = true;
        this.select(dfId);
        return dfId;
      },

      // ---- the selected step ----------------------------------------------------------------
      dfOfSelected() { return Object.keys(models).find((k) => models[k] === Alpine.raw(this.node)); },
      changed() {
        const dfId = this.dfOfSelected();
        if (!dfId) return;
        redraw(dfId); syncOutputs(dfId);
        this.dirty = true;
      },
      addOption() {
        const used = new Set(this.node.options.map((o) => o.id));
        let n = this.node.options.length + 1;
        while (used.has(`o${n}`)) n += 1;
        this.node.options.push({ id: `o${n}`, title: "" });
        this.$nextTick(() => this.changed());
      },
      addBranch() {
        this.node.branches.push({ key: nextKey(), ui: { mode: "all", rows: [this.newLeaf()] } });
        this.$nextTick(() => this.changed());
      },
      addRow(list, value = "") { list.push({ k: nextKey(), key: "", value }); },
      removeAt(list, index) { list.splice(index, 1); this.$nextTick(() => this.changed()); },
      deleteSelected() {
        const dfId = this.dfOfSelected();
        if (dfId) editor.removeNodeId(`node-${dfId}`);
      },
      fieldError(name) {
        return this.errorField === name || this.errorField.startsWith(`${name}.`);
      },
      saveToKind() {
        const v = this.node.save_to || "";
        return v.startsWith("custom.") ? "custom" : v.startsWith("var.") ? "var" : v;
      },
      /** A custom field takes only answers of its type: the check follows the field. */
      pickCustomField(key) {
        this.node.save_to = `custom.${key}`;
        const type = (this.choices.custom_fields.find((f) => f.value === key) || {}).type;
        if (["number", "date", "email"].includes(type)) this.node.validate = type;
        this.changed();
      },
      versionLabel() { return L.version.replace("%(number)s", this.published); },
      setSaveTo(kind) {
        if (kind === "custom") { this.pickCustomField((this.choices.custom_fields[0] || {}).value || ""); return; }
        this.node.save_to = kind === "var" ? "var.answer" : kind;
        const needs = { "contact.phone": "phone", "contact.email": "email" }[kind];
        if (needs) this.node.validate = needs;
        this.changed();
      },

      // ---- saving and publishing --------------------------------------------------------------
      clearErrors() {
        for (const model of Object.values(models)) { delete model._error; delete model._errorField; }
        document.querySelectorAll(".drawflow-node.fb-error").forEach((n) => n.classList.remove("fb-error"));
        this.nodeError = ""; this.errorField = ""; this.errors = {};
      },
      /** A refusal naming a step ("graph.nodes.n3.save_to"): that step is marked and opened. */
      showError(error) {
        const field = error.field || "";
        this.status = error.message || data.labels.error;
        this.statusKind = "error";
        const match = field.match(/^graph\.nodes\.([^.]+)(?:\.(.*))?$/);
        if (match && dfIdOf(match[1])) {
          const dfId = dfIdOf(match[1]);
          models[dfId]._error = error.message;
          models[dfId]._errorField = match[2] || "";
          element(dfId).classList.add("fb-error");
          this.select(dfId);
          if (models[dfId].type === "condition") {
            // Condition rows report under branches.<i>.when...: the editor's own paths.
            this.errors = { [`${match[2] || ""}`.replace(/^branches\.(\d+)\.when/, "b$1")]: error.message };
          }
        } else if (field === "graph.start") {
          element(startId).classList.add("fb-error");
        } else if (field.startsWith("triggers")) {
          this.tab = "triggers";
          this.errors = { [field]: error.message };
        } else if (field === "name") {
          this.errors = { name: error.message };
        }
      },
      payload() {
        return { name: this.name, graph: toGraph(), triggers: triggersOut(this.triggers) };
      },
      async save() {
        this.busy = true; this.clearErrors();
        try {
          const answer = await postJson(`/flows/${data.flow.id}/draft`, this.payload());
          if (!answer.ok) { this.showError(answer.data.error || {}); return false; }
          this.dirty = false;
          this.status = data.labels.saved; this.statusKind = "ok";
          return true;
        } finally { this.busy = false; }
      },
      async publish() {
        this.busy = true; this.clearErrors();
        try {
          const answer = await postJson(`/flows/${data.flow.id}/publish`, this.payload());
          if (!answer.ok) {
            if (answer.data.saved) this.dirty = false;
            this.showError(answer.data.error || {});
            return;
          }
          this.dirty = false;
          this.published = answer.data.version;
          this.status = answer.data.message; this.statusKind = "ok";
        } finally { this.busy = false; }
      },

      // ---- the test chat ----------------------------------------------------------------------
      async testTurn(text, choice, timeout = false) {
        if (this.busy) return;
        if (this.testState === null || this.dirty) {
          if (!(await this.save())) return;
        }
        this.busy = true;
        try {
          if (text || choice) this.chat.push({ key: nextKey(), from: "me", text: choice ? choice.title : text });
          const answer = await postJson(`/flows/${data.flow.id}/test`, {
            state: this.testState, text: text || "", choice_id: choice ? choice.id : null, timeout });
          if (!answer.ok) { this.showError(answer.data.error || {}); return; }
          const out = answer.data;
          this.testState = out.state;
          for (const reply of out.replies || []) {
            this.chat.push({ key: nextKey(), from: "bot", text: reply.text, choices: reply.choices || null });
          }
          if (out.handoff) this.chat.push({ key: nextKey(), from: "system", text: out.handoff_text });
          this.trail.push(...(out.trail || []).map((t) => ({ ...t, key: nextKey() })));
          this.testEnded = out.ended || "";
          document.querySelectorAll(".drawflow-node.fb-current").forEach((n) => n.classList.remove("fb-current"));
          const last = (out.trail || []).at(-1);
          if (last && dfIdOf(last.node)) element(dfIdOf(last.node)).classList.add("fb-current");
        } finally {
          this.busy = false;
          this.$nextTick(() => { const box = this.$refs.chat; if (box) box.scrollTop = box.scrollHeight; });
        }
      },
      sendTest() {
        const text = this.testText.trim();
        if (!text) return;
        this.testText = "";
        this.testTurn(text, null);
      },
      restartTest() {
        this.chat = []; this.trail = []; this.testState = null; this.testEnded = "";
        document.querySelectorAll(".drawflow-node.fb-current").forEach((n) => n.classList.remove("fb-current"));
      },
      zoom(by) { if (by > 0) editor.zoom_in(); else if (by < 0) editor.zoom_out(); else editor.zoom_reset(); },
    };
  }

  document.addEventListener("alpine:init", () => {
    window.Alpine.data("flowBuilder", flowBuilder);
  });
})();

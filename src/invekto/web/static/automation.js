/* The automation screens' editors (Alpine.js): a rule's conditions and actions, and the same
 * condition editor in the chatbot builder's condition step. The server draws every label (the
 * templates translate them); this file only keeps the editor's state and turns it into the
 * JSON the rules store (a condition tree: {} | {"all": [...]} | {"any": [...]} | a leaf
 * {"field", "op", "value"}; actions: [{"type", ...}]) when the form is sent. */
(() => {
  "use strict";

  // The catalogue's kinds of value (automation.conditions.FIELDS) as the form types them:
  // nothing, a text, a list typed with commas (words, or tags with suggestions), a language, or
  // a choice from a list the page provides.
  const VAR_FIELD = "var.*"; // the field select's entry for a flow variable named beside it
  const CHOICE_SOURCES = { statuses: "statuses", channel_kinds: "channel_kinds" };
  const ID_SOURCES = { "channel": "channels", "conversation.assignee": "users",
                       "conversation.group": "groups" };

  let keys = 0;
  const nextKey = () => `k${++keys}`;

  function formKind(field, valueKind) {
    switch (valueKind) {
      case "none": return "none";
      case "ids": case "statuses": case "channel_kinds": return "choice";
      case "names": return field.endsWith(".tags") ? "tags" : "words";
      case "keywords": return "words";
      case "language": return "language";
      default: return "text"; // regex, scalar, comparable (a number or a date)
    }
  }

  function splitWords(text) {
    return String(text || "").split(",").map((w) => w.trim()).filter(Boolean);
  }

  /** Helpers the editor's markup calls; `catalogue` is {fields: [{field, label, ops: [{op,
   * label, value}]}], choices: {channels: [{value, label}], ...}}. */
  function conditionHelpers(catalogue) {
    const byField = Object.fromEntries((catalogue.fields || []).map((f) => [f.field, f]));
    const choices = catalogue.choices || {};
    const opOf = (field, op) => ((byField[field] || {}).ops || []).find((o) => o.op === op) || {};
    // How the value of `field` (the form's: "var.*" for any variable) with `op` is typed.
    const kindFor = (field, op) => (op ? formKind(field, opOf(field, op).value || "scalar") : "none");

    function leafFromTree(node) {
      let field = String(node.field || "");
      let name = "";
      if (field.startsWith("var.")) { name = field.slice(4); field = VAR_FIELD; }
      const kind = kindFor(field, node.op);
      let value = node.value;
      if (kind === "words" || kind === "tags") value = Array.isArray(value) ? value.join(", ") : (value || "");
      else if (kind === "choice") value = Array.isArray(value) ? value.map(String) : (value ? [String(value)] : []);
      else if (kind === "none") value = "";
      else value = value === undefined || value === null ? "" : String(value);
      return { key: nextKey(), group: false, field, name, op: node.op || "", value };
    }

    function leafToTree(leaf) {
      const field = leaf.field === VAR_FIELD ? `var.${(leaf.name || "").trim()}` : leaf.field;
      const kind = kindFor(leaf.field, leaf.op);
      const out = { field, op: leaf.op };
      if (kind === "words" || kind === "tags") out.value = splitWords(leaf.value);
      else if (kind === "choice") out.value = [...(leaf.value || [])];
      else if (kind === "text" && opOf(leaf.field, leaf.op).value === "comparable"
               && String(leaf.value).trim() !== "" && Number.isFinite(Number(String(leaf.value).replace(",", ".")))) {
        out.value = Number(String(leaf.value).replace(",", "."));
      } else if (kind !== "none") out.value = leaf.value;
      return out;
    }

    const modeOf = (node) => (node && Array.isArray(node.any) ? "any" : "all");

    return {
      conditionFields: catalogue.fields || [],
      languages: choices.languages || [],
      kindFor,
      /** A condition tree as the editor's model: a mode and rows (leaves, or groups of leaves). */
      fromTree(tree) {
        const model = { mode: "all", rows: [] };
        if (!tree || !Object.keys(tree).length) return model;
        if (tree.field !== undefined) { model.rows.push(leafFromTree(tree)); return model; }
        model.mode = modeOf(tree);
        for (const child of tree[model.mode] || []) {
          if (child && child.field === undefined && (child.all || child.any)) {
            const mode = modeOf(child);
            model.rows.push({ key: nextKey(), group: true, mode,
                              rows: (child[mode] || []).filter((c) => c.field !== undefined).map(leafFromTree) });
          } else if (child) {
            model.rows.push(leafFromTree(child));
          }
        }
        return model;
      },
      toTree(model) {
        const rows = model.rows.map((row) => (row.group
          ? { [row.mode]: row.rows.map(leafToTree) } : leafToTree(row)));
        return rows.length ? { [model.mode]: rows } : {};
      },
      opsOf(leaf) { return (byField[leaf.field] || {}).ops || []; },
      kindOf(leaf) { return kindFor(leaf.field, leaf.op); },
      choicesOf(leaf) {
        const valueKind = opOf(leaf.field, leaf.op).value;
        return choices[CHOICE_SOURCES[valueKind] || ID_SOURCES[leaf.field]] || [];
      },
      fieldChanged(leaf) {
        const ops = this.opsOf(leaf);
        leaf.op = ops.length ? ops[0].op : "";
        leaf.value = this.kindOf(leaf) === "choice" ? [] : "";
      },
      opChanged(leaf) {
        const kind = this.kindOf(leaf);
        if (kind === "choice" && !Array.isArray(leaf.value)) leaf.value = [];
        if (kind !== "choice" && Array.isArray(leaf.value)) leaf.value = "";
      },
      newLeaf() {
        const first = (catalogue.fields || [])[0] || { field: "", ops: [] };
        const leaf = { key: nextKey(), group: false, field: first.field, name: "", op: "", value: "" };
        this.fieldChanged(leaf);
        return leaf;
      },
      addLeaf(rows) { rows.push(this.newLeaf()); },
      addGroup(model) {
        model.rows.push({ key: nextKey(), group: true, mode: model.mode === "all" ? "any" : "all",
                          rows: [this.newLeaf()] });
      },
      remove(rows, index) { rows.splice(index, 1); },
    };
  }

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  /** Errors by field path ("conditions.all.0.value"); a row shows those at or under its path. */
  function errorHelpers(errors) {
    return {
      errors: errors || {},
      errorsAt(path) {
        return Object.entries(this.errors)
          .filter(([field]) => field === path || field.startsWith(`${path}.`))
          .map(([, message]) => message);
      },
      hasError(path) { return this.errorsAt(path).length > 0; },
    };
  }

  // ---- actions ---------------------------------------------------------------------------------

  // Each action's own inputs, with their defaults (the form shows those of the chosen type).
  const ACTION_DEFAULTS = {
    send_message: { body: "" },
    send_template: { template_name: "", language: "tr", parameters: "" },
    assign: { target: "user", user_id: "", group_id: "" },
    add_tags: { tags: "" }, remove_tags: { tags: "" },
    set_field: { key: "", value: "" },
    close: {}, set_pending: {},
    snooze: { minutes: 60 },
    add_note: { body: "" },
    start_flow: { flow_id: "" },
    call_webhook: { url: "", secret: "" },
    start_follow_up: { sequence_id: "" },
    notify: { user_id: "", body: "" },
  };

  function actionFromJson(action) {
    const type = action.type || "send_message";
    const ui = { key: nextKey(), ...(ACTION_DEFAULTS[type] || {}), ...action, type };
    if (type === "add_tags" || type === "remove_tags") ui.tags = (action.tags || []).join(", ");
    if (type === "assign") {
      ui.target = action.routing ? "routing" : action.group_id ? "group" : "user";
    }
    if (type === "send_template") {
      ui.parameters = Object.entries(action.parameters || {}).map(([k, v]) => `${k}=${v}`).join("\n");
    }
    return ui;
  }

  function actionToJson(ui) {
    const out = { type: ui.type };
    switch (ui.type) {
      case "send_message": case "add_note": out.body = ui.body; break;
      case "send_template": {
        out.template_name = ui.template_name; out.language = ui.language;
        out.parameters = {};
        for (const line of String(ui.parameters || "").split("\n")) {
          const at = line.indexOf("=");
          if (at > 0) out.parameters[line.slice(0, at).trim()] = line.slice(at + 1).trim();
        }
        break;
      }
      case "assign":
        if (ui.target === "routing") out.routing = true;
        else if (ui.target === "group") out.group_id = ui.group_id || null;
        else out.user_id = ui.user_id || null;
        break;
      case "add_tags": case "remove_tags": out.tags = splitWords(ui.tags); break;
      case "set_field": out.key = ui.key; out.value = ui.value; break;
      case "snooze": out.minutes = Number(ui.minutes) || ui.minutes; break;
      case "start_flow": out.flow_id = ui.flow_id || null; break;
      case "call_webhook": out.url = ui.url; if (ui.secret) out.secret = ui.secret; break;
      case "start_follow_up": out.sequence_id = ui.sequence_id || null; break;
      case "notify": out.user_id = ui.user_id || null; out.body = ui.body; break;
      default: break;
    }
    return out;
  }

  // ---- the rule form ---------------------------------------------------------------------------

  function ruleForm() {
    const data = readJson("rule-form-data") || {};
    const catalogue = readJson("automation-catalogue") || {};
    const helpers = conditionHelpers(catalogue);
    return {
      ...helpers,
      ...errorHelpers(data.errors),
      event: data.event || "",
      cond: helpers.fromTree(data.conditions || {}),
      actions: (data.actions || []).map(actionFromJson),
      events: catalogue.events || [],
      optionsOf(kind) { return (this.events.find((e) => e.kind === kind) || {}).options || []; },
      // What the chosen event offers its messages beyond the contact ("order.number"...).
      variablesOf(kind) {
        return ((this.events.find((e) => e.kind === kind) || {}).variables || [])
          .map((name) => `{{ ${name} }}`).join(", ");
      },
      addAction() { this.actions.push(actionFromJson({ type: "send_message" })); },
      typeChanged(action) {
        const fresh = actionFromJson({ type: action.type });
        for (const key of Object.keys(action)) if (!["key", "type"].includes(key)) delete action[key];
        Object.assign(action, fresh, { key: action.key });
      },
      move(index, by) {
        const to = index + by;
        if (to < 0 || to >= this.actions.length) return;
        const [moved] = this.actions.splice(index, 1);
        this.actions.splice(to, 0, moved);
      },
      // The editors' state goes out as JSON in the form's hidden inputs.
      serialise() {
        this.$refs.conditions.value = JSON.stringify(this.toTree(this.cond));
        this.$refs.actions.value = JSON.stringify(this.actions.map(actionToJson));
      },
    };
  }

  window.InvektoConditions = { conditionHelpers, errorHelpers, readJson, VAR_FIELD };

  document.addEventListener("alpine:init", () => {
    window.Alpine.data("ruleForm", ruleForm);
  });
})();

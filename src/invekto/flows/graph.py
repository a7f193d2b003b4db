"""Checking a flow's graph and triggers (their shape: docs/flows.md).

A draft is checked for its shape only (``check_shape``): the builder saves half-drawn flows.
Publishing checks everything (``check_complete``): the start node, every reference to a
following node, each node's settings (WhatsApp's limits for buttons and lists, validations,
patterns, conditions), and what the graph names in the company (custom fields, tags, groups,
files, channels, registered step kinds); each refusal names its field,
``graph.nodes.<id>.<key>``."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field

from invekto.core import outbound
from invekto.core.errors import ValidationFailed
from invekto.core.text import PatternError, clean_text, compile_pattern, fold
from invekto.flows import answers, steps, texts

NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
OPTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,12}$")  # node + ":" + option fits Telegram's 64 bytes
MAX_NODES = 200
MAX_GRAPH_BYTES = 256 * 1024
MAX_TEXT = 1024  # WhatsApp's interactive body; plain texts may be longer
MAX_MESSAGE = 4096
MAX_OPTIONS = 10
MAX_BUTTONS = 3
BUTTON_TITLE, ROW_TITLE = 20, 24
MAX_PATTERN = 200
MAX_TIMEOUT_MINUTES = 60 * 24 * 30
MAX_WAIT_SECONDS = 60 * 60 * 24 * 7
MAX_HTTP_SECONDS = 30
MAX_KEYWORDS = 50


@dataclass(frozen=True)
class Catalogue:
    """What of the company a graph may name: custom fields (key -> {"type", "options"}), tags,
    groups, files and channels."""

    fields: dict[str, dict] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    group_ids: frozenset[str] = frozenset()
    attachment_ids: frozenset[str] = frozenset()
    channel_ids: frozenset[str] = frozenset()



# ---- drafts ------------------------------------------------------------------------------------

def check_shape(graph: dict) -> dict:
    """A draft's graph as the builder may save it: nodes with valid ids and a type, positions
    as numbers, a size limit. Incomplete nodes are fine here."""
    if not isinstance(graph, dict):
        raise ValidationFailed("the flow's graph must be an object", field="graph")
    if len(json.dumps(graph, ensure_ascii=False, default=str).encode(errors="replace")) \
            > MAX_GRAPH_BYTES:
        raise ValidationFailed("this flow is too large", field="graph")
    start = graph.get("start")
    if start is not None and not isinstance(start, str):
        raise ValidationFailed("the start must be a node id", field="graph.start")
    nodes = graph.get("nodes", {})
    if not isinstance(nodes, dict):
        raise ValidationFailed("the flow's nodes must be an object", field="graph.nodes")
    if len(nodes) > MAX_NODES:
        raise ValidationFailed("a flow has at most %(max)s steps",
                               field="graph.nodes", params={"max": MAX_NODES})
    for node_id, node in nodes.items():
        where = f"graph.nodes.{node_id}"
        if not NODE_ID.match(str(node_id)):
            raise ValidationFailed("a step id is 1-50 letters, digits, '-' or '_'", field=where)
        if not isinstance(node, dict):
            raise ValidationFailed("a step must be an object", field=where)
        if not isinstance(node.get("type"), str) or not 0 < len(node["type"]) <= 40:
            raise ValidationFailed("a step needs a type", field=f"{where}.type")
        for key in ("x", "y"):
            if key in node and (isinstance(node[key], bool)
                                or not isinstance(node[key], int | float)):
                raise ValidationFailed("a position must be a number", field=f"{where}.{key}")
        if "label" in node and (not isinstance(node["label"], str) or len(node["label"]) > 100):
            raise ValidationFailed("a label is text of at most %(max)s characters",
                                   field=f"{where}.label", params={"max": 100})
        if node["type"] == "http" and isinstance(node.get("url"), str):
            # A draft runs in the test panel: a plainly private address is refused already.
            outbound.check_url(node["url"], field=f"{where}.url")
    return {**graph, "start": start, "nodes": nodes}


def check_triggers(triggers: dict, catalogue: Catalogue | None = None) -> dict:
    """Start triggers: channels (none: all), the first message, keywords, click-to-chat codes."""
    channel_ids = [str(c) for c in triggers.get("channel_ids") or []]
    for n, channel_id in enumerate(channel_ids):
        if catalogue is not None and channel_id not in catalogue.channel_ids:
            raise ValidationFailed("no such channel", field=f"triggers.channel_ids.{n}")
    found: dict[str, list[str]] = {}
    for key in ("keywords", "ref_codes"):
        cleaned = [clean_text(str(k)) for k in triggers.get(key) or []]
        if len(cleaned) > MAX_KEYWORDS:
            raise ValidationFailed("at most %(max)s here",
                                   field=f"triggers.{key}", params={"max": MAX_KEYWORDS})
        for n, keyword in enumerate(cleaned):
            if not keyword or len(keyword) > 50:
                raise ValidationFailed("each one is 1-50 characters", field=f"triggers.{key}.{n}")
        found[key] = list(dict.fromkeys(cleaned))
    return {"channel_ids": channel_ids, "first_message": bool(triggers.get("first_message")),
            "keywords": found["keywords"], "ref_codes": found["ref_codes"]}


# ---- publishing --------------------------------------------------------------------------------

def variable_names(graph: dict) -> set[str]:
    """The variables the flow fills: questions' ``save_as``, ``var.`` targets of inputs and set
    steps, HTTP steps' ``save`` keys, registered steps' saves."""
    names: set[str] = set()
    for node in (graph.get("nodes") or {}).values():
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "question" and isinstance(node.get("save_as"), str):
            names.add(node["save_as"])
        if kind == "input" and str(node.get("save_to") or "").startswith("var."):
            names.add(node["save_to"].removeprefix("var."))
        if kind == "set" and isinstance(node.get("fields"), dict):  # a draft's may be anything
            names |= {str(t).removeprefix("var.") for t in node["fields"]
                      if str(t).startswith("var.")}
        if kind == "http" and isinstance(node.get("save"), dict):
            names |= {str(k) for k in node["save"]}
        registered = steps.registered(str(kind))
        if registered is not None and registered.saves is not None:
            names |= set(registered.saves(node))
    return {n for n in names if n}


def check_complete(graph: dict, catalogue: Catalogue) -> dict:
    """The graph as it may be published, or ``ValidationFailed`` naming the first problem.
    Returns it with its conditions normalised."""
    graph = check_shape(graph)
    nodes: dict = graph["nodes"]
    if not nodes:
        raise ValidationFailed("add at least one step", field="graph.nodes")
    if graph["start"] not in nodes:
        raise ValidationFailed("choose the step the flow starts with", field="graph.start")
    for node_id, node in nodes.items():  # first: a step nobody offers now is the problem
        if node["type"] not in steps.BUILTIN_KINDS and steps.registered(node["type"]) is None:
            raise ValidationFailed("the step kind '%(kind)s' is not available",
                                   field=f"graph.nodes.{node_id}.type",
                                   params={"kind": node["type"]})
    checker = _Checker(nodes, catalogue, variable_names(graph))
    checked = {node_id: checker.node(node_id, node) for node_id, node in nodes.items()}
    return {**graph, "nodes": checked}


class _Checker:
    def __init__(self, nodes: dict, catalogue: Catalogue, var_names: set[str]):
        self.nodes, self.catalogue, self.var_names = nodes, catalogue, var_names

    def node(self, node_id: str, node: dict) -> dict:
        where = f"graph.nodes.{node_id}"
        kind = node["type"]
        method = getattr(self, f"_{kind}", None) if kind in steps.BUILTIN_KINDS else None
        if method is not None:
            return method(where, dict(node))
        registered = steps.registered(kind)
        if registered is None:
            raise ValidationFailed("the step kind '%(kind)s' is not available",
                                   field=f"{where}.type", params={"kind": kind})
        for key in registered.exits:
            self.next(node, key, where)
        for key in registered.texts:
            self.checked_text(node, key, where, limit=MAX_MESSAGE)
        if "save_as" in node and node["save_as"] is not None:
            self.var_name(node["save_as"], f"{where}.save_as")
        if registered.check is not None:
            registered.check(node, where)
        return node

    # -- pieces

    def next(self, node: dict, key: str, where: str) -> None:
        target = node.get(key)
        if target is not None and (not isinstance(target, str) or target not in self.nodes):
            raise ValidationFailed("this points to a step that does not exist",
                                   field=f"{where}.{key}")

    def checked_text(self, node: dict, key: str, where: str, *, required: bool = False,
             limit: int = MAX_MESSAGE) -> str:
        value = node.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationFailed("this must be text", field=f"{where}.{key}")
        value = clean_text(value)
        if required and not value:
            raise ValidationFailed("write the text", field=f"{where}.{key}")
        if len(value) > limit:
            raise ValidationFailed("at most %(max)s characters here",
                                   field=f"{where}.{key}", params={"max": limit})
        texts.check(value, custom_keys=tuple(self.catalogue.fields), var_names=self.var_names,
                    field=f"{where}.{key}")
        node[key] = value
        return value

    def var_name(self, value: object, where: str) -> None:
        if not isinstance(value, str) or not texts.VAR_NAME.match(value):
            raise ValidationFailed("a variable name is letters, digits and '_' (at most 40)",
                                   field=where)

    def target(self, value: object, where: str) -> str:
        """Where a value is saved: a contact field, a custom field of the company, a variable."""
        target = str(value or "")
        if target in answers.CONTACT_TARGETS:
            return target
        if target.startswith("custom."):
            if target.removeprefix("custom.") not in self.catalogue.fields:
                raise ValidationFailed("no custom field '%(key)s' is defined",
                                       field=where, params={"key": target.removeprefix("custom.")})
            return target
        if target.startswith("var."):
            self.var_name(target.removeprefix("var."), where)
            return target
        raise ValidationFailed("save into a contact field, a custom field or a variable",
                               field=where)

    def timeout(self, node: dict, where: str) -> None:
        minutes = node.get("timeout_minutes")
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int)
                                    or not 1 <= minutes <= MAX_TIMEOUT_MINUTES):
            raise ValidationFailed("a timeout is 1 to %(max)s minutes",
                                   field=f"{where}.timeout_minutes",
                                   params={"max": MAX_TIMEOUT_MINUTES})
        self.next(node, "timeout_next", where)
        if node.get("timeout_next") is not None and minutes is None:
            raise ValidationFailed("set the timeout for this branch",
                                   field=f"{where}.timeout_minutes")

    # -- kinds

    def _message(self, where: str, node: dict) -> dict:
        attachment = node.get("attachment_id")
        self.checked_text(node, "text", where, required=not attachment)
        if attachment is not None and str(attachment) not in self.catalogue.attachment_ids:
            raise ValidationFailed("this file does not exist", field=f"{where}.attachment_id")
        self.next(node, "next", where)
        return node

    def _question(self, where: str, node: dict) -> dict:
        self.checked_text(node, "text", where, required=True, limit=MAX_TEXT)
        style = node.get("style") or "buttons"
        if style not in ("buttons", "list"):
            raise ValidationFailed("show the options as buttons or a list", field=f"{where}.style")
        node["style"] = style
        options = node.get("options")
        limit = MAX_BUTTONS if style == "buttons" else MAX_OPTIONS
        if not isinstance(options, list) or not 1 <= len(options) <= limit:
            raise ValidationFailed("give 1 to %(max)s options",
                                   field=f"{where}.options", params={"max": limit})
        title_limit = BUTTON_TITLE if style == "buttons" else ROW_TITLE
        seen_ids, seen_titles = set(), set()
        for n, option in enumerate(options):
            at = f"{where}.options.{n}"
            if not isinstance(option, dict):
                raise ValidationFailed("an option must be an object", field=at)
            if not OPTION_ID.match(str(option.get("id") or "")) or option["id"] in seen_ids:
                raise ValidationFailed("each option needs its own id (1-12 letters or digits)",
                                       field=f"{at}.id")
            seen_ids.add(option["id"])
            title = clean_text(str(option.get("title") or ""))
            if not title or len(title) > title_limit:
                raise ValidationFailed("an option's title is 1 to %(max)s characters",
                                       field=f"{at}.title", params={"max": title_limit})
            if fold(title) in seen_titles:
                raise ValidationFailed("two options are both called '%(title)s'",
                                       field=f"{at}.title", params={"title": title})
            seen_titles.add(fold(title))
            option["title"] = title
            self.next(option, "next", at)
        if style == "list":
            label = clean_text(str(node.get("button") or ""))
            if not label or len(label) > BUTTON_TITLE:
                raise ValidationFailed("the list's button label is 1 to %(max)s characters",
                                       field=f"{where}.button", params={"max": BUTTON_TITLE})
            node["button"] = label
        if node.get("save_as") is not None:
            self.var_name(node["save_as"], f"{where}.save_as")
        self.checked_text(node, "invalid_text", where, limit=MAX_TEXT)
        self.timeout(node, where)
        return node

    def _input(self, where: str, node: dict) -> dict:
        self.checked_text(node, "text", where, required=True)
        target = self.target(node.get("save_to"), f"{where}.save_to")
        validate = node.get("validate") or "text"
        if validate not in answers.VALIDATIONS:
            raise ValidationFailed("choose how the answer is checked", field=f"{where}.validate")
        node["validate"] = validate
        needs = {"contact.phone": "phone", "contact.email": "email"}.get(target)
        definition = self.catalogue.fields.get(target.removeprefix("custom.")) \
            if target.startswith("custom.") else None
        if definition is not None and definition.get("type") in ("number", "date", "email"):
            needs = definition["type"]
        if needs is not None and validate != needs:
            raise ValidationFailed("this field takes only a valid %(kind)s answer",
                                   field=f"{where}.validate", params={"kind": needs})
        if validate == "regex":
            pattern = node.get("pattern")
            if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
                raise ValidationFailed("write the pattern (at most %(max)s characters)",
                                       field=f"{where}.pattern", params={"max": MAX_PATTERN})
            try:
                compile_pattern(pattern)
            except PatternError as exc:
                raise ValidationFailed("this pattern is not a valid regular expression",
                                       field=f"{where}.pattern") from exc
        self.checked_text(node, "invalid_text", where, limit=MAX_TEXT)
        self.next(node, "next", where)
        self.timeout(node, where)
        return node

    def _condition(self, where: str, node: dict) -> dict:
        from invekto.automation import conditions  # the rules' format, one for both

        branches = node.get("branches")
        if not isinstance(branches, list) or not 1 <= len(branches) <= 20:
            raise ValidationFailed("give 1 to %(max)s branches",
                                   field=f"{where}.branches", params={"max": 20})
        checked = []
        for n, branch in enumerate(branches):
            at = f"{where}.branches.{n}"
            if not isinstance(branch, dict):
                raise ValidationFailed("a branch must be an object", field=at)
            when = conditions.validate(branch.get("when") or {}, field=f"{at}.when",
                                       for_flows=True)
            self.next(branch, "next", at)
            checked.append({**branch, "when": when})
        node["branches"] = checked
        self.next(node, "else_next", where)
        return node

    def _set(self, where: str, node: dict) -> dict:
        for key in ("add_tags", "remove_tags"):
            tags = node.get(key) or []
            if not isinstance(tags, list):
                raise ValidationFailed("a list of tags", field=f"{where}.{key}")
            for n, tag in enumerate(tags):
                if str(tag) not in self.catalogue.tags:
                    raise ValidationFailed("unknown tag '%(tag)s'; create it first",
                                           field=f"{where}.{key}.{n}", params={"tag": str(tag)})
            node[key] = [str(t) for t in tags]
        fields = node.get("fields") or {}
        if not isinstance(fields, dict):
            raise ValidationFailed("fields to set, by name", field=f"{where}.fields")
        for target, value in fields.items():
            self.target(target, f"{where}.fields.{target}")
            if not isinstance(value, str) or len(value) > answers.MAX_TEXT:
                raise ValidationFailed("a value is text of at most %(max)s characters",
                                       field=f"{where}.fields.{target}",
                                       params={"max": answers.MAX_TEXT})
            texts.check(value, custom_keys=tuple(self.catalogue.fields),
                        var_names=self.var_names, field=f"{where}.fields.{target}")
        node["fields"] = fields
        if not node["add_tags"] and not node["remove_tags"] and not fields:
            raise ValidationFailed("choose a tag or a field to set", field=f"{where}.fields")
        self.next(node, "next", where)
        return node

    def _http(self, where: str, node: dict) -> dict:
        method = str(node.get("method") or "GET").upper()
        if method not in ("GET", "POST"):
            raise ValidationFailed("GET or POST", field=f"{where}.method")
        node["method"] = method
        url = self.checked_text(node, "url", where, required=True, limit=2000)
        if not url.lower().startswith(("http://", "https://")):
            raise ValidationFailed("the address must start with http:// or https://",
                                   field=f"{where}.url")
        outbound.check_url(url, field=f"{where}.url")
        headers = node.get("headers") or {}
        if not isinstance(headers, dict) or len(headers) > 20:
            raise ValidationFailed("at most 20 headers", field=f"{where}.headers")
        for name, value in headers.items():
            if not re.fullmatch(r"[A-Za-z0-9-]{1,100}", str(name)) or not isinstance(value, str):
                raise ValidationFailed("a header is a name and a text",
                                       field=f"{where}.headers.{name}")
            texts.check(value, custom_keys=tuple(self.catalogue.fields),
                        var_names=self.var_names, field=f"{where}.headers.{name}")
        node["headers"] = headers
        self.checked_text(node, "body", where, limit=10_000)
        save = node.get("save") or {}
        if not isinstance(save, dict) or len(save) > 20:
            raise ValidationFailed("at most 20 values to keep", field=f"{where}.save")
        for name, path in save.items():
            self.var_name(name, f"{where}.save.{name}")
            if not isinstance(path, str) or not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*",
                                                             path):
                raise ValidationFailed("a path in the answer, like data.status",
                                       field=f"{where}.save.{name}")
        node["save"] = save
        seconds = node.get("timeout_seconds", 5)
        if isinstance(seconds, bool) or not isinstance(seconds, int) \
                or not 1 <= seconds <= MAX_HTTP_SECONDS:
            raise ValidationFailed("a timeout is 1 to %(max)s seconds",
                                   field=f"{where}.timeout_seconds",
                                   params={"max": MAX_HTTP_SECONDS})
        node["timeout_seconds"] = seconds
        self.next(node, "next", where)
        self.next(node, "error_next", where)
        return node

    def _handoff(self, where: str, node: dict) -> dict:
        group = node.get("group_id")
        if group is not None:
            try:
                group = str(uuid.UUID(str(group)))
            except ValueError as exc:
                raise ValidationFailed("no such group", field=f"{where}.group_id") from exc
            if group not in self.catalogue.group_ids:
                raise ValidationFailed("no such group", field=f"{where}.group_id")
            node["group_id"] = group
        self.checked_text(node, "note", where, limit=2000)
        self.checked_text(node, "text", where)
        return node

    def _wait(self, where: str, node: dict) -> dict:
        seconds = node.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int) \
                or not 1 <= seconds <= MAX_WAIT_SECONDS:
            raise ValidationFailed("wait 1 second to %(max)s seconds",
                                   field=f"{where}.seconds", params={"max": MAX_WAIT_SECONDS})
        self.next(node, "next", where)
        return node

    def _end(self, where: str, node: dict) -> dict:
        self.checked_text(node, "text", where)
        return node

"""Step kinds other modules give the flow builder: look-ups an integration answers (order
status...), the appointments module's booking step, the AI module's answer step.

A registered kind is an *external* step: the runtime never runs it inside the ingest's
transaction but in the ``flows:advance`` job (decisions/0018), and feeds its ``StepResult`` back
to the engine. Nothing is registered until those modules exist: the builder lists only
registered kinds, publishing a graph that uses an unregistered one is refused, and at run time
an unknown kind hands the conversation to a person.

Look-ups are one kind, ``lookup``, whose node names a *capability* (``order_status``); it is
available once some module registered a capability (``register_lookup``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_


@dataclass(frozen=True)
class StepCall:
    """What an external step gets: the node as drawn, its texts already rendered for this
    conversation (``rendered``: the node's keys that hold text, variables filled), and what the
    flow captured so far."""

    tenant_id: uuid.UUID
    conversation_id: uuid.UUID | None  # None in the builder's test panel
    contact_id: uuid.UUID | None
    node: dict
    rendered: dict[str, str]
    variables: dict


@dataclass(frozen=True)
class StepResult:
    """How an external step went: the node key that names the following node (``next``,
    ``not_found_next``...), values to keep in the flow's variables, and optionally a text to
    send the customer (an AI answer). ``ok=False``: it failed (``detail`` says why); the
    node's ``error_next`` follows, or a person takes over."""

    ok: bool = True
    exit: str = "next"
    values: dict[str, Any] = field(default_factory=dict)
    reply: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class StepKind:
    """A step kind offered by another module. ``exits``: the node keys naming following nodes
    (each checked to point at a node when published); ``texts``: keys holding texts with
    variables (checked when published, rendered before ``run``); ``check(node, field)``
    refuses a badly filled node with ``ValidationFailed(field=f"{field}.<key>")``;
    ``fields``: what the builder's form asks, ``[{"key", "label", "type"}]``."""

    kind: str
    label: str
    run: Callable[[StepCall], Awaitable[StepResult]]
    exits: tuple[str, ...] = ("next",)
    texts: tuple[str, ...] = ()
    check: Callable[[dict, str], None] | None = None
    fields: tuple[dict, ...] = ()
    saves: Callable[[dict], list[str]] | None = None  # the variables a node of it fills


@dataclass(frozen=True)
class Lookup:
    """A look-up capability: ``find(tenant_id, query)`` gives what it found (kept in the
    flow's variables under the node's ``save_as``) or None (not found)."""

    capability: str
    label: str
    find: Callable[[uuid.UUID, str], Awaitable[dict | None]]


_KINDS: dict[str, StepKind] = {}
_LOOKUPS: dict[str, Lookup] = {}


def register_step(kind: StepKind) -> StepKind:
    if kind.kind in BUILTIN_KINDS or kind.kind == "lookup":
        raise ValueError(f"{kind.kind} is a built-in step kind")
    _KINDS[kind.kind] = kind
    return kind


def unregister_step(kind: str) -> None:
    _KINDS.pop(kind, None)


def register_lookup(lookup: Lookup) -> Lookup:
    _LOOKUPS[lookup.capability] = lookup
    return lookup


def unregister_lookup(capability: str) -> None:
    _LOOKUPS.pop(capability, None)


def capabilities() -> list[dict]:
    """The look-ups registered: ``[{"capability", "label"}]``."""
    return [{"capability": c.capability, "label": c.label} for c in _LOOKUPS.values()]


def has_capability(capability: str) -> bool:
    return capability in _LOOKUPS


# The kinds the engine runs itself, with the node keys naming following nodes.
BUILTIN_KINDS: dict[str, tuple[str, ...]] = {
    "message": ("next",),
    "question": ("timeout_next",),  # and each option's "next"
    "input": ("next", "timeout_next"),
    "condition": ("else_next",),  # and each branch's "next"
    "set": ("next",),
    "http": ("next", "error_next"),
    "handoff": (),
    "wait": ("next",),
    "end": (),
}
_BUILTIN_LABELS = {
    "message": N_("Message"), "question": N_("Question"), "input": N_("Ask and save"),
    "condition": N_("Condition"), "set": N_("Set tag or field"), "http": N_("HTTP request"),
    "handoff": N_("Hand off to a person"), "wait": N_("Wait"), "end": N_("End"),
}


def _lookup_check(node: dict, field: str) -> None:
    capability = node.get("capability")
    if not isinstance(capability, str) or capability not in _LOOKUPS:
        raise ValidationFailed("no integration offers the look-up '%(capability)s'",
                               field=f"{field}.capability",
                               params={"capability": str(capability or "")})


async def _run_lookup(call: StepCall) -> StepResult:
    lookup = _LOOKUPS.get(str(call.node.get("capability") or ""))
    if lookup is None:
        return StepResult(ok=False, detail="no such look-up")
    found = await lookup.find(call.tenant_id, call.rendered.get("input", ""))
    if found is None:
        return StepResult(exit="not_found_next", detail="not found")
    save_as = call.node.get("save_as")
    return StepResult(values={save_as: found} if save_as else {}, detail="found")


_LOOKUP = StepKind(
    kind="lookup", label=N_("Look up"), run=_run_lookup, exits=("next", "not_found_next"),
    texts=("input",), check=_lookup_check,
    fields=({"key": "capability", "label": N_("What to look up"), "type": "capability"},
            {"key": "input", "label": N_("Look up by"), "type": "text"},
            {"key": "save_as", "label": N_("Save as"), "type": "variable"}),
    saves=lambda node: [node["save_as"]] if isinstance(node.get("save_as"), str) else [])


def registered(kind: str) -> StepKind | None:
    """The external kind ``kind`` as it can run now (None: built in, or nobody offers it)."""
    if kind == "lookup":
        return _LOOKUP if _LOOKUPS else None
    return _KINDS.get(kind)


def is_external(kind: str) -> bool:
    return kind == "http" or registered(kind) is not None


def step_kinds() -> list[dict]:
    """Every kind the builder may offer: built-in ones, then those registered now."""
    found = [{"kind": kind, "label": _BUILTIN_LABELS[kind], "exits": list(exits),
              "builtin": True, "external": kind == "http", "fields": []}
             for kind, exits in BUILTIN_KINDS.items()]
    extra = ([_LOOKUP] if _LOOKUPS else []) + list(_KINDS.values())
    found += [{"kind": k.kind, "label": k.label, "exits": list(k.exits), "builtin": False,
               "external": True, "fields": [dict(f) for f in k.fields]} for k in extra]
    return found

"""The flow engine: one turn of a conversation through a flow's graph.

``advance(graph, state, input, host)`` takes where the conversation is (``State``) and what just
happened (the flow starts, the customer answered, a wait timed out, a delay ended, an external
step came back) and runs nodes until the flow waits for the customer, sleeps, needs an external
step or ends. What it does to the world (messages, contact fields, tags, a handoff) goes through
``host.apply`` as it happens, so a condition later in the same turn sees a field captured
earlier; the live runtime's host writes, the builder's test panel host only records. Both run
this same code, so the test panel cannot differ from what customers get."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

from invekto.core import i18n
from invekto.core.i18n import N_
from invekto.flows import answers, steps, texts
from invekto.flows.steps import StepResult
from invekto.replies import variables

MAX_STEPS = 50  # nodes run in one turn: a cycle with no waiting step ends the session
MAX_INVALID = 2  # invalid answers re-asked before a person takes over
STATUSES = ("running", "waiting", "sleeping", "ended")

_REASK = {
    "question": N_("Please choose one of the options."),
    "text": N_("Please write your answer."),
    "phone": N_("Please write a valid phone number."),
    "email": N_("Please write a valid e-mail address."),
    "date": N_("Please write a date like 31.12.2025."),
    "number": N_("Please write a number."),
    "regex": N_("Please check your answer and write it again."),
}


@dataclass
class State:
    """Where a conversation is in its flow. ``status``: running (between nodes, or an external
    step is being run at ``node``), waiting (for the customer's answer to ``node``), sleeping
    (a wait node's delay), ended (``ended`` says why)."""

    node: str | None = None
    status: str = "running"
    variables: dict = field(default_factory=dict)
    retries: int = 0
    ended: str | None = None

    def as_dict(self) -> dict:
        return {"node": self.node, "status": self.status, "variables": self.variables,
                "retries": self.retries, "ended": self.ended}

    @classmethod
    def from_dict(cls, data: dict | None) -> State:
        """A state as stored or as the test panel sent it back (anything odd: the start)."""
        data = data if isinstance(data, dict) else {}
        node = data.get("node")
        status = data.get("status")
        retries = data.get("retries")
        return cls(node=node if isinstance(node, str) else None,
                   status=status if status in STATUSES else "running",
                   variables=dict(data["variables"]) if isinstance(data.get("variables"), dict)
                   else {},
                   retries=retries if isinstance(retries, int) and retries >= 0 else 0,
                   ended=data["ended"] if isinstance(data.get("ended"), str) else None)


# ---- what happens to the flow ------------------------------------------------------------------

@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Reply:
    text: str = ""
    choice_id: str | None = None  # a tapped button's or list row's id


@dataclass(frozen=True)
class TimedOut:
    pass


@dataclass(frozen=True)
class Woke:
    pass


@dataclass(frozen=True)
class Outcome:
    result: StepResult


Input = Start | Reply | TimedOut | Woke | Outcome


# ---- what the flow does ------------------------------------------------------------------------

@dataclass(frozen=True)
class Send:
    """A message to the customer; a question's options as ``{"id", "title"}`` (``id`` what a
    tap carries back)."""

    node: str
    text: str
    options: tuple[dict, ...] = ()
    style: str | None = None  # buttons | list
    button: str | None = None  # a list's opening button
    attachment_id: str | None = None


@dataclass(frozen=True)
class SetField:
    node: str
    target: str  # contact.name | contact.email | contact.phone | custom.<key>
    value: Any


@dataclass(frozen=True)
class ChangeTags:
    node: str
    add: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True)
class HandOff:
    """A person takes over: into ``group_id`` (None: the channel's routing decides), with the
    summary ``note``; ``reason`` says why when the flow did not ask for it (``loop``...)."""

    node: str | None
    group_id: str | None
    note: str
    reason: str = "handoff"


Effect = Send | SetField | ChangeTags | HandOff


class Host(Protocol):
    """Where the engine runs: the live conversation, or the builder's test panel."""

    language: str  # the company's, for the engine's own texts
    values: variables.Values  # the contact, agent and company for texts
    fields: dict[str, dict]  # the company's custom fields: key -> {"type", "options"}

    async def check(self, condition: dict, flow_variables: dict, text: str
                    ) -> tuple[bool, list[dict]]: ...

    async def apply(self, effect: Effect) -> str | None:
        """Carry out ``effect`` (or, in the test panel, only record it); a line for the trail
        (a field not saved; what would have been written), or None."""
        ...


@dataclass
class Turn:
    state: State
    effects: list[Effect]
    trail: list[dict]  # [{"node", "type", "detail"}]
    changed: bool = True  # False: the input did not concern this state (nothing happened)


# ---- looking at a state ------------------------------------------------------------------------

def node_of(graph: dict, state: State) -> dict | None:
    node = (graph.get("nodes") or {}).get(state.node) if state.node else None
    return node if isinstance(node, dict) else None


def external_step(graph: dict, state: State) -> dict | None:
    """The node of an external step the state is at (an HTTP request, a look-up...)."""
    node = node_of(graph, state)
    if state.status == "running" and node is not None and steps.is_external(
            str(node.get("type"))):
        return node
    return None


def timeout_minutes(graph: dict, state: State) -> int | None:
    node = node_of(graph, state)
    if state.status != "waiting" or node is None:
        return None
    minutes = node.get("timeout_minutes")
    return minutes if isinstance(minutes, int) and minutes > 0 else None


def sleep_seconds(graph: dict, state: State) -> int:
    node = node_of(graph, state)
    if state.status != "sleeping" or node is None:
        return 0
    seconds = node.get("seconds")
    return seconds if isinstance(seconds, int) and seconds > 0 else 0


def answers_question(graph: dict, state: State, reply: Reply) -> bool:
    """Whether ``reply`` picks an option of the question the flow waits on (a tap, a number, a
    title): then it is an answer, even if it reads like an escape word ("Temsilci")."""
    node = node_of(graph, state)
    return (state.status == "waiting" and node is not None and node.get("type") == "question"
            and answers.option_for(state.node or "", node, reply.text, reply.choice_id)
            is not None)


# ---- running -----------------------------------------------------------------------------------

async def advance(graph: dict, state: State, event: Input, host: Host) -> Turn:
    run = _Run(graph, state, host)
    await run.handle(event)
    return Turn(run.state, run.effects, run.trail, run.changed)


def _listed(value: object) -> list:
    """A list setting of a node (a draft's may hold anything)."""
    return value if isinstance(value, list) else []


class _Stop:
    """A node that stops the turn (waiting, sleeping, an external step, the end)."""


_STOP = _Stop()


class _Run:
    def __init__(self, graph: dict, state: State, host: Host):
        self.nodes = graph.get("nodes") if isinstance(graph.get("nodes"), dict) else {}
        self.start = graph.get("start")
        self.state = dataclasses.replace(state, variables=dict(state.variables))
        self.host = host
        self.effects: list[Effect] = []
        self.trail: list[dict] = []
        self.steps = 0
        self.text = ""  # the customer's message this turn, for conditions
        self.changed = True

    # -- inputs

    async def handle(self, event: Input) -> None:
        state = self.state
        if state.status == "ended":
            self.changed = False
            return
        if isinstance(event, Start):
            await self.go(self.start if isinstance(self.start, str) else None)
            return
        node = node_of({"nodes": self.nodes}, state)
        if isinstance(event, Reply) and state.status == "waiting" and node is not None:
            self.text = event.text
            await self.answer(state.node or "", node, event)
        elif isinstance(event, TimedOut) and state.status == "waiting" and node is not None:
            self.note(state.node, node, "timed out")
            state.retries = 0
            if isinstance(node.get("timeout_next"), str):
                state.status = "running"
                await self.go(node["timeout_next"])
            else:
                await self.hand_off(state.node, "timed_out", reason="timed_out")
        elif isinstance(event, Woke) and state.status == "sleeping" and node is not None:
            state.status = "running"
            self.note(state.node, node, "delay over")
            await self.go(node.get("next"))
        elif isinstance(event, Outcome) and external_step(
                {"nodes": self.nodes}, state) is not None and node is not None:
            await self.outcome(state.node or "", node, event.result)
        else:
            self.changed = False  # e.g. a message while the bot sleeps: not for the flow

    async def answer(self, node_id: str, node: dict, reply: Reply) -> None:
        kind = node.get("type")
        if kind == "question":
            option = answers.option_for(node_id, node, reply.text, reply.choice_id)
            if option is None:
                await self.invalid(node_id, node, "question")
                return
            title = str(option.get("title") or "")
            self.note(node_id, node, f"answer: {title}")
            if isinstance(node.get("save_as"), str) and node["save_as"]:
                self.state.variables[node["save_as"]] = title
            self.state.status, self.state.retries = "running", 0
            await self.go(option.get("next"))
            return
        validate = node.get("validate") if node.get("validate") in answers.VALIDATIONS else "text"
        target = str(node.get("save_to") or "")
        try:
            pattern = node.get("pattern") if isinstance(node.get("pattern"), str) else ""
            value = answers.parse(validate, reply.text, pattern)
            value = answers.for_target(target, value, self.host.fields)
        except answers.Invalid:
            await self.invalid(node_id, node, validate)
            return
        self.note(node_id, node, f"answer: {value}")
        await self.save(node_id, target, value)
        self.state.status, self.state.retries = "running", 0
        await self.go(node.get("next"))

    async def invalid(self, node_id: str, node: dict, kind: str) -> None:
        self.state.retries += 1
        if self.state.retries > MAX_INVALID:
            self.note(node_id, node, "invalid answer, giving up")
            await self.hand_off(node_id, "invalid_answers", reason="handed_off")
            return
        self.note(node_id, node, f"invalid answer ({self.state.retries}/{MAX_INVALID})")
        text = self.render(str(node.get("invalid_text") or "")) or i18n.text(
            self.host.language, _REASK[kind])
        if node.get("type") == "question":
            await self.emit(self.question(node_id, node, text))
        else:
            await self.emit(Send(node_id, text))

    async def outcome(self, node_id: str, node: dict, result: StepResult) -> None:
        self.state.status = "running"
        self.note(node_id, node, result.detail or ("ok" if result.ok else "failed"))
        if not result.ok:
            if isinstance(node.get("error_next"), str):
                await self.go(node["error_next"])
            else:
                await self.hand_off(node_id, "step_failed", reason="failed")
            return
        for name, value in result.values.items():
            if texts.VAR_NAME.match(str(name)):
                self.state.variables[str(name)] = value
        if result.reply:
            await self.emit(Send(node_id, result.reply))
        await self.go(node.get(result.exit))

    # -- nodes

    async def go(self, node_id: object) -> None:
        while True:
            if not isinstance(node_id, str):  # None: the end (or a draft's junk)
                self.end("completed")
                return
            self.steps += 1
            if self.steps > MAX_STEPS:
                self.trail.append({"node": node_id, "type": "", "detail": "loop"})
                await self.hand_off(node_id, "loop", reason="failed")
                return
            node = self.nodes.get(node_id)
            if not isinstance(node, dict):
                self.trail.append({"node": node_id, "type": "", "detail": "missing node"})
                await self.hand_off(None, "missing_node", reason="failed")
                return
            self.state.node = node_id
            kind = str(node.get("type") or "")
            handler = getattr(self, f"_{kind}", None) if kind in steps.BUILTIN_KINDS else None
            if handler is None and steps.is_external(kind):
                handler = self._external
            if handler is None:
                self.note(node_id, node, f"unknown step kind {kind}")
                await self.hand_off(node_id, "unknown_step", reason="failed")
                return
            following = await handler(node_id, node)
            if following is _STOP:
                return
            node_id = following if isinstance(following, str) else None

    async def _message(self, node_id: str, node: dict) -> str | None:
        attachment = node.get("attachment_id")
        await self.emit(Send(node_id, self.render(str(node.get("text") or "")),
                             attachment_id=str(attachment) if attachment else None))
        self.note(node_id, node, "sent")
        return node.get("next")

    async def _question(self, node_id: str, node: dict) -> _Stop:
        await self.emit(self.question(node_id, node, self.render(str(node.get("text") or ""))))
        self.state.status, self.state.retries = "waiting", 0
        self.note(node_id, node, "waiting for an answer")
        return _STOP

    def question(self, node_id: str, node: dict, text: str) -> Send:
        options = tuple({"id": answers.choice_id(node_id, str(o.get("id"))),
                         "title": str(o.get("title") or "")}
                        for o in _listed(node.get("options")) if isinstance(o, dict))
        style = "list" if node.get("style") == "list" else "buttons"
        return Send(node_id, text, options, style,
                    str(node.get("button") or "") if style == "list" else None)

    async def _input(self, node_id: str, node: dict) -> _Stop:
        await self.emit(Send(node_id, self.render(str(node.get("text") or ""))))
        self.state.status, self.state.retries = "waiting", 0
        self.note(node_id, node, "waiting for an answer")
        return _STOP

    async def _condition(self, node_id: str, node: dict) -> str | None:
        for n, branch in enumerate(_listed(node.get("branches"))):
            if not isinstance(branch, dict):
                continue
            when = branch.get("when") if isinstance(branch.get("when"), dict) else {}
            ok, _trace = await self.host.check(when, self.state.variables, self.text)
            if ok:
                self.note(node_id, node, f"branch {n + 1}")
                return branch.get("next")
        self.note(node_id, node, "else")
        return node.get("else_next")

    async def _set(self, node_id: str, node: dict) -> str | None:
        add = tuple(str(t) for t in _listed(node.get("add_tags")))
        remove = tuple(str(t) for t in _listed(node.get("remove_tags")))
        if add or remove:
            await self.emit(ChangeTags(node_id, add, remove))
        fields = node.get("fields") if isinstance(node.get("fields"), dict) else {}
        for target, template in fields.items():
            value = self.render(str(template))
            try:
                value = answers.for_target(str(target), value, self.host.fields)
            except answers.Invalid:
                self.note(node_id, node, f"not saved: {target}")
                continue
            await self.save(node_id, str(target), value)
        self.note(node_id, node, "set")
        return node.get("next")

    async def _external(self, node_id: str, node: dict) -> _Stop:
        self.note(node_id, node, "calling")
        return _STOP  # the runtime runs it outside any transaction and comes back (Outcome)

    async def _http(self, node_id: str, node: dict) -> _Stop:
        return await self._external(node_id, node)

    async def _handoff(self, node_id: str, node: dict) -> _Stop:
        if node.get("text"):
            await self.emit(Send(node_id, self.render(str(node["text"]))))
        group = node.get("group_id")
        await self.emit(HandOff(node_id, str(group) if group else None,
                                self.render(str(node.get("note") or ""))))
        self.note(node_id, node, "handed off")
        self.end("handed_off")
        return _STOP

    async def _wait(self, node_id: str, node: dict) -> _Stop | str | None:
        seconds = node.get("seconds")
        if not isinstance(seconds, int) or seconds <= 0:
            return node.get("next")
        self.state.status = "sleeping"
        self.note(node_id, node, f"waiting {seconds} s")
        return _STOP

    async def _end(self, node_id: str, node: dict) -> _Stop:
        if node.get("text"):
            await self.emit(Send(node_id, self.render(str(node["text"]))))
        self.note(node_id, node, "end")
        self.end("completed")
        return _STOP

    # -- helpers

    async def save(self, node_id: str, target: str, value: Any) -> None:
        if target.startswith("var."):
            self.state.variables[target.removeprefix("var.")] = value
            return
        if not (target in answers.CONTACT_TARGETS or target.startswith("custom.")):
            return
        await self.emit(SetField(node_id, target, value))
        # Later texts of this turn read the contact as it is now.
        values = self.host.values
        if target == "contact.name":
            values = dataclasses.replace(values, contact_name=str(value))
        elif target == "contact.phone":
            values = dataclasses.replace(values, contact_phone=str(value))
        elif target == "contact.email":
            values = dataclasses.replace(values, contact_email=str(value))
        else:
            values = dataclasses.replace(values, custom={
                **values.custom, target.removeprefix("custom."): value})
        self.host.values = values

    async def hand_off(self, node_id: str | None, why: str, *, reason: str) -> None:
        await self.emit(HandOff(node_id, None, "", why))
        self.end(reason)

    def end(self, reason: str) -> None:
        self.state.status, self.state.ended = "ended", reason
        self.trail.append({"node": self.state.node, "type": "", "detail": f"ended: {reason}"})

    async def emit(self, effect: Effect) -> None:
        self.effects.append(effect)
        problem = await self.host.apply(effect)
        if problem:
            self.trail.append({"node": effect.node, "type": "", "detail": problem})

    def note(self, node_id: str | None, node: dict, detail: str) -> None:
        self.trail.append({"node": node_id, "type": str(node.get("type") or ""),
                           "detail": detail})

    def render(self, text: str) -> str:
        return texts.render(text, self.host.values, self.state.variables)

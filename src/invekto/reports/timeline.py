"""A conversation's timeline turned into report facts: pure functions, no database, so that every
metric is tested on hand-built timelines with known answers (docs/metrics.md defines them).

``derive(timeline, business_seconds)`` walks the messages and changes in time order, keeping
who holds the conversation, whether a bot does, and since when the customer has been waiting,
and returns the facts: one per thing a report counts or measures.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from invekto.routing.hours import elapsed_seconds

# The kinds of fact, and what each one's ``seconds`` / ``value`` / ``detail`` hold.
OPENED = "conversation_opened"          # detail: the referral code or ad, if any
REOPENED = "conversation_reopened"
CLOSED = "conversation_closed"          # seconds: resolution time of the cycle; user: assignee
FIRST_RESPONSE = "first_response"       # seconds: the customer's first wait; user: responder
REPLY = "reply"                         # seconds: a wait answered by an agent; user: the agent
ASSIGNMENT_WAIT = "assignment_wait"     # seconds: until a person had it; user: that person
TRANSFER = "transfer"                   # user: who held it (none: it was in a queue)
TRANSFER_IN = "transfer_in"             # user: who received it (a transfer to a person)
MESSAGE_IN = "message_in"
MESSAGE_OUT = "message_out"             # detail: agent | bot | system; user: the agent
CALL_ANSWERED = "call_answered"         # seconds: talk time; detail: inbound | outbound
CALL_MISSED = "call_missed"             # detail: inbound | outbound
BOT_HANDLED = "bot_handled"             # a bot (flow or AI auto-answer) talked first
BOT_HANDOFF = "bot_handoff"             # ... and handed the customer to people
BOT_CONTAINED = "bot_contained"         # ... and the conversation closed with no agent message
CSAT_ASKED = "csat_asked"               # user: the agent the survey is about
CSAT_ANSWERED = "csat_answered"         # value: the score; user: the agent it is about
SLA_MET = "sla_met"                     # detail: first_response | resolution
SLA_BREACHED = "sla_breached"           # detail: first_response | resolution
TAGGED = "tagged"                       # detail: the tag (at the conversation's opening)

KINDS = (OPENED, REOPENED, CLOSED, FIRST_RESPONSE, REPLY, ASSIGNMENT_WAIT, TRANSFER,
         TRANSFER_IN, MESSAGE_IN, MESSAGE_OUT, CALL_ANSWERED, CALL_MISSED, BOT_HANDLED,
         BOT_HANDOFF, BOT_CONTAINED, CSAT_ASKED, CSAT_ANSWERED, SLA_MET, SLA_BREACHED, TAGGED)

# A bot that starts within this long of the opening "talked first" (it starts in the same
# transaction as the first message, a moment after the conversation row).
_SAME_MOMENT = timedelta(seconds=5)

# The seconds of open time between two moments, on the conversation's channel's hours.
BusinessClock = Callable[[datetime, datetime], int]


@dataclass(frozen=True)
class TimelineMessage:
    at: datetime
    sender: str  # contact | agent | bot | system
    user_id: uuid.UUID | None = None
    call: dict[str, Any] | None = None  # a call's record (payload["call"]): outcome, talk time


@dataclass(frozen=True)
class TimelineChange:
    """A ``conversation_events`` row: assigned, transferred, takeover, closed, reopened..."""

    at: datetime
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BotRun:
    """A chatbot flow's session or the AI's auto-answer hold on the conversation."""

    started_at: datetime
    ended_at: datetime | None = None
    handed_off: bool = False


@dataclass(frozen=True)
class Survey:
    asked_at: datetime | None
    answered_at: datetime | None = None
    score: int | None = None
    agent_id: uuid.UUID | None = None  # who held the conversation when it closed


@dataclass(frozen=True)
class Timeline:
    opened_at: datetime
    messages: Sequence[TimelineMessage] = ()
    changes: Sequence[TimelineChange] = ()
    bot_runs: Sequence[BotRun] = ()
    surveys: Sequence[Survey] = ()
    breaches: Sequence[tuple[str, datetime]] = ()  # (target, breached_at)
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    tags: Sequence[str] = ()
    referral: dict[str, Any] | None = None


@dataclass(frozen=True)
class Fact:
    kind: str
    at: datetime
    user_id: uuid.UUID | None = None
    seconds: int | None = None
    business_seconds: int | None = None
    value: int | None = None
    detail: str = ""


def referral_code(referral: dict[str, Any] | None) -> str:
    """What a conversation is attributed to: a chat link's code, an ad's id or a UTM source."""
    if not referral:
        return ""
    for key in ("ref", "source_id", "ad_id", "utm_campaign", "utm_source", "source"):
        if referral.get(key):
            return str(referral[key])[:100]
    return ""


def _user(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


@dataclass
class _Walk:
    """What the walk through a timeline knows at each moment."""

    timeline: Timeline
    clock: BusinessClock
    facts: list[Fact] = field(default_factory=list)
    assignee: uuid.UUID | None = None
    ever_assigned: bool = False
    cycle_start: datetime | None = None
    waiting_since: datetime | None = None
    waited_during_bot: bool = False
    answered_once: bool = False
    agent_wrote: bool = False
    closed: bool = False

    def measure(self, kind: str, start: datetime, end: datetime, *,
                user_id: uuid.UUID | None = None, detail: str = "") -> None:
        self.facts.append(Fact(kind, end, user_id, elapsed_seconds(start, end),
                               self.clock(start, end) if end > start else 0, detail=detail))

    def count(self, kind: str, at: datetime, *, user_id: uuid.UUID | None = None,
              detail: str = "", seconds: int | None = None, value: int | None = None) -> None:
        self.facts.append(Fact(kind, at, user_id, seconds, None, value, detail))

    def bot_holds(self, at: datetime) -> bool:
        return any(run.started_at <= at and (run.ended_at is None or at < run.ended_at)
                   for run in self.timeline.bot_runs)

    def people_since(self) -> datetime:
        """When people became responsible: at the opening, or at the first bot's hand-off
        when a bot talked first."""
        first_bot = min(self.timeline.bot_runs, key=lambda r: r.started_at, default=None)
        if first_bot and first_bot.started_at <= self.timeline.opened_at + _SAME_MOMENT:
            return first_bot.ended_at or self.timeline.opened_at
        return self.timeline.opened_at

    def assigned(self, at: datetime, user_id: uuid.UUID | None) -> None:
        if user_id is not None and not self.ever_assigned:
            self.ever_assigned = True
            start = self.people_since()
            self.measure(ASSIGNMENT_WAIT, min(start, at), at, user_id=user_id)
        self.assignee = user_id

    def message(self, message: TimelineMessage) -> None:
        if message.call is not None:
            self.call(message)
            return
        if message.sender == "contact":
            self.count(MESSAGE_IN, message.at)
            if self.waiting_since is None:
                if self.bot_holds(message.at):
                    self.waited_during_bot = True  # the wait starts when the bot hands off
                else:
                    self.waiting_since = message.at
            return
        self.count(MESSAGE_OUT, message.at, user_id=message.user_id, detail=message.sender)
        if message.sender != "agent":
            return  # an away message or a bot's answer is not a person's reply
        self.agent_wrote = True
        if message.user_id is not None and not self.ever_assigned:
            self.assigned(message.at, message.user_id)  # answering makes it theirs
        if self.waiting_since is None:
            return
        if not self.answered_once:
            self.answered_once = True
            self.measure(FIRST_RESPONSE, self.waiting_since, message.at, user_id=message.user_id)
            due = self.timeline.first_response_due_at
            if due is not None and not self.breached("first_response"):
                self.count(SLA_MET if message.at <= due else SLA_BREACHED, message.at,
                           detail="first_response")
        self.measure(REPLY, self.waiting_since, message.at, user_id=message.user_id)
        self.waiting_since = None

    def call(self, message: TimelineMessage) -> None:
        call = message.call or {}
        direction = str(call.get("direction") or "inbound")
        if call.get("outcome") == "answered":
            self.count(CALL_ANSWERED, message.at, user_id=message.user_id, detail=direction,
                       seconds=int(call.get("duration_seconds") or 0))
        elif call.get("outcome"):
            self.count(CALL_MISSED, message.at, user_id=message.user_id, detail=direction)

    def bot_ended(self, run: BotRun) -> None:
        assert run.ended_at is not None
        if run.handed_off:
            self.count(BOT_HANDOFF, run.ended_at)
        if self.waited_during_bot and self.waiting_since is None and not self.closed:
            self.waiting_since = run.ended_at  # the customer now waits for people
        self.waited_during_bot = False

    def breached(self, target: str) -> bool:
        return any(t == target for t, _ in self.timeline.breaches)

    def change(self, change: TimelineChange) -> None:
        data = change.data
        if change.kind == "assigned":
            self.assigned(change.at, _user(data.get("assignee_id")))
        elif change.kind in ("transferred", "takeover"):
            to_user = _user(data.get("user_id"))
            if change.kind == "transferred":
                self.count(TRANSFER, change.at,
                           user_id=_user(data.get("from_user_id")) or self.assignee)
                if to_user is not None:
                    self.count(TRANSFER_IN, change.at, user_id=to_user)
            self.assigned(change.at, to_user)
        elif change.kind == "closed" and not self.closed:
            self.close(change.at)
        elif (change.kind == "reopened" and self.closed
              and data.get("reason") != "snooze_ended"):
            self.closed = False
            self.cycle_start = change.at
            self.count(REOPENED, change.at)

    def close(self, at: datetime) -> None:
        self.closed = True
        self.measure(CLOSED, self.cycle_start or self.timeline.opened_at, at,
                     user_id=self.assignee)
        self.waiting_since = None  # a closed conversation keeps nobody waiting
        due = self.timeline.resolution_due_at
        if due is not None and not self.breached("resolution") and not any(
                f.kind == SLA_MET and f.detail == "resolution" for f in self.facts):
            self.count(SLA_MET if at <= due else SLA_BREACHED, at, detail="resolution")
        if self.timeline.bot_runs and not self.agent_wrote and not any(
                f.kind == BOT_CONTAINED for f in self.facts):
            self.count(BOT_CONTAINED, at)


def derive(timeline: Timeline, business_seconds: BusinessClock) -> list[Fact]:
    """The facts of one conversation, in time order (docs/metrics.md)."""
    walk = _Walk(timeline, business_seconds, cycle_start=timeline.opened_at)
    walk.count(OPENED, timeline.opened_at, detail=referral_code(timeline.referral))
    for tag in sorted(set(timeline.tags)):
        walk.count(TAGGED, timeline.opened_at, detail=tag[:100])
    if timeline.bot_runs:
        walk.count(BOT_HANDLED, min(run.started_at for run in timeline.bot_runs))
    # One stream in time order; at the same moment messages come before the changes they
    # caused (a reply, then the close it allowed), and a bot's end before both.
    stream: list[tuple[datetime, int, Any]] = [(m.at, 1, m) for m in timeline.messages]
    stream += [(c.at, 2, c) for c in timeline.changes]
    stream += [(r.ended_at, 0, r) for r in timeline.bot_runs if r.ended_at is not None]
    for _at, _order, item in sorted(stream, key=lambda entry: (entry[0], entry[1])):
        if isinstance(item, TimelineMessage):
            walk.message(item)
        elif isinstance(item, TimelineChange):
            walk.change(item)
        else:
            walk.bot_ended(item)
    for target, at in timeline.breaches:
        walk.count(SLA_BREACHED, at, detail=target)
    for survey in timeline.surveys:
        if survey.asked_at is not None:
            walk.count(CSAT_ASKED, survey.asked_at, user_id=survey.agent_id)
        if survey.answered_at is not None and survey.score is not None:
            walk.count(CSAT_ANSWERED, survey.answered_at, user_id=survey.agent_id,
                       value=survey.score)
    return sorted(walk.facts, key=lambda fact: fact.at)

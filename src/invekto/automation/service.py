"""Trigger rules: saved, listed, dry-run, and fired by ``emit``.

``emit`` runs in the transaction of whatever raised the events (an ingested batch, an agent's
action, a timer scan): a rule's actions commit or roll back with their cause, and rules never
wait for a queue. Each rule runs in a savepoint, so a failing action is logged and the cause
is kept. See decisions/0018.

Loop protection: while a rule's actions run, its id is on a stack in the session
(``session.info["automation.chain"]``); an event they raise never fires a rule already on the
stack, nor anything once the stack is ``MAX_CHAIN`` deep. Such a refused firing is logged as
``skipped`` with the error "loop".

Timers and schedules (``automation:tick``, every minute, decisions/0016): ``due_timers`` lists
the conversations whose customer (``no_customer_reply``) or agent (``no_agent_reply``) has been
silent for a rule's minutes, ``due_schedules`` the scheduled rules whose cron came due; each is
then fired in its company's scope. The rule fires once per occurrence (the customer's message
that started the silence, the agent's wait, the due minute): ``automation_runs`` has a unique
index on (rule, conversation, occurrence).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from cronsim import CronSim, CronSimError
from sqlalchemy import Integer, String, cast, exists, func, literal, select, update
from sqlalchemy import inspect as inspect_state
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import DateTime

from invekto.audit import service as audit
from invekto.automation import actions as rule_actions
from invekto.automation import conditions
from invekto.automation.events import KINDS, Event
from invekto.automation.models import AutomationRule, AutomationRun
from invekto.automation.schemas import DryRunIn, DryRunOut, DryRunRule, RuleIn
from invekto.contacts import service as contacts
from invekto.core.actor import Actor, Permission
from invekto.core.errors import AppError, ValidationFailed
from invekto.core.i18n import N_
from invekto.db.base import new_id
from invekto.db.queries import get_in_tenant
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, Message
from invekto.tenants.models import Tenant

log = structlog.get_logger(__name__)

CHAIN = "automation.chain"  # session.info key: the rules whose actions are running
MAX_CHAIN = 5
TIMER_KINDS = ("no_customer_reply", "no_agent_reply")
SCHEDULED = "scheduled"
# Events only the minute scan raises, each for one rule.
SCANNED_KINDS = (*TIMER_KINDS, SCHEDULED)
MAX_TIMER_MINUTES = 60 * 24 * 30
# A timer fires when its minutes have passed; a scan that comes later than this (the workers
# were down) lets it go rather than fire long after the moment it was meant for.
TIMER_GRACE = timedelta(minutes=15)
# A schedule's due minute is still run by a scan this much later (then never).
SCHEDULE_CATCH_UP = timedelta(minutes=10)
# The conversations one due minute of a scheduled rule looks at: the company's most recently
# active ones that are not closed.
SCHEDULE_LIMIT = 1000
# Actions whose results show in the thread as the rule's work on the conversation.
_NOT_IN_THREAD = ("notify", "call_webhook")


def _now() -> datetime:
    return datetime.now(UTC)


# ---- rules --------------------------------------------------------------------------------------

async def list_rules(session: AsyncSession, actor: Actor) -> list[AutomationRule]:
    """The company's rules in the order they run."""
    actor.require(Permission.MANAGE_CONTENT)
    return list((await session.scalars(select(AutomationRule).where(
        AutomationRule.tenant_id == actor.tenant_id).order_by(
        AutomationRule.position, AutomationRule.id))).all())


@dataclass(frozen=True)
class RuleStats:
    runs: int  # firings, loop refusals left out
    last_at: datetime | None


async def rule_stats(session: AsyncSession, actor: Actor, rule_ids: list[uuid.UUID]
                     ) -> dict[uuid.UUID, RuleStats]:
    """How often each rule fired and when last (rules that never fired are left out)."""
    actor.require(Permission.MANAGE_CONTENT)
    if not rule_ids:
        return {}
    rows = await session.execute(
        select(AutomationRun.rule_id, func.count(), func.max(AutomationRun.created_at))
        .where(AutomationRun.tenant_id == actor.tenant_id,
               AutomationRun.rule_id.in_(rule_ids), AutomationRun.status != "skipped")
        .group_by(AutomationRun.rule_id))
    return {rule_id: RuleStats(count, last) for rule_id, count, last in rows}


async def get_rule(session: AsyncSession, actor: Actor, rule_id: uuid.UUID) -> AutomationRule:
    actor.require(Permission.MANAGE_CONTENT)
    return await get_in_tenant(session, AutomationRule, actor.tenant_id, rule_id,
                               what=N_("rule"))


async def create_rule(session: AsyncSession, actor: Actor, data: RuleIn) -> AutomationRule:
    """A new rule, last in the order. Supervisors' and admins'."""
    actor.require(Permission.MANAGE_CONTENT)
    values = await _checked_rule(session, actor, data)
    last = await session.scalar(select(func.max(AutomationRule.position)).where(
        AutomationRule.tenant_id == actor.tenant_id))
    rule = AutomationRule(tenant_id=actor.tenant_id, position=(last + 1) if last is not None
                          else 0, created_by=actor.user_id, **values)
    session.add(rule)
    await session.flush()
    await session.refresh(rule)
    await _audit(session, actor, "automation_rule.created", rule)
    return rule


async def update_rule(session: AsyncSession, actor: Actor, rule_id: uuid.UUID, data: RuleIn
                      ) -> AutomationRule:
    rule = await get_rule(session, actor, rule_id)
    values = await _checked_rule(session, actor, data, previous=rule)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.updated_at = _now()
    await session.flush()
    await _audit(session, actor, "automation_rule.updated", rule)
    return rule


async def set_enabled(session: AsyncSession, actor: Actor, rule_id: uuid.UUID, enabled: bool
                      ) -> AutomationRule:
    rule = await get_rule(session, actor, rule_id)
    if rule.enabled != enabled:
        rule.enabled = enabled
        # A schedule switched on does not fire for a due minute that passed while it was off.
        rule.updated_at = _now()
        await session.flush()
        await _audit(session, actor, "automation_rule.enabled" if enabled
                     else "automation_rule.disabled", rule)
    return rule


async def move_rule(session: AsyncSession, actor: Actor, rule_id: uuid.UUID, position: int
                    ) -> list[AutomationRule]:
    """Put a rule at ``position`` (0: first) in the company's order; returns the new order."""
    rule = await get_rule(session, actor, rule_id)
    ordered = [r for r in await list_rules(session, actor) if r.id != rule.id]
    ordered.insert(max(0, min(position, len(ordered))), rule)
    for n, each in enumerate(ordered):
        if each.position != n:
            each.position = n
    await session.flush()
    for each in ordered:
        await session.refresh(each)  # its updated_at, set by the database
    await _audit(session, actor, "automation_rule.moved", rule)
    return ordered


async def delete_rule(session: AsyncSession, actor: Actor, rule_id: uuid.UUID) -> None:
    """Remove a rule and its log; what it did stays where it did it."""
    rule = await get_rule(session, actor, rule_id)
    await _audit(session, actor, "automation_rule.deleted", rule)
    await session.delete(rule)
    await session.flush()


async def list_runs(session: AsyncSession, actor: Actor, rule_id: uuid.UUID, *, limit: int = 50,
                    before: datetime | None = None) -> list[AutomationRun]:
    """A rule's firings, newest first; ``before``: older than that moment (the next page)."""
    await get_rule(session, actor, rule_id)
    query = select(AutomationRun).where(AutomationRun.tenant_id == actor.tenant_id,
                                        AutomationRun.rule_id == rule_id)
    if before is not None:
        query = query.where(AutomationRun.created_at < before)
    return list((await session.scalars(query.order_by(
        AutomationRun.created_at.desc(), AutomationRun.id.desc()).limit(
        max(1, min(limit, 500))))).all())


def catalogue() -> dict:
    """What a rule may say, for the form: events (with their options), condition fields and
    their operators, action types and their settings, the languages a message may be in."""
    return {
        "events": [{"kind": k.kind, "label": k.label, "options": list(k.options),
                    "required": list(k.required), "about_conversation": k.about_conversation,
                    # What its messages may name beyond the contact: "order.number"...
                    "variables": [f"{name}.{key}" for name, keys in k.text_fields.items()
                                  for key in keys]}
                   for k in KINDS.values()],
        "conditions": conditions.catalogue(),
        "actions": [{"type": a.type, "label": a.label, "fields": list(a.fields),
                     "needs_conversation": a.needs_conversation}
                    for a in rule_actions.ACTIONS.values()],
        "languages": list(conditions.LANGUAGES),
        "limits": {"actions": rule_actions.MAX_ACTIONS, "conditions": conditions.MAX_LEAVES,
                   "depth": conditions.MAX_DEPTH, "timer_minutes": MAX_TIMER_MINUTES,
                   "schedule_conversations": SCHEDULE_LIMIT},
    }


async def _checked_rule(session: AsyncSession, actor: Actor, data: RuleIn, *,
                        previous: AutomationRule | None = None) -> dict[str, Any]:
    name = " ".join(data.name.split())
    if not name:
        raise ValidationFailed("give the rule a name", field="name")
    if data.event not in KINDS:
        raise ValidationFailed("unknown event %(event)s", field="event",
                               params={"event": data.event[:40]})
    return {
        "name": name, "description": data.description.strip(), "enabled": data.enabled,
        "event": data.event,
        "event_options": await _checked_options(session, actor, data.event, data.event_options),
        "conditions": conditions.validate(data.conditions),
        "actions": await rule_actions.validate(session, actor, data.actions, event=data.event,
                                               previous=previous.actions if previous else None),
        "stop_after": data.stop_after,
    }


async def _checked_options(session: AsyncSession, actor: Actor, event: str,
                           options: dict[str, Any]) -> dict[str, Any]:
    kind = KINDS[event]
    checked: dict[str, Any] = {}
    for key, value in options.items():
        field = f"event_options.{key}"
        if key not in kind.options:
            raise ValidationFailed("this event has no option %(key)s", field=field,
                                   params={"key": key[:40]})
        if value is None or value == "":
            continue
        if key == "minutes":
            if not isinstance(value, int) or isinstance(value, bool) or not (
                    1 <= value <= MAX_TIMER_MINUTES):
                raise ValidationFailed("from 1 minute to 30 days", field=field)
        elif key == "cron":
            value = checked_cron(value, field=field)
        elif key == "tag":
            if not isinstance(value, str) or not value.strip():
                raise ValidationFailed("name a tag", field=field)
            try:
                (value,) = await contacts.checked_tags(session, actor, [value])
            except ValidationFailed as exc:
                raise ValidationFailed(exc.template, field=field, params=exc.params) from exc
        elif key.endswith("_id"):
            try:
                value = str(uuid.UUID(str(value)))
            except ValueError as exc:
                raise ValidationFailed("not an id", field=field) from exc
        elif not isinstance(value, str | int | bool) or len(str(value)) > 200:
            raise ValidationFailed("a text of at most 200 characters", field=field)
        checked[key] = value
    for key in kind.required:
        if key not in checked:
            raise ValidationFailed("this event needs %(key)s", field=f"event_options.{key}",
                                   params={"key": key})
    return checked


def checked_cron(value: Any, *, field: str = "event_options.cron") -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week), read in the
    company's time zone."""
    expression = " ".join(str(value).split()) if isinstance(value, str) else ""
    if len(expression.split(" ")) != 5:
        raise ValidationFailed("a schedule has five fields: minute, hour, day of month, month, "
                               "day of week", field=field)
    try:
        CronSim(expression, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValidationFailed("this schedule cannot be read: %(error)s", field=field,
                               params={"error": str(exc)}) from exc
    return expression


async def _audit(session: AsyncSession, actor: Actor, action: str, rule: AutomationRule
                 ) -> None:
    await audit.record(session, actor, action, target_type="automation_rule",
                       target_id=rule.id, data={"name": rule.name, "event": rule.event,
                                                "enabled": rule.enabled})


# ---- dry run ------------------------------------------------------------------------------------

async def dry_run(session: AsyncSession, actor: Actor, data: DryRunIn) -> DryRunOut:
    """Which rules would fire if ``data.event`` happened to a conversation (with its latest
    customer message, at that message's time), and why the others would not. Nothing is
    changed: only conditions are evaluated."""
    actor.require(Permission.MANAGE_CONTENT)
    if data.event not in KINDS:
        raise ValidationFailed("unknown event %(event)s", field="event",
                               params={"event": data.event[:40]})
    conversation = await inbox.get_conversation(session, actor, data.conversation_id)
    message = await session.scalar(select(Message).where(
        Message.tenant_id == actor.tenant_id, Message.conversation_id == conversation.id,
        Message.direction == "inbound").order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1))
    event = Event(data.event, actor.tenant_id, conversation_id=conversation.id,
                  contact_id=conversation.contact_id, message_id=message.id if message else None,
                  data=data.data)
    subject = await conditions.load_subject(session, event)
    rules = ([await get_rule(session, actor, data.rule_id)] if data.rule_id
             else await list_rules(session, actor))
    found = []
    stopped = False  # a rule before fired with stop_after: the rest of the event's list waits
    for rule in rules:
        result = await conditions.check(session, rule.conditions, subject)
        if not rule.enabled:
            reason = "disabled"
        elif rule.event != data.event:
            reason = "event"
        elif rule.event not in SCANNED_KINDS and not _listens(rule, event):
            reason = "event_options"  # e.g. only for another tag than ``data`` names
        elif not result.ok:
            reason = "conditions"
        else:
            reason = "stopped" if stopped else None
        stopped = stopped or (reason is None and rule.stop_after)
        found.append(DryRunRule(
            rule_id=rule.id, name=rule.name, fires=reason is None, reason=reason,
            trace=result.trace, actions=[{"type": a["type"], "summary": rule_actions.summary(a)}
                                         for a in rule.actions]))
    return DryRunOut(event=data.event, message_text=subject.text, rules=found)


# ---- firing -------------------------------------------------------------------------------------

async def emit(session: AsyncSession, events: list[Event]) -> None:
    """Fire the enabled rules that listen for these events (one tenant's), in order: one
    query when no rule listens (the ingest calls this for every batch)."""
    if not events:
        return
    tenant_id = events[0].tenant_id
    assert all(e.tenant_id == tenant_id for e in events), "one company's events"
    from invekto.outgoing_webhooks import service as outgoing_webhooks  # local: it reads KINDS

    await outgoing_webhooks.publish_automation_events(session, events)
    rules = list((await session.scalars(select(AutomationRule).where(
        AutomationRule.tenant_id == tenant_id, AutomationRule.enabled,
        AutomationRule.event.in_({e.kind for e in events})).order_by(
        AutomationRule.position, AutomationRule.id))).all())
    if not rules:
        return
    for event in events:
        listening = [rule for rule in rules if _listens(rule, event)]
        if listening:
            await _fire(session, event, listening)


def _listens(rule: AutomationRule, event: Event) -> bool:
    if rule.event != event.kind:
        return False
    if event.rule_id is not None or rule.event in SCANNED_KINDS:
        return rule.id == event.rule_id
    # Options narrow the event: {"tag": "vip"} hears tag_added only for that tag.
    return all(str(event.data.get(key)) == str(value)
               for key, value in (rule.event_options or {}).items())


async def _fire(session: AsyncSession, event: Event, rules: list[AutomationRule]) -> None:
    subject = await conditions.load_subject(session, event)
    chain: list[uuid.UUID] = session.info.setdefault(CHAIN, [])
    for rule in rules:
        try:
            holds = (await conditions.check(session, rule.conditions, subject)).ok
        except Exception:  # a rule's fault must never cost its cause (a customer's message)
            log.exception("automation.condition_crashed", rule_id=str(rule.id))
            continue
        if not holds:
            continue
        if rule.id in chain or len(chain) >= MAX_CHAIN:
            log.warning("automation.loop_refused", rule_id=str(rule.id),
                        event_kind=event.kind, depth=len(chain))
            await _insert_run(session, rule, event, subject, status="skipped", error="loop",
                              occurrence=None)
            continue
        run_id = await _insert_run(session, rule, event, subject, status="done", error="",
                                   occurrence=event.occurrence)
        if run_id is None:
            continue  # this occurrence fired before (a timer or schedule scanned twice)
        chain.append(rule.id)
        try:
            await _run_actions(session, rule, run_id, subject)
        finally:
            chain.pop()
        if rule.stop_after:
            break


async def _insert_run(session: AsyncSession, rule: AutomationRule, event: Event,
                      subject: conditions.Subject, *, status: str, error: str,
                      occurrence: str | None) -> uuid.UUID | None:
    """The firing's log row, written before its actions run (a webhook's job updates its
    entry later); None when ``occurrence`` was logged already."""
    statement = pg_insert(AutomationRun).values(
        id=new_id(), tenant_id=rule.tenant_id, rule_id=rule.id, event=event.kind,
        conversation_id=event.conversation_id,
        contact_id=subject.contact.id if subject.contact else event.contact_id,
        message_id=event.message_id, occurrence=occurrence, status=status, results=[],
        error=error)
    if occurrence is not None:
        statement = statement.on_conflict_do_nothing(
            index_elements=["tenant_id", "rule_id", "conversation_id", "occurrence"],
            index_where=AutomationRun.occurrence.is_not(None))
    return await session.scalar(statement.returning(AutomationRun.id))


async def _run_actions(session: AsyncSession, rule: AutomationRule, run_id: uuid.UUID,
                       subject: conditions.Subject) -> None:
    """The rule's actions in one savepoint: all of them, or (one failed) none."""
    firing = rule_actions.Firing(rule.id, rule.name, run_id, subject)
    planned = list(rule.actions)
    results: list[dict] = []
    error = ""
    try:
        async with session.begin_nested():
            for index, action in enumerate(planned):
                status, detail = await rule_actions.perform(session, action, index, firing)
                results.append({"type": action["type"], "status": status, "detail": detail})
    except Exception as exc:  # any failure is the rule's, never its cause's: logged, kept
        error = (exc.message if isinstance(exc, AppError)
                 else f"internal error ({type(exc).__name__})")[:1000]
        if isinstance(exc, AppError):
            log.info("automation.action_failed", rule_id=str(rule.id), error=error)
        else:
            log.exception("automation.action_crashed", rule_id=str(rule.id))
        failed_at = len(results)
        results = [{**r, "status": "rolled_back"} if r["status"] in ("done", "queued") else r
                   for r in results]
        if failed_at < len(planned):
            results.append({"type": planned[failed_at]["type"], "status": "failed",
                            "detail": error})
            results += [{"type": a["type"], "status": "not_run", "detail": ""}
                        for a in planned[failed_at + 1:]]
        await _reload_rolled_back(session)
        inbox.forget_rolled_back_events(session)
    await session.execute(update(AutomationRun).where(
        AutomationRun.tenant_id == rule.tenant_id, AutomationRun.id == run_id).values(
        status="failed" if error else "done", results=results, error=error))
    done = [action for action, result in zip(planned, results, strict=False)
            if result["status"] == "done" and action["type"] not in _NOT_IN_THREAD]
    if not error and done and subject.conversation is not None:
        await inbox.record_automation(session, subject.conversation, {
            "rule": rule.name, "rule_id": str(rule.id),
            "actions": [{"type": a["type"], "summary": rule_actions.summary(a)} for a in done]})


async def _reload_rolled_back(session: AsyncSession) -> None:
    """A savepoint rolled back expires what changed inside it; the objects the caller holds
    (the conversation, the contact) are read again now, since in an async session an expired
    attribute cannot load itself when next touched."""
    for instance in list(session.identity_map.values()):
        if inspect_state(instance).expired_attributes:
            try:
                await session.refresh(instance)
            except InvalidRequestError:
                session.expunge(instance)  # its row was created in the savepoint


# ---- timers -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DueTimer:
    """A conversation whose silence a rule's timer waited for, and what makes it this one."""

    tenant_id: uuid.UUID
    rule_id: uuid.UUID
    event: str
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    occurrence: str


async def due_timers(session: AsyncSession, *, now: datetime | None = None,
                     tenant_id: uuid.UUID | None = None,
                     only: tuple[uuid.UUID, uuid.UUID] | None = None, limit: int = 500
                     ) -> list[DueTimer]:
    """The (rule, conversation) pairs whose timer came due in the last ``TIMER_GRACE`` and did
    not fire yet, over open and pending conversations: ``no_agent_reply`` when the customer
    has waited the rule's minutes (occurrence: the start of that wait), ``no_customer_reply``
    when our message was the last, that many minutes ago (occurrence: the customer's latest
    message, so the rule's own message does not start the timer again). System scope for the
    scan's list; ``only=(rule, conversation)`` checks one again in its company's scope."""
    now = now or _now()
    minutes = func.make_interval(0, 0, 0, 0, 0, cast(
        AutomationRule.event_options["minutes"].astext, Integer))
    cutoff = literal(now, DateTime(timezone=True)) - minutes
    found: list[DueTimer] = []
    for kind in TIMER_KINDS:
        if kind == "no_agent_reply":
            moment = Conversation.waiting_since
            # The wait's start to the microsecond, as text (computed here, compared here).
            occurrence = cast(func.extract("epoch", moment), String)
            silent = Conversation.waiting_since.is_not(None)
        else:
            moment = Conversation.last_message_at
            latest_inbound = select(cast(Message.id, String)).where(
                Message.tenant_id == Conversation.tenant_id,
                Message.conversation_id == Conversation.id, Message.direction == "inbound",
            ).order_by(Message.created_at.desc(), Message.id.desc()).limit(1).correlate(
                Conversation).scalar_subquery()
            occurrence = func.coalesce(latest_inbound, "none")
            silent = Conversation.waiting_since.is_(None)
        fired = exists().where(
            AutomationRun.tenant_id == AutomationRule.tenant_id,
            AutomationRun.rule_id == AutomationRule.id,
            AutomationRun.conversation_id == Conversation.id,
            AutomationRun.occurrence == occurrence)
        query = select(AutomationRule.tenant_id, AutomationRule.id, Conversation.id,
                       Conversation.contact_id, occurrence).join(
            Conversation, Conversation.tenant_id == AutomationRule.tenant_id).where(
            AutomationRule.enabled, AutomationRule.event == kind,
            Conversation.status.in_(("open", "pending")), silent, moment <= cutoff,
            # A chatbot is talking with the customer: its own waits and timeouts apply.
            ~Conversation.held_by_bot,
            moment > cutoff - TIMER_GRACE, ~fired)
        if tenant_id is not None:
            query = query.where(AutomationRule.tenant_id == tenant_id)
        if only is not None:
            query = query.where(AutomationRule.id == only[0], Conversation.id == only[1])
        found += [DueTimer(row[0], row[1], kind, row[2], row[3], row[4])
                  for row in (await session.execute(query.order_by(moment).limit(limit))).all()]
    return found


async def fire_timer(session: AsyncSession, due: DueTimer, *, now: datetime | None = None
                     ) -> bool:
    """Fire a listed timer in its company's scope, checked again under the conversation's
    lock (the customer or an agent may have written since it was listed). False when it is no
    longer due or another scan holds the conversation."""
    now = now or _now()
    locked = await session.scalar(select(Conversation.id).where(
        Conversation.tenant_id == due.tenant_id, Conversation.id == due.conversation_id
    ).with_for_update(skip_locked=True))
    if locked is None:
        return False
    again = await due_timers(session, now=now, tenant_id=due.tenant_id,
                             only=(due.rule_id, due.conversation_id))
    if not again:
        return False
    await emit(session, [Event(due.event, due.tenant_id, conversation_id=due.conversation_id,
                               contact_id=due.contact_id, occurrence=again[0].occurrence,
                               rule_id=due.rule_id, at=now)])
    return True


# ---- schedules ----------------------------------------------------------------------------------

def latest_due(cron: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest minute at or before ``now`` that ``cron`` names, on the company's clock."""
    local = now.astimezone(zone).replace(second=0, microsecond=0)
    return next(CronSim(cron, local + timedelta(seconds=1), reverse=True))


async def due_schedules(session: AsyncSession, *, now: datetime | None = None,
                        tenant_id: uuid.UUID | None = None
                        ) -> list[tuple[uuid.UUID, uuid.UUID, datetime]]:
    """(company, rule, due minute) of enabled scheduled rules whose cron came due within
    ``SCHEDULE_CATCH_UP`` (and since the rule was last changed) and has not run yet. System
    scope: the scan's list."""
    now = now or _now()
    query = select(AutomationRule.tenant_id, AutomationRule.id, AutomationRule.event_options,
                   AutomationRule.updated_at, Tenant.timezone).join(
        Tenant, Tenant.id == AutomationRule.tenant_id).where(
        AutomationRule.enabled, AutomationRule.event == SCHEDULED)
    if tenant_id is not None:
        query = query.where(AutomationRule.tenant_id == tenant_id)
    due = []
    for tenant, rule_id, options, updated_at, zone in (await session.execute(query)).all():
        try:
            moment = latest_due(str(options.get("cron", "")), ZoneInfo(zone), now)
        except (CronSimError, StopIteration, ValueError):
            continue
        if moment > max(now - SCHEDULE_CATCH_UP, updated_at):
            due.append((tenant, rule_id, moment))
    if not due:
        return []
    ran = set((await session.execute(select(AutomationRun.rule_id, AutomationRun.occurrence)
                                     .where(AutomationRun.rule_id.in_([d[1] for d in due]),
                                            AutomationRun.conversation_id.is_(None),
                                            AutomationRun.event == SCHEDULED))).all())
    return [d for d in due if (d[1], schedule_occurrence(d[2])) not in ran]


def schedule_occurrence(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


async def run_schedule(session: AsyncSession, tenant_id: uuid.UUID, rule_id: uuid.UUID,
                       due: datetime, *, now: datetime | None = None) -> int:
    """Run a scheduled rule's due minute: its conditions against each of the company's
    conversations that are not closed (at most ``SCHEDULE_LIMIT``, most recently active
    first), its actions where they hold. The minute's own log row (no conversation) says how
    many were looked at and makes a second scan of the same minute do nothing. Returns how
    many conversations it fired for."""
    now = now or _now()
    rule = await session.scalar(select(AutomationRule).where(
        AutomationRule.tenant_id == tenant_id, AutomationRule.id == rule_id,
        AutomationRule.enabled, AutomationRule.event == SCHEDULED))
    if rule is None:
        return 0
    occurrence = schedule_occurrence(due)
    marker = await session.scalar(pg_insert(AutomationRun).values(
        id=new_id(), tenant_id=tenant_id, rule_id=rule_id, event=SCHEDULED,
        conversation_id=None, occurrence=occurrence, status="done", results=[], error=""
    ).on_conflict_do_nothing(
        index_elements=["tenant_id", "rule_id", "conversation_id", "occurrence"],
        index_where=AutomationRun.occurrence.is_not(None)).returning(AutomationRun.id))
    if marker is None:
        return 0
    targets = (await session.execute(select(Conversation.id, Conversation.contact_id).where(
        Conversation.tenant_id == tenant_id, Conversation.status != "closed").order_by(
        Conversation.last_message_at.desc(), Conversation.id.desc()).limit(SCHEDULE_LIMIT)
    )).all()
    await emit(session, [Event(SCHEDULED, tenant_id, conversation_id=conversation_id,
                               contact_id=contact_id, occurrence=occurrence, rule_id=rule_id,
                               at=now, data={"due": due.isoformat()})
                         for conversation_id, contact_id in targets])
    fired = await session.scalar(select(func.count()).where(
        AutomationRun.tenant_id == tenant_id, AutomationRun.rule_id == rule_id,
        AutomationRun.occurrence == occurrence, AutomationRun.conversation_id.is_not(None)))
    await session.execute(update(AutomationRun).where(
        AutomationRun.tenant_id == tenant_id, AutomationRun.id == marker).values(results=[{
            "type": "schedule", "status": "done",
            "detail": f"{len(targets)} conversations checked, {fired} fired"}]))
    return fired or 0


# ---- webhooks -----------------------------------------------------------------------------------

async def record_webhook_result(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID,
                                index: int, *, status: str, detail: str) -> None:
    """What the webhook job got: the run's entry for that action says so; a webhook that
    finally failed fails the run."""
    run = await session.scalar(select(AutomationRun).where(
        AutomationRun.tenant_id == tenant_id, AutomationRun.id == run_id).with_for_update())
    if run is None:
        return  # the rule (and its log) was deleted meanwhile
    results = list(run.results or [])
    if 0 <= index < len(results):
        results[index] = {**results[index], "status": status, "detail": detail[:500]}
        run.results = results
    if status == "failed":
        run.status = "failed"
        run.error = detail[:1000]
    await session.flush()

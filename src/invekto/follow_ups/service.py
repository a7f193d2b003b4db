"""Follow-ups: sequences of messages after an event, and satisfaction (CSAT) surveys after a
close.

``trigger`` starts the enabled sequences an event matches (a close, a tag added, a campaign
replied to or not), one run per (sequence, conversation), in the event's own transaction; a
close also books the channel's survey. ``run_due`` (the ``follow_ups:run_due`` job, every minute,
decisions/0016) lists due runs and surveys across companies, then takes each in its company's
scope under ``FOR UPDATE SKIP LOCKED`` and checks it again: a step is sent and the run moved on in
one transaction, so a step never goes twice. Messages go through ``inbox.service.send_automatic``
(delivered by the usual ``deliver_message`` job), also into the closed conversation a close
started. The inbox's ingest calls ``stop_on_reply`` (the customer wrote on that channel: running
runs stop) and ``survey_answers``/``record_survey_answers``: a score answering a survey is
kept, and a message that is only the score stays in the surveyed conversation, which stays
closed (no new conversation, welcome or routing); a score followed by words is kept as score
and comment and goes the usual way (it may be a new question).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from invekto.audit import service as audit
from invekto.channels import service as channels
from invekto.channels.models import Channel
from invekto.contacts import service as contacts
from invekto.core import i18n
from invekto.core.actor import Actor, Permission
from invekto.core.errors import AppError, NotFound, UpstreamUnavailable, ValidationFailed
from invekto.core.i18n import N_
from invekto.core.text import clean_text
from invekto.db.base import new_id
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.follow_ups.models import (
    TRIGGERS,
    CsatResponse,
    CsatSurvey,
    FollowUpRun,
    FollowUpSequence,
    FollowUpStep,
)
from invekto.follow_ups.schemas import CsatSurveyIn, SequenceIn
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation
from invekto.inbox.schemas import (
    Choice,
    Choices,
    ChoiceSection,
    InboundMessage,
    MessageSend,
    TemplateSend,
)
from invekto.replies import service as replies
from invekto.tenants.models import Tenant

log = structlog.get_logger(__name__)

CAMPAIGN_TRIGGERS = ("campaign_replied", "campaign_not_replied")
# How long after the question a score still counts as its answer.
ANSWER_WITHIN = timedelta(hours=72)
SCORE_LABELS = {1: N_("Very dissatisfied"), 2: N_("Dissatisfied"), 3: N_("Neither"),
                4: N_("Satisfied"), 5: N_("Very satisfied")}
# A list row's or button's id: what the customer's tap carries back.
SCORE_ID = re.compile(r"csat:([1-5])")
# A message that starts with a score ("4", "5!", "3 - kargo geç geldi"); "10" or "4.5" is not one.
SCORE_TEXT = re.compile(r"\s*([1-5])(?![0-9]|[.,][0-9])[\s.,;:!)/-]*(.*)", re.DOTALL)


def _now() -> datetime:
    return datetime.now(UTC)


# ---- sequences: settings ---------------------------------------------------------------------

async def list_sequences(session: AsyncSession, actor: Actor) -> list[FollowUpSequence]:
    return list((await session.scalars(select(FollowUpSequence).where(
        FollowUpSequence.tenant_id == actor.tenant_id).order_by(FollowUpSequence.name))).all())


async def get_sequence(session: AsyncSession, actor: Actor, sequence_id: uuid.UUID
                       ) -> FollowUpSequence:
    return await get_in_tenant(session, FollowUpSequence, actor.tenant_id, sequence_id,
                               what=N_("follow-up sequence"))


async def save_sequence(session: AsyncSession, actor: Actor, data: SequenceIn,
                        sequence_id: uuid.UUID | None = None) -> FollowUpSequence:
    """Create a sequence, or change one (``sequence_id``; its steps are replaced, runs go on
    from the step they are at). Supervisors'."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    channel = await _checked_channel(session, actor, data.channel_id)
    await _check_sequence(session, actor, data, channel)
    sequence = (await get_sequence(session, actor, sequence_id) if sequence_id else None)
    if sequence is None:
        sequence = FollowUpSequence(tenant_id=actor.tenant_id)
        session.add(sequence)
    sequence.name = " ".join(data.name.split())
    sequence.enabled = data.enabled
    sequence.trigger = data.trigger
    sequence.trigger_tag = (data.trigger_tag or "").strip() or None
    sequence.trigger_campaign_id = data.trigger_campaign_id
    sequence.channel_id = data.channel_id
    sequence.stop_tag = (data.stop_tag or "").strip() or None
    await flush_unique(session, "a follow-up sequence with this name exists", field="name")
    await session.execute(delete(FollowUpStep).where(
        FollowUpStep.tenant_id == actor.tenant_id, FollowUpStep.sequence_id == sequence.id))
    await session.execute(insert(FollowUpStep), [
        {"id": new_id(), "tenant_id": actor.tenant_id, "sequence_id": sequence.id,
         "position": position, "delay_minutes": step.delay_minutes,
         "body": clean_text(step.body), "template_name": step.template_name or None,
         "template_language": step.template_language if step.template_name else None,
         "template_parameters": step.template_parameters if step.template_name else {}}
        for position, step in enumerate(data.steps)])
    if not sequence.enabled:
        await _stop_runs(session, actor.tenant_id, FollowUpRun.sequence_id == sequence.id,
                         "cancelled")
    await session.refresh(sequence)
    await audit.record(session, actor, "follow_up.saved", target_type="follow_up_sequence",
                       target_id=sequence.id, data=data.model_dump(mode="json"))
    return sequence


async def delete_sequence(session: AsyncSession, actor: Actor, sequence_id: uuid.UUID) -> None:
    """Remove a sequence with its steps and runs (what it sent stays in the threads)."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    sequence = await get_sequence(session, actor, sequence_id)
    await session.delete(sequence)
    await session.flush()
    await audit.record(session, actor, "follow_up.deleted", target_type="follow_up_sequence",
                       target_id=sequence_id)


async def _checked_channel(session: AsyncSession, actor: Actor, channel_id: uuid.UUID | None
                           ) -> Channel | None:
    if channel_id is None:
        return None
    try:
        return await channels.get_channel(session, actor, channel_id)
    except NotFound as exc:
        raise ValidationFailed("no such channel", field="channel_id") from exc


async def _check_sequence(session: AsyncSession, actor: Actor, data: SequenceIn,
                          channel: Channel | None) -> None:
    if data.trigger == "tag_added":
        if not (data.trigger_tag or "").strip():
            raise ValidationFailed("name the tag that starts the sequence", field="trigger_tag")
        await _known_tag(session, actor, data.trigger_tag, "trigger_tag")
    if data.stop_tag and data.stop_tag.strip():
        await _known_tag(session, actor, data.stop_tag, "stop_tag")
    if data.trigger_campaign_id is not None and data.trigger not in CAMPAIGN_TRIGGERS:
        raise ValidationFailed("only a campaign trigger names a campaign",
                               field="trigger_campaign_id")
    for n, step in enumerate(data.steps):
        if step.template_name:
            if channel is None or channel.kind not in inbox.WHATSAPP_KINDS:
                raise ValidationFailed("a template step needs the sequence on a WhatsApp channel",
                                       field=f"steps.{n}.template_name")
            if not step.template_language:
                raise ValidationFailed("give the template's language",
                                       field=f"steps.{n}.template_language")
            for key, value in step.template_parameters.items():
                await replies.check_text(session, actor, value,
                                         field=f"steps.{n}.template_parameters.{key}")
        elif not clean_text(step.body):
            raise ValidationFailed("write the message of this step, or choose a template",
                                   field=f"steps.{n}.body")
        else:
            await replies.check_text(session, actor, step.body, field=f"steps.{n}.body")


async def _known_tag(session: AsyncSession, actor: Actor, name: str | None, field: str) -> None:
    try:
        await contacts.checked_tags(session, actor, [name or ""])
    except ValidationFailed as exc:
        raise ValidationFailed(exc.template, field=field, params=exc.params) from exc


# ---- sequences: starting, sending, stopping ---------------------------------------------------

async def trigger(session: AsyncSession, tenant_id: uuid.UUID, event: str,
                  conversation_id: uuid.UUID, *, tag: str | None = None,
                  campaign_id: uuid.UUID | None = None, now: datetime | None = None) -> int:
    """``event`` happened to a conversation: start each enabled sequence it matches (once per
    sequence and conversation: a second trigger starts nothing). A close
    (``conversation_closed``) also books the channel's satisfaction survey. Runs in the event's
    transaction; returns how many runs started."""
    if event not in TRIGGERS:
        raise ValueError(f"unknown follow-up trigger {event!r}")
    now = now or _now()
    conversation = await session.scalar(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id))
    if conversation is None:
        return 0
    if event == "conversation_closed":
        await _book_survey(session, conversation, now)
    matching = [FollowUpSequence.tenant_id == tenant_id, FollowUpSequence.enabled,
                FollowUpSequence.trigger == event,
                or_(FollowUpSequence.channel_id.is_(None),
                    FollowUpSequence.channel_id == conversation.channel_id)]
    if event == "tag_added":
        matching.append(FollowUpSequence.trigger_tag == tag)
    if event in CAMPAIGN_TRIGGERS:
        matching.append(or_(FollowUpSequence.trigger_campaign_id.is_(None),
                            FollowUpSequence.trigger_campaign_id == campaign_id))
    first_steps = (await session.execute(
        select(FollowUpSequence.id, FollowUpStep.delay_minutes).join(FollowUpStep, (
            FollowUpStep.tenant_id == FollowUpSequence.tenant_id)
            & (FollowUpStep.sequence_id == FollowUpSequence.id)
            & (FollowUpStep.position == 0)).where(*matching))).all()
    if not first_steps:
        return 0
    started = await session.scalars(pg_insert(FollowUpRun).values([
        {"id": new_id(), "tenant_id": tenant_id, "sequence_id": sequence_id,
         "conversation_id": conversation.id, "next_step": 0, "state": "running",
         "next_at": now + timedelta(minutes=delay), "started_at": now}
        for sequence_id, delay in first_steps]).on_conflict_do_nothing(
        index_elements=["tenant_id", "sequence_id", "conversation_id"]).returning(FollowUpRun.id))
    return len(started.all())


async def stop_on_reply(session: AsyncSession, tenant_id: uuid.UUID,
                        conversation_ids: set[uuid.UUID] | Sequence[uuid.UUID]) -> int:
    """The customers of these conversations wrote (the inbox's ingest, once a batch): their
    running sequences on that channel stop, whichever of their conversations a run is in (a
    reply to a follow-up after a close arrives in a new conversation). One statement."""
    if not conversation_ids:
        return 0
    replied = aliased(Conversation)
    customers = select(replied.contact_id, replied.channel_id).where(
        replied.tenant_id == tenant_id, replied.id.in_(list(conversation_ids)))
    stopped = await session.execute(update(FollowUpRun).where(
        FollowUpRun.tenant_id == tenant_id, FollowUpRun.state == "running",
        Conversation.tenant_id == tenant_id, Conversation.id == FollowUpRun.conversation_id,
        tuple_(Conversation.contact_id, Conversation.channel_id).in_(customers),
    ).values(state="stopped", stop_reason="replied", next_at=None, ended_at=func.now()
             ).execution_options(synchronize_session=False))
    return stopped.rowcount


async def due_runs(session: AsyncSession, *, now: datetime | None = None,
                   only: uuid.UUID | None = None, limit: int = 500
                   ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, run) of running sequences whose next step is due. System scope: the scan's
    list."""
    return [(tenant, run) for tenant, run in (await session.execute(
        select(FollowUpRun.tenant_id, FollowUpRun.id).where(
            FollowUpRun.state == "running", FollowUpRun.next_at <= (now or _now()),
            *([FollowUpRun.id == only] if only else []))
        .order_by(FollowUpRun.next_at).limit(limit))).all()]


async def advance_run(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, *,
                      now: datetime | None = None) -> bool:
    """Send a run's due step and schedule the next (or finish); or stop it: the sequence was
    switched off, the conversation carries the stop tag, the contact is blocked, or WhatsApp's
    24-hour window closed and the step is no template. False when there was nothing to do
    (another scan took it, or the customer's reply stopped it since it was listed)."""
    now = now or _now()
    run = await session.scalar(select(FollowUpRun).where(
        FollowUpRun.tenant_id == tenant_id, FollowUpRun.id == run_id,
        FollowUpRun.state == "running", FollowUpRun.next_at <= now
    ).with_for_update(skip_locked=True))
    if run is None:
        return False
    sequence = await session.get_one(FollowUpSequence, run.sequence_id)
    conversation = await session.get_one(Conversation, run.conversation_id)
    steps = sequence.steps
    if run.next_step >= len(steps):  # the sequence lost steps since the run began
        _end(run, "finished", None, now)
        return True
    step = steps[run.next_step]
    if not sequence.enabled or await contacts.is_blocked(session, tenant_id,
                                                         conversation.contact_id):
        _end(run, "stopped", "cancelled", now)
        return True
    if sequence.stop_tag and sequence.stop_tag in (conversation.tags or []):
        _end(run, "stopped", "condition", now)
        return True
    if step.template_name is None and await _window_closed(session, conversation, now):
        _end(run, "stopped", "reply_window_closed", now)
        return True
    try:
        async with session.begin_nested():
            await inbox.send_automatic(session, conversation, _step_message(step))
    except UpstreamUnavailable:
        return False  # the provider's template list is out of reach: the next minute tries again
    except AppError as exc:
        log.warning("follow_up.send_refused", run_id=str(run.id), reason=exc.template)
        _end(run, "stopped", "send_failed", now)
        return True
    run.next_step += 1
    if run.next_step < len(steps):
        run.next_at = now + timedelta(minutes=steps[run.next_step].delay_minutes)
    else:
        _end(run, "finished", None, now)
    return True


def _step_message(step: FollowUpStep) -> MessageSend:
    if step.template_name:
        return MessageSend(content_kind="template", template=TemplateSend(
            name=step.template_name, language=step.template_language or "",
            parameters=dict(step.template_parameters or {})))
    return MessageSend(body=step.body)


def _end(run: FollowUpRun, state: str, reason: str | None, now: datetime) -> None:
    run.state, run.stop_reason, run.next_at, run.ended_at = state, reason, None, now


async def _stop_runs(session: AsyncSession, tenant_id: uuid.UUID, condition, reason: str) -> None:
    await session.execute(update(FollowUpRun).where(
        FollowUpRun.tenant_id == tenant_id, FollowUpRun.state == "running", condition).values(
        state="stopped", stop_reason=reason, next_at=None, ended_at=func.now()
    ).execution_options(synchronize_session=False))


async def _window_closed(session: AsyncSession, conversation: Conversation, now: datetime
                         ) -> bool:
    """Whether only a template may reach the customer now (Meta's 24-hour window)."""
    closes_at = await inbox.reply_window_closes_at(session, conversation)
    return closes_at is not None and closes_at <= now


# ---- CSAT surveys: settings ------------------------------------------------------------------

async def get_survey(session: AsyncSession, actor: Actor, channel_id: uuid.UUID
                     ) -> CsatSurvey | None:
    await channels.get_channel(session, actor, channel_id)  # another company's: not found
    return await session.scalar(select(CsatSurvey).where(
        CsatSurvey.tenant_id == actor.tenant_id, CsatSurvey.channel_id == channel_id))


async def set_survey(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                     data: CsatSurveyIn) -> CsatSurvey:
    """A channel's survey after each close, as a supervisor sets it."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    for name in ("thank_you_text", "question_text"):
        await replies.check_text(session, actor, getattr(data, name), field=name)
    if data.enabled and not data.question_text.strip():
        raise ValidationFailed("write the question customers are asked", field="question_text")
    survey = await get_survey(session, actor, channel_id)
    if survey is None:
        survey = CsatSurvey(tenant_id=actor.tenant_id, channel_id=channel_id)
        session.add(survey)
    survey.enabled = data.enabled
    survey.thank_you_text = data.thank_you_text.strip()
    survey.question_text = data.question_text.strip()
    survey.delay_minutes = data.delay_minutes
    await session.flush()
    await audit.record(session, actor, "channel.csat_changed", target_type="channel",
                       target_id=channel_id, data=data.model_dump(mode="json"))
    return survey


@dataclass(frozen=True)
class CsatReport:
    items: list[CsatResponse]
    asked: int
    answered: int
    average_score: float | None


async def csat_report(session: AsyncSession, actor: Actor, *, since: datetime, until: datetime,
                      limit: int = 1000) -> CsatReport:
    """The surveys asked in ``[since, until)``, newest first (at most ``limit``), with the
    counts and average score of the whole period. Supervisors'."""
    actor.require(Permission.SEE_REPORTS)
    if until <= since:
        raise ValidationFailed("the period must end after it starts", field="until")
    in_period = [CsatResponse.tenant_id == actor.tenant_id, CsatResponse.asked_at >= since,
                 CsatResponse.asked_at < until]
    asked, answered, average = (await session.execute(select(
        func.count(), func.count(CsatResponse.score), func.avg(CsatResponse.score)
    ).where(*in_period))).one()
    items = list((await session.scalars(select(CsatResponse).where(*in_period).order_by(
        CsatResponse.asked_at.desc(), CsatResponse.id.desc()).limit(limit))).all())
    return CsatReport(items, asked, answered,
                      round(float(average), 2) if average is not None else None)


# ---- CSAT surveys: asking and answers ---------------------------------------------------------

async def _book_survey(session: AsyncSession, conversation: Conversation, now: datetime) -> None:
    """A close: the channel's survey, if on, is due after its delay (once per close)."""
    survey = await session.scalar(select(CsatSurvey).where(
        CsatSurvey.tenant_id == conversation.tenant_id,
        CsatSurvey.channel_id == conversation.channel_id, CsatSurvey.enabled))
    if survey is None or not survey.question_text:
        return
    await session.execute(pg_insert(CsatResponse).values(
        id=new_id(), tenant_id=conversation.tenant_id, conversation_id=conversation.id,
        contact_id=conversation.contact_id, channel_id=conversation.channel_id,
        agent_id=conversation.assignee_id, closed_at=conversation.closed_at or now,
        due_at=now + timedelta(minutes=survey.delay_minutes),
    ).on_conflict_do_nothing(index_elements=["tenant_id", "conversation_id", "closed_at"]))


async def due_surveys(session: AsyncSession, *, now: datetime | None = None,
                      only: uuid.UUID | None = None, limit: int = 500
                      ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, response) of surveys due to be asked. System scope: the scan's list."""
    return [(tenant, response) for tenant, response in (await session.execute(
        select(CsatResponse.tenant_id, CsatResponse.id).where(
            CsatResponse.asked_at.is_(None), CsatResponse.due_at <= (now or _now()),
            *([CsatResponse.id == only] if only else []))
        .order_by(CsatResponse.due_at).limit(limit))).all()]


async def ask_survey(session: AsyncSession, tenant_id: uuid.UUID, response_id: uuid.UUID, *,
                     now: datetime | None = None) -> bool:
    """Send a due survey: the thank-you text, then the question with the five scores as
    buttons where the channel has them, else asking for a number. A survey whose conversation
    was reopened since, whose channel's survey was switched off, or that can no longer reach
    the customer (blocked, WhatsApp's window closed) is dropped unasked."""
    now = now or _now()
    response = await session.scalar(select(CsatResponse).where(
        CsatResponse.tenant_id == tenant_id, CsatResponse.id == response_id,
        CsatResponse.asked_at.is_(None), CsatResponse.due_at <= now
    ).with_for_update(skip_locked=True))
    if response is None:
        return False
    conversation = await session.get_one(Conversation, response.conversation_id)
    survey = await session.scalar(select(CsatSurvey).where(
        CsatSurvey.tenant_id == tenant_id, CsatSurvey.channel_id == response.channel_id))
    if (conversation.status != "closed" or conversation.closed_at != response.closed_at
            or survey is None or not survey.enabled or not survey.question_text
            or await contacts.is_blocked(session, tenant_id, conversation.contact_id)
            or await _window_closed(session, conversation, now)):
        await session.delete(response)
        return False
    channel = await session.get_one(Channel, conversation.channel_id)
    language = (await session.get_one(Tenant, tenant_id)).default_language
    try:
        async with session.begin_nested():
            if survey.thank_you_text:
                await inbox.send_automatic(session, conversation,
                                           MessageSend(body=survey.thank_you_text))
            await inbox.send_automatic(session, conversation, survey_question(
                survey.question_text, channel.kind, language))
    except AppError as exc:
        log.warning("csat.ask_refused", response_id=str(response.id), reason=exc.template)
        await session.delete(response)
        return False
    response.asked_at = now
    return True


def survey_question(question: str, kind: str, language: str) -> MessageSend:
    """The survey's question: where the channel draws choices (``inbox.CHOICE_KINDS``), the
    five scores as a list (WhatsApp's reply buttons stop at three; Telegram shows each row as
    a button); elsewhere, asking for a number."""
    if kind in inbox.CHOICE_KINDS:
        return MessageSend(body=question, content_kind="interactive", choices=Choices(
            type="list", button=i18n.text(language, "Rate us"), sections=[ChoiceSection(rows=[
                Choice(id=f"csat:{score}", title=f"{score} " + "⭐" * score,
                       description=i18n.text(language, label))
                for score, label in SCORE_LABELS.items()])]))
    return MessageSend(body=question + "\n" + i18n.text(language,
                                                         "Reply with a number from 1 to 5."))


@dataclass(frozen=True)
class SurveyAnswer:
    """A customer's message that answers a survey: its score, and what they wrote after it."""

    response_id: uuid.UUID
    conversation_id: uuid.UUID  # the surveyed (closed) conversation
    score: int
    comment: str

    @property
    def score_only(self) -> bool:
        """Nothing but the score: the message stays in the surveyed conversation."""
        return not self.comment


def score_of(inbound: InboundMessage) -> tuple[int, str] | None:
    """(score, the words after it) when the message could answer a survey: a tapped score
    (its list row or button id) or a text that starts with a number from 1 to 5."""
    if inbound.content_kind == "interactive":
        tapped = SCORE_ID.fullmatch(str((inbound.payload or {}).get("id") or ""))
        return (int(tapped[1]), "") if tapped else None
    if inbound.content_kind == "text" and (written := SCORE_TEXT.fullmatch(inbound.body or "")):
        return int(written[1]), clean_text(written[2])
    return None


async def survey_answers(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                         inbounds: Sequence[InboundMessage], contact_of: Mapping[str, uuid.UUID],
                         at: Mapping[str, datetime]) -> dict[str, SurveyAnswer]:
    """Which of a batch's messages (by provider id; ``contact_of`` and ``at`` by provider id
    too) answer a survey asked on the channel within ``ANSWER_WITHIN``: the customer's latest
    unanswered one. No query unless some message looks like a score."""
    scored = {i.provider_message_id: found for i in inbounds if (found := score_of(i))}
    if not scored:
        return {}
    waiting: dict[uuid.UUID, CsatResponse] = {}
    for response in (await session.scalars(select(CsatResponse).where(
            CsatResponse.tenant_id == tenant_id, CsatResponse.channel_id == channel_id,
            CsatResponse.contact_id.in_({contact_of[pid] for pid in scored}),
            CsatResponse.asked_at.is_not(None), CsatResponse.answered_at.is_(None),
            CsatResponse.asked_at >= min(at[pid] for pid in scored) - ANSWER_WITHIN,
    ).order_by(CsatResponse.asked_at.desc()))).all():
        waiting.setdefault(response.contact_id, response)
    answers = {}
    for pid, (score, comment) in scored.items():
        response = waiting.get(contact_of[pid])
        if response is not None and at[pid] <= response.asked_at + ANSWER_WITHIN:
            answers[pid] = SurveyAnswer(response.id, response.conversation_id, score, comment)
    return answers


async def record_survey_answers(session: AsyncSession, tenant_id: uuid.UUID,
                                answers: Sequence[tuple[SurveyAnswer, uuid.UUID, datetime]]
                                ) -> None:
    """Keep the answers the ingest stored ((answer, message id, when)); the first answer to a
    survey counts."""
    for answer, message_id, answered_at in answers:
        await session.execute(update(CsatResponse).where(
            CsatResponse.tenant_id == tenant_id, CsatResponse.id == answer.response_id,
            CsatResponse.answered_at.is_(None)).values(
            score=answer.score, comment=answer.comment, answered_at=answered_at,
            answer_message_id=message_id))


async def start_sequence(session: AsyncSession, tenant_id: uuid.UUID, sequence_id: uuid.UUID,
                         conversation_id: uuid.UUID, *, now: datetime | None = None) -> bool:
    """Start one sequence for a conversation whatever its trigger (an automation rule's
    action), if it is enabled and for the conversation's channel; once per (sequence,
    conversation), as ``trigger``. Returns whether it started."""
    now = now or _now()
    channel_id = select(Conversation.channel_id).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id
    ).scalar_subquery()
    first = (await session.execute(select(FollowUpSequence.id, FollowUpStep.delay_minutes).join(
        FollowUpStep, (FollowUpStep.tenant_id == FollowUpSequence.tenant_id)
        & (FollowUpStep.sequence_id == FollowUpSequence.id) & (FollowUpStep.position == 0)
    ).where(FollowUpSequence.tenant_id == tenant_id, FollowUpSequence.id == sequence_id,
            FollowUpSequence.enabled, or_(FollowUpSequence.channel_id.is_(None),
                                          FollowUpSequence.channel_id == channel_id)))).first()
    if first is None:
        return False
    started = await session.scalar(pg_insert(FollowUpRun).values(
        id=new_id(), tenant_id=tenant_id, sequence_id=sequence_id,
        conversation_id=conversation_id, next_step=0, state="running",
        next_at=now + timedelta(minutes=first.delay_minutes), started_at=now,
    ).on_conflict_do_nothing(index_elements=["tenant_id", "sequence_id", "conversation_id"]
                             ).returning(FollowUpRun.id))
    return started is not None

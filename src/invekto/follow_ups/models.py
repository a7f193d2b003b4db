"""Follow-up sequences (messages sent some time after an event until the customer answers) and
satisfaction (CSAT) surveys after a close, with their answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, SmallInteger, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from invekto.db.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    one_of,
    tenant_fk,
    tenant_unique_id,
)

# What starts a sequence for a conversation (``service.trigger``).
TRIGGERS = ("conversation_closed", "tag_added", "campaign_replied", "campaign_not_replied")
RUN_STATES = ("running", "finished", "stopped")
# Why a run stopped before its last step.
STOP_REASONS = ("replied", "condition", "cancelled", "reply_window_closed", "send_failed")


class FollowUpSequence(IdMixin, TenantMixin, TimestampMixin, Base):
    """Messages to send a conversation's customer after ``trigger``, one step after another,
    until the customer writes (always) or the conversation carries ``stop_tag``."""

    __tablename__ = "follow_up_sequences"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        tenant_unique_id("follow_up_sequences"),
        tenant_fk("channel_id", "channels"),
        CheckConstraint(one_of("trigger", TRIGGERS), name="trigger_valid"),
        CheckConstraint("trigger <> 'tag_added' OR trigger_tag IS NOT NULL",
                        name="tag_trigger_has_tag"),
    )

    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(server_default="true")
    trigger: Mapped[str] = mapped_column(String(30))
    trigger_tag: Mapped[str | None] = mapped_column(String(50))  # with tag_added
    # With campaign_replied / campaign_not_replied: only that campaign's (None: any). Not a
    # foreign key: campaigns are another domain's table, and a deleted campaign just never
    # triggers again.
    trigger_campaign_id: Mapped[uuid.UUID | None]
    channel_id: Mapped[uuid.UUID | None]  # only conversations on this channel (None: all)
    stop_tag: Mapped[str | None] = mapped_column(String(50))
    # Read with the sequence; written by ``service.save_sequence``, which replaces them all.
    steps: Mapped[list[FollowUpStep]] = relationship(
        primaryjoin=lambda: FollowUpSequence.id == foreign(FollowUpStep.sequence_id),
        order_by=lambda: FollowUpStep.position, viewonly=True, lazy="selectin")


class FollowUpStep(IdMixin, TenantMixin, Base):
    """One message of a sequence, ``delay_minutes`` after the previous step (the first: after
    the trigger). A text (variables checked when saved), or an approved WhatsApp template,
    the only kind that may go outside WhatsApp's 24-hour window."""

    __tablename__ = "follow_up_steps"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sequence_id", "position"),
        tenant_fk("sequence_id", "follow_up_sequences"),
        CheckConstraint("delay_minutes >= 0", name="delay_not_negative"),
        CheckConstraint("body <> '' OR template_name IS NOT NULL", name="has_content"),
    )

    sequence_id: Mapped[uuid.UUID]
    position: Mapped[int]  # 0, 1, 2... in sending order
    delay_minutes: Mapped[int]
    body: Mapped[str] = mapped_column(server_default="")
    template_name: Mapped[str | None] = mapped_column(String(512))
    template_language: Mapped[str | None] = mapped_column(String(15))
    template_parameters: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class FollowUpRun(IdMixin, TenantMixin, Base):
    """A sequence going on in one conversation: once per (sequence, conversation), so a trigger
    that fires twice starts it once. ``next_step`` (a position) is due at ``next_at``; the
    minute scan sends it and moves both forward in one transaction, so no step goes twice."""

    __tablename__ = "follow_up_runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sequence_id", "conversation_id"),
        tenant_fk("sequence_id", "follow_up_sequences"),
        tenant_fk("conversation_id", "conversations"),
        CheckConstraint(one_of("state", RUN_STATES), name="state_valid"),
        CheckConstraint("stop_reason IS NULL OR " + one_of("stop_reason", STOP_REASONS),
                        name="stop_reason_valid"),
        Index("ix_follow_up_runs_due", "next_at", postgresql_where=text("state = 'running'")),
        Index("ix_follow_up_runs_conversation", "tenant_id", "conversation_id"),
    )

    sequence_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID]
    next_step: Mapped[int] = mapped_column(server_default="0")
    next_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(20), server_default="running")
    stop_reason: Mapped[str | None] = mapped_column(String(30))
    started_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    ended_at: Mapped[datetime | None]


class CsatSurvey(IdMixin, TenantMixin, TimestampMixin, Base):
    """A channel's satisfaction survey: ``delay_minutes`` after a conversation closes, the
    thank-you text and the question, answered with a score from 1 to 5. Its own table rather
    than columns of ``channel_operations``: routing's steps and the survey change apart."""

    __tablename__ = "csat_surveys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel_id"),
        tenant_fk("channel_id", "channels"),
        CheckConstraint("delay_minutes >= 0", name="delay_not_negative"),
    )

    channel_id: Mapped[uuid.UUID]
    enabled: Mapped[bool] = mapped_column(server_default="false")
    thank_you_text: Mapped[str] = mapped_column(server_default="")
    question_text: Mapped[str] = mapped_column(server_default="")
    delay_minutes: Mapped[int] = mapped_column(server_default="0")


class CsatResponse(IdMixin, TenantMixin, Base):
    """One close's survey: due at ``due_at``, asked at ``asked_at``, answered (``score``, and
    what the customer wrote after it) at ``answered_at``. Unique per conversation and close,
    so a conversation closed, reopened and closed again is asked again."""

    __tablename__ = "csat_responses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "conversation_id", "closed_at"),
        tenant_fk("conversation_id", "conversations"),
        tenant_fk("contact_id", "contacts"),
        tenant_fk("channel_id", "channels"),
        tenant_fk("agent_id", "users", ondelete="SET NULL"),
        CheckConstraint("score IS NULL OR score BETWEEN 1 AND 5", name="score_range"),
        Index("ix_csat_responses_due", "due_at", postgresql_where=text("asked_at IS NULL")),
        Index("ix_csat_responses_waiting", "tenant_id", "channel_id", "contact_id",
              postgresql_where=text("asked_at IS NOT NULL AND answered_at IS NULL")),
        Index("ix_csat_responses_answered", "tenant_id", "answered_at"),
    )

    conversation_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID | None]  # assigned when the conversation closed
    closed_at: Mapped[datetime]
    due_at: Mapped[datetime]
    asked_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    score: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(server_default="")
    answer_message_id: Mapped[uuid.UUID | None]

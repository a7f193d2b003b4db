"""Chatbot flows: the draft a company edits, the versions it published, and each
conversation's place in the version it started on."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    one_of,
    tenant_fk,
    tenant_unique_id,
)

SESSION_STATES = ("running", "waiting", "sleeping", "ended")
# Why a session ended.
END_REASONS = ("completed", "handed_off", "escaped", "taken_over", "timed_out", "failed",
               "replaced", "conversation_closed")
# The endings that gave the customer to people (the reports' bot hand-offs; a keyword does not
# bring the bot back after one).
TO_PEOPLE = ("handed_off", "escaped", "taken_over", "timed_out", "failed")


class Flow(IdMixin, TenantMixin, TimestampMixin, Base):
    """A chatbot flow: its editable draft (graph and triggers) and the version conversations
    start on now (``published_version_id``; None: never published or switched off)."""

    __tablename__ = "flows"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), tenant_unique_id("flows"))

    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(server_default="true")
    # The graph being edited (see docs/flows.md for its shape) and its start triggers.
    draft: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    draft_triggers: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    published_version_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]


class FlowVersion(IdMixin, TenantMixin, Base):
    """A published, never changed copy of a flow's draft: a conversation runs on the version
    it started on until it ends, whatever is published meanwhile."""

    __tablename__ = "flow_versions"
    __table_args__ = (
        tenant_unique_id("flow_versions"),
        tenant_fk("flow_id", "flows"),
        UniqueConstraint("tenant_id", "flow_id", "number"),
    )

    flow_id: Mapped[uuid.UUID]
    number: Mapped[int]
    graph: Mapped[dict] = mapped_column(JSONB)
    triggers: Mapped[dict] = mapped_column(JSONB)
    published_by: Mapped[uuid.UUID | None]
    published_at: Mapped[datetime] = mapped_column(server_default=func.now())


class FlowSession(IdMixin, TenantMixin, Base):
    """A conversation's run through one flow version. While a session is not ended the bot
    holds the conversation (``conversations.held_by_bot``): routing waits; an agent may take
    over at any time. At most one unended session per conversation."""

    __tablename__ = "flow_sessions"
    __table_args__ = (
        tenant_fk("flow_version_id", "flow_versions"),
        tenant_fk("conversation_id", "conversations"),
        CheckConstraint(one_of("state", SESSION_STATES), name="state_valid"),
        Index("uq_flow_sessions_active", "tenant_id", "conversation_id", unique=True,
              postgresql_where=text("state <> 'ended'")),
        # The timer scan: waiting steps that time out, delays that end.
        Index("ix_flow_sessions_conversation", "tenant_id", "conversation_id"),
        Index("ix_flow_sessions_due", "due_at", postgresql_where=text("state <> 'ended'")),
    )

    flow_id: Mapped[uuid.UUID]
    flow_version_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID]
    # running: between steps (an external step is being run by a job); waiting: for the
    # customer's answer to ``node_id``; sleeping: a delay; ended: see ``end_reason``.
    state: Mapped[str] = mapped_column(String(10), server_default="running")
    node_id: Mapped[str | None] = mapped_column(String(50))
    # Bumped at every step: a timer or job that finds another number has been overtaken.
    step: Mapped[int] = mapped_column(server_default="0")
    # When the waiting step times out, or the delay ends.
    due_at: Mapped[datetime | None]
    # What the flow captured and looked up ({"name": "Ayşe", "order": {...}}).
    variables: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # Invalid answers to the current question (re-asked up to a limit).
    retries: Mapped[int] = mapped_column(server_default="0")
    # The steps taken, newest last (capped): [{"node", "type", "at", "detail"}].
    trail: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    started_by: Mapped[str] = mapped_column(String(20))  # first_message, keyword, rule, ref...
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))

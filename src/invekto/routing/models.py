from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint, Uuid, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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

ALGORITHMS = ("random", "round_robin", "least_today", "longest_waiting")
# What happens to a new conversation nobody can take: it waits in the group's queue (and the
# group hears of it), or the customer also gets the channel's away message.
WHEN_NOBODY = ("queue", "away_message")


class ChannelRouting(IdMixin, TenantMixin, TimestampMixin, Base):
    """How a channel's new conversations find an agent. A channel without a row is not routed:
    its conversations wait in the shared queue, as before routing existed."""

    __tablename__ = "channel_routing"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel_id"),
        tenant_fk("channel_id", "channels"),
        CheckConstraint(one_of("algorithm", ALGORITHMS), name="algorithm_valid"),
        CheckConstraint(one_of("when_nobody", WHEN_NOBODY), name="when_nobody_valid"),
    )

    channel_id: Mapped[uuid.UUID]
    # The groups whose members take the channel's conversations; the first is the queue a
    # conversation waits in when nobody can take it.
    group_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default="{}")
    algorithm: Mapped[str] = mapped_column(String(20), server_default="round_robin")
    # A returning customer goes back to the agent who last handled them, when available.
    sticky: Mapped[bool] = mapped_column(server_default="true")
    when_nobody: Mapped[str] = mapped_column(String(20), server_default="queue")
    away_message: Mapped[str] = mapped_column(server_default="")
    # Round robin's place in the rotation: who got the channel's last conversation. The row is
    # locked while a conversation is routed, so workers take turns and the rotation stays fair.
    last_assigned_user_id: Mapped[uuid.UUID | None] = mapped_column(
        server_default=text("NULL"))


class ChannelOperations(IdMixin, TenantMixin, TimestampMixin, Base):
    """A channel's automatic steps around its conversations: welcome messages, reassigning
    a customer an agent left waiting, closing conversations that went quiet. A channel without
    a row does none of them."""

    __tablename__ = "channel_operations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel_id"),
        tenant_fk("channel_id", "channels"),
        CheckConstraint("idle_minutes IS NULL OR idle_minutes > 0", name="idle_minutes_positive"),
        CheckConstraint("auto_close_hours IS NULL OR auto_close_hours > 0",
                        name="auto_close_hours_positive"),
        CheckConstraint("auto_close_pending_hours IS NULL OR auto_close_pending_hours > 0",
                        name="auto_close_pending_hours_positive"),
    )

    channel_id: Mapped[uuid.UUID]
    # Sent when a customer's message opens a conversation: to a first-time customer, and to one
    # who has written before.
    welcome_new: Mapped[str] = mapped_column(server_default="")
    welcome_returning: Mapped[str] = mapped_column(server_default="")
    # An assigned agent who leaves a customer's message unanswered this long loses the
    # conversation to a colleague (by the channel's routing).
    idle_minutes: Mapped[int | None]
    # Open conversations whose customer has not written for this long close themselves; pending
    # ones ("waiting for the customer") after their own time. With ``closing_message``, if set.
    auto_close_hours: Mapped[int | None]
    auto_close_pending_hours: Mapped[int | None]
    closing_message: Mapped[str] = mapped_column(server_default="")


class BusinessHours(IdMixin, TenantMixin, TimestampMixin, Base):
    """When the company answers: its weekly schedule (``routing.hours``) in its time zone, for
    every channel, or one channel's own (``channel_id``). Outside them a new conversation gets
    ``away_message`` instead of the welcome, and goes to ``after_hours_group_id`` if set."""

    __tablename__ = "business_hours"
    __table_args__ = (
        tenant_fk("channel_id", "channels"),
        tenant_fk("after_hours_group_id", "agent_groups", ondelete="SET NULL"),
        Index("uq_business_hours_company", "tenant_id", unique=True,
              postgresql_where=text("channel_id IS NULL")),
        Index("uq_business_hours_channel", "tenant_id", "channel_id", unique=True,
              postgresql_where=text("channel_id IS NOT NULL")),
    )

    channel_id: Mapped[uuid.UUID | None]
    schedule: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    away_message: Mapped[str] = mapped_column(server_default="")
    after_hours_group_id: Mapped[uuid.UUID | None]


class Holiday(IdMixin, TenantMixin, Base):
    """A day the company is closed, all day, in its time zone."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("tenant_id", "day"),)

    day: Mapped[date]
    name: Mapped[str] = mapped_column(String(100))


class AgentShift(IdMixin, TenantMixin, TimestampMixin, Base):
    """An agent's weekly shift plan (the ``routing.hours`` schedule format), in the company's
    time zone. Routing gives new conversations only to agents on shift; an agent without a
    plan is always on shift."""

    __tablename__ = "agent_shifts"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"), tenant_fk("user_id", "users"))

    user_id: Mapped[uuid.UUID]
    schedule: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class ShiftException(IdMixin, TenantMixin, Base):
    """One day an agent works other hours than their plan (``windows``), or none (a day off)."""

    __tablename__ = "shift_exceptions"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "day"),
                      tenant_fk("user_id", "users"))

    user_id: Mapped[uuid.UUID]
    day: Mapped[date]
    windows: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    note: Mapped[str] = mapped_column(String(200), server_default="")


ESCALATIONS = ("notify", "reassign", "tag", "priority")
SLA_TARGETS = ("first_response", "resolution")


class SlaPolicy(IdMixin, TenantMixin, TimestampMixin, Base):
    """Service targets: a first answer within ``first_response_minutes`` and the conversation
    closed within ``resolution_minutes`` (counting only business hours, if so). A policy is for
    conversations with ``tag``, or of ``channel_id``, or (neither) the company's default; the
    most specific applies. A breach notifies the supervisors and ``escalation`` acts."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        tenant_unique_id("sla_policies"),
        UniqueConstraint("tenant_id", "name"),
        tenant_fk("channel_id", "channels"),
        CheckConstraint(one_of("escalation", ESCALATIONS), name="escalation_valid"),
    )

    name: Mapped[str] = mapped_column(String(100))
    channel_id: Mapped[uuid.UUID | None]
    tag: Mapped[str | None] = mapped_column(String(50))
    first_response_minutes: Mapped[int | None]
    resolution_minutes: Mapped[int | None]
    business_hours: Mapped[bool] = mapped_column(server_default="true")
    escalation: Mapped[str] = mapped_column(String(20), server_default="notify")
    escalation_tag: Mapped[str] = mapped_column(String(50), server_default="")


class SlaBreach(IdMixin, TenantMixin, Base):
    """A target a conversation missed: kept for the reports, once per target."""

    __tablename__ = "sla_breaches"
    __table_args__ = (
        UniqueConstraint("tenant_id", "conversation_id", "target"),
        tenant_fk("conversation_id", "conversations"),
        tenant_fk("policy_id", "sla_policies", ondelete="SET NULL"),
        CheckConstraint(one_of("target", SLA_TARGETS), name="target_valid"),
    )

    conversation_id: Mapped[uuid.UUID]
    policy_id: Mapped[uuid.UUID | None]
    target: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime]
    breached_at: Mapped[datetime] = mapped_column(server_default=func.now())

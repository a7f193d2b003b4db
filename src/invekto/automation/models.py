"""Trigger rules (an event, conditions, actions) and the log of what each one did."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, func, text
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

RUN_STATUSES = ("done", "failed", "skipped")


class AutomationRule(IdMixin, TenantMixin, TimestampMixin, Base):
    """When ``event`` happens and ``conditions`` hold, run ``actions`` in order. Rules of one
    event run by ``position`` (then id); ``stop_after`` keeps later rules of that event from
    running once this one fired."""

    __tablename__ = "automation_rules"
    __table_args__ = (
        tenant_unique_id("automation_rules"),
        Index("ix_automation_rules_event", "tenant_id", "event", "position",
              postgresql_where=text("enabled")),
    )

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), server_default="")
    enabled: Mapped[bool] = mapped_column(server_default="true")
    position: Mapped[int] = mapped_column(server_default="0")
    # An event kind of ``automation.events`` (extensible: later modules register theirs).
    event: Mapped[str] = mapped_column(String(40))
    # The event's own settings: {"minutes": 30} for the no-reply timers, {"cron": "0 9 * * 1"}
    # for scheduled rules, {"tag": "vip"} to narrow tag events...
    event_options: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # {"all": [...]} / {"any": [...]} of leaves {"field", "op", "value"}, nested; {} = always.
    conditions: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # [{"type": "add_tags", "tags": [...]}, ...], run in order.
    actions: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    stop_after: Mapped[bool] = mapped_column(server_default="false")
    created_by: Mapped[uuid.UUID | None]


class AutomationRun(IdMixin, TenantMixin, Base):
    """One firing of a rule (or one refused by loop protection): on what, when, and what each
    action did. ``occurrence`` makes timer and scheduled firings happen once: the same rule,
    conversation and occurrence cannot be recorded twice."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        tenant_fk("rule_id", "automation_rules"),
        CheckConstraint(one_of("status", RUN_STATUSES), name="status_valid"),
        Index("ix_automation_runs_rule_recent", "tenant_id", "rule_id", text("created_at DESC")),
        Index("uq_automation_runs_occurrence", "tenant_id", "rule_id", "conversation_id",
              "occurrence", unique=True, postgresql_where=text("occurrence IS NOT NULL"),
              postgresql_nulls_not_distinct=True),
    )

    rule_id: Mapped[uuid.UUID]
    event: Mapped[str] = mapped_column(String(40))
    # Not foreign keys: the log outlives what it speaks of (a deleted conversation or contact).
    conversation_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None]
    message_id: Mapped[uuid.UUID | None]
    occurrence: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    # [{"type": "add_tags", "status": "done" | "failed", "detail": "..."}, ...]
    results: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    error: Mapped[str] = mapped_column(String(1000), server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

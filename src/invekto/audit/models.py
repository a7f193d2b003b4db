from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, func, text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin


class AuditEvent(IdMixin, TenantMixin, Base):
    """Who did what to which record. Append-only: the app never updates or deletes these rows."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_recent", "tenant_id", "occurred_at"),)

    actor_kind: Mapped[str] = mapped_column(String(20))  # user, api_key, system, operator
    actor_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[uuid.UUID | None]
    data: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # The changed fields' values before and after (masked where they are personal data).
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(400))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())

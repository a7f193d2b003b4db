"""The reports' own tables, all derived from the inbox's and recomputable from it:

- ``report_dirty``: conversations changed since they were last derived. Database triggers
  append a row in the changing transaction (append-only, so a busy inbox never waits on the
  refresher); the refresher takes them in order.
- ``report_facts``: what each conversation's timeline says happened (``timeline.derive``): a
  first response after so many seconds, a close, a transfer, a message... one row each.
- ``report_hourly``: the facts summed per UTC hour, kind, channel, group and agent; what
  counts, sums and averages over long ranges read.
- ``report_refreshes``: per tenant, when its facts were last brought up to date.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, Integer, PrimaryKeyConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, TenantMixin

# The facts' columns that sums and filters read, kept in the index itself (index-only scans).
FACT_COLUMNS = ("seconds", "business_seconds", "value", "channel_id", "group_id", "user_id",
                "conversation_id", "detail")


class ReportDirty(TenantMixin, Base):
    __tablename__ = "report_dirty"
    __table_args__ = (
        Index("ix_report_dirty_tenant", "tenant_id", "id"),
        Index("ix_report_dirty_conversation", "tenant_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID]


class ReportFact(TenantMixin, Base):
    __tablename__ = "report_facts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "conversation_id", "seq"),
        # No foreign key to conversations: a deleted conversation's facts must outlive it
        # until the refresher has taken them out of their hours' sums.
        Index("ix_report_facts_kind_at", "tenant_id", "kind", "at",
              postgresql_include=list(FACT_COLUMNS)),
        # The refresher's re-aggregation of an hour reads every kind in it.
        Index("ix_report_facts_at", "tenant_id", "at"),
    )

    conversation_id: Mapped[uuid.UUID]
    seq: Mapped[int] = mapped_column(Integer)  # the fact's place in its conversation's list
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(String(100), server_default="")
    at: Mapped[datetime]
    seconds: Mapped[int | None] = mapped_column(BigInteger)
    business_seconds: Mapped[int | None] = mapped_column(BigInteger)
    value: Mapped[int | None]
    channel_id: Mapped[uuid.UUID]
    group_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None]


class ReportHourly(TenantMixin, Base):
    __tablename__ = "report_hourly"
    __table_args__ = (
        Index("ix_report_hourly_kind_hour", "tenant_id", "kind", "hour"),
        Index("ix_report_hourly_hour", "tenant_id", "hour"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    hour: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(String(100), server_default="")
    channel_id: Mapped[uuid.UUID]
    group_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None]
    count: Mapped[int] = mapped_column(BigInteger)
    seconds_sum: Mapped[int] = mapped_column(BigInteger, server_default="0")
    business_seconds_sum: Mapped[int] = mapped_column(BigInteger, server_default="0")
    value_sum: Mapped[int] = mapped_column(BigInteger, server_default="0")


class ReportRefresh(TenantMixin, Base):
    __tablename__ = "report_refreshes"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    refreshed_at: Mapped[datetime] = mapped_column(server_default=func.now())

"""The reports' own tables, all derived from the inbox's and recomputable from it:

- ``report_dirty``: conversations changed since they were last derived. Database triggers
  append a row in the changing transaction (append-only, so a busy inbox never waits on the
  refresher); the refresher takes them in order.
- ``report_facts``: what each conversation's timeline says happened (``timeline.derive``): a
  first response after so many seconds, a close, a transfer, a message... one row each.
- ``report_hourly`` and ``report_daily``: the facts summed per UTC hour (the weekly heatmap) and
  per local day of the company (everything else), kind, detail, channel, group, agent and tag;
  what counts, sums and averages read. Each fact is counted once under the tag '' (all
  conversations) and once under each tag its conversation carries, so a tag filter reads sums
  too. The refresher keeps them by adding each batch's new facts and subtracting its old ones.
- ``report_refreshes``: per tenant, when its facts were last brought up to date, and the time
  zone ``report_daily``'s days are in (a company that changes zone has them rebuilt).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

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
    # The conversation's tags when derived (a tag change re-derives it): what the sums per
    # tag subtract when the facts are replaced.
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")


# A sum's key besides the tenant and its time: one row per distinct key.
SUM_KEY = ("kind", "detail", "channel_id", "group_id", "user_id", "tag")
ALL_CONVERSATIONS = ""  # the tag of the sums over every conversation


class _Sums:
    """The columns ``report_hourly`` and ``report_daily`` share; ``TIME`` names the time
    column, first in the key."""

    TIME: str

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        name = cls.__tablename__
        return (
            # The refresher's upserts; a group or an agent may be absent (NULL), still one row.
            Index(f"uq_{name}_key", "tenant_id", cls.TIME, *SUM_KEY, unique=True,
                  postgresql_nulls_not_distinct=True),
            # What reports read: a tag (or all), some kinds, a range of time.
            Index(f"ix_{name}_read", "tenant_id", "tag", "kind", cls.TIME),
        )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(String(100), server_default="")
    channel_id: Mapped[uuid.UUID]
    group_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None]
    count: Mapped[int] = mapped_column(BigInteger)
    seconds_sum: Mapped[int] = mapped_column(BigInteger, server_default="0")
    business_seconds_sum: Mapped[int] = mapped_column(BigInteger, server_default="0")
    value_sum: Mapped[int] = mapped_column(BigInteger, server_default="0")
    tag: Mapped[str] = mapped_column(String(100), server_default="")


class ReportHourly(_Sums, TenantMixin, Base):
    __tablename__ = "report_hourly"
    TIME = "hour"

    hour: Mapped[datetime]


class ReportDaily(_Sums, TenantMixin, Base):
    __tablename__ = "report_daily"
    TIME = "day"

    day: Mapped[date]  # the company's local date (``ReportRefresh.daily_zone``)


class ReportRefresh(TenantMixin, Base):
    __tablename__ = "report_refreshes"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    # None until the company's facts are first caught up.
    refreshed_at: Mapped[datetime | None] = mapped_column(server_default=func.now())
    # The zone report_daily's days are in; None until they are first built.
    daily_zone: Mapped[str | None] = mapped_column(String(64))

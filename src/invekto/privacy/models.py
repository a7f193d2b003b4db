"""The data protection tables: each data subject request and what fulfilling it did, the
company's retention policy, each nightly run of it, and which conversations had their content
anonymised (so a run does not do them again).

A request keeps the contact's id but no foreign key: the fact that a request was received and
fulfilled is the company's evidence under KVKK and outlives the contact row."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, one_of, tenant_fk

REQUEST_KINDS = ("export", "erasure")
# Both kinds are fulfilled within the request that asks (see ``service``); "received" is the
# state of a request whose work has not committed yet.
REQUEST_STATUSES = ("received", "fulfilled")
ANONYMISED_BY = ("erasure", "retention")
RUN_STATUSES = ("running", "finished", "failed")

# The policy's bounds: below the minimums a slip of the keyboard would destroy what a company
# needs (the audit trail of the last half year, a conversation still being followed up).
ATTACHMENT_DAYS = (30, 3650)
CONVERSATION_MONTHS = (3, 120)
AUDIT_DAYS = (180, 3650)


class PrivacyRequest(IdMixin, TenantMixin, Base):
    """A data subject's request (to export or to erase their personal data), who on the
    company's side carried it out, when, and what it did (``summary``: counts only)."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        CheckConstraint(one_of("kind", REQUEST_KINDS), name="kind_valid"),
        CheckConstraint(one_of("status", REQUEST_STATUSES), name="status_valid"),
        Index("ix_privacy_requests_recent", "tenant_id", "received_at"),
        Index("ix_privacy_requests_contact", "tenant_id", "contact_id"),
    )

    kind: Mapped[str] = mapped_column(String(10))
    contact_id: Mapped[uuid.UUID]
    # The person (or API key) who carried the request out.
    requested_by_kind: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(10), server_default="received")
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    fulfilled_at: Mapped[datetime | None]
    summary: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class RetentionPolicy(IdMixin, TenantMixin, TimestampMixin, Base):
    """How long the company keeps what: each limit None keeps it for ever. No row: nothing is
    ever removed."""

    __tablename__ = "privacy_retention_policies"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint(
            f"attachment_days IS NULL OR attachment_days BETWEEN {ATTACHMENT_DAYS[0]} "
            f"AND {ATTACHMENT_DAYS[1]}", name="attachment_days_range"),
        CheckConstraint(
            f"conversation_months IS NULL OR conversation_months BETWEEN "
            f"{CONVERSATION_MONTHS[0]} AND {CONVERSATION_MONTHS[1]}",
            name="conversation_months_range"),
        CheckConstraint(
            f"audit_days IS NULL OR audit_days BETWEEN {AUDIT_DAYS[0]} AND {AUDIT_DAYS[1]}",
            name="audit_days_range"),
    )

    # Files sent in conversations are deleted this many days after they arrived.
    attachment_days: Mapped[int | None]
    # Closed conversations have their content anonymised this many months after closing.
    conversation_months: Mapped[int | None] = mapped_column(SmallInteger)
    # Audit events are deleted this many days after they happened.
    audit_days: Mapped[int | None]
    updated_by: Mapped[uuid.UUID | None]


class RetentionRun(IdMixin, TenantMixin, Base):
    """One application of the policy: what it removed, counted as each batch committed (a run
    that died keeps the counts of what it did)."""

    __tablename__ = "privacy_retention_runs"
    __table_args__ = (
        CheckConstraint(one_of("status", RUN_STATUSES), name="status_valid"),
        Index("ix_privacy_retention_runs_recent", "tenant_id", "started_at"),
    )

    status: Mapped[str] = mapped_column(String(10), server_default="running")
    # The policy as it was applied.
    policy: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
    attachments_deleted: Mapped[int] = mapped_column(server_default="0")
    bytes_deleted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    conversations_anonymised: Mapped[int] = mapped_column(server_default="0")
    audit_events_deleted: Mapped[int] = mapped_column(server_default="0")
    error: Mapped[str | None] = mapped_column(Text)


class AnonymisedConversation(TenantMixin, Base):
    """A conversation whose content was anonymised, and when: the retention run skips it
    unless it was reopened (and closed again) since."""

    __tablename__ = "privacy_anonymised"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "conversation_id"),
        tenant_fk("conversation_id", "conversations"),
        CheckConstraint(one_of("reason", ANONYMISED_BY), name="reason_valid"),
    )

    conversation_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(10))
    anonymised_at: Mapped[datetime] = mapped_column(server_default=func.now())

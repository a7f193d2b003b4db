"""Consent history, a company's İYS settings and the İYS outbox.

``contact_consents`` (contacts domain) keeps each contact's current consent per kind; every change
of it is also written here as a ``consent_events`` row, never updated afterwards: who changed it,
through what, when, and the evidence (the message, the text the visitor ticked, the file).
A change İYS must hear of gets one ``iys_pushes`` row, the payload as it will be sent, which the
push job claims, sends and settles (``sync.py``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from invekto.contacts.models import CONSENT_TYPES
from invekto.db.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    one_of,
    tenant_fk,
    tenant_unique_id,
)

# Where a change came from: the widget's checkbox, a keyword the customer wrote, an imported
# file, a person (the contact panel or the API), or İYS itself (pulled).
SOURCES = ("widget", "keyword", "import", "manual", "iys")
# Who made it: a user, an API key, our own code acting on the customer's words (system), İYS.
ACTOR_KINDS = ("user", "api_key", "system", "iys")
RECIPIENT_TYPES = ("BIREYSEL", "TACIR")
# pending: to send; sending: claimed by a job (its outcome unknown until recorded); sent;
# failed: İYS refused it, or it kept failing (shown in the settings); skipped: nothing to tell
# İYS (a withdrawal of a number İYS never had).
PUSH_STATES = ("pending", "sending", "sent", "failed", "skipped")


class ConsentEvent(IdMixin, TenantMixin, Base):
    """One change of a contact's marketing consent for one kind of contact (append-only)."""

    __tablename__ = "consent_events"
    __table_args__ = (
        tenant_unique_id("consent_events"),
        tenant_fk("contact_id", "contacts"),
        Index("ix_consent_events_contact", "tenant_id", "contact_id", "recorded_at"),
        # A change pulled from İYS is recorded once, however often it is pulled.
        Index("uq_consent_events_iys_transaction", "tenant_id", "iys_transaction_id",
              unique=True, postgresql_where=text("iys_transaction_id IS NOT NULL")),
        CheckConstraint(one_of("consent_type", CONSENT_TYPES), name="type_valid"),
        CheckConstraint(one_of("source", SOURCES), name="source_valid"),
        CheckConstraint(one_of("actor_kind", ACTOR_KINDS), name="actor_kind_valid"),
        CheckConstraint("iys_status IS NULL OR iys_status IN ('ONAY', 'RET')",
                        name="iys_status_valid"),
    )

    contact_id: Mapped[uuid.UUID]
    consent_type: Mapped[str] = mapped_column(String(10))
    granted: Mapped[bool]
    source: Mapped[str] = mapped_column(String(20))
    # İYS's status the change set (pulled from İYS, or given with a manual record).
    iys_status: Mapped[str | None] = mapped_column(String(4))
    # How it was given in İYS's words (HS_WEB, HS_MESAJ...; İYS's own for pulled changes).
    iys_source: Mapped[str | None] = mapped_column(String(40))
    # The address it was given for, as it was then (the contact's number may change later).
    recipient: Mapped[str | None] = mapped_column(String(320))
    # When the customer gave or withdrew it (İYS's consentDate), and when we wrote it down.
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[uuid.UUID | None]  # the user or API key
    # message_id, channel_id, word / consent_text, page, origin / file, row / note...
    evidence: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    iys_transaction_id: Mapped[str | None] = mapped_column(String(100))


class IysSettings(IdMixin, TenantMixin, TimestampMixin, Base):
    """A company's İYS account. No row, or not enabled: nothing is sent to or pulled from İYS."""

    __tablename__ = "iys_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint(one_of("recipient_type", RECIPIENT_TYPES), name="recipient_type_valid"),
    )

    enabled: Mapped[bool] = mapped_column(server_default="false")
    base_url: Mapped[str] = mapped_column(String(300))
    iys_code: Mapped[str] = mapped_column(String(20))
    brand_code: Mapped[str] = mapped_column(String(20))
    username: Mapped[str] = mapped_column(String(200))
    # Encrypted (core.crypto); never logged, never sent back to a browser.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    # Whose consents these are in İYS's terms: private persons or merchants.
    recipient_type: Mapped[str] = mapped_column(String(10), server_default="BIREYSEL")
    # The last tokens İYS gave (encrypted), kept so that every job does not log in again.
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    # Where the next pull of İYS's changes starts (İYS's opaque ``after``).
    changes_after: Mapped[str | None] = mapped_column(String(300))
    pulled_at: Mapped[datetime | None]
    # Why the last pull failed (None after one that worked).
    pull_error: Mapped[str | None] = mapped_column(Text)


class IysPush(IdMixin, TenantMixin, Base):
    """A consent change on its way to İYS: its request body, and how sending it went."""

    __tablename__ = "iys_pushes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id"),  # a change is sent once
        tenant_fk("event_id", "consent_events"),
        Index("ix_iys_pushes_state", "tenant_id", "state", "next_attempt_at"),
        CheckConstraint(one_of("state", PUSH_STATES), name="state_valid"),
    )

    event_id: Mapped[uuid.UUID]
    # The body of POST /sps/{iysCode}/brands/{brandCode}/consents, as İYS documents it.
    payload: Mapped[dict] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    transaction_id: Mapped[str | None] = mapped_column(String(100))
    # İYS's error code (H175...) or ours (unreachable, auth), and its words.
    error_code: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

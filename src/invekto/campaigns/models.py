from __future__ import annotations

import uuid
from datetime import datetime, time

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

STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")
CONTENT_KINDS = ("text", "template")
# A recipient's way through a campaign. ``sending``: taken by a worker, the provider's answer not
# recorded yet (see service.reconcile_unconfirmed for a worker that died there).
RECIPIENT_STATES = ("queued", "excluded", "sending", "sent", "delivered", "read", "replied",
                    "failed")
# Why a candidate is not sent to, shown with a count of each before sending.
EXCLUSIONS = ("blocked", "opted_out", "no_consent", "no_iys_consent", "unreachable")


class Campaign(IdMixin, TenantMixin, TimestampMixin, Base):
    """A broadcast: one message (a text, or a WhatsApp template) to an audience, through one
    channel, now or at a set time, at the channel's pace."""

    __tablename__ = "campaigns"
    __table_args__ = (
        tenant_unique_id("campaigns"),
        tenant_fk("channel_id", "channels"),
        tenant_fk("list_id", "recipient_lists", ondelete="SET NULL"),
        CheckConstraint(one_of("status", STATUSES), name="status_valid"),
        CheckConstraint(one_of("content_kind", CONTENT_KINDS), name="content_kind_valid"),
        Index("ix_campaigns_due", "status", "scheduled_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(20), server_default="draft")
    content_kind: Mapped[str] = mapped_column(String(20), server_default="text")
    body: Mapped[str] = mapped_column(server_default="")  # a text, with {{ variables }}
    template_name: Mapped[str | None] = mapped_column(String(512))
    template_language: Mapped[str | None] = mapped_column(String(15))
    # The template's placeholders ("1", "2" or names) -> what fills them, with {{ variables }}.
    template_parameters: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # The audience: a segment of the contacts (schemas.Segment), an uploaded list, or both.
    segment: Mapped[dict | None] = mapped_column(JSONB)
    list_id: Mapped[uuid.UUID | None]
    # Commercial (marketing) SMS and calls need the number's İYS consent (Turkish law).
    commercial: Mapped[bool] = mapped_column(server_default="true")
    scheduled_at: Mapped[datetime | None]
    # Nothing goes out between these local times (the company's zone); sending waits.
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    # Put on the conversations that customers' replies open, to find and report them.
    reply_tag: Mapped[str] = mapped_column(String(50))
    created_by: Mapped[uuid.UUID | None]
    planned_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RecipientList(IdMixin, TenantMixin, Base):
    """An uploaded CSV or XLSX of recipients: each row kept with its error, if any, so the
    upload never fails as a whole for a bad row."""

    __tablename__ = "recipient_lists"
    __table_args__ = (tenant_unique_id("recipient_lists"),)

    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    # The file's columns as read, and which of them holds the phone and the name.
    columns: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    phone_column: Mapped[str] = mapped_column(String(100))
    name_column: Mapped[str | None] = mapped_column(String(100))
    row_count: Mapped[int] = mapped_column(server_default="0")
    error_count: Mapped[int] = mapped_column(server_default="0")
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RecipientListRow(TenantMixin, Base):
    __tablename__ = "recipient_list_rows"
    __table_args__ = (tenant_fk("list_id", "recipient_lists"),)

    list_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    row_number: Mapped[int] = mapped_column(primary_key=True)  # as in the file (header = 1)
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164; None when the row has an error
    name: Mapped[str] = mapped_column(String(200), server_default="")
    # The row's other columns, for {{ row.column }} variables.
    values: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    error: Mapped[str | None]


class CampaignRecipient(TenantMixin, Base):
    """One person a campaign is for, and how far their message got. Unique per campaign and
    contact: nobody gets the same campaign twice."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        tenant_fk("campaign_id", "campaigns"),
        tenant_fk("contact_id", "contacts"),
        CheckConstraint(one_of("state", RECIPIENT_STATES), name="state_valid"),
        # The dispatcher takes queued recipients in id order.
        Index("ix_campaign_recipients_queue", "campaign_id", "id",
              postgresql_where=text("state = 'queued'")),
        Index("ix_campaign_recipients_state", "campaign_id", "state"),
        Index("ix_campaign_recipients_provider_id", "tenant_id", "provider_message_id",
              unique=True, postgresql_where=text("provider_message_id IS NOT NULL")),
        # A reply finds the latest campaign message to its sender on the channel.
        Index("ix_campaign_recipients_contact", "tenant_id", "contact_id", "sent_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("uuidv7()"))
    campaign_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID]
    # Where the message goes: E.164 for WhatsApp and SMS, the chat id for Telegram.
    handle: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    values: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))  # list row
    body: Mapped[str | None]  # the message as this recipient got it (variables filled)
    state: Mapped[str] = mapped_column(String(10), server_default="queued")
    reason: Mapped[str | None] = mapped_column(String(100))  # exclusion or failure code
    detail: Mapped[str | None]  # the provider's words for a failure
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    conversation_id: Mapped[uuid.UUID | None]  # the conversation the reply opened

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
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

CONVERSATION_STATUSES = ("open", "pending", "closed")
DIRECTIONS = ("inbound", "outbound")
SENDER_KINDS = ("contact", "agent", "bot", "system")
CONTENT_KINDS = (
    "text", "image", "audio", "video", "document", "location", "contact", "template",
    "interactive", "call", "sticker", "reaction", "unsupported",
)
DELIVERY_STATUSES = ("pending", "sent", "delivered", "read", "failed")
PRIORITIES = ("low", "normal", "high", "urgent")
# What happened to a conversation, shown inline in the thread.
EVENT_KINDS = ("assigned", "transferred", "closed", "reopened", "tagged", "untagged", "snoozed",
               "priority", "takeover", "status", "campaign", "bot", "automation", "payment")
# Text search configuration created by migration 0003: Turkish stemming over accent-folded words.
SEARCH_CONFIG = "invekto_turkish"


class Conversation(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        tenant_unique_id("conversations"),
        tenant_fk("contact_id", "contacts"),
        tenant_fk("channel_id", "channels"),
        tenant_fk("assignee_id", "users", ondelete="SET NULL"),
        tenant_fk("group_id", "agent_groups", ondelete="SET NULL"),
        CheckConstraint(one_of("status", CONVERSATION_STATUSES), name="status_valid"),
        # At most one conversation not closed per contact and channel: ingest reuses it.
        Index("uq_conversations_active", "tenant_id", "contact_id", "channel_id", unique=True,
              postgresql_where=text("status <> 'closed'")),
        # The inbox lists: newest activity first, per queue.
        Index("ix_conversations_status_recent", "tenant_id", "status",
              text("last_message_at DESC"), text("id DESC")),
        Index("ix_conversations_assignee_recent", "tenant_id", "assignee_id", "status",
              text("last_message_at DESC")),
        Index("ix_conversations_group_recent", "tenant_id", "group_id", "status",
              text("last_message_at DESC")),
        Index("ix_conversations_contact", "tenant_id", "contact_id"),
        Index("ix_conversations_tags", "tags", postgresql_using="gin"),
        CheckConstraint(one_of("priority", PRIORITIES), name="priority_valid"),
        # The list without a status filter ("any status").
        Index("ix_conversations_recent", "tenant_id", text("last_message_at DESC"),
              text("id DESC")),
        # The snooze sweeper's lookup.
        Index("ix_conversations_snoozed", "snoozed_until",
              postgresql_where=text("snoozed_until IS NOT NULL")),
        # The SLA scan's lookups: due and not met yet.
        Index("ix_conversations_first_response_due", "first_response_due_at",
              postgresql_where=text("first_response_at IS NULL AND status <> 'closed'")),
        Index("ix_conversations_resolution_due", "resolution_due_at",
              postgresql_where=text("status <> 'closed'")),
    )

    contact_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    assignee_id: Mapped[uuid.UUID | None]
    group_id: Mapped[uuid.UUID | None]
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), server_default="{}")
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    first_response_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_message_preview: Mapped[str] = mapped_column(String(200), server_default="")
    # Inbound messages since an agent last read the thread.
    unread_count: Mapped[int] = mapped_column(server_default="0")
    priority: Mapped[str] = mapped_column(String(10), server_default="normal")
    # Set while snoozed (status pending): the conversation reopens by itself at this time.
    snoozed_until: Mapped[datetime | None]
    # The customer's oldest message not yet answered: the list's "waiting" clock.
    waiting_since: Mapped[datetime | None]
    # The SLA policy that applies (``routing.sla``) and when its targets fall due; none: no SLA.
    sla_policy_id: Mapped[uuid.UUID | None]
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    # The ad that brought the customer (click-to-WhatsApp, Messenger ads): for attribution.
    referral: Mapped[dict | None] = mapped_column(JSONB)
    # A chatbot flow is talking with the customer (an unended ``flow_sessions`` row): routing
    # waits for its handoff, and an agent's message or "take over" ends it.
    held_by_bot: Mapped[bool] = mapped_column(server_default="false")


class Attachment(IdMixin, TenantMixin, Base):
    __tablename__ = "attachments"
    __table_args__ = (
        tenant_unique_id("attachments"),
        # The retention job finds files older than the policy's limit.
        Index("ix_attachments_created", "tenant_id", "created_at"),
    )

    storage_key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(150))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Message(IdMixin, TenantMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        tenant_fk("conversation_id", "conversations"),
        tenant_fk("contact_id", "contacts"),
        tenant_fk("channel_id", "channels"),
        tenant_fk("sender_user_id", "users", ondelete="SET NULL"),
        tenant_fk("attachment_id", "attachments", ondelete="SET NULL"),
        CheckConstraint(one_of("direction", DIRECTIONS), name="direction_valid"),
        CheckConstraint(one_of("sender_kind", SENDER_KINDS), name="sender_kind_valid"),
        CheckConstraint(one_of("content_kind", CONTENT_KINDS), name="content_kind_valid"),
        CheckConstraint(one_of("status", DELIVERY_STATUSES), name="status_valid"),
        # A provider's retry of the same event finds this and adds nothing.
        UniqueConstraint("tenant_id", "channel_id", "provider_message_id"),
        # A double click or client retry of the same send finds this and adds nothing.
        UniqueConstraint("tenant_id", "client_message_id"),
        Index("ix_messages_conversation", "tenant_id", "conversation_id", "created_at", "id"),
        Index("ix_messages_contact", "tenant_id", "contact_id", "created_at", "id"),
        Index("ix_messages_search", "search_vector", postgresql_using="gin"),
        # Deleting an attachment (erasure, retention) nulls the messages that carry it.
        Index("ix_messages_attachment", "tenant_id", "attachment_id",
              postgresql_where=text("attachment_id IS NOT NULL")),
    )

    conversation_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    direction: Mapped[str] = mapped_column(String(10))
    sender_kind: Mapped[str] = mapped_column(String(10))
    sender_user_id: Mapped[uuid.UUID | None]
    content_kind: Mapped[str] = mapped_column(String(20), server_default="text")
    body: Mapped[str] = mapped_column(server_default="")
    attachment_id: Mapped[uuid.UUID | None]
    # Kind-specific structure: location coordinates, template name and variables, buttons...
    payload: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    client_message_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    status_changed_at: Mapped[datetime | None]
    # Set just before an outbound message is handed to the provider, in its own commit: a retry
    # that finds it set (and no result) knows the earlier attempt died mid-send.
    dispatched_at: Mapped[datetime | None]
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('{SEARCH_CONFIG}'::regconfig, body)", persisted=True),
        deferred=True)


class Note(IdMixin, TenantMixin, TimestampMixin, Base):
    """An internal note about a contact, optionally made in one conversation. Never sent out."""

    __tablename__ = "notes"
    __table_args__ = (
        tenant_fk("contact_id", "contacts"),
        tenant_fk("conversation_id", "conversations", ondelete="SET NULL"),
        tenant_fk("author_id", "users", ondelete="SET NULL"),
        Index("ix_notes_contact", "tenant_id", "contact_id", "created_at"),
        tenant_unique_id("notes"),
    )

    contact_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID | None]
    author_id: Mapped[uuid.UUID | None]
    body: Mapped[str]


class ConversationEvent(IdMixin, TenantMixin, Base):
    """Something done to a conversation (assigned, transferred, closed...), shown in the thread
    between the messages. Kept apart from the audit log: this is for the team, in the timeline."""

    __tablename__ = "conversation_events"
    __table_args__ = (
        tenant_fk("conversation_id", "conversations"),
        tenant_fk("contact_id", "contacts"),
        tenant_fk("actor_user_id", "users", ondelete="SET NULL"),
        CheckConstraint(one_of("kind", EVENT_KINDS), name="kind_valid"),
        Index("ix_conversation_events_contact", "tenant_id", "contact_id", "created_at"),
        # A conversation's own events (the reports read them a batch of conversations at once).
        Index("ix_conversation_events_conversation", "tenant_id", "conversation_id",
              "created_at"),
    )

    conversation_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID]
    actor_user_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Notification(IdMixin, TenantMixin, Base):
    """A message for one user: someone @mentioned them in a note."""

    __tablename__ = "notifications"
    __table_args__ = (
        tenant_fk("user_id", "users"),
        tenant_fk("actor_user_id", "users", ondelete="SET NULL"),
        tenant_fk("conversation_id", "conversations"),
        tenant_fk("note_id", "notes"),
        Index("ix_notifications_user_unread", "tenant_id", "user_id", "created_at",
              postgresql_where=text("read_at IS NULL")),
    )

    user_id: Mapped[uuid.UUID]
    actor_user_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(String(20), server_default="mention")
    conversation_id: Mapped[uuid.UUID | None]
    note_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    read_at: Mapped[datetime | None]


class SavedView(IdMixin, TenantMixin, TimestampMixin, Base):
    """A named filter combination in a user's sidebar."""

    __tablename__ = "saved_views"
    __table_args__ = (
        tenant_fk("user_id", "users"),
        UniqueConstraint("tenant_id", "user_id", "name"),
    )

    user_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(60))
    filters: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class StatusBacklog(IdMixin, TenantMixin, Base):
    """A provider's status for a message we cannot match yet: it arrived before our send call
    returned the provider's id. Applied (and deleted) when the send's result is recorded."""

    __tablename__ = "status_backlog"
    __table_args__ = (
        tenant_fk("channel_id", "channels"),
        Index("ix_status_backlog_lookup", "tenant_id", "channel_id", "provider_message_id"),
    )

    channel_id: Mapped[uuid.UUID]
    provider_message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CallRecording(IdMixin, TenantMixin, Base):
    """A call's recording, downloaded into our storage: attached to the call's entry (the
    message ``provider_message_id``) once that exists, whichever of the two came first."""

    __tablename__ = "call_recordings"
    __table_args__ = (
        tenant_fk("channel_id", "channels"),
        tenant_fk("attachment_id", "attachments", ondelete="SET NULL"),
        # The provider's recording id: a repeated callback adds nothing.
        UniqueConstraint("tenant_id", "channel_id", "recording_id"),
        Index("ix_call_recordings_call", "tenant_id", "channel_id", "provider_message_id"),
    )

    channel_id: Mapped[uuid.UUID]
    provider_message_id: Mapped[str] = mapped_column(String(200))  # the call entry's: call:…
    recording_id: Mapped[str] = mapped_column(String(200))
    attachment_id: Mapped[uuid.UUID | None]
    duration_seconds: Mapped[int | None]
    error: Mapped[str | None]  # why the file could not be downloaded
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


SCHEDULED_STATUSES = ("scheduled", "sent", "cancelled", "failed")


class ScheduledMessage(IdMixin, TenantMixin, TimestampMixin, Base):
    """A reply an agent wrote to go out later ("send later"): the minute scan
    ``inbox:send_scheduled`` sends it through ``send_message`` once ``send_at`` has come."""

    __tablename__ = "scheduled_messages"
    __table_args__ = (
        tenant_fk("conversation_id", "conversations"),
        tenant_fk("author_id", "users", ondelete="SET NULL"),
        CheckConstraint(one_of("status", SCHEDULED_STATUSES), name="status_valid"),
        # A double click on "Schedule" with the same client id schedules once.
        UniqueConstraint("tenant_id", "client_id"),
        # The scan's lookup: what is due and still waiting.
        Index("ix_scheduled_messages_due", "send_at",
              postgresql_where=text("status = 'scheduled'")),
        Index("ix_scheduled_messages_conversation", "tenant_id", "conversation_id", "send_at"),
    )

    conversation_id: Mapped[uuid.UUID]
    author_id: Mapped[uuid.UUID | None]
    # What to send, as ``inbox.schemas.MessageSend`` (body, content_kind, template, choices,
    # attachment_id), without its client id: the message gets ``scheduled:<id>`` as that.
    spec: Mapped[dict] = mapped_column(JSONB)
    send_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), server_default="scheduled")
    # Why it could not be sent (an error code, e.g. ``reply_window_closed``), and in words.
    failure_reason: Mapped[str | None] = mapped_column(String(50))
    failure_message: Mapped[str | None]
    # The message it became. No foreign key: messages has no (tenant_id, id) key to point at.
    message_id: Mapped[uuid.UUID | None]
    client_id: Mapped[str | None] = mapped_column(String(100))

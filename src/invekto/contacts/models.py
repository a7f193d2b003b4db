from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Computed, Index, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    tenant_fk,
    tenant_unique_id,
)

CUSTOM_FIELD_TYPES = ("text", "number", "date", "boolean", "select", "url", "email")
MAX_CUSTOM_FIELDS = 10
# Names are matched word by word from their start, accent-folded, never stemmed (migration 0003).
NAME_SEARCH_CONFIG = "invekto_names"


class Contact(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        tenant_unique_id("contacts"),
        # One contact per phone number in a tenant: WhatsApp, SMS and calls from it meet here.
        Index("uq_contacts_phone", "tenant_id", "phone", unique=True,
              postgresql_where=text("phone IS NOT NULL")),
        Index("ix_contacts_tags", "tags", postgresql_using="gin"),
        Index("ix_contacts_name", "tenant_id", "name"),
        Index("ix_contacts_search", "search_vector", postgresql_using="gin"),
        # Phone fragments ("532 41"): trigram matching for LIKE '%digits%'.
        Index("ix_contacts_phone_trgm", "phone", postgresql_using="gin",
              postgresql_ops={"phone": "gin_trgm_ops"}),
    )

    name: Mapped[str] = mapped_column(String(200), server_default="")
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(5))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), server_default="{}")
    custom_fields: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    last_activity_at: Mapped[datetime | None]
    # Blocked (spam, abuse): their messages are kept but notify and route to no one, and nothing
    # is sent to them. Who blocked them is in the audit trail.
    blocked_at: Mapped[datetime | None]
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('{NAME_SEARCH_CONFIG}'::regconfig, "
                           "coalesce(name, '') || ' ' || coalesce(email, ''))", persisted=True),
        deferred=True)


class ContactIdentity(IdMixin, TenantMixin, Base):
    """How a channel knows a contact: a WhatsApp wa_id, an Instagram-scoped id, a Telegram chat."""

    __tablename__ = "contact_identities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel_id", "handle"),
        Index("ix_contact_identities_contact", "tenant_id", "contact_id"),
        tenant_fk("contact_id", "contacts"),
        tenant_fk("channel_id", "channels"),
    )

    contact_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    handle: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SmsOptOut(IdMixin, TenantMixin, Base):
    """A number that asked for no more marketing SMS (it wrote STOP, İPTAL or RET): broadcasts
    and campaigns leave it out. Conversations with it carry on as usual."""

    __tablename__ = "sms_opt_outs"
    __table_args__ = (UniqueConstraint("tenant_id", "phone"),)

    phone: Mapped[str] = mapped_column(String(20))  # E.164
    keyword: Mapped[str] = mapped_column(String(20))  # what the customer wrote
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CustomFieldDefinition(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "custom_field_definitions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        CheckConstraint("key ~ '^[a-z][a-z0-9_]{0,39}$'", name="key_format"),
        CheckConstraint(
            "field_type IN (" + ", ".join(f"'{t}'" for t in CUSTOM_FIELD_TYPES) + ")",
            name="field_type_valid",
        ),
    )

    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    field_type: Mapped[str] = mapped_column(String(20))
    options: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    position: Mapped[int] = mapped_column(server_default="0")
    # Personal data (a national id, a diagnosis): masked like phone numbers for people without
    # the "see personal data" permission.
    is_personal: Mapped[bool] = mapped_column(server_default="false")


class Tag(IdMixin, TenantMixin, TimestampMixin, Base):
    """The tenant's tag catalogue; contacts and conversations carry tag names in arrays."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(50))
    color: Mapped[str] = mapped_column(String(7), server_default="#6c757d")
    # A conversation carrying it counts as a conversion (a sale, a booking) in the reports'
    # attribution to ads and UTM codes.
    marks_conversion: Mapped[bool] = mapped_column(server_default="false")


CONSENT_TYPES = ("message", "call", "email")  # İYS's MESAJ, ARAMA, EPOSTA


class ContactConsent(IdMixin, TenantMixin, TimestampMixin, Base):
    """A contact's marketing consent for one kind of contact: given or withdrawn, where it came
    from, and its İYS (İleti Yönetim Sistemi) status, which commercial SMS and calls need."""

    __tablename__ = "contact_consents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id", "consent_type"),
        tenant_fk("contact_id", "contacts"),
        CheckConstraint("consent_type IN ('message', 'call', 'email')", name="type_valid"),
        CheckConstraint("iys_status IS NULL OR iys_status IN ('ONAY', 'RET')",
                        name="iys_status_valid"),
    )

    contact_id: Mapped[uuid.UUID]
    consent_type: Mapped[str] = mapped_column(String(10))
    granted: Mapped[bool]
    # widget, keyword, import, manual, iys
    source: Mapped[str] = mapped_column(String(20))
    iys_status: Mapped[str | None] = mapped_column(String(4))
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())

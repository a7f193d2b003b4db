"""Which Zoho CRM record each contact is kept the same as.

``zoho_links``: one row per contact that has a Zoho record (a Lead or a Contact, as the
connection's module said when the link was made). ``fingerprint`` is a hash of the mapped values
as they were last made the same on both sides (pushed or pulled): a change whose values hash the
same was already synced, which is what stops a change that came from Zoho being pushed back.
``zoho_modified_at`` is Zoho's ``Modified_Time`` of the record as last seen, for the conflict
rule (the newer change wins). ``error`` is why the last push failed, shown on the contact card.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, tenant_fk


class ZohoLink(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "zoho_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id"),
        UniqueConstraint("tenant_id", "module", "record_id"),
        tenant_fk("contact_id", "contacts"),
    )

    contact_id: Mapped[uuid.UUID]
    module: Mapped[str] = mapped_column(String(30))  # Leads or Contacts
    record_id: Mapped[str] = mapped_column(String(30))  # Zoho's id (a long, as a string)
    fingerprint: Mapped[str] = mapped_column(String(64))
    zoho_modified_at: Mapped[datetime | None]
    pushed_at: Mapped[datetime | None]
    pulled_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))

"""Contacts kept the same as another system's (CONTACT_SYNC), and a contact's record there
(CONTACT_LOOKUP).

A CONTACT_SYNC adapter implements ``contact_changed(session, conn, contact)``: called in the
transaction that created or changed our contact (``contacts.service``), it defers whatever
sends the change, so the job exists exactly when the change commits. A sync writing contacts
it brought in from the other system sets ``session.info[SYNCING]``: those changes came from
there and are not sent back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from invekto.integrations import registry, service
from invekto.integrations.base import Capability

SYNCING = "integrations.syncing"


async def contact_changed(session: AsyncSession, contact: Any) -> None:
    if session.info.get(SYNCING) or not registry.kinds_with(Capability.CONTACT_SYNC):
        return
    for conn in await service.connections_with(session, contact.tenant_id,
                                               Capability.CONTACT_SYNC):
        await registry.adapter_for(conn.kind).contact_changed(  # type: ignore[union-attr]
            session, conn, contact)

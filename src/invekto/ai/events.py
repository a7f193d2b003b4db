"""What the inbox tells the AI layer, so the AI's work never runs inside the inbox's
transaction: each hook only defers jobs (embedding and models take time).

- ``conversation_closed``: learn its answers (``memory``), keep its text for learning tags and
  tag it in apply mode (``tagging``), analyse it (``analysis``).
- ``conversation_transferred``: summarise it for the agent or group it went to
  (``summaries``).
- ``tags_changed_by_person``: a person's tags are what the tag model learns from
  (``tagging``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import memory


async def conversation_closed(session: AsyncSession, tenant_id: uuid.UUID,
                              conversation_id: uuid.UUID) -> None:
    # Local: these read the inbox, which calls us.
    from invekto.ai import analysis, tagging

    await memory.after_close(session, tenant_id, conversation_id)
    await tagging.after_close(session, tenant_id, conversation_id)
    await analysis.after_close(session, tenant_id, conversation_id)


async def conversation_transferred(session: AsyncSession, tenant_id: uuid.UUID,
                                   conversation_id: uuid.UUID) -> None:
    from invekto.ai import summaries  # local: summaries read the inbox, which calls us

    await summaries.after_transfer(session, tenant_id, conversation_id)


async def tags_changed_by_person(session: AsyncSession, tenant_id: uuid.UUID,
                                 conversation_id: uuid.UUID) -> None:
    from invekto.ai import tagging  # local: tagging reads the inbox, which calls us

    await tagging.tags_changed_by_person(session, tenant_id, conversation_id)

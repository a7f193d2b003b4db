"""Trigger rules: saved, listed, dry-run, and fired by ``emit``.

``emit`` runs in the transaction of whatever raised the events (an ingested batch, an agent's
action, a timer scan): a rule's actions commit or roll back with their cause, and rules never
wait for a queue. Each rule runs in a savepoint, so a failing action is logged and the cause
is kept. See decisions/0018."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from invekto.automation.events import Event


async def emit(session: AsyncSession, events: list[Event]) -> None:
    """Fire the enabled rules that listen for these events (one tenant's), in order."""
    # TODO(helper A): the engine.
    return None

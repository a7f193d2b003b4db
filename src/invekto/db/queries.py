"""Query helpers every domain service uses, so the tenant filter and the error are never forgotten
or worded differently."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.core.errors import Conflict, NotFound

Row = TypeVar("Row")


async def get_in_tenant(session: AsyncSession, model: type[Row], tenant_id: uuid.UUID,
                        row_id: uuid.UUID, *, what: str, field: str | None = None) -> Row:
    """The row of ``model`` with ``row_id`` in the tenant, or ``NotFound('<what> not found')``
    (naming ``field`` when the id came in a request's body)."""
    row = await session.scalar(select(model).where(model.tenant_id == tenant_id,
                                                   model.id == row_id))
    if row is None:
        raise NotFound("%(what)s not found", field=field, params={"what": what})
    return row


async def flush_unique(session: AsyncSession, conflict: str, *, field: str,
                       params: dict | None = None) -> None:
    """Flush pending changes; a unique-constraint violation becomes a 409 on ``field`` saying
    ``conflict`` (an English sentence and catalogue entry; varying parts in ``params``).

    The transaction cannot continue after the violation, and need not: the Conflict ends the
    request (or job) and rolls it back. Build ``conflict`` before calling, while attributes can
    still be read."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict, field=field, params=params) from exc

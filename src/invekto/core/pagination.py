"""Opaque cursors for keyset pagination: stable under inserts, constant cost per page."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from invekto.core.errors import ValidationFailed


def encode_cursor(moment: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([moment.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, row_id = json.loads(raw)
        return datetime.fromisoformat(moment), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("cursor is not valid", field="cursor") from exc


async def newest_first_page(session: AsyncSession, query: Select, moment: InstrumentedAttribute,
                            row_id: InstrumentedAttribute, *, cursor: str | None, limit: int
                            ) -> tuple[list, str | None]:
    """One page of ``query`` ordered by (moment, id) descending, and the cursor of the next.

    The comparison is on the row value ``(moment, id)``: with ties on ``moment`` (messages stamped
    to the second, a bulk import) the id decides, so no row is skipped or repeated across pages.
    """
    if cursor:
        after_moment, after_id = decode_cursor(cursor)
        query = query.where(tuple_(moment, row_id) < (after_moment, after_id))
    rows = list((await session.scalars(
        query.order_by(moment.desc(), row_id.desc()).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, moment.key), getattr(last, row_id.key))

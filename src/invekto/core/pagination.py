"""Opaque cursors for keyset pagination: stable under inserts, constant cost per page."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

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

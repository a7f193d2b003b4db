"""Sending pace: each channel's provider caps how many messages per second it takes (WhatsApp:
80 per number by default; Messenger and Instagram: 300 Send API calls per second per Page or
account; a Telegram bot about 30). Every worker takes the channel's next free slot from one row
before sending, so however many workers there are, together they stay under the cap instead of
collecting the provider's throttling errors (WhatsApp 130429, Meta 613, Telegram 429).

Some providers also cap messages to one recipient (Telegram: about one a second per chat).
Those are kept apart per conversation: each send to it takes a time at least the kind's
interval after the previous one (`recipient_slot`, held as the message's ``dispatched_at`` by
``inbox.service.take_recipient_slot``), and the job waits for it before taking the channel's
slot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from invekto.db.session import Database

# Messages per second when the channel's settings do not say (``max_messages_per_second``).
DEFAULT_RATES = {"whatsapp_cloud": 80.0, "whatsapp_bsp": 80.0, "messenger": 300.0,
                 "instagram": 300.0, "telegram": 30.0}
# Least seconds between two messages to the same recipient, for kinds whose provider caps it.
RECIPIENT_INTERVALS = {"telegram": 1.0}


def rate_for(kind: str, settings: dict[str, Any] | None) -> float | None:
    """The channel's messages per second, or None when it has no limit of ours."""
    configured = (settings or {}).get("max_messages_per_second")
    try:
        rate = float(configured) if configured is not None else DEFAULT_RATES.get(kind)
    except (TypeError, ValueError):
        rate = DEFAULT_RATES.get(kind)
    return rate if rate and rate > 0 else None


async def take_slot(db: Database, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                    per_second: float, count: int = 1) -> tuple[datetime, float]:
    """Take the channel's next ``count`` free sending slots: (the first's time, seconds to wait
    for it); the others follow ``1 / per_second`` apart. One committed upsert, so concurrent
    workers queue on the row for an instant and get consecutive slots. ``clock_timestamp()``,
    not ``now()``: the real time of the call, not of its transaction's start."""
    async with db.tenant_session(tenant_id) as session:
        slot, wait = (await session.execute(text(
            "INSERT INTO send_pacing AS p (tenant_id, channel_id, next_slot_at) "
            "VALUES (:tenant, :channel, clock_timestamp() + make_interval(secs => :span)) "
            "ON CONFLICT (channel_id) DO UPDATE SET next_slot_at = "
            "greatest(p.next_slot_at, clock_timestamp()) + make_interval(secs => :span) "
            "RETURNING p.next_slot_at - make_interval(secs => :span), "
            "extract(epoch FROM p.next_slot_at - make_interval(secs => :span) "
            "- clock_timestamp())"),
            {"tenant": tenant_id, "channel": channel_id, "span": count / per_second})).one()
    return slot, max(float(wait), 0.0)


def recipient_interval(kind: str) -> float | None:
    """Least seconds between two messages to one recipient on this kind, or None (no cap)."""
    return RECIPIENT_INTERVALS.get(kind)


def recipient_slot(previous: datetime | None, now: datetime, interval: float) -> datetime:
    """When a message to a recipient may go: now, unless the recipient's latest message
    (``previous``: sent, or waiting for its own slot) was less than ``interval`` seconds before."""
    if previous is None:
        return now
    return max(now, previous + timedelta(seconds=interval))


def seconds_until(at: datetime) -> float:
    return max((at - datetime.now(UTC)).total_seconds(), 0.0)

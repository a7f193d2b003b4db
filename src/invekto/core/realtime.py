"""Live events: published with NOTIFY inside the writing transaction (so they are delivered at
commit, or never), fanned out by one LISTEN connection per web process to that process's sockets.

Payloads carry ids and the few fields needed to decide who may see the event; clients fetch
details through the API, so NOTIFY's 8 kB limit is never near.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.core.actor import Actor

log = structlog.get_logger(__name__)

CHANNEL = "invekto_events"
_QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class Event:
    tenant_id: uuid.UUID
    type: str  # message.created, message.status, conversation.updated, presence.changed...
    data: dict[str, Any] = field(default_factory=dict)
    # Audience for restricted events: agents see them when assigned to the conversation, in its
    # group, or when it has neither (the tenant-wide queue); supervisors and admins see all.
    assignee_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    restricted: bool = True
    # For one person only (a mention, their own presence): nobody else receives it.
    user_id: uuid.UUID | None = None

    def to_json(self) -> str:
        return json.dumps({
            "tenant_id": str(self.tenant_id), "type": self.type, "data": self.data,
            "assignee_id": str(self.assignee_id) if self.assignee_id else None,
            "group_id": str(self.group_id) if self.group_id else None,
            "restricted": self.restricted,
            "user_id": str(self.user_id) if self.user_id else None,
        }, default=str)

    @classmethod
    def many_from_json(cls, raw: str) -> list[Event]:
        """The events of one notification: a list of them (see ``publish_many``)."""
        return [cls.from_body(body) for body in json.loads(raw)]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Event:
        return cls(
            tenant_id=uuid.UUID(body["tenant_id"]), type=body["type"], data=body["data"],
            assignee_id=uuid.UUID(body["assignee_id"]) if body["assignee_id"] else None,
            group_id=uuid.UUID(body["group_id"]) if body["group_id"] else None,
            restricted=body["restricted"],
            user_id=uuid.UUID(body["user_id"]) if body.get("user_id") else None,
        )

    def visible_to(self, actor: Actor) -> bool:
        if actor.tenant_id != self.tenant_id:
            return False
        if self.user_id is not None:
            return actor.user_id == self.user_id
        if not self.restricted or actor.sees_whole_tenant:
            return True
        if self.assignee_id is None and self.group_id is None:
            return True  # the tenant-wide queue (mirrors inbox.service's visibility rule)
        return (self.assignee_id is not None and self.assignee_id == actor.user_id) or (
            self.group_id is not None and self.group_id in actor.group_ids
        )

    def client_message(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


async def publish(session: AsyncSession, event: Event) -> None:
    """Queue ``event`` for delivery when ``session``'s transaction commits."""
    await publish_many(session, [event])


# Domains that also act on some live events (the outgoing webhooks: messages created and their
# status), registered when they are imported: the core knows no domain.
Listener = Callable[[AsyncSession, list[Event]], Awaitable[None]]
_LISTENERS: list[tuple[frozenset[str], Listener]] = []


def listen(types: Iterable[str], listener: Listener) -> None:
    """Have ``listener`` see, in the publishing transaction, each batch holding events of
    ``types``."""
    _LISTENERS.append((frozenset(types), listener))


# NOTIFY payloads must stay under 8,000 bytes; events are packed into JSON arrays up to this.
_PAYLOAD_BYTES = 7000


async def publish_many(session: AsyncSession, events: list[Event]) -> None:
    """Queue ``events``, in order, in one statement (an ingested batch has hundreds), packed a
    few dozen to a notification: each NOTIFY costs the database about as much as a row.
    Listeners (``listen``) see the batch first."""
    for types, listener in _LISTENERS:
        if any(event.type in types for event in events):
            await listener(session, events)
    if events:
        await session.execute(
            text("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) "
                 "WITH ORDINALITY AS e(payload, n) ORDER BY n"),
            {"channel": CHANNEL, "payloads": _packed(event.to_json() for event in events)},
        )


def _packed(payloads: Iterable[str]) -> list[str]:
    packs: list[str] = []
    pack: list[str] = []
    size = 2
    for payload in payloads:
        if pack and size + len(payload.encode()) + 1 > _PAYLOAD_BYTES:
            packs.append("[" + ",".join(pack) + "]")
            pack, size = [], 2
        pack.append(payload)
        size += len(payload.encode()) + 1
    packs.append("[" + ",".join(pack) + "]")
    return packs


@dataclass(eq=False)
class Subscription:
    # Which events this subscriber receives: what a signed-in user may see, or (the website
    # chat widget) what concerns one visitor.
    accepts: Callable[[Event], bool]
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(_QUEUE_LIMIT))
    overflowed: bool = False


class Hub:
    """One per web process: listens on the database and hands events to local subscribers."""

    def __init__(self, libpq_url: str):
        self._url = libpq_url
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="realtime-hub")
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, actor: Actor) -> Subscription:
        """The events ``actor`` may see."""
        return self.subscribe_to(actor.tenant_id, lambda event: event.visible_to(actor))

    def subscribe_to(self, tenant_id: uuid.UUID, accepts: Callable[[Event], bool]
                     ) -> Subscription:
        """The events of ``tenant_id`` that ``accepts`` takes."""
        subscription = Subscription(
            lambda event: event.tenant_id == tenant_id and accepts(event))
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def dispatch(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if not subscription.accepts(event):
                continue
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A stalled client must not hold memory for ever: it is told to reload.
                subscription.overflowed = True

    async def _listen_forever(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    backoff = 0.5
                    async for notify in connection.notifies():
                        try:
                            for event in Event.many_from_json(notify.payload):
                                self.dispatch(event)
                        except (ValueError, KeyError, TypeError):
                            log.warning("realtime.bad_payload")
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                # Events published while disconnected are lost to this process; clients get a
                # "resync" on reconnect of their socket. Keep trying.
                log.warning("realtime.listen_failed", error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)

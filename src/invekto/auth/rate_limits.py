"""Requests a minute per API key (decisions/0024), shared by every server process: a counter
row per key and minute in the UNLOGGED ``api_rate_counters``, counted up by one UPSERT in a
short transaction of its own before the request's transaction opens (so a request that fails
still counts, and the counter's row lock is held for that statement only, never for the length
of a request). Browser sessions are not counted.

Every API-key response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (seconds until the minute's budget is renewed); past the limit the answer
is 429 ``too_many_requests`` with ``Retry-After``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invekto import runtime
from invekto.core import security
from invekto.core.errors import TooManyRequests, Unauthenticated

STATE_KEY = "rate_limit"
WINDOW = timedelta(minutes=1)

_COUNT = text("""
    INSERT INTO api_rate_counters AS c (api_key_id, window_start, count)
    SELECT k.id, date_trunc('minute', now()), 1 FROM api_keys k
    WHERE k.tenant_id = :tenant_id AND k.secret_hash = :secret_hash AND k.revoked_at IS NULL
    ON CONFLICT (api_key_id, window_start) DO UPDATE SET count = c.count + 1
    RETURNING c.count,
              (SELECT k.rate_limit_per_minute FROM api_keys k WHERE k.id = c.api_key_id),
              extract(epoch FROM c.window_start + interval '1 minute' - now())
""")


@dataclass(frozen=True)
class Budget:
    limit: int
    used: int
    reset_seconds: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"x-ratelimit-limit", str(self.limit).encode()),
                (b"x-ratelimit-remaining", str(self.remaining).encode()),
                (b"x-ratelimit-reset", str(self.reset_seconds).encode())]


async def count(tenant_id: uuid.UUID, secret: str) -> Budget | None:
    """This request counted against its key's minute; None when the key is not valid (the
    request's authentication then refuses it, uncounted)."""
    async with runtime.current().db.tenant_session(tenant_id) as session:
        row = (await session.execute(_COUNT, {
            "tenant_id": tenant_id, "secret_hash": security.token_digest(secret)})).first()
    if row is None:
        return None
    used, limit, left = row
    return Budget(limit=limit, used=used, reset_seconds=max(math.ceil(left), 1))


async def check(request: Request) -> None:
    """For a request with an API key: count it, leave its budget for the response headers, and
    refuse it past the limit."""
    from invekto.auth import service as auth

    authorization = request.headers.get("authorization", "")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key:
        return
    try:
        tenant_id, secret = auth.split_credential(key.strip(), prefix=auth.API_KEY_PREFIX,
                                                  sep="_")
    except Unauthenticated:
        return  # refused by the authentication that follows
    budget = await count(tenant_id, secret)
    if budget is None:
        return
    request.scope.setdefault("state", {})[STATE_KEY] = budget
    if budget.exceeded:
        raise TooManyRequests(
            "this API key made more than %(limit)s requests this minute; try again in "
            "%(seconds)s seconds", params={"limit": budget.limit,
                                           "seconds": budget.reset_seconds},
            headers={"Retry-After": str(budget.reset_seconds)})


async def prune(session) -> int:
    """Counters of minutes gone by (system scope; the table has no tenant)."""
    result = await session.execute(text(
        "DELETE FROM api_rate_counters WHERE window_start < now() - interval '2 minutes'"))
    return result.rowcount


class RateLimitHeaders:
    """Adds the key's budget headers to its responses (errors included)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        state = scope.setdefault("state", {})  # the same dict the request's ``state`` uses

        async def send_with_budget(message: Message) -> None:
            if message["type"] == "http.response.start":
                budget = state.get(STATE_KEY)
                if budget is not None:
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], *budget.headers()]
            await send(message)

        await self.app(scope, receive, send_with_budget)

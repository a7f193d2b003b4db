"""Request dependencies: who is calling, and the transaction their request runs in.

The request owns the transaction: ``Scoped`` opens it tenant-scoped after authenticating,
commits when the route returns and rolls back on any error, before the response is sent
(``scope="function"``), so a failed commit is never reported as success.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from invekto import runtime
from invekto.auth import rate_limits
from invekto.auth import service as auth
from invekto.core.actor import Actor
from invekto.core.errors import PermissionDenied, Unauthenticated
from invekto.db.session import set_tenant_scope

SESSION_COOKIE = "invekto_session"
CSRF_COOKIE = "invekto_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass
class Context:
    session: AsyncSession
    actor: Actor
    session_secret: str | None = None  # set for browser sessions (logout, password change)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def csrf_token_for(session_secret: str) -> str:
    """Bound to the browser session: a token from another session (or none) is refused."""
    key = runtime.current().settings.resolved_secret_key().encode()
    return hmac.new(key, b"csrf:" + session_secret.encode(), hashlib.sha256).hexdigest()


async def _check_csrf(request: Request, session_secret: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf_token")
    # As bytes: compare_digest raises TypeError for a str with non-ASCII characters.
    if not sent or not hmac.compare_digest(str(sent).encode(),
                                           csrf_token_for(session_secret).encode()):
        raise PermissionDenied("missing or wrong CSRF token; reload the page", code="csrf_failed")


async def _authenticate(request: Request, session: AsyncSession) -> tuple[Actor, str | None]:
    ip = client_ip(request)
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise Unauthenticated("use 'Authorization: Bearer <API key>'")
        tenant_id, secret = auth.split_credential(key.strip(), prefix=auth.API_KEY_PREFIX,
                                                  sep="_")
        await set_tenant_scope(session, tenant_id)
        return await auth.authenticate_api_key(session, tenant_id, secret, ip=ip), None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthenticated("log in first")
    tenant_id, secret = auth.split_credential(cookie)
    await set_tenant_scope(session, tenant_id)
    lifetime = timedelta(days=runtime.current().settings.session_days)
    actor = await auth.authenticate_session(session, tenant_id, secret, ip=ip, lifetime=lifetime)
    if request.method not in _SAFE_METHODS:
        await _check_csrf(request, secret)
    return actor, secret


async def scoped_context(request: Request) -> AsyncIterator[Context]:
    # Before the request's own transaction: counted (or refused) in one of its own.
    await rate_limits.check(request)
    db = runtime.current().db
    async with db.sessionmaker() as session, session.begin():
        actor, secret = await _authenticate(request, session)
        # For the audit log: which browser or client made a change.
        actor = replace(actor, user_agent=request.headers.get("user-agent", "")[:400] or None)
        structlog.contextvars.bind_contextvars(tenant_id=str(actor.tenant_id),
                                               user_id=str(actor.user_id or actor.api_key_id))
        request.state.actor = actor
        yield Context(session=session, actor=actor, session_secret=secret)


Scoped = Annotated[Context, Depends(scoped_context, scope="function")]

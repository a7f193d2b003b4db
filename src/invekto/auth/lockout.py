"""Throttling of guesses: every password check and every second-factor code is a
``LoginAttempt`` of its username; ``max_failures`` failures in a row (within ``lockout``) lock
the username for ``lockout`` after the last of them. A wrong code counts like a wrong password,
so knowing the password does not buy unlimited tries at the code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.auth.models import LoginAttempt
from invekto.config import get_settings


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    # A session's longest life when the company chose none (``auth.policy``).
    session_lifetime: timedelta = timedelta(days=14)

    @classmethod
    def configured(cls) -> LoginPolicy:
        """As the deployment's settings say (``INVEKTO_LOGIN_*``, ``INVEKTO_SESSION_DAYS``)."""
        settings = get_settings()
        return cls(max_failures=settings.login_max_failures,
                   lockout=timedelta(minutes=settings.login_lockout_minutes),
                   session_lifetime=timedelta(days=settings.session_days))


async def remaining(session: AsyncSession, tenant_id: uuid.UUID, username: str, now: datetime,
                    policy: LoginPolicy) -> timedelta | None:
    """How long ``username`` stays locked; None when it is not."""
    window_start = now - policy.lockout
    last_success = select(func.max(LoginAttempt.attempted_at)).where(
        LoginAttempt.tenant_id == tenant_id, LoginAttempt.username == username,
        LoginAttempt.succeeded).scalar_subquery()
    count, latest = (await session.execute(
        select(func.count(), func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.tenant_id == tenant_id, LoginAttempt.username == username,
            LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at > window_start,
            LoginAttempt.attempted_at > func.coalesce(last_success, window_start),
        ))).one()
    if count < policy.max_failures:
        return None
    return latest + policy.lockout - now


def record(session: AsyncSession, tenant_id: uuid.UUID, username: str, *, ip: str | None,
           succeeded: bool, now: datetime) -> None:
    session.add(LoginAttempt(tenant_id=tenant_id, username=username, ip=ip,
                             succeeded=succeeded, attempted_at=now))

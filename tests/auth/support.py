"""Helpers of the authentication tests: codes an authenticator app would show, two-factor
authentication set up through the API, logins through the API, and what the database holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from invekto.audit.models import AuditEvent
from invekto.auth import totp
from invekto.auth.models import LoginAttempt, TwoFactor, UserSession
from tests.factories import PASSWORD, Company

LOGIN = "/api/v1/auth/login"
LOGIN_2FA = "/api/v1/auth/login/2fa"
ME = "/api/v1/auth/me"


def code(secret: str, *, steps: int = 0) -> str:
    """The app's code now (``steps`` later or earlier: each 30 seconds)."""
    return totp.code_at(secret, datetime.now(UTC) + timedelta(seconds=30 * steps))


def fresh_client(company: Company, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=company.app),
                             base_url="http://testserver", **kwargs)


async def password_login(client: httpx.AsyncClient, company: Company, username: str,
                         password: str = PASSWORD) -> httpx.Response:
    return await client.post(LOGIN, json={"company": company.slug, "username": username,
                                          "password": password})


async def enable_two_factor(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """Set up and turn on two-factor authentication for the client's person, as they would;
    returns the secret and the recovery codes."""
    setup = await client.post("/api/v1/auth/2fa/setup")
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    enabled = await client.post("/api/v1/auth/2fa/enable", json={"code": code(secret)})
    assert enabled.status_code == 200, enabled.text
    return secret, enabled.json()["recovery_codes"]


async def time_passes(company: Company, user_id: uuid.UUID) -> None:
    """As if the last code used were old: the app's current codes are good again (the tests
    cannot wait 30 seconds for the next one)."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await session.execute(update(TwoFactor).where(TwoFactor.user_id == user_id)
                              .values(last_used_step=None))


async def two_factor_login(company: Company, username: str, secret_or_code: str, *,
                           is_code: bool = False) -> httpx.AsyncClient:
    """A fresh browser logged in with the password and a code (the caller closes it)."""
    client = fresh_client(company)
    challenge = await password_login(client, company, username)
    assert challenge.status_code == 200 and challenge.json()["two_factor"] == "verify", \
        challenge.text
    response = await client.post(LOGIN_2FA, json={
        "pending_token": challenge.json()["pending_token"],
        "code": secret_or_code if is_code else code(secret_or_code)})
    assert response.status_code == 200, response.text
    client.headers["x-csrf-token"] = response.json()["csrf_token"]
    return client


async def audit_actions(company: Company, prefix: str = "") -> list[AuditEvent]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.occurred_at, AuditEvent.id))).all())


async def session_count(company: Company, user_id: uuid.UUID) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(UserSession).where(
            UserSession.user_id == user_id))


async def failed_attempts(company: Company, username: str) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == username, LoginAttempt.succeeded.is_(False)))


def assert_error(response: httpx.Response, status: int, code_: str, *,
                 field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code_, error
    if field is not None:
        assert error.get("field") == field, error
    return error

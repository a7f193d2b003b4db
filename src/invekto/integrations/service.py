"""A company's connections: saving their settings, testing them, and handing a ready
``Connection`` to whatever uses one (order look-ups, payment links, provider webhooks)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from invekto import runtime
from invekto.audit import service as audit
from invekto.core import outbound
from invekto.core.actor import Actor, Permission
from invekto.core.crypto import secret_box
from invekto.core.errors import NotFound, UpstreamUnavailable, ValidationFailed
from invekto.db.queries import flush_unique
from invekto.db.session import Database
from invekto.integrations import registry
from invekto.integrations.base import (
    Capability,
    CheckResult,
    Connection,
    IntegrationAdapter,
    IntegrationAuthFailed,
    IntegrationError,
    SettingField,
)
from invekto.integrations.models import Integration, IntegrationEvent

log = structlog.get_logger()
T = TypeVar("T")

# Where providers post their events for one connection: ``{public URL}{WEBHOOK_PATH}/{kind}/
# {integration id}[/{topic}]`` (routes in each provider's module).
WEBHOOK_PATH = "/hooks/integrations"


def _now() -> datetime:
    return datetime.now(UTC)


def adapter(kind: str) -> IntegrationAdapter:
    found = registry.adapter_for(kind)
    if found is None:
        raise NotFound(f"no integration called {kind!r}")
    return found


@dataclass(frozen=True)
class Listed:
    """One provider on the settings page: its adapter and the company's connection, if any."""

    adapter: IntegrationAdapter
    integration: Integration | None

    def value(self, field: SettingField) -> str:
        """What the form shows: a setting, never a secret."""
        if field.secret or self.integration is None:
            return "" if field.secret else field.default
        return str(self.integration.settings.get(field.name, field.default) or "")

    def has_secret(self, field: SettingField) -> bool:
        return self.integration is not None and field.name in set(
            self.integration.settings.get("_secrets_set", []))


async def list_integrations(session: AsyncSession, actor: Actor) -> list[Listed]:
    actor.require(Permission.MANAGE_SETTINGS)
    rows = {row.kind: row for row in (await session.scalars(select(Integration).where(
        Integration.tenant_id == actor.tenant_id))).all()}
    return [Listed(a, rows.get(a.kind)) for a in registry.all_adapters()]


async def get_integration(session: AsyncSession, actor: Actor, kind: str) -> Listed:
    actor.require(Permission.MANAGE_SETTINGS)
    found = adapter(kind)
    row = await session.scalar(select(Integration).where(
        Integration.tenant_id == actor.tenant_id, Integration.kind == kind))
    return Listed(found, row)


async def save_integration(session: AsyncSession, actor: Actor, kind: str,
                           values: dict[str, Any], *, enabled: bool = True) -> Integration:
    """Connect or change a connection. A secret left empty keeps the stored one; a required
    field (a secret included, when none is stored) left empty is refused, naming it."""
    actor.require(Permission.MANAGE_SETTINGS)
    found = adapter(kind)
    row = await session.scalar(select(Integration).where(
        Integration.tenant_id == actor.tenant_id, Integration.kind == kind).with_for_update())
    credentials = _credentials(row)
    settings: dict[str, Any] = {}
    unknown = set(values) - {f.name for f in found.setting_fields()}
    if unknown:
        raise ValidationFailed(f"unknown setting {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    for field in found.setting_fields():
        value = str(values.get(field.name) or "").strip()
        if len(value) > field.max_length:
            raise ValidationFailed(f"{field.name} is longer than {field.max_length} characters",
                                   field=field.name)
        if field.choices and value and value not in {c for c, _ in field.choices}:
            raise ValidationFailed(f"{field.name} must be one of "
                                   f"{', '.join(c for c, _ in field.choices)}", field=field.name)
        if field.kind == "url" and value:
            _check_url(value, field.name)
        if field.secret:
            if value:
                credentials[field.name] = value
            elif field.required and not credentials.get(field.name):
                raise ValidationFailed(f"{field.name} is required", field=field.name)
            continue
        if field.required and not value:
            raise ValidationFailed(f"{field.name} is required", field=field.name)
        settings[field.name] = value or field.default
    settings = found.clean_settings(settings)
    settings["_secrets_set"] = sorted(credentials)
    before = None if row is None else {"settings": row.settings, "enabled": row.enabled}
    if row is None:
        row = Integration(tenant_id=actor.tenant_id, kind=kind)
        session.add(row)
    changed_credentials = before is None or _credentials(row) != credentials
    row.settings = settings
    row.enabled = enabled
    row.credentials_encrypted = secret_box().encrypt_json(credentials) if credentials else None
    if changed_credentials or before is None or before["settings"] != settings:
        # New settings: what the last test said no longer holds, and a kept token was for the
        # old credentials.
        row.status, row.status_detail, row.checked_at = "unchecked", "", None
        row.state_encrypted = None
    # Two first connects at once (a double click): the second is a 409, not an error page.
    await flush_unique(session, "this integration was connected at the same moment; "
                       "open it again", field="kind")
    # Secrets are named in the record ("credentials_changed"), never shown.
    await audit.record(
        session, actor, "integration.connected" if before is None else "integration.updated",
        target_type="integration", target_id=row.id,
        data={"kind": kind, "credentials_changed": changed_credentials},
        **audit.diff(before or {}, {"settings": settings, "enabled": enabled}))
    return row


def _check_url(value: str, field: str) -> None:
    if not value.startswith(("https://", "http://")):
        raise ValidationFailed("the address must start with https://", field=field)
    outbound.check_url(value, field=field)


async def remove_integration(session: AsyncSession, actor: Actor, kind: str) -> None:
    actor.require(Permission.MANAGE_SETTINGS)
    row = await session.scalar(select(Integration).where(
        Integration.tenant_id == actor.tenant_id, Integration.kind == kind))
    if row is None:
        raise NotFound("integration not connected")
    await session.delete(row)
    await audit.record(session, actor, "integration.removed", target_type="integration",
                       target_id=row.id, data={"kind": kind})


async def test_integration(session: AsyncSession, actor: Actor, kind: str) -> CheckResult:
    """One harmless authenticated call to the provider; the answer is kept as the status."""
    actor.require(Permission.MANAGE_SETTINGS)
    row = await session.scalar(select(Integration).where(
        Integration.tenant_id == actor.tenant_id, Integration.kind == kind))
    if row is None:
        raise NotFound("integration not connected")
    conn = connection_of(row)
    try:
        result = await call(session, conn, lambda a, c: a.check(c))
    except IntegrationError as exc:
        result = CheckResult(False, exc.message)
    await _set_status(session, row.id, "ok" if result.ok else "failing", result.detail)
    return result


# ---- using a connection ------------------------------------------------------------------------

def _credentials(row: Integration | None) -> dict[str, str]:
    if row is None or not row.credentials_encrypted:
        return {}
    return secret_box().decrypt_json(row.credentials_encrypted)


def connection_of(row: Integration) -> Connection:
    state = secret_box().decrypt_json(row.state_encrypted) if row.state_encrypted else {}
    return Connection(integration_id=row.id, tenant_id=row.tenant_id, kind=row.kind,
                      settings={k: v for k, v in row.settings.items() if not k.startswith("_")},
                      credentials=_credentials(row), state=state)


async def connection(session: AsyncSession, tenant_id: uuid.UUID, kind: str
                     ) -> Connection | None:
    """The company's enabled connection to ``kind``, or None."""
    row = await session.scalar(select(Integration).where(
        Integration.tenant_id == tenant_id, Integration.kind == kind, Integration.enabled))
    return None if row is None else connection_of(row)


async def connections_with(session: AsyncSession, tenant_id: uuid.UUID,
                           capability: Capability) -> list[Connection]:
    """The company's enabled connections that can do ``capability``, in the registry's order."""
    kinds = registry.kinds_with(capability)
    if not kinds:
        return []
    rows = {row.kind: row for row in (await session.scalars(select(Integration).where(
        Integration.tenant_id == tenant_id, Integration.enabled,
        Integration.kind.in_(kinds)))).all()}
    return [connection_of(rows[k]) for k in kinds if k in rows]


async def capabilities_of(session: AsyncSession, tenant_id: uuid.UUID) -> frozenset[Capability]:
    """What the company's enabled connections can do (the inbox shows an order look-up or a
    payment-link button only when one can)."""
    kinds = (await session.scalars(select(Integration.kind).where(
        Integration.tenant_id == tenant_id, Integration.enabled))).all()
    found = [registry.adapter_for(kind) for kind in kinds]
    return frozenset(c for a in found if a is not None for c in a.capabilities)


async def call(session: AsyncSession, conn: Connection,
               operation: Callable[[Any, Connection], Awaitable[T]]) -> T:
    """Run ``operation(adapter, conn)``, then ``settle`` what it left behind."""
    before = state_fingerprint(conn)
    try:
        result = await operation(adapter(conn.kind), conn)
    except IntegrationError as exc:
        await settle(session, conn, before, exc)
        raise
    await settle(session, conn, before)
    return result


def state_fingerprint(conn: Connection) -> str:
    return json.dumps(conn.state, sort_keys=True, default=str)


async def settle(session: AsyncSession, conn: Connection, before: str,
                 error: IntegrationError | None = None) -> None:
    """After a call: refused credentials mark the connection failing (the settings page says
    so), and what the adapter kept in ``conn.state`` (a renewed token) is saved, encrypted.
    Separate from the call, so that calls to several providers can run at once while the
    session is used by one of them at a time."""
    if isinstance(error, IntegrationAuthFailed):
        await _remember_failure(conn, error.message)
    if state_fingerprint(conn) != before:
        await session.execute(update(Integration).where(
            Integration.tenant_id == conn.tenant_id,
            Integration.id == conn.integration_id).values(
            state_encrypted=secret_box().encrypt_json(conn.state)))


async def _remember_failure(conn: Connection, detail: str) -> None:
    """Refused credentials, kept in a transaction of their own: the request that met them
    usually fails and rolls back (a payment link not made), and the settings page must still
    say the connection is not working. Never waits long on the row: if the request itself
    holds it, the status is left for the next test of the connection."""
    try:
        async with runtime.current().db.tenant_session(conn.tenant_id) as own:
            await own.execute(text("SET LOCAL lock_timeout = '2s'"))
            await _set_status(own, conn.integration_id, "failing", detail)
    except DBAPIError:
        log.warning("integrations.status_not_kept", kind=conn.kind)


async def _set_status(session: AsyncSession, integration_id: uuid.UUID, status: str,
                      detail: str) -> None:
    await session.execute(update(Integration).where(Integration.id == integration_id).values(
        status=status, status_detail=detail[:500], checked_at=_now()))


def unavailable(exc: IntegrationError, label: str) -> UpstreamUnavailable:
    """A provider failure as the API's 502/503 answer, naming the provider."""
    return UpstreamUnavailable(f"{label}: {exc.message}")


# ---- provider webhooks -------------------------------------------------------------------------

async def webhook_connection(db: Database, kind: str, integration_id: uuid.UUID
                             ) -> Connection | None:
    """The enabled connection a provider's webhook URL names. The URL carries no tenant, so this
    one lookup reads across tenants (system scope); everything after it runs in the tenant."""
    async with db.system_session() as session:
        row = await session.scalar(select(Integration).where(
            Integration.id == integration_id, Integration.kind == kind, Integration.enabled))
        return None if row is None else connection_of(row)


def webhook_url(public_url: str, conn: Connection | Integration, topic: str = "") -> str:
    integration_id = conn.integration_id if isinstance(conn, Connection) else conn.id
    path = f"{WEBHOOK_PATH}/{conn.kind}/{integration_id}"
    return public_url.rstrip("/") + path + (f"/{topic}" if topic else "")


async def record_event(session: AsyncSession, conn: Connection, *, event_id: str, topic: str,
                       payload: dict[str, Any]) -> IntegrationEvent | None:
    """Keep a provider's event once: None when this event id was recorded before (a retry)."""
    event_row = await session.scalar(insert(IntegrationEvent).values(
        tenant_id=conn.tenant_id, integration_id=conn.integration_id, event_id=event_id[:200],
        topic=topic[:100], payload=payload, received_at=_now()).on_conflict_do_nothing(
        index_elements=["tenant_id", "integration_id", "event_id"]).returning(IntegrationEvent.id))
    if event_row is None:
        return None
    return await session.get(IntegrationEvent, event_row)


async def mark_processed(session: AsyncSession, event: IntegrationEvent,
                         error: str | None = None) -> None:
    event.processed_at = _now()
    event.error = error[:500] if error else None


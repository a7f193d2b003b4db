"""Contacts and Zoho CRM records kept the same, both ways.

Push: a contact created or changed here defers ``zoho:push_contact`` in the same transaction
(one waiting job per contact). The job sends the mapped values as an upsert: to the linked
record by its id, else to the record Zoho finds by phone or e-mail, else a new one; the link
keeps the record id and a fingerprint of the values sent. Values whose fingerprint is the
link's were synced already and are not sent again. Zoho unavailable or rate limiting: the job
is tried again later (procrastinate's retry); a refused value is kept on the link as its error.

Pull: every five minutes, each company's records modified since the last pull
(``If-Modified-Since``, Zoho's own ``Modified_Time`` of the last record seen, so the two clocks
are never compared). Each record updates its linked contact, else the contact with its phone
(E.164), else with its e-mail, else a new contact when the company said so. The changes are
written with ``contacts.SYNCING`` set (no push is deferred for them) and the link's fingerprint
becomes the pulled values': a change that came from Zoho is never pushed back.

Conflicts: the newer change wins. A pulled record whose contact changed here since the last
sync, later than the record's ``Modified_Time``, is not applied (the contact's push is
deferred instead, and overwrites it); otherwise Zoho's values are applied. A push always sends
the contact's values as they are when the job runs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pydantic
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.contacts import service as contacts
from invekto.contacts.models import Contact
from invekto.contacts.schemas import ContactCreate, ContactUpdate
from invekto.core import jobs
from invekto.core.actor import Actor
from invekto.core.errors import AppError
from invekto.integrations import service
from invekto.integrations.base import Connection, IntegrationError
from invekto.integrations.contacts import SYNCING
from invekto.integrations.models import Integration
from invekto.integrations.zoho import mapping
from invekto.integrations.zoho.adapter import ZohoAdapter, adapter, modified_time
from invekto.integrations.zoho.models import ZohoLink

log = structlog.get_logger(__name__)
KIND = "zoho"
PULLED_UNTIL = "pulled_until"  # conn.state: Zoho's Modified_Time of the last record pulled


def _now() -> datetime:
    return datetime.now(UTC)


async def defer_push(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    from invekto.integrations.zoho import tasks

    await jobs.defer(session, tasks.push_contact, queueing_lock=f"zoho.push.{contact_id}",
                     tenant_id=str(tenant_id), contact_id=str(contact_id))


async def link_of(session: AsyncSession, contact_id: uuid.UUID) -> ZohoLink | None:
    return await session.scalar(select(ZohoLink).where(ZohoLink.contact_id == contact_id))


async def _lock(session: AsyncSession, name: str, *, wait: bool) -> bool:
    """A transaction-scoped advisory lock on ``name``; without ``wait``, False when taken."""
    function = func.pg_advisory_xact_lock if wait else func.pg_try_advisory_xact_lock
    taken = await session.scalar(select(function(func.hashtextextended(name, 0))))
    return wait or bool(taken)


# ---- push --------------------------------------------------------------------------------------

async def push(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> str:
    """Send one contact to Zoho. Returns what happened: "insert" or "update" (sent),
    "unchanged" (synced already), "off" (no connection), "gone" (no contact), "taken" (the
    record Zoho found is another contact's), "failed" (refused; kept on the link) or "retry"
    (Zoho unavailable: the job tries again)."""
    conn = await service.connection(session, tenant_id, KIND)
    if conn is None:
        return "off"
    # Two pushes of one contact at once (a job and "sync now") would both link it; the second
    # waits for the first and then finds its link (a lock of its own, so edits of the contact
    # never wait for Zoho).
    await _lock(session, f"zoho.push.{contact_id}", wait=True)
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.tenant_id != tenant_id:
        return "gone"
    fields = adapter.mapping(conn)
    module = adapter.module(conn)
    values = mapping.ours_of(contact, fields)
    fingerprint = mapping.fingerprint(values)
    link = await link_of(session, contact_id)
    if link is not None and link.fingerprint == fingerprint and link.module == module:
        return "unchanged"
    record_id = link.record_id if link is not None and link.module == module else None
    try:
        done = await service.call(session, conn, lambda a, c: a.upsert(
            c, mapping.record_of(values, fields), record_id=record_id))
    except IntegrationError as exc:
        log.warning("zoho.push_failed", contact_id=str(contact_id), error=exc.message)
        if link is not None:
            link.error = exc.message[:500]
        return "retry" if exc.temporary else "failed"
    taken = await session.scalar(select(ZohoLink).where(
        ZohoLink.module == module, ZohoLink.record_id == done.record_id,
        ZohoLink.contact_id != contact_id))
    if taken is not None:
        # Zoho's duplicate check found a record another contact is linked to (a shared e-mail):
        # one record, one contact.
        log.warning("zoho.record_taken", contact_id=str(contact_id), record_id=done.record_id)
        return "taken"
    if link is None:
        link = ZohoLink(tenant_id=tenant_id, contact_id=contact_id)
        session.add(link)
    link.module, link.record_id, link.fingerprint = module, done.record_id, fingerprint
    link.pushed_at, link.zoho_modified_at, link.error = _now(), done.modified_at, None
    await session.flush()
    return done.action or "update"


# ---- pull --------------------------------------------------------------------------------------

async def pull_tenants(session: AsyncSession) -> list[uuid.UUID]:
    """Companies with an enabled Zoho connection (system scope)."""
    return list((await session.scalars(select(Integration.tenant_id).where(
        Integration.kind == KIND, Integration.enabled))).all())


async def pull(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Bring in the records changed in Zoho since the last pull; returns how many contacts
    were created or changed. A failing Zoho is logged (the connection's status says so when
    its credentials were refused) and tried at the next pull."""
    conn = await service.connection(session, tenant_id, KIND)
    if conn is None or not await _lock(session, f"zoho.pull.{tenant_id}", wait=False):
        return 0  # not connected, or a pull of this company still runs
    try:
        changed = await service.call(session, conn, lambda a, c: a.changed_since(
            c, conn.state.get(PULLED_UNTIL)))
    except IntegrationError as exc:
        log.warning("zoho.pull_failed", tenant_id=str(tenant_id), error=exc.message)
        return 0
    applied = 0
    session.info[SYNCING] = True
    try:
        for record in changed.records:
            try:
                async with session.begin_nested():
                    applied += await _apply(session, conn, record)
            except (AppError, pydantic.ValidationError) as exc:
                # One record we cannot take (a number another contact has, an address that is
                # no address) must not stop the others.
                log.warning("zoho.record_skipped", record_id=str(record.get("id")),
                            error=str(exc)[:300])
    finally:
        session.info.pop(SYNCING, None)
    times = [t for t in (modified_time(r) for r in changed.records) if t is not None]
    if times:
        before = service.state_fingerprint(conn)
        conn.state[PULLED_UNTIL] = max(times).isoformat(timespec="seconds")
        await service.settle(session, conn, before)
    return applied


async def _apply(session: AsyncSession, conn: Connection, record: dict[str, Any]) -> int:
    tenant_id = conn.tenant_id
    zoho: ZohoAdapter = adapter
    fields, module = zoho.mapping(conn), zoho.module(conn)
    record_id, modified_at = str(record.get("id") or ""), modified_time(record)
    if not record_id:
        return 0
    link = await session.scalar(select(ZohoLink).where(ZohoLink.module == module,
                                                       ZohoLink.record_id == record_id))
    contact = await session.get(Contact, link.contact_id) if link is not None else None
    if contact is None:
        contact = await _match(session, record, fields)
        if contact is not None and await link_of(session, contact.id) is not None:
            return 0  # that contact is another record's
    system = Actor.system(tenant_id)
    if contact is None:
        if conn.setting("create_contacts") != "yes":
            return 0
        found = mapping.changes_from(record, None, fields)
        contact = await contacts.create_contact(session, system, ContactCreate(
            name=found.get("name", ""), phone=found.get("phone"), email=found.get("email"),
            custom_fields=found.get("custom_fields", {})))
        changed = True
    else:
        if link is not None and modified_at is not None and contact.updated_at > modified_at \
                and link.fingerprint != mapping.fingerprint(mapping.ours_of(contact, fields)):
            # Changed here since the last sync, and later than in Zoho: ours wins.
            await defer_push(session, tenant_id, contact.id)
            return 0
        changes = mapping.changes_from(record, contact, fields)
        changed = bool(changes)
        if changes:
            await contacts.update_contact(session, system, contact.id, ContactUpdate(**changes))
    if link is None:
        link = ZohoLink(tenant_id=tenant_id, contact_id=contact.id, module=module,
                        record_id=record_id)
        session.add(link)
    link.fingerprint = mapping.fingerprint(mapping.ours_of(contact, fields))
    link.pulled_at, link.zoho_modified_at, link.error = _now(), modified_at, None
    await session.flush()
    return int(changed)


async def _match(session: AsyncSession, record: dict[str, Any], fields: dict[str, str]
                 ) -> Contact | None:
    """The contact with the record's phone (E.164), else with its e-mail."""
    found = mapping.changes_from(record, None, fields)
    for column in ("phone", "email"):
        if found.get(column):
            contact = await session.scalar(select(Contact).where(
                getattr(Contact, column) == found[column]).order_by(Contact.created_at).limit(1))
            if contact is not None:
                return contact
    return None


# ---- the contact card --------------------------------------------------------------------------

async def card(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
               ) -> dict[str, Any] | None:
    """What the contact card shows of Zoho: None when the company has no Zoho connection."""
    conn = await service.connection(session, tenant_id, KIND)
    if conn is None:
        return None
    link = await link_of(session, contact_id)
    if link is None:
        return {"linked": False, "state": "not_synced"}
    return {"linked": True, "url": adapter.record_url(conn, link.module, link.record_id),
            "module": link.module, "record_id": link.record_id,
            "state": "failed" if link.error else "synced", "error": link.error,
            "pushed_at": link.pushed_at, "pulled_at": link.pulled_at}

"""Data subject requests (KVKK articles 11 and 13) and the retention policy. Everything here
needs the "Manage security" permission.

**Export.** ``export_contact`` reads everything about the contact in the request's
transaction and records the request; the route then streams the ZIP (``archive.stream``),
reading one stored file at a time after the transaction has committed. Streamed rather than
built by a job: the database part of one contact's data is small and read in one consistent
snapshot, the files are the bulk and cost one file's memory at a time, and no second copy of
the person's data is left in storage to protect, expire and clean up.

**Erasure.** ``erase_contact`` anonymises the contact (the row stays, so every message,
conversation and report fact still has its contact): the name becomes a placeholder, the
phone number, e-mail address, language, tags, custom fields and every channel identity go (a
new message from the same number makes a new contact), marketing consents are withdrawn
through the consent service (its history keeps the number: the evidence the İYS rules ask
for, that domain's to expire), notes and every conversation's content are
anonymised (``anonymise``), campaign and list rows lose the number and the text, raw provider
deliveries that carry the person are deleted. The contact's conversations must be closed
first: closing is a report fact, and erasure changes none. The SMS opt-out list keeps the
number: it exists to never message that number again, which the law asks the company to
honour. The request is recorded with counts only; the audit entry names no personal data.

**Retention.** A company's policy (``RetentionPolicy``) is applied every night
(``tasks.apply_retention``) by ``run_retention``: files older than N days deleted, closed
conversations anonymised N months after closing, audit events older than N days deleted.
Each step works in batches, each batch its own transaction taking its rows with SKIP LOCKED
(two runs never do the same rows), choosing only what is still due (a repeated or resumed run
does nothing twice). ``preview`` counts what a policy would remove now.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.audit.models import AuditEvent
from invekto.contacts import service as contacts
from invekto.contacts.models import Contact
from invekto.contacts.schemas import ConsentIn
from invekto.core import i18n, jobs
from invekto.core.actor import Actor, Permission
from invekto.core.errors import Conflict, ValidationFailed
from invekto.core.i18n import N_
from invekto.db.session import Database
from invekto.inbox.models import Conversation
from invekto.privacy import anonymise
from invekto.privacy import export as personal_data
from invekto.privacy.anonymise import RemovedFiles
from invekto.privacy.models import (
    ATTACHMENT_DAYS,
    AUDIT_DAYS,
    CONVERSATION_MONTHS,
    PrivacyRequest,
    RetentionPolicy,
    RetentionRun,
)
from invekto.privacy.schemas import RetentionPolicyIn
from invekto.tenants.models import Tenant

log = structlog.get_logger(__name__)

REQUEST_LIST_LIMIT = 200
RUN_LIST_LIMIT = 30
# Rows a retention batch takes in one transaction: short enough never to hold the inbox up.
ATTACHMENT_BATCH = 200
CONVERSATION_BATCH = 50
# Kept with each consent the erasure withdraws, as its evidence.
ERASURE_NOTE = N_("Withdrawn because the person asked for their personal data to be erased.")
# A raw delivery is found by the handles in it; a shorter one would match unrelated text.
MIN_HANDLE_LENGTH = 6


def _now() -> datetime:
    return datetime.now(UTC)


# ---- requests --------------------------------------------------------------------------------

def _request(actor: Actor, kind: str, contact_id: uuid.UUID, now: datetime) -> PrivacyRequest:
    return PrivacyRequest(tenant_id=actor.tenant_id, kind=kind, contact_id=contact_id,
                          requested_by_kind=actor.kind, requested_by=actor.id_for_audit,
                          status="received", received_at=now)


async def _fulfilled(session: AsyncSession, request: PrivacyRequest, summary: dict[str, int]
                     ) -> None:
    request.status, request.fulfilled_at, request.summary = "fulfilled", _now(), summary
    await session.flush()


async def list_requests(session: AsyncSession, actor: Actor, *,
                        contact_id: uuid.UUID | None = None) -> list[PrivacyRequest]:
    """The company's requests, newest first (with ``contact_id``: that contact's)."""
    actor.require(Permission.MANAGE_SECURITY)
    query = select(PrivacyRequest).where(PrivacyRequest.tenant_id == actor.tenant_id)
    if contact_id is not None:
        query = query.where(PrivacyRequest.contact_id == contact_id)
    return list((await session.scalars(query.order_by(
        PrivacyRequest.received_at.desc(), PrivacyRequest.id.desc())
        .limit(REQUEST_LIST_LIMIT))).all())


async def erased_at(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
                    ) -> datetime | None:
    """When the contact's personal data were erased (None: never)."""
    return await session.scalar(select(func.max(PrivacyRequest.fulfilled_at)).where(
        PrivacyRequest.tenant_id == tenant_id, PrivacyRequest.contact_id == contact_id,
        PrivacyRequest.kind == "erasure", PrivacyRequest.status == "fulfilled"))


# ---- export ----------------------------------------------------------------------------------

async def export_contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID
                         ) -> personal_data.PersonalData:
    """Everything about the contact, as the archive's documents and files (an erased
    contact's as it is now: anonymised). Recorded as a fulfilled request and audited (counts
    only); the caller streams the archive (``archive.stream``). Needs "See personal data"
    too: the archive holds them in clear, as the person has a right to them."""
    actor.require(Permission.MANAGE_SECURITY)
    actor.require(Permission.SEE_PERSONAL_DATA)
    contact = await contacts.get_contact(session, actor, contact_id)
    now = _now()
    request = _request(actor, "export", contact.id, now)
    session.add(request)
    gathered = await personal_data.gather(
        session, actor.tenant_id, contact, now=now,
        erased_at=await erased_at(session, actor.tenant_id, contact.id),
        masker=await contacts.masker_for(session, actor))
    await _fulfilled(session, request, gathered.counts)
    await audit.record(session, actor, "privacy.export", target_type="contact",
                       target_id=contact.id, data={"request_id": str(request.id),
                                                   **gathered.counts})
    return gathered


# ---- erasure ---------------------------------------------------------------------------------

async def erase_contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID, *,
                        confirm: str) -> PrivacyRequest:
    """Anonymise the contact and everything said with them (the module's docstring says
    what goes and what stays). ``confirm`` must repeat the contact's id. Returns the
    fulfilled request, whose ``summary`` counts what was done."""
    actor.require(Permission.MANAGE_SECURITY)
    contact = await contacts.get_contact(session, actor, contact_id)
    if confirm.strip().lower() != str(contact.id):
        raise ValidationFailed("to confirm, repeat the contact's id", field="confirm")
    conversations = list((await session.execute(select(Conversation.id, Conversation.status)
                                                .where(Conversation.tenant_id ==
                                                       actor.tenant_id,
                                                       Conversation.contact_id == contact.id)
                                                .with_for_update())).all())
    still_open = sum(status != "closed" for _, status in conversations)
    if still_open:
        raise Conflict("close the contact's %(count)s open conversations first",
                       field="contact_id", code="conversations_open",
                       params={"count": still_open})
    now = _now()
    request = _request(actor, "erasure", contact.id, now)
    session.add(request)
    language = await anonymise.company_language(session, actor.tenant_id)
    withdrawn = await _withdraw_consents(session, actor, contact.id, language)
    handles = await _forget_identities(session, actor.tenant_id, contact.id)
    deliveries = await _delete_raw_deliveries(session, actor.tenant_id,
                                              [*handles, contact.phone or ""])
    receipts = await _clear_campaign_rows(session, actor.tenant_id, contact)
    done = await anonymise.anonymise_conversations(
        session, actor.tenant_id, [conversation_id for conversation_id, _ in conversations],
        reason="erasure", language=language)
    notes = (await session.execute(text("""
        UPDATE notes SET body = :marker WHERE tenant_id = :tenant AND contact_id = :contact
           AND body <> :marker"""), {"marker": i18n.text(language, anonymise.CONTENT_ERASED),
                                     "tenant": actor.tenant_id, "contact": contact.id})).rowcount
    # A rule's run log about the contact outside its conversations (a contact event).
    await session.execute(text("""
        UPDATE automation_runs SET error = '', results = '[]'::jsonb
         WHERE tenant_id = :tenant AND contact_id = :contact"""),
                          {"tenant": actor.tenant_id, "contact": contact.id})
    custom_fields = len(contact.custom_fields)
    contact.name = i18n.text(language, anonymise.ERASED_CONTACT)
    contact.phone = contact.email = contact.language = None
    contact.tags, contact.custom_fields = [], {}
    await session.flush()
    await _delete_files_later(session, done.files)
    summary = {"conversations_anonymised": done.conversations,
               "messages_anonymised": done.messages, "notes_cleared": done.notes + notes,
               "files_deleted": done.files.count, "bytes_deleted": done.files.bytes,
               "identities_removed": len(handles), "custom_fields_cleared": custom_fields,
               "consents_withdrawn": withdrawn, "campaign_messages_cleared": receipts,
               "raw_deliveries_deleted": deliveries}
    await _fulfilled(session, request, summary)
    await audit.record(session, actor, "privacy.erase", target_type="contact",
                       target_id=contact.id, data={"request_id": str(request.id), **summary})
    log.info("privacy.erased", tenant_id=str(actor.tenant_id), request_id=str(request.id))
    return request


async def _withdraw_consents(session: AsyncSession, actor: Actor, contact_id: uuid.UUID,
                             language: str) -> int:
    """Every consent given becomes withdrawn, through the contacts' own service, so whatever
    follows a withdrawal (its history, telling İYS) follows this one while the number is
    still known. The consent history keeps it: it is the evidence the İYS rules ask the
    company to keep, the consent domain's to expire."""
    withdrawn = 0
    for consent in await contacts.consents(session, actor, contact_id):
        if consent.granted:
            await contacts.set_consent(session, actor, contact_id, consent.consent_type,
                                       ConsentIn(granted=False, source="manual",
                                                 note=i18n.text(language, ERASURE_NOTE)))
            withdrawn += 1
    return withdrawn


async def _forget_identities(session: AsyncSession, tenant_id: uuid.UUID,
                             contact_id: uuid.UUID) -> list[str]:
    """Delete how every channel knows the contact; the handles they had."""
    return list((await session.scalars(text("""
        DELETE FROM contact_identities WHERE tenant_id = :tenant AND contact_id = :contact
        RETURNING handle"""), {"tenant": tenant_id, "contact": contact_id})).all())


async def _delete_raw_deliveries(session: AsyncSession, tenant_id: uuid.UUID,
                                 handles: list[str]) -> int:
    """Providers' webhook bodies already ingested that name the person by one of
    ``handles`` (kept 30 days for replays, then pruned anyway)."""
    needles = {handle.lstrip("+") for handle in handles}
    patterns = ["%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%" for needle in needles if len(needle) >= MIN_HANDLE_LENGTH]
    if not patterns:
        return 0
    return (await session.execute(text("""
        DELETE FROM webhook_events WHERE tenant_id = :tenant AND processed_at IS NOT NULL
           AND payload::text LIKE ANY(:patterns)"""),
                                  {"tenant": tenant_id, "patterns": patterns})).rowcount


async def _clear_campaign_rows(session: AsyncSession, tenant_id: uuid.UUID, contact: Contact
                              ) -> int:
    """Campaign messages sent to the contact keep their state (the campaign's report) without
    the number or the text; uploaded recipient lists lose the contact's rows."""
    if contact.phone:
        await session.execute(text("""
            DELETE FROM recipient_list_rows WHERE tenant_id = :tenant AND phone = :phone"""),
                              {"tenant": tenant_id, "phone": contact.phone})
    return (await session.execute(text("""
        UPDATE campaign_recipients SET handle = NULL, phone = NULL, values = '{}'::jsonb,
               body = NULL, detail = NULL
         WHERE tenant_id = :tenant AND contact_id = :contact"""),
                                  {"tenant": tenant_id, "contact": contact.id})).rowcount


async def _delete_files_later(session: AsyncSession, removed: RemovedFiles) -> None:
    """The stored files of deleted attachment rows go once this transaction commits."""
    from invekto.privacy import tasks  # the tasks module imports this one

    for start in range(0, len(removed.storage_keys), ATTACHMENT_BATCH):
        await jobs.defer(session, tasks.delete_files,
                         storage_keys=removed.storage_keys[start:start + ATTACHMENT_BATCH])


# ---- retention policy ------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    attachment_days: int | None = None
    conversation_months: int | None = None
    audit_days: int | None = None

    @property
    def keeps_everything(self) -> bool:
        return (self.attachment_days is None and self.conversation_months is None
                and self.audit_days is None)

    def as_dict(self) -> dict[str, int | None]:
        return {"attachment_days": self.attachment_days,
                "conversation_months": self.conversation_months, "audit_days": self.audit_days}


_DAYS = N_("give a number of days from %(min)s to %(max)s")
_BOUNDS = {"attachment_days": (ATTACHMENT_DAYS, _DAYS),
           "conversation_months": (CONVERSATION_MONTHS,
                                   N_("give a number of months from %(min)s to %(max)s")),
           "audit_days": (AUDIT_DAYS, _DAYS)}


def checked_policy(data: RetentionPolicyIn) -> Policy:
    """Each limit empty (keep for ever) or within its bounds, else a 422 naming it."""
    for name, ((low, high), message) in _BOUNDS.items():
        value = getattr(data, name)
        if value is not None and not low <= value <= high:
            raise ValidationFailed(message, field=name, params={"min": low, "max": high})
    return Policy(data.attachment_days, data.conversation_months, data.audit_days)


async def _policy_row(session: AsyncSession, tenant_id: uuid.UUID) -> RetentionPolicy | None:
    return await session.scalar(select(RetentionPolicy).where(
        RetentionPolicy.tenant_id == tenant_id))


def _policy_of(row: RetentionPolicy | None) -> Policy:
    if row is None:
        return Policy()
    return Policy(row.attachment_days, row.conversation_months, row.audit_days)


async def get_policy(session: AsyncSession, actor: Actor) -> tuple[Policy, datetime | None]:
    """The company's policy (none saved: keep everything) and when it was last saved."""
    actor.require(Permission.MANAGE_SECURITY)
    row = await _policy_row(session, actor.tenant_id)
    return _policy_of(row), row.updated_at if row else None


async def save_policy(session: AsyncSession, actor: Actor, data: RetentionPolicyIn) -> Policy:
    """Checked before anything changes; audited with the limits before and after."""
    actor.require(Permission.MANAGE_SECURITY)
    policy = checked_policy(data)
    row = await _policy_row(session, actor.tenant_id)
    before = _policy_of(row)
    if row is None:
        row = RetentionPolicy(tenant_id=actor.tenant_id)
        session.add(row)
    row.attachment_days, row.conversation_months, row.audit_days = (
        policy.attachment_days, policy.conversation_months, policy.audit_days)
    row.updated_by = actor.user_id
    await session.flush()
    changed = {name for name, value in policy.as_dict().items()
               if before.as_dict()[name] != value}
    await audit.record(session, actor, "privacy.retention_saved",
                       target_type="privacy_retention_policy", target_id=row.id,
                       before={name: before.as_dict()[name] for name in sorted(changed)},
                       after={name: policy.as_dict()[name] for name in sorted(changed)})
    return policy


async def recent_runs(session: AsyncSession, actor: Actor) -> list[RetentionRun]:
    actor.require(Permission.MANAGE_SECURITY)
    return list((await session.scalars(select(RetentionRun).where(
        RetentionRun.tenant_id == actor.tenant_id).order_by(
        RetentionRun.started_at.desc(), RetentionRun.id.desc()).limit(RUN_LIST_LIMIT))).all())


# ---- what is due -----------------------------------------------------------------------------

def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day when
    it is shorter)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Cutoffs:
    attachments: datetime | None
    conversations: datetime | None
    audit: datetime | None

    @classmethod
    def of(cls, policy: Policy, now: datetime) -> Cutoffs:
        return cls(
            now - timedelta(days=policy.attachment_days) if policy.attachment_days else None,
            months_before(now, policy.conversation_months)
            if policy.conversation_months else None,
            now - timedelta(days=policy.audit_days) if policy.audit_days else None)


# (Formatted from constants only; the values are bound parameters.)
# Files sent in conversations before the cutoff; the company's own (quick replies', chatbot
# steps') are not conversation data and stay.
_DUE_ATTACHMENTS = f"""
    WITH company_files AS ({anonymise.COMPANY_FILES})
    SELECT a.id, a.size_bytes FROM attachments a
     WHERE a.tenant_id = :tenant AND a.created_at < :cutoff
       AND a.id IN (SELECT m.attachment_id FROM messages m
                     WHERE m.tenant_id = :tenant AND m.attachment_id IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM company_files f WHERE f.id = a.id::text)"""  # noqa: S608
# Closed before the cutoff and not anonymised since it last closed (a reopened one again).
_DUE_CONVERSATIONS = """
    SELECT c.id FROM conversations c
     WHERE c.tenant_id = :tenant AND c.status = 'closed' AND c.closed_at < :cutoff
       AND NOT EXISTS (SELECT 1 FROM privacy_anonymised p
                        WHERE p.tenant_id = :tenant AND p.conversation_id = c.id
                          AND p.anonymised_at >= c.closed_at)"""


@dataclass(frozen=True)
class Preview:
    attachments: int
    attachment_bytes: int
    conversations: int
    audit_events: int


async def _preview(session: AsyncSession, tenant_id: uuid.UUID, policy: Policy,
                   now: datetime) -> Preview:
    cutoffs = Cutoffs.of(policy, now)
    files, size = 0, 0
    if cutoffs.attachments:
        files, size = (await session.execute(text(
            f"SELECT count(*), coalesce(sum(size_bytes), 0) FROM ({_DUE_ATTACHMENTS}) due"),  # noqa: S608
            {"tenant": tenant_id, "cutoff": cutoffs.attachments})).one()
    conversations = await session.scalar(text(
        f"SELECT count(*) FROM ({_DUE_CONVERSATIONS}) due"),  # noqa: S608
        {"tenant": tenant_id, "cutoff": cutoffs.conversations}) if cutoffs.conversations else 0
    events = await session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.tenant_id == tenant_id, AuditEvent.occurred_at < cutoffs.audit)
    ) if cutoffs.audit else 0
    return Preview(files, int(size), conversations, events)


async def preview(session: AsyncSession, actor: Actor, data: RetentionPolicyIn, *,
                  now: datetime | None = None) -> Preview:
    """What ``data`` (saved or not) would remove if applied now."""
    actor.require(Permission.MANAGE_SECURITY)
    return await _preview(session, actor.tenant_id, checked_policy(data), now or _now())


# ---- applying the policy ---------------------------------------------------------------------

async def companies_with_policies(db: Database) -> list[uuid.UUID]:
    """The active companies whose policy removes something (the system scope)."""
    async with db.system_session() as session:
        return list((await session.scalars(select(RetentionPolicy.tenant_id)
                                           .join(Tenant, Tenant.id == RetentionPolicy.tenant_id)
                                           .where(Tenant.status == "active").where(
            (RetentionPolicy.attachment_days.is_not(None))
            | (RetentionPolicy.conversation_months.is_not(None))
            | (RetentionPolicy.audit_days.is_not(None))))).all())


async def _add_to_run(session: AsyncSession, run_id: uuid.UUID, **counts: int) -> None:
    await session.execute(update(RetentionRun).where(RetentionRun.id == run_id).values(
        **{name: getattr(RetentionRun, name) + value for name, value in counts.items()}))


async def _attachments_batch(session: AsyncSession, tenant_id: uuid.UUID, cutoff: datetime
                             ) -> RemovedFiles:
    due = list((await session.scalars(text(
        f"{_DUE_ATTACHMENTS} ORDER BY a.created_at LIMIT :limit FOR UPDATE OF a SKIP LOCKED"),
        {"tenant": tenant_id, "cutoff": cutoff, "limit": ATTACHMENT_BATCH})).all())
    removed = await anonymise.delete_attachments(session, tenant_id, due)
    await _delete_files_later(session, removed)
    return removed


async def _conversations_batch(session: AsyncSession, tenant_id: uuid.UUID, cutoff: datetime
                               ) -> anonymise.Anonymised:
    due = list((await session.scalars(text(
        f"{_DUE_CONVERSATIONS} ORDER BY c.closed_at LIMIT :limit FOR UPDATE OF c SKIP LOCKED"),
        {"tenant": tenant_id, "cutoff": cutoff, "limit": CONVERSATION_BATCH})).all())
    done = await anonymise.anonymise_conversations(
        session, tenant_id, due, reason="retention",
        language=await anonymise.company_language(session, tenant_id))
    await _delete_files_later(session, done.files)
    return done


async def run_retention(db: Database, tenant_id: uuid.UUID, *, now: datetime | None = None
                        ) -> RetentionRun | None:
    """Apply the company's policy as it is now, batch after batch, each committed with its
    count on the run's record; None when the policy keeps everything. A failure is recorded
    on the run and raised."""
    now = now or _now()
    async with db.tenant_session(tenant_id) as session:
        policy = _policy_of(await _policy_row(session, tenant_id))
        if policy.keeps_everything:
            return None
        run = RetentionRun(tenant_id=tenant_id, policy=policy.as_dict(), started_at=now)
        session.add(run)
        await session.flush()
        run_id = run.id
    cutoffs = Cutoffs.of(policy, now)
    try:
        while cutoffs.attachments:
            async with db.tenant_session(tenant_id) as session:
                removed = await _attachments_batch(session, tenant_id, cutoffs.attachments)
                await _add_to_run(session, run_id, attachments_deleted=removed.count,
                                  bytes_deleted=removed.bytes)
            if removed.count < ATTACHMENT_BATCH:
                break
        while cutoffs.conversations:
            async with db.tenant_session(tenant_id) as session:
                done = await _conversations_batch(session, tenant_id, cutoffs.conversations)
                await _add_to_run(session, run_id, conversations_anonymised=done.conversations,
                                  attachments_deleted=done.files.count,
                                  bytes_deleted=done.files.bytes)
            if done.conversations < CONVERSATION_BATCH:
                break
        async with db.tenant_session(tenant_id) as session:
            if cutoffs.audit:
                purged = await audit.purge_before(session, tenant_id, cutoffs.audit)
                await _add_to_run(session, run_id, audit_events_deleted=purged)
            run = await session.get(RetentionRun, run_id)
            run.status, run.finished_at = "finished", _now()
            await session.flush()
            await audit.record(session, Actor.system(tenant_id), "privacy.retention_applied",
                               target_type="privacy_retention_run", target_id=run_id,
                               data=_run_counts(run))
    except Exception as exc:
        # The kind of failure only: a database error's message may quote a row's values. The
        # log has the whole story.
        async with db.tenant_session(tenant_id) as session:
            await session.execute(update(RetentionRun).where(RetentionRun.id == run_id).values(
                status="failed", finished_at=_now(), error=type(exc).__name__))
        raise
    async with db.tenant_session(tenant_id) as session:
        return await session.get(RetentionRun, run_id)


def _run_counts(run: RetentionRun) -> dict[str, Any]:
    return {"attachments_deleted": run.attachments_deleted, "bytes_deleted": run.bytes_deleted,
            "conversations_anonymised": run.conversations_anonymised,
            "audit_events_deleted": run.audit_events_deleted}

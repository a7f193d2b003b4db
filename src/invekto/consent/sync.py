"""A company's İYS account and the synchronisation with it.

Pushing (``consent:push_to_iys``, deferred with each change İYS keeps, and retried every minute
by ``consent:retry_iys_pushes``): the job claims the oldest waiting change of each number and
kind (``claim_pushes``: ``sending``, committed), sends them (``send_claimed``, outside any
transaction) and records each outcome (``record_outcomes``). Changes of one number go one at a
time, oldest first, so İYS ends with the latest. A change is sent once: a job that dies after
sending leaves it ``sending``; ``STALE_CLAIM`` later the next job asks İYS for the number's
consent first and, finding this very one (status and date), settles it without sending again.
İYS's refusal of a change fails it (shown in the settings with İYS's words); no answer, a
server error or the rate limit leave it waiting, tried again later (``RETRY_DELAYS``), up to
``MAX_ATTEMPTS`` times. A withdrawal of a number İYS never had an approval of (İYS's H175) has
nothing to withdraw: skipped.

Pulling (``consent:pull_iys_changes``, every five minutes): İYS's list of changes made at İYS
itself, from the saved cursor, page by page; each page's changes and the cursor after it are
written in the one transaction, which holds the settings row (one pull per company at a time).
A change is recorded as the contact's (``service.apply_changes``, source ``iys``): an approval
or a refusal, which campaigns then obey.

The password and the tokens are encrypted at rest and in no log line, audit entry or answer.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, any_, func, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.consent import iys
from invekto.consent.models import ConsentEvent, IysPush, IysSettings
from invekto.consent.schemas import IysSettingsIn
from invekto.consent.service import IYS, Change, apply_changes, iys_settings_of
from invekto.contacts.models import Contact, ContactConsent
from invekto.core import i18n, jobs, outbound
from invekto.core.actor import Actor, Permission
from invekto.core.crypto import secret_box
from invekto.core.errors import UpstreamUnavailable, ValidationFailed
from invekto.core.i18n import N_
from invekto.db.queries import get_in_tenant
from invekto.tenants.models import Tenant

log = structlog.get_logger(__name__)

# Sent per round: under İYS's 50 single consents a minute.
PUSH_BATCH = 40
PUSH_ROUNDS = 25
MAX_ATTEMPTS = 8
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
                timedelta(hours=1), timedelta(hours=3), timedelta(hours=6),
                timedelta(hours=12))
# A claimed change whose outcome nobody recorded by then: its job died.
STALE_CLAIM = timedelta(minutes=10)
PULL_LIMIT = 500
PULL_PAGES = 20
FAILURES_SHOWN = 20
_CODE = re.compile(r"[0-9]{1,20}")

FAILURE_MESSAGES = {
    "auth": N_("İYS refused the user name or password."),
    "unreachable": N_("İYS could not be reached."),
    "bad_answer": N_("İYS's answer could not be read."),
}


def _now() -> datetime:
    return datetime.now(UTC)


def describe(code: str | None, detail: str | None, language: str) -> str:
    """A failure in words: ours for our codes, İYS's own (Turkish) for its codes."""
    if code in FAILURE_MESSAGES:
        sentence = i18n.text(language, FAILURE_MESSAGES[code])
        return f"{sentence} {detail}" if detail and code != "auth" else sentence
    return i18n.text(language, "İYS answered %(code)s: %(detail)s", code=code or "?",
                     detail=detail or "")


# ---- settings ------------------------------------------------------------------------------

def has_password(settings: IysSettings) -> bool:
    return bool(settings.password_encrypted)


async def get_settings(session: AsyncSession, actor: Actor) -> IysSettings | None:
    actor.require(Permission.MANAGE_SETTINGS)
    return await iys_settings_of(session, actor.tenant_id)


def _checked_base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    schemes = ("https://", "http://") if outbound.private_allowed() else ("https://",)
    if not url.startswith(schemes) or len(url) <= len("https://"):
        raise ValidationFailed("give İYS's address, such as https://api.iys.org.tr",
                               field="base_url")
    outbound.check_url(url, field="base_url")
    return url


async def save_settings(session: AsyncSession, actor: Actor, data: IysSettingsIn
                        ) -> IysSettings:
    """MANAGE_SETTINGS. Every field is checked before anything changes; turned on, it needs the
    codes, the user name and a password (given now or saved). The password, when one is given,
    is stored encrypted (left empty, the saved one stays). A new account or address forgets
    the old one's tokens and where its pull had got to."""
    actor.require(Permission.MANAGE_SETTINGS)
    base_url = _checked_base_url(data.base_url)
    iys_code, brand_code = data.iys_code.strip(), data.brand_code.strip()
    username = data.username.strip()
    for name, value in (("iys_code", iys_code), ("brand_code", brand_code)):
        if value and not _CODE.fullmatch(value):
            raise ValidationFailed("İYS's codes are numbers", field=name)
    current = await iys_settings_of(session, actor.tenant_id)
    if data.enabled:
        for name, value in (("iys_code", iys_code), ("brand_code", brand_code),
                            ("username", username)):
            if not value:
                raise ValidationFailed("fill this in to turn İYS on", field=name)
        if not data.password and (current is None or not has_password(current)):
            raise ValidationFailed("fill this in to turn İYS on", field="password")
    before = _public(current)
    if current is None:
        current = IysSettings(tenant_id=actor.tenant_id)
        session.add(current)
    account_changed = (current.base_url, current.iys_code, current.brand_code) != (
        base_url, iys_code, brand_code)
    if account_changed or current.username != username or data.password:
        current.token_encrypted = None
    if account_changed:
        current.changes_after, current.pulled_at, current.pull_error = None, None, None
    current.enabled, current.base_url = data.enabled, base_url
    current.iys_code, current.brand_code, current.username = iys_code, brand_code, username
    current.recipient_type = data.recipient_type
    if data.password:
        current.password_encrypted = secret_box().encrypt_json({"password": data.password})
    await session.flush()
    await audit.record(session, actor, "iys.settings_saved", target_type="iys_settings",
                       target_id=current.id, data={"password_changed": bool(data.password)},
                       before=before, after=_public(current))
    return current


def _public(settings: IysSettings | None) -> dict[str, Any] | None:
    if settings is None:
        return None
    return {"enabled": settings.enabled, "base_url": settings.base_url,
            "iys_code": settings.iys_code, "brand_code": settings.brand_code,
            "username": settings.username, "recipient_type": settings.recipient_type}


def account_of(settings: IysSettings) -> iys.Account:
    password = (secret_box().decrypt_json(settings.password_encrypted)["password"]
                if settings.password_encrypted else "")
    return iys.Account(settings.base_url, settings.iys_code, settings.brand_code,
                       settings.username, password)


def token_of(settings: IysSettings) -> iys.Token | None:
    if not settings.token_encrypted:
        return None
    return iys.Token.from_json(secret_box().decrypt_json(settings.token_encrypted))


def keep_token(settings: IysSettings, token: iys.Token | None) -> None:
    settings.token_encrypted = secret_box().encrypt_json(token.to_json()) if token else None


@dataclass(frozen=True)
class Failure:
    event_id: uuid.UUID
    contact_id: uuid.UUID
    payload: dict[str, Any]
    attempts: int
    error_code: str | None
    error: str | None
    failed_at: datetime | None


@dataclass(frozen=True)
class SyncStatus:
    pushes: dict[str, int]
    failures: list[Failure]


async def sync_status(session: AsyncSession, actor: Actor) -> SyncStatus:
    """Changes by state, and the latest that failed or wait after an error (newest first)."""
    actor.require(Permission.MANAGE_SETTINGS)
    counts = dict((await session.execute(select(IysPush.state, func.count()).where(
        IysPush.tenant_id == actor.tenant_id).group_by(IysPush.state))).all())
    rows = (await session.execute(select(IysPush, ConsentEvent.contact_id).join(
        ConsentEvent, and_(ConsentEvent.tenant_id == IysPush.tenant_id,
                           ConsentEvent.id == IysPush.event_id)).where(
        IysPush.tenant_id == actor.tenant_id,
        or_(IysPush.state == "failed",
            and_(IysPush.state == "pending", IysPush.error_code.is_not(None)))).order_by(
        IysPush.claimed_at.desc().nulls_last(), IysPush.id.desc()).limit(FAILURES_SHOWN)
    )).all()
    return SyncStatus(
        {state: counts.get(state, 0) for state in ("pending", "sending", "sent", "failed",
                                                   "skipped")},
        [Failure(push.event_id, contact_id, push.payload, push.attempts, push.error_code,
                 push.error, push.claimed_at) for push, contact_id in rows])


@dataclass(frozen=True)
class TestResult:
    ok: bool
    error_code: str | None
    message: str


async def test_connection(session: AsyncSession, actor: Actor) -> TestResult:
    """Log in to İYS with the saved settings (a new login, not a kept token): whether İYS took
    them, or why not (an answer, not an error). MANAGE_SETTINGS."""
    actor.require(Permission.MANAGE_SETTINGS)
    settings = await iys_settings_of(session, actor.tenant_id)
    if settings is None or not has_password(settings) or not settings.username:
        raise ValidationFailed("save the İYS settings with a password first", field="password")
    async with iys.IysClient(account_of(settings)) as client:
        try:
            token = await client.authenticate()
        except iys.IysError as exc:
            result = TestResult(False, exc.code, describe(exc.code, exc.message,
                                                          actor.language))
        else:
            keep_token(settings, token)
            result = TestResult(True, None, i18n.text(actor.language,
                                                      "İYS accepted the user name and password."))
    await audit.record(session, actor, "iys.tested", target_type="iys_settings",
                       target_id=settings.id, data={"ok": result.ok,
                                                    "error_code": result.error_code})
    return result


async def retry_failed(session: AsyncSession, actor: Actor) -> int:
    """Every failed change goes back to the queue (after fixing the settings, or a contact's
    number), sent at once. MANAGE_SETTINGS."""
    actor.require(Permission.MANAGE_SETTINGS)
    result = await session.execute(update(IysPush).where(
        IysPush.tenant_id == actor.tenant_id, IysPush.state == "failed").values(
        state="pending", attempts=0, next_attempt_at=func.now()))
    if result.rowcount:
        await defer_push(session, actor.tenant_id)
        await audit.record(session, actor, "iys.retried", target_type="iys_settings",
                           data={"count": result.rowcount})
    return result.rowcount


async def defer_push(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    from invekto.consent import tasks  # tasks import this module

    await jobs.defer(session, tasks.push_to_iys, queueing_lock=f"consent.iys_push.{tenant_id}",
                     tenant_id=str(tenant_id))


# ---- pushing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    push_id: uuid.UUID
    payload: dict[str, Any]
    stale: bool  # claimed before by a job that never recorded the outcome


@dataclass(frozen=True)
class Work:
    account: iys.Account
    token: iys.Token | None
    items: list[Claimed]


@dataclass
class Outcome:
    push_id: uuid.UUID
    state: str  # sent, skipped, failed, pending (try again), unsent (not tried)
    transaction_id: str | None = None
    error_code: str | None = None
    error: str | None = None


@dataclass
class Sent:
    outcomes: list[Outcome]
    token: iys.Token | None
    stopped: bool = False  # İYS refused the login or was unavailable: the rest wait
    extra: dict[str, Any] = field(default_factory=dict)


async def claim_pushes(session: AsyncSession, tenant_id: uuid.UUID, *,
                       now: datetime | None = None) -> Work | None:
    """The oldest waiting change of each number and kind, due now (or claimed long ago by a
    job that died), at most ``PUSH_BATCH``, marked ``sending``: the caller commits, then sends.
    None when İYS is off or nothing is due."""
    now = now or _now()
    settings = await iys_settings_of(session, tenant_id)
    if settings is None or not settings.enabled:
        return None
    recipient = IysPush.payload["recipient"].astext
    kind = IysPush.payload["type"].astext
    heads = select(IysPush.id, IysPush.state, IysPush.next_attempt_at, IysPush.claimed_at
                   ).ext(distinct_on(recipient, kind)).where(
        IysPush.tenant_id == tenant_id, IysPush.state.in_(("pending", "sending"))).order_by(
        recipient, kind, IysPush.created_at, IysPush.id).subquery("heads")
    due = select(heads.c.id).where(or_(
        and_(heads.c.state == "pending", heads.c.next_attempt_at <= now),
        and_(heads.c.state == "sending", heads.c.claimed_at < now - STALE_CLAIM))
    ).order_by(heads.c.next_attempt_at, heads.c.id).limit(PUSH_BATCH)
    rows = (await session.scalars(select(IysPush).where(
        IysPush.tenant_id == tenant_id, IysPush.id.in_(due)).order_by(IysPush.id)
        .with_for_update(skip_locked=True))).all()
    if not rows:
        return None
    items = [Claimed(row.id, dict(row.payload), row.state == "sending") for row in rows]
    for row in rows:
        row.state, row.claimed_at = "sending", now
    await session.flush()
    return Work(account_of(settings), token_of(settings), items)


async def send_claimed(work: Work) -> Sent:
    """Send the claimed changes to İYS, one by one (no transaction is open)."""
    outcomes: list[Outcome] = []
    stopped = False
    async with iys.IysClient(work.account, token=work.token) as client:
        for item in work.items:
            if stopped:
                outcomes.append(Outcome(item.push_id, "unsent"))
                continue
            try:
                outcomes.append(await _send_one(client, item))
            except iys.IysError as exc:
                # No login, or İYS down or rate limiting: the rest wait for the next round.
                outcomes.append(Outcome(item.push_id, "pending", error_code=exc.code,
                                        error=exc.message[:1000]))
                stopped = True
        return Sent(outcomes, client.token, stopped)


async def _send_one(client: iys.IysClient, item: Claimed) -> Outcome:
    consent = iys.Consent(
        recipient=item.payload["recipient"], type=item.payload["type"],
        status=item.payload["status"], source=item.payload["source"],
        consent_date=item.payload["consentDate"],
        recipient_type=item.payload["recipientType"])
    if item.stale:
        # The job before may have sent it: İYS holding this very change settles it, and a
        # newer word of İYS's (the customer's, since) must not be overwritten with it.
        held = await client.consent_status(consent.recipient, consent.type,
                                           consent.recipient_type)
        if held is not None and (held.status, held.consent_date) == (consent.status,
                                                                      consent.consent_date):
            return Outcome(item.push_id, "sent", transaction_id=held.transaction_id)
        held_at, ours_at = (iys.parse_date(held.consent_date) if held else None,
                            iys.parse_date(consent.consent_date))
        if held_at is not None and ours_at is not None and held_at > ours_at:
            return Outcome(item.push_id, "skipped", error_code="superseded",
                           error=f"İYS: {held.status} {held.consent_date}")
    try:
        added = await client.add_consent(consent)
    except iys.IysRefused as exc:
        if exc.code == iys.FIRST_RET and consent.status == "RET":
            return Outcome(item.push_id, "skipped", error_code=exc.code,
                           error=exc.message[:1000])
        return Outcome(item.push_id, "failed", error_code=exc.code, error=exc.message[:1000])
    return Outcome(item.push_id, "sent", transaction_id=added.transaction_id)


async def record_outcomes(session: AsyncSession, tenant_id: uuid.UUID, sent: Sent, *,
                          now: datetime | None = None) -> int:
    """Write what happened to each claimed change; a change İYS now holds sets the contact's
    İYS status, unless a later change of theirs is on its way. Returns how many were sent."""
    now = now or _now()
    pushes = {p.id: p for p in (await session.scalars(select(IysPush).where(
        IysPush.tenant_id == tenant_id, IysPush.id == any_([o.push_id for o in sent.outcomes]),
        IysPush.state == "sending").with_for_update())).all()}
    done = 0
    for outcome in sent.outcomes:
        push = pushes.get(outcome.push_id)
        if push is None:
            continue  # settled meanwhile (a retry by hand of a stale claim)
        if outcome.state == "unsent":
            push.state = "pending"
            continue
        push.attempts += 1
        push.error_code, push.error = outcome.error_code, outcome.error
        if outcome.state == "pending":
            if push.attempts >= MAX_ATTEMPTS:
                push.state = "failed"
            else:
                push.state = "pending"
                push.next_attempt_at = now + RETRY_DELAYS[min(push.attempts,
                                                              len(RETRY_DELAYS)) - 1]
            continue
        push.state = outcome.state
        if outcome.state == "sent":
            push.sent_at, push.transaction_id = now, outcome.transaction_id
            push.error_code = push.error = None
            await _note_iys_status(session, tenant_id, push)
            done += 1
    settings = await iys_settings_of(session, tenant_id)
    if settings is not None and sent.token is not None:
        keep_token(settings, sent.token)
    await session.flush()
    return done


async def _note_iys_status(session: AsyncSession, tenant_id: uuid.UUID, push: IysPush) -> None:
    event = await session.get_one(ConsentEvent, push.event_id)
    latest = await session.scalar(select(ConsentEvent.id).where(
        ConsentEvent.tenant_id == tenant_id, ConsentEvent.contact_id == event.contact_id,
        ConsentEvent.consent_type == event.consent_type).order_by(
        ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc()).limit(1))
    if latest == event.id:
        await session.execute(update(ContactConsent).where(
            ContactConsent.tenant_id == tenant_id, ContactConsent.contact_id == event.contact_id,
            ContactConsent.consent_type == event.consent_type).values(
            iys_status=push.payload["status"], updated_at=func.now()))


async def push_due_tenants(session: AsyncSession, *, now: datetime | None = None
                           ) -> list[uuid.UUID]:
    """Companies with İYS on and a change due (or a stale claim), across companies (the
    system scope)."""
    now = now or _now()
    return list((await session.scalars(select(IysPush.tenant_id).join(
        IysSettings, IysSettings.tenant_id == IysPush.tenant_id).join(
        Tenant, Tenant.id == IysPush.tenant_id).where(
        IysSettings.enabled.is_(True), Tenant.status == "active",
        or_(and_(IysPush.state == "pending", IysPush.next_attempt_at <= now),
            and_(IysPush.state == "sending", IysPush.claimed_at < now - STALE_CLAIM)))
        .distinct())).all())


# ---- pulling -------------------------------------------------------------------------------

async def pull_tenants(session: AsyncSession) -> list[uuid.UUID]:
    """Companies with İYS on (the system scope)."""
    return list((await session.scalars(select(IysSettings.tenant_id).join(
        Tenant, Tenant.id == IysSettings.tenant_id).where(
        IysSettings.enabled.is_(True), Tenant.status == "active"))).all())


async def pull_changes(session: AsyncSession, tenant_id: uuid.UUID, *,
                       now: datetime | None = None) -> int | None:
    """Bring İYS's own changes in (see the module's docstring); returns how many changed a
    contact's consent, None when İYS is off or another pull of the company is running. A
    failure is kept on the settings (shown there) and the next pull tries again."""
    now = now or _now()
    settings = await session.scalar(select(IysSettings).where(
        IysSettings.tenant_id == tenant_id).with_for_update(skip_locked=True))
    if settings is None or not settings.enabled:
        return None
    applied = 0
    async with iys.IysClient(account_of(settings), token=token_of(settings)) as client:
        try:
            for _ in range(PULL_PAGES):
                page = await client.changes(settings.changes_after, limit=PULL_LIMIT)
                applied += len(await apply_iys_consents(session, tenant_id, page.consents,
                                                        now=now))
                settings.changes_after = page.after
                if len(page.consents) < PULL_LIMIT:
                    break
        except iys.IysError as exc:
            settings.pull_error = f"{exc.code}: {exc.message}"[:1000]
            log.warning("consent.iys_pull_failed", tenant_id=str(tenant_id), error_code=exc.code)
        else:
            settings.pull_error = None
        keep_token(settings, client.token)
    settings.pulled_at = now
    await session.flush()
    return applied


async def apply_iys_consents(session: AsyncSession, tenant_id: uuid.UUID,
                             consents: list[iys.Consent], *, now: datetime | None = None
                             ) -> list[ConsentEvent]:
    """İYS's word on recipients' consents, recorded as their contacts' (numbers and addresses
    the company does not know are passed over; a change recorded before is not again)."""
    now = now or _now()
    usable = [c for c in consents if c.type in iys.CONSENT_TYPE_OF
              and c.status in ("ONAY", "RET") and c.recipient]
    seen = set((await session.scalars(select(ConsentEvent.iys_transaction_id).where(
        ConsentEvent.tenant_id == tenant_id, ConsentEvent.iys_transaction_id == any_(
            [c.transaction_id for c in usable if c.transaction_id])))).all())
    usable = [c for c in usable if not c.transaction_id or c.transaction_id not in seen]
    if not usable:
        return []
    phones = [c.recipient for c in usable if c.type != "EPOSTA"]
    emails = [c.recipient.lower() for c in usable if c.type == "EPOSTA"]
    by_phone: dict[str, list[uuid.UUID]] = {}
    by_email: dict[str, list[uuid.UUID]] = {}
    for contact_id, phone, email in (await session.execute(select(
            Contact.id, Contact.phone, Contact.email).where(
            Contact.tenant_id == tenant_id, or_(Contact.phone == any_(phones),
                                                func.lower(Contact.email) == any_(emails)))
    )).all():
        if phone:
            by_phone.setdefault(phone, []).append(contact_id)
        if email:
            by_email.setdefault(email.lower(), []).append(contact_id)
    changes = []
    for consent in usable:
        found = (by_email.get(consent.recipient.lower(), []) if consent.type == "EPOSTA"
                 else by_phone.get(consent.recipient, []))
        for position, contact_id in enumerate(found):
            changes.append(Change(
                contact_id, iys.CONSENT_TYPE_OF[consent.type], consent.status == "ONAY",
                iys.parse_date(consent.consent_date) or now, recipient=consent.recipient,
                iys_source=consent.source[:40] or None, iys_status=consent.status,
                evidence={"transaction_id": consent.transaction_id,
                          "creation_date": consent.creation_date},
                # The same address on two contacts: one event carries İYS's id (unique).
                iys_transaction_id=consent.transaction_id if position == 0 else None))
    return await apply_changes(session, tenant_id, "iys", IYS, changes)


# ---- one contact, now ----------------------------------------------------------------------

async def check_contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID,
                        consent_type: str) -> iys.Consent | None:
    """Ask İYS for the contact's consent of ``consent_type`` now and record what it says when
    it differs from what we know (and is newer). None: İYS has none. For those who talk to
    customers or manage contacts."""
    if not actor.can_any(Permission.HANDLE_CONVERSATIONS, Permission.MANAGE_CONTACTS):
        actor.require(Permission.MANAGE_CONTACTS)
    if consent_type not in iys.TYPES:
        raise ValidationFailed("unknown consent type", field="consent_type")
    contact = await get_in_tenant(session, Contact, actor.tenant_id, contact_id,
                                  what=N_("contact"))
    settings = await iys_settings_of(session, actor.tenant_id)
    if settings is None or not settings.enabled:
        raise ValidationFailed("İYS is not set up for your company", field="consent_type")
    recipient = contact.email if consent_type == "email" else contact.phone
    if not recipient:
        raise ValidationFailed("the contact has no address for this kind of consent",
                               field="consent_type")
    async with iys.IysClient(account_of(settings), token=token_of(settings)) as client:
        try:
            held = await client.consent_status(recipient, iys.TYPES[consent_type],
                                               settings.recipient_type)
        except iys.IysError as exc:
            raise UpstreamUnavailable("İYS could not answer (%(reason)s)", field="iys",
                                      params={"reason": exc.message or exc.code}) from exc
        finally:
            keep_token(settings, client.token)
    if held is not None:
        await apply_iys_consents(session, actor.tenant_id, [held])
    return held

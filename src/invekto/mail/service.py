"""A company's mail: its SMTP server (the password encrypted at rest, write-only), a test
message, and the weekly summary of the reports.

The summary of a week (local Monday to Sunday) goes out on the weekday and local hour the
company chose in the week after it (or within a day after, ``SEND_WITHIN``).
``mail:send_weekly_summaries`` (hourly) lists the companies whose moment has come
(``due_summaries``, across companies), then sends
each in its company's scope (``send_due_summary``): the week's ``mail_summary_sends`` row is
inserted, or a failed one taken again, by one INSERT ... ON CONFLICT DO UPDATE WHERE, which
holds the row's lock until the transaction that sends ends. A concurrent or repeated run
waits on that lock and then finds the week sent, so a week's summary goes once; a run that dies
before committing leaves nothing, and the next run sends it. A refusal of the server (or no
answer) is recorded with the week and tried again by the next runs, at most
``MAX_SCHEDULED_ATTEMPTS`` times in that day; "Send now" (``send_summary_now``) always tries.

The password is decrypted only to log in, and is in no log line, audit entry or answer.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

import structlog
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.core import i18n, outbound
from invekto.core.actor import Actor, Permission
from invekto.core.crypto import secret_box
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.db.base import new_id
from invekto.mail import smtp as smtp_client
from invekto.mail import summary
from invekto.mail.models import SmtpSettings, SummarySend, SummarySettings
from invekto.mail.schemas import SmtpSettingsIn, SummarySettingsIn
from invekto.routing.service import company_zone
from invekto.tenants.models import Tenant

log = structlog.get_logger(__name__)

MAX_RECIPIENTS = 50
# A failed summary is tried again by the hourly job this many times in all: a wrong password
# is not tried against the company's server all week (servers lock accounts that keep failing).
MAX_SCHEDULED_ATTEMPTS = 6
# How long after its moment a week's summary is still sent (tried again, caught up).
SEND_WITHIN = timedelta(hours=24)
DEFAULT_WEEKDAY = 1  # Monday (ISO)
DEFAULT_HOUR = 8
SENT_TEST = N_("The mail server took the test e-mail.")
SENT_SUMMARY = N_("The summary was sent.")

# A host name's labels (an internationalised one is checked in its ASCII form).
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                        r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?", re.IGNORECASE)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SendResult:
    """Whether the server took a message; if not, why (``error_code``: ``smtp.FAILURES``) in
    a sentence in the asker's language and the server's own words (``detail``)."""

    ok: bool
    error_code: str | None
    message: str
    detail: str


def _result(language: str, failure: smtp_client.MailFailure | None, *, sent: str,
            detail: str = "") -> SendResult:
    if failure is None:
        return SendResult(True, None, i18n.text(language, sent), detail)
    return SendResult(False, failure.code, i18n.text(language, smtp_client.FAILURES.get(
        failure.code, smtp_client.FAILURES["error"])), failure.detail)


def failure_message(code: str | None, language: str) -> str:
    """A recorded failure's sentence, in ``language``."""
    return i18n.text(language, smtp_client.FAILURES.get(code or "error",
                                                        smtp_client.FAILURES["error"]))


# ---- checks --------------------------------------------------------------------------------

def checked_address(value: str, *, field: str) -> str:
    """An e-mail address as typed, checked (its form only: nothing is looked up) and
    normalised."""
    typed = value.strip()
    if not typed:
        raise ValidationFailed("give an e-mail address", field=field)
    try:
        return validate_email(typed, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationFailed("%(address)s is not a valid e-mail address", field=field,
                               params={"address": typed[:100]}) from None


def checked_addresses(values: list[str], *, field: str) -> list[str]:
    """Addresses checked, each once (the first way it was written)."""
    found: dict[str, str] = {}
    for value in values:
        if value.strip():
            address = checked_address(value, field=field)
            found.setdefault(address.lower(), address)
    if len(found) > MAX_RECIPIENTS:
        raise ValidationFailed("give at most %(count)s addresses", field=field,
                               params={"count": MAX_RECIPIENTS})
    return list(found.values())


def split_addresses(value: str) -> list[str]:
    """Addresses typed one a line, or separated by commas, semicolons or spaces."""
    return [part for part in re.split(r"[\s,;]+", value) if part]


def _checked_host(value: str) -> str:
    host = value.strip().lower().rstrip(".")
    if not host:
        raise ValidationFailed("give the mail server's address", field="host")
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    address = outbound.literal_address(host)
    if address is None and not _HOST_NAME.fullmatch(ascii_host):
        raise ValidationFailed("give a host name such as smtp.example.com", field="host")
    # The server is reached from ours: not this machine or the network around it (checked
    # again, name looked up, when connecting: smtp.py).
    if not outbound.private_allowed() and (
            outbound.is_local_name(host) or (address is not None
                                             and not outbound.is_public(address))):
        raise ValidationFailed(
            "this address is inside a private network; give one on the internet", field="host")
    return host if address is not None else ascii_host


def _checked_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise ValidationFailed("give a port from 1 to 65535", field="port")
    return port


# ---- SMTP settings -------------------------------------------------------------------------

async def _smtp_of(session: AsyncSession, tenant_id: uuid.UUID) -> SmtpSettings | None:
    return await session.scalar(select(SmtpSettings).where(SmtpSettings.tenant_id == tenant_id))


async def get_smtp(session: AsyncSession, actor: Actor) -> SmtpSettings | None:
    """The company's mail server (None: none saved). Admins'."""
    actor.require(Permission.MANAGE_SETTINGS)
    return await _smtp_of(session, actor.tenant_id)


def has_password(settings: SmtpSettings) -> bool:
    return bool(settings.password_encrypted)


async def save_smtp(session: AsyncSession, actor: Actor, data: SmtpSettingsIn) -> SmtpSettings:
    """Admins'. Every field is checked before anything changes; the password, when one is
    given, is stored encrypted (left empty, the saved one stays)."""
    actor.require(Permission.MANAGE_SETTINGS)
    host = _checked_host(data.host)
    port = _checked_port(data.port)
    from_address = checked_address(data.from_address, field="from_address")
    from_name = summary.one_line(data.from_name or "") or None
    username = (data.username or "").strip() or None
    new_password = data.password or ""
    current = await _smtp_of(session, actor.tenant_id)
    if current is None:
        current = SmtpSettings(tenant_id=actor.tenant_id)
        session.add(current)
    current.host, current.port, current.security = host, port, data.security
    current.username, current.from_address, current.from_name = username, from_address, from_name
    if new_password:
        current.password_encrypted = secret_box().encrypt_json({"password": new_password})
    elif data.clear_password:
        current.password_encrypted = None
    await session.flush()
    await audit.record(session, actor, "mail.smtp_saved", target_type="mail_smtp_settings",
                       target_id=current.id, data={
                           "host": host, "port": port, "security": data.security,
                           "username": username, "from_address": from_address,
                           "password_changed": bool(new_password) or data.clear_password})
    return current


def _server(settings: SmtpSettings) -> smtp_client.Server:
    password = (secret_box().decrypt_json(settings.password_encrypted)["password"]
                if settings.password_encrypted else None)
    return smtp_client.Server(settings.host, settings.port, settings.security,
                              settings.username, password)


def _message(settings: SmtpSettings, recipients: list[str], subject: str, text: str,
             html: str | None, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address(display_name=settings.from_name or "",
                              addr_spec=settings.from_address)
    message["To"] = ", ".join(recipients)
    message["Subject"] = summary.one_line(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=settings.from_address.rpartition("@")[2])
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


async def _required_smtp(session: AsyncSession, tenant_id: uuid.UUID) -> SmtpSettings:
    settings = await _smtp_of(session, tenant_id)
    if settings is None:
        raise ValidationFailed("save the mail server's settings first", field="host")
    return settings


async def send_test_email(session: AsyncSession, actor: Actor, to: str, *,
                          now: datetime | None = None) -> SendResult:
    """A short message to ``to`` through the saved server: whether it took it, or why not (a
    failure is an answer, not an error). Admins'."""
    actor.require(Permission.MANAGE_SETTINGS)
    address = checked_address(to, field="to")
    settings = await _required_smtp(session, actor.tenant_id)
    tenant = await session.get(Tenant, actor.tenant_id)
    language = actor.language
    body = i18n.text(language, "This is a test e-mail from Invekto for %(company)s. The mail "
                               "server settings work: the weekly summary can be sent with "
                               "them.", company=summary.one_line(tenant.name if tenant else ""))
    message = _message(settings, [address], i18n.text(language, "Invekto test e-mail"),
                       body, None, now or _now())
    failure = None
    try:
        await smtp_client.send(_server(settings), message)
    except smtp_client.MailFailure as exc:
        failure = exc
    await audit.record(session, actor, "mail.test_sent", target_type="mail_smtp_settings",
                       target_id=settings.id, data={"to": address, "ok": failure is None,
                                                    "error_code": failure and failure.code})
    return _result(language, failure, sent=SENT_TEST)


# ---- weekly summary settings ---------------------------------------------------------------

async def _summary_of(session: AsyncSession, tenant_id: uuid.UUID) -> SummarySettings | None:
    return await session.scalar(select(SummarySettings).where(
        SummarySettings.tenant_id == tenant_id))


async def get_summary_settings(session: AsyncSession, actor: Actor) -> SummarySettings:
    """The company's choices, or (none saved) the defaults: off, Monday 08:00, in the
    company's language. Admins'."""
    actor.require(Permission.MANAGE_SETTINGS)
    found = await _summary_of(session, actor.tenant_id)
    if found is not None:
        return found
    language = await session.scalar(select(Tenant.default_language).where(
        Tenant.id == actor.tenant_id))
    return SummarySettings(tenant_id=actor.tenant_id, enabled=False, recipients=[],
                           weekday=DEFAULT_WEEKDAY, hour=DEFAULT_HOUR,
                           language=language if language in i18n.LANGUAGES else "tr")


async def save_summary_settings(session: AsyncSession, actor: Actor, data: SummarySettingsIn
                                ) -> SummarySettings:
    """Admins'. Turned on, it needs a mail server and a recipient."""
    actor.require(Permission.MANAGE_SETTINGS)
    recipients = checked_addresses(data.recipients, field="recipients")
    if not 1 <= data.weekday <= 7:
        raise ValidationFailed("choose a day of the week", field="weekday")
    if not 0 <= data.hour <= 23:
        raise ValidationFailed("choose an hour from 0 to 23", field="hour")
    if data.enabled and not recipients:
        raise ValidationFailed("add at least one recipient", field="recipients")
    if data.enabled and await _smtp_of(session, actor.tenant_id) is None:
        raise ValidationFailed("save the mail server's settings first", field="enabled")
    current = await _summary_of(session, actor.tenant_id)
    if current is None:
        current = await get_summary_settings(session, actor)  # the defaults, to be kept
        session.add(current)
    current.enabled, current.recipients = data.enabled, recipients
    current.weekday, current.hour = data.weekday, data.hour
    current.language = data.language or current.language
    await session.flush()
    await audit.record(session, actor, "mail.summary_saved",
                       target_type="mail_summary_settings", target_id=current.id,
                       data={**data.model_dump(mode="json"), "recipients": recipients,
                             "language": current.language})
    return current


async def last_send(session: AsyncSession, actor: Actor) -> SummarySend | None:
    """The latest week's summary, sent or failed. Admins'."""
    actor.require(Permission.MANAGE_SETTINGS)
    return await session.scalar(select(SummarySend).where(
        SummarySend.tenant_id == actor.tenant_id, SummarySend.status != "sending").order_by(
        SummarySend.week_start.desc()).limit(1))


@dataclass(frozen=True)
class MailSettings:
    smtp: SmtpSettings | None
    summary: SummarySettings
    last_send: SummarySend | None


async def settings_of(session: AsyncSession, actor: Actor) -> MailSettings:
    """Everything the settings page and the API show. Admins'."""
    return MailSettings(await get_smtp(session, actor),
                        await get_summary_settings(session, actor),
                        await last_send(session, actor))


# ---- when -----------------------------------------------------------------------------------

def _monday(moment: datetime, zone: ZoneInfo) -> date:
    local = moment.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


def last_week_start(now: datetime, zone: ZoneInfo) -> date:
    """The Monday of the last whole local week before ``now``'s."""
    return _monday(now, zone) - timedelta(days=7)


def due_week(now: datetime, zone: ZoneInfo, weekday: int, hour: int) -> date | None:
    """The week whose summary is due at ``now`` (its Monday): last week's, from this week's
    ``weekday`` at ``hour`` on the company's clock and for ``SEND_WITHIN`` after; None
    otherwise. A moment missed (the workers were down) is caught up within that time; a
    summary turned on later in the week waits for the next week's moment."""
    send_day = _monday(now, zone) + timedelta(days=weekday - 1)
    moment = datetime.combine(send_day, time(hour), tzinfo=zone)
    if not moment <= now < moment + SEND_WITHIN:
        return None
    return last_week_start(now, zone)


# ---- sending the summary ------------------------------------------------------------------

async def due_summaries(session: AsyncSession, *, now: datetime
                        ) -> list[tuple[uuid.UUID, date]]:
    """(company, week) of every summary due at ``now`` and not yet sent (nor given up on),
    across companies: the system scope."""
    rows = (await session.execute(
        select(SummarySettings.tenant_id, SummarySettings.weekday, SummarySettings.hour,
               Tenant.timezone)
        .join(Tenant, Tenant.id == SummarySettings.tenant_id)
        .join(SmtpSettings, SmtpSettings.tenant_id == SummarySettings.tenant_id)
        .where(SummarySettings.enabled.is_(True), Tenant.status == "active",
               func.cardinality(SummarySettings.recipients) > 0))).all()
    due = [(tenant_id, week) for tenant_id, weekday, hour, zone in rows
           if (week := due_week(now, ZoneInfo(zone), weekday, hour)) is not None]
    if not due:
        return []
    done = set((await session.execute(select(SummarySend.tenant_id, SummarySend.week_start).where(
        tuple_(SummarySend.tenant_id, SummarySend.week_start).in_(due),
        or_(SummarySend.status == "sent",
            SummarySend.attempts >= MAX_SCHEDULED_ATTEMPTS)))).all())
    return [item for item in due if item not in done]


async def _claim(session: AsyncSession, tenant_id: uuid.UUID, week_start: date,
                 now: datetime, *, again: bool) -> uuid.UUID | None:
    """Take the week's summary to send, in this transaction (its row stays locked until the
    transaction ends): a new week, a failed one (tried fewer than MAX_SCHEDULED_ATTEMPTS
    times), or with ``again`` any. None: sent already (or given up on)."""
    statement = pg_insert(SummarySend).values(
        id=new_id(), tenant_id=tenant_id, week_start=week_start, status="sending", attempts=1,
        attempted_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[SummarySend.tenant_id, SummarySend.week_start],
        set_={"status": "sending", "attempts": SummarySend.attempts + 1,
              "attempted_at": now},
        where=None if again else and_(SummarySend.status == "failed",
                                      SummarySend.attempts < MAX_SCHEDULED_ATTEMPTS))
    return await session.scalar(statement.returning(SummarySend.id))


async def _send_claimed(session: AsyncSession, tenant_id: uuid.UUID, send_id: uuid.UUID,
                        week_start: date, settings: SummarySettings, server: SmtpSettings,
                        now: datetime, *, language: str) -> SendResult:
    """Build the week's summary, hand it to the server, and record what happened on the
    claimed row; the outcome in ``language``."""
    content = await summary.build(session, tenant_id, week_start, settings.language)
    message = _message(server, list(settings.recipients), content.subject, content.text,
                       content.html, now)
    failure = None
    delivered = smtp_client.Delivered()
    try:
        delivered = await smtp_client.send(_server(server), message)
    except smtp_client.MailFailure as exc:
        failure = exc
    refused = "; ".join(delivered.refused)
    if failure is None:
        # Recipients the server would not take, when it took the others: kept, not retried.
        outcome = {"status": "sent", "sent_at": now, "error_code": None,
                   "error_detail": refused or None}
    else:  # an earlier success of the week (before "Send now") keeps its time
        outcome = {"status": "failed", "error_code": failure.code,
                   "error_detail": failure.detail}
    await session.execute(update(SummarySend).where(
        SummarySend.tenant_id == tenant_id, SummarySend.id == send_id).values(**outcome))
    if failure is None:
        log.info("mail.summary_sent", tenant_id=str(tenant_id),
                 week_start=week_start.isoformat(), recipients=len(settings.recipients))
    else:
        log.warning("mail.summary_failed", tenant_id=str(tenant_id),
                    week_start=week_start.isoformat(), error_code=failure.code)
    return _result(language, failure, sent=SENT_SUMMARY, detail=refused)


async def send_due_summary(session: AsyncSession, tenant_id: uuid.UUID, week_start: date, *,
                           now: datetime | None = None) -> SendResult | None:
    """The job's part for one company (its tenant scope): send the week's summary if it is
    still due and nobody sent it; None when there was nothing to send."""
    now = now or _now()
    settings = await _summary_of(session, tenant_id)
    server = await _smtp_of(session, tenant_id)
    if settings is None or server is None or not settings.enabled or not settings.recipients:
        return None  # changed since it was listed
    zone = await company_zone(session, tenant_id)
    if due_week(now, zone, settings.weekday, settings.hour) != week_start:
        return None
    send_id = await _claim(session, tenant_id, week_start, now, again=False)
    if send_id is None:
        return None
    return await _send_claimed(session, tenant_id, send_id, week_start, settings, server, now,
                               language=settings.language)


async def send_summary_now(session: AsyncSession, actor: Actor, *,
                           now: datetime | None = None) -> SendResult:
    """Send last week's summary to the recipients now, whether or not it went already (an
    admin asked); recorded as that week's, so the hourly job does not send it again. A
    refusal of the server is the answer, recorded, not an error. Admins'."""
    actor.require(Permission.MANAGE_SETTINGS)
    now = now or _now()
    server = await _required_smtp(session, actor.tenant_id)
    settings = await _summary_of(session, actor.tenant_id)
    if settings is None or not settings.recipients:
        raise ValidationFailed("add at least one recipient", field="recipients")
    week_start = last_week_start(now, await company_zone(session, actor.tenant_id))
    send_id = await _claim(session, actor.tenant_id, week_start, now, again=True)
    assert send_id is not None  # taken whatever its state
    result = await _send_claimed(session, actor.tenant_id, send_id, week_start, settings,
                                 server, now, language=actor.language)
    await audit.record(session, actor, "mail.summary_sent_now",
                       target_type="mail_summary_sends", target_id=send_id,
                       data={"week_start": week_start.isoformat(), "ok": result.ok,
                             "error_code": result.error_code})
    return result

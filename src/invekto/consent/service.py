"""Marketing consent per contact and kind (message, call, e-mail), with its history.

Every way consent changes goes through ``apply_changes``: the contact panel and the API
(``set_manual``), a keyword the customer writes (``on_inbound``), the widget's checkbox
(``record_widget_consent``), an imported file (``import_consents``) and İYS (``sync``). It
locks the contacts' current rows, keeps only real changes (a repeat of what is known, or a
change older than what is known, changes nothing), writes the current state
(``contact_consents``, what campaigns read) and one ``consent_events`` row per change, queues
the change for İYS when the company has İYS on (message and call consents of Turkish numbers),
and takes a withdrawn contact out of the campaigns still sending.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import any_, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.campaigns import lists
from invekto.consent import iys, keywords
from invekto.consent.models import ConsentEvent, IysPush, IysSettings
from invekto.consent.schemas import ConsentImportOut, ImportRowError
from invekto.contacts.models import CONSENT_TYPES, Contact, ContactConsent
from invekto.contacts.schemas import ConsentIn
from invekto.core import jobs, masking
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.core.text import fold
from invekto.db.base import new_id
from invekto.db.queries import get_in_tenant
from invekto.routing.service import company_zone

# How a consent recorded through each of our sources was given, in İYS's words (a person may
# say otherwise when recording it, an import for its whole file).
IYS_SOURCE_OF = {"widget": "HS_WEB", "keyword": "HS_MESAJ", "import": "HS_FIZIKSEL_ORTAM",
                 "manual": "HS_FIZIKSEL_ORTAM"}
# İYS keeps message and call consents of Turkish numbers (e-mail ones we keep to ourselves).
IYS_TYPES = ("message", "call")
HISTORY_LIMIT = 200
IMPORT_ERRORS_SHOWN = 200
_CONSENT_HEADERS = ("izin", "onay", "izin durumu", "ticari ileti izni", "ticari izin",
                    "pazarlama izni", "iys", "iys izni", "consent", "marketing consent",
                    "opt in", "opt-in")
_DATE_HEADERS = ("izin tarihi", "onay tarihi", "tarih", "consent date", "date")
_YES = frozenset({"evet", "e", "1", "true", "yes", "y", "x", "onay", "var", "verdi", "ok"})
_NO = frozenset({"hayir", "h", "0", "false", "no", "n", "ret", "red", "yok", "vermedi"})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class By:
    """Who records a change."""

    kind: str  # user, api_key, system, iys
    id: uuid.UUID | None = None

    @classmethod
    def of(cls, actor: Actor) -> By:
        if actor.kind == "system":
            return cls("system")
        return cls(actor.kind, actor.id_for_audit)


SYSTEM = By("system")
IYS = By("iys")


@dataclass(frozen=True)
class Change:
    """A contact's consent of one kind, given or withdrawn at ``occurred_at``."""

    contact_id: uuid.UUID
    consent_type: str
    granted: bool
    occurred_at: datetime
    recipient: str | None = None  # the number or address it is for (İYS needs it)
    iys_source: str | None = None
    iys_status: str | None = None  # İYS's status this change sets, when it is known
    evidence: dict[str, Any] = field(default_factory=dict)
    iys_transaction_id: str | None = None


@dataclass
class _State:
    granted: bool
    iys_status: str | None
    source: str
    at: datetime


async def apply_changes(session: AsyncSession, tenant_id: uuid.UUID, source: str, by: By,
                        changes: Iterable[Change]) -> list[ConsentEvent]:
    """Record ``changes`` (all from ``source``); returns the events of those that changed
    something, in the order they happened."""
    wanted = sorted(changes, key=lambda c: c.occurred_at)
    if not wanted:
        return []
    contact_ids = sorted({c.contact_id for c in wanted})
    # The current rows, locked in key order (concurrent changes of a contact wait, never
    # deadlock); a contact's first row is inserted below, ON CONFLICT taking a concurrent one.
    rows = (await session.scalars(select(ContactConsent).where(
        ContactConsent.tenant_id == tenant_id,
        ContactConsent.contact_id == any_(contact_ids)).order_by(
        ContactConsent.id).with_for_update().execution_options(
        populate_existing=True))).all()  # the rows as they are now, not as first loaded
    state = {(r.contact_id, r.consent_type): _State(r.granted, r.iys_status, r.source,
                                                    r.recorded_at) for r in rows}
    events: list[dict[str, Any]] = []
    touched: set[tuple[uuid.UUID, str]] = set()
    for change in wanted:
        key = (change.contact_id, change.consent_type)
        known = state.get(key)
        iys_status = change.iys_status if change.iys_status is not None else (
            known.iys_status if known else None)
        if known is not None and (
                # What we know is newer (to the second: İYS's dates have no fractions).
                change.occurred_at < known.at.replace(microsecond=0)
                or (known.granted == change.granted and known.iys_status == iys_status)):
            continue
        state[key] = _State(change.granted, iys_status, source, change.occurred_at)
        touched.add(key)
        events.append({
            "id": new_id(), "tenant_id": tenant_id, "contact_id": change.contact_id,
            "consent_type": change.consent_type, "granted": change.granted, "source": source,
            "iys_status": change.iys_status, "recipient": change.recipient,
            "iys_source": change.iys_source or IYS_SOURCE_OF.get(source),
            "occurred_at": change.occurred_at, "actor_kind": by.kind, "actor_id": by.id,
            "evidence": change.evidence, "iys_transaction_id": change.iys_transaction_id})
    if not events:
        return []
    current = insert(ContactConsent.__table__)
    await session.execute(current.on_conflict_do_update(
        index_elements=["tenant_id", "contact_id", "consent_type"],
        set_={"granted": current.excluded.granted, "source": current.excluded.source,
              "iys_status": current.excluded.iys_status,
              "recorded_at": current.excluded.recorded_at, "updated_at": func.now()}), [
        {"id": new_id(), "tenant_id": tenant_id, "contact_id": contact_id, "consent_type": kind,
         "granted": state[(contact_id, kind)].granted, "source": state[(contact_id, kind)].source,
         "iys_status": state[(contact_id, kind)].iys_status,
         "recorded_at": state[(contact_id, kind)].at}
        for contact_id, kind in sorted(touched)])
    await session.execute(insert(ConsentEvent.__table__), events)
    if source != "iys":
        await _queue_for_iys(session, tenant_id, events)
    withdrawn = {e["contact_id"] for e in events
                 if e["consent_type"] == "message" and not state[(e["contact_id"], "message")]
                 .granted}
    if withdrawn:
        # Local import: campaigns send through the inbox, which records keywords through us.
        from invekto.campaigns import service as campaigns

        await campaigns.exclude_withdrawn(session, tenant_id, withdrawn)
    ids = [e["id"] for e in events]
    found = {e.id: e for e in (await session.scalars(select(ConsentEvent).where(
        ConsentEvent.tenant_id == tenant_id, ConsentEvent.id == any_(ids)))).all()}
    return [found[i] for i in ids]


async def iys_settings_of(session: AsyncSession, tenant_id: uuid.UUID) -> IysSettings | None:
    return await session.scalar(select(IysSettings).where(IysSettings.tenant_id == tenant_id))


async def _queue_for_iys(session: AsyncSession, tenant_id: uuid.UUID,
                         events: list[dict[str, Any]]) -> None:
    """An outbox row per change İYS keeps, and the job that sends them (at commit)."""
    settings = await iys_settings_of(session, tenant_id)
    if settings is None or not settings.enabled:
        return
    pushes = [{
        "id": new_id(), "tenant_id": tenant_id, "event_id": event["id"],
        "payload": iys.Consent(
            recipient=event["recipient"], type=iys.TYPES[event["consent_type"]],
            status="ONAY" if event["granted"] else "RET", source=event["iys_source"],
            consent_date=iys.consent_date(event["occurred_at"]),
            recipient_type=settings.recipient_type).payload()}
        for event in events
        if event["consent_type"] in IYS_TYPES and (event["recipient"] or "").startswith("+90")]
    if not pushes:
        return
    await session.execute(insert(IysPush.__table__), pushes)
    from invekto.consent import tasks  # tasks import this module

    await jobs.defer(session, tasks.push_to_iys, queueing_lock=f"consent.iys_push.{tenant_id}",
                     tenant_id=str(tenant_id))


# ---- reading -------------------------------------------------------------------------------

async def _contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID) -> Contact:
    return await get_in_tenant(session, Contact, actor.tenant_id, contact_id,
                               what=N_("contact"))


async def current(session: AsyncSession, actor: Actor, contact_id: uuid.UUID
                  ) -> list[ContactConsent]:
    """The contact's consent of each kind recorded so far."""
    contact = await _contact(session, actor, contact_id)
    return list((await session.scalars(select(ContactConsent).where(
        ContactConsent.tenant_id == actor.tenant_id, ContactConsent.contact_id == contact.id
    ).order_by(ContactConsent.consent_type))).all())


async def history(session: AsyncSession, actor: Actor, contact_id: uuid.UUID, *,
                  limit: int = HISTORY_LIMIT) -> list[tuple[ConsentEvent, IysPush | None]]:
    """Every change of the contact's consents, newest first, each with how telling İYS went."""
    contact = await _contact(session, actor, contact_id)
    rows = (await session.execute(select(ConsentEvent, IysPush).outerjoin(IysPush, (
        IysPush.tenant_id == ConsentEvent.tenant_id) & (IysPush.event_id == ConsentEvent.id)
    ).where(ConsentEvent.tenant_id == actor.tenant_id, ConsentEvent.contact_id == contact.id
            ).order_by(ConsentEvent.recorded_at.desc(), ConsentEvent.id.desc()).limit(limit)
    )).all()
    return [(event, push) for event, push in rows]


def shown(event: ConsentEvent, masker: masking.Masker) -> dict[str, Any]:
    """The event's personal values (the number or address, the visitor's IP address) as
    ``masker``'s actor may see them."""
    recipient = (masker.email(event.recipient) if event.consent_type == "email"
                 else masker.phone(event.recipient))
    evidence = dict(event.evidence or {})
    if masker.active and evidence.get("ip"):
        evidence["ip"] = masking.text(evidence["ip"])
    return {"recipient": recipient, "evidence": evidence}


# ---- a person records it (contact panel, API) ----------------------------------------------

def may_record(actor: Actor, *, granted: bool) -> bool:
    """Anyone who talks to customers may write down that one withdrew (it only ever stops
    messages); recording a consent given, which lets marketing reach them, is for those who
    manage contacts."""
    if granted:
        return actor.can(Permission.MANAGE_CONTACTS)
    return actor.can_any(Permission.MANAGE_CONTACTS, Permission.HANDLE_CONVERSATIONS)


async def set_manual(session: AsyncSession, actor: Actor, contact_id: uuid.UUID,
                     consent_type: str, data: ConsentIn) -> ContactConsent:
    """Record the contact's consent of ``consent_type`` as given or withdrawn (now, or when
    ``data.occurred_at`` says), with its source and a note; audited, because campaigns obey
    it. Returns the current state (unchanged when it was already so)."""
    if consent_type not in CONSENT_TYPES:
        raise ValidationFailed("unknown consent type", field="consent_type")
    if data.granted or data.iys_status is not None:
        actor.require(Permission.MANAGE_CONTACTS)
    elif not may_record(actor, granted=False):
        actor.require(Permission.HANDLE_CONVERSATIONS)
    contact = await _contact(session, actor, contact_id)
    now = _now()
    occurred_at = data.occurred_at or now
    if occurred_at.tzinfo is None:
        raise ValidationFailed("give the time with its time zone", field="occurred_at")
    if occurred_at > now:
        raise ValidationFailed("the consent cannot be given in the future", field="occurred_at")
    before = await _current_row(session, actor.tenant_id, contact.id, consent_type)
    before_state = _as_dict(before)
    evidence = {"note": data.note.strip()} if data.note and data.note.strip() else {}
    events = await apply_changes(session, actor.tenant_id, data.source, By.of(actor), [Change(
        contact.id, consent_type, data.granted, occurred_at, recipient=_recipient_of(
            contact, consent_type), iys_source=data.iys_source, iys_status=data.iys_status,
        evidence=evidence)])
    after = await _current_row(session, actor.tenant_id, contact.id, consent_type)
    assert after is not None or not events
    if events:
        await audit.record(session, actor, "contact.consent_set", target_type="contact",
                           target_id=contact.id, data={"type": consent_type,
                                                       "event_id": str(events[0].id)},
                           before=before_state, after=_as_dict(after))
    if after is None:  # a withdrawal of a consent never given: nothing to record
        after = ContactConsent(tenant_id=actor.tenant_id, contact_id=contact.id,
                               consent_type=consent_type, granted=False, source=data.source,
                               iys_status=None, recorded_at=occurred_at)
    return after


async def _current_row(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID,
                       consent_type: str) -> ContactConsent | None:
    row = await session.scalar(select(ContactConsent).where(
        ContactConsent.tenant_id == tenant_id, ContactConsent.contact_id == contact_id,
        ContactConsent.consent_type == consent_type).execution_options(populate_existing=True))
    return row


def _as_dict(row: ContactConsent | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"granted": row.granted, "source": row.source, "iys_status": row.iys_status}


def _recipient_of(contact: Contact, consent_type: str) -> str | None:
    return contact.email if consent_type == "email" else contact.phone


# ---- the customer's words, the widget ------------------------------------------------------

@dataclass(frozen=True)
class Inbound:
    """A customer's message just stored."""

    contact: Contact
    message_id: uuid.UUID
    body: str
    at: datetime


async def on_inbound(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                     channel_kind: str, messages: list[Inbound]) -> list[ConsentEvent]:
    """Keywords in customers' messages (``keywords``) withdraw or give their message consent.
    Cheap when none matches: nothing is read."""
    changes: list[Change] = []
    for message in messages:
        granted, word = False, keywords.withdrawal(message.body, channel_kind)
        if word is None:
            granted, word = True, keywords.consent_given(message.body, channel_kind)
        if word is None:
            continue
        changes.append(Change(
            message.contact.id, "message", granted, message.at,
            recipient=message.contact.phone, evidence={
                "message_id": str(message.message_id), "channel_id": str(channel_id),
                "word": word}))
    return await apply_changes(session, tenant_id, "keyword", SYSTEM, changes)


async def record_widget_consent(session: AsyncSession, contact: Contact, *, text: str,
                                evidence: dict[str, Any]) -> list[ConsentEvent]:
    """A visitor ticked the widget's marketing box: their message consent, with the text they
    were shown and where."""
    return await apply_changes(session, contact.tenant_id, "widget", SYSTEM, [Change(
        contact.id, "message", True, _now(), recipient=contact.phone,
        evidence={**evidence, "consent_text": text})])


# ---- import ------------------------------------------------------------------------------------

def guess_consent_columns(columns: list[str]) -> tuple[str | None, str | None]:
    """(consent column, date column) by their headers, accent- and case-folded."""
    folded = {fold(column): column for column in columns}
    consent = next((folded[h] for h in _CONSENT_HEADERS if h in folded), None)
    moment = next((folded[h] for h in _DATE_HEADERS if h in folded), None)
    return consent, moment


def _consent_value(cell: str) -> bool | None:
    """True (given), False (refused), None (left blank); ValueError for anything else."""
    word = fold(cell).strip(" .")
    if not word:
        return None
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ValueError(cell)


def _moment(cell: str, zone) -> datetime | None:
    """A date (and time) as spreadsheets write them: 2024-05-01[ 14:30[:00]] or
    01.05.2024[ 14:30], on the company's clock; None when blank, ValueError if unreadable."""
    value = cell.strip()
    if not value:
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M:%S",
                    "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=zone)
        except ValueError:
            continue
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.combine(datetime.strptime(value, pattern).date(), time(12),
                                    zone)
        except ValueError:
            continue
    raise ValueError(value)


async def import_consents(session: AsyncSession, actor: Actor, *, filename: str, data: bytes,
                          consent_type: str = "message", phone_column: str | None = None,
                          consent_column: str | None = None, date_column: str | None = None,
                          iys_source: str = "HS_FIZIKSEL_ORTAM") -> ConsentImportOut:
    """Consents from a CSV or XLSX: a phone column, a consent column (evet/hayır, yes/no, 1/0,
    onay/ret...), optionally the date each was given (else now). Numbers the company does not
    know become contacts. Each change keeps the file and row as evidence; a row that says what
    is known already (or older than it) changes nothing; a bad row is reported, not fatal."""
    actor.require(Permission.MANAGE_CONTACTS)
    if consent_type not in CONSENT_TYPES or consent_type == "email":
        raise ValidationFailed("choose message or call consent", field="consent_type")
    if iys_source not in iys.SOURCES:
        raise ValidationFailed("choose how the consents were given", field="iys_source")
    table = lists.read_table(filename, data)
    guessed_phone, guessed_name = lists.guess_columns(table.columns)
    guessed_consent, guessed_date = guess_consent_columns(table.columns)
    phone_column = phone_column or guessed_phone
    consent_column = consent_column or guessed_consent
    date_column = date_column if date_column is not None else guessed_date
    if phone_column is None:
        raise ValidationFailed("choose the column with the phone numbers", field="phone_column")
    if consent_column is None or consent_column not in table.columns:
        raise ValidationFailed("choose the column that says whether consent was given",
                               field="consent_column")
    if date_column and date_column not in table.columns:
        raise ValidationFailed("there is no column %(column)s in the file", field="date_column",
                               params={"column": date_column})
    parsed = lists.parse_rows(table, phone_column, guessed_name)
    zone = await company_zone(session, actor.tenant_id)
    now = _now()
    errors: list[ImportRowError] = []
    wanted: list[tuple[lists.ParsedRow, bool, datetime]] = []
    blank = 0
    for row in parsed:
        if row.error:
            errors.append(ImportRowError(row_number=row.row_number, code=row.error))
            continue
        try:
            given = _consent_value(row.values[consent_column])
        except ValueError:
            errors.append(ImportRowError(row_number=row.row_number, code="invalid_consent"))
            continue
        if given is None:
            blank += 1
            continue
        try:
            moment = _moment(row.values[date_column], zone) if date_column else None
        except ValueError:
            moment = None
        if date_column and row.values[date_column].strip() and (moment is None or moment > now):
            errors.append(ImportRowError(row_number=row.row_number, code="invalid_date"))
            continue
        wanted.append((row, given, moment or now))
    contact_of, created = await _contacts_for(session, actor.tenant_id, [
        (row.phone or "", row.name) for row, _, _ in wanted])
    changes = [Change(contact_of[row.phone or ""], consent_type, given, moment,
                      recipient=row.phone, iys_source=iys_source,
                      evidence={"file": filename[:255], "row": row.row_number,
                                "column": consent_column})
               for row, given, moment in wanted]
    events = await apply_changes(session, actor.tenant_id, "import", By.of(actor), changes)
    await audit.record(session, actor, "consent.imported", target_type="consent_import",
                       data={"file": filename[:255], "type": consent_type,
                             "rows": len(parsed), "changed": len(events),
                             "contacts_created": created, "errors": len(errors)})
    return ConsentImportOut(
        rows=len(parsed), changed=len(events), unchanged=len(wanted) - len(events),
        contacts_created=created, blank=blank, errors=errors[:IMPORT_ERRORS_SHOWN],
        error_count=len(errors), phone_column=phone_column, consent_column=consent_column)


async def _contacts_for(session: AsyncSession, tenant_id: uuid.UUID,
                        numbers: list[tuple[str, str]]) -> tuple[dict[str, uuid.UUID], int]:
    """The contact of each (phone, name), made for the numbers the company does not know (in
    one statement; known numbers keep their contact and its name). Returns them by phone and
    how many were made."""
    if not numbers:
        return {}, 0
    names = dict(numbers)
    created = (await session.scalars(insert(Contact.__table__).on_conflict_do_nothing(
        index_elements=["tenant_id", "phone"], index_where=text("phone IS NOT NULL")
    ).returning(Contact.id), [
        {"id": new_id(), "tenant_id": tenant_id, "phone": phone, "name": name[:200]}
        for phone, name in sorted(names.items())])).all()
    found = dict((await session.execute(select(Contact.phone, Contact.id).where(
        Contact.tenant_id == tenant_id, Contact.phone == any_(list(names))))).all())
    return found, len(created)


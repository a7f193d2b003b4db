"""Contacts, their channel identities, custom field definitions and the tag catalogue."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import String, any_, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.contacts.models import (
    MAX_CUSTOM_FIELDS,
    Contact,
    ContactConsent,
    ContactIdentity,
    CustomFieldDefinition,
    SmsOptOut,
    Tag,
)
from invekto.contacts.schemas import (
    ConsentIn,
    ContactCreate,
    ContactUpdate,
    CustomFieldCreate,
    CustomFieldUpdate,
    TagCreate,
    TagUpdate,
)
from invekto.core import masking
from invekto.core.actor import Actor, Permission
from invekto.core.errors import PermissionDenied, ValidationFailed
from invekto.core.i18n import N_
from invekto.core.pagination import newest_first_page
from invekto.core.phone import to_e164
from invekto.db.base import new_id
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.inbox.search import contact_match

NAME_LENGTH = Contact.name.type.length
_URL = re.compile(r"^https?://\S+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---- contacts ----------------------------------------------------------------------------------

async def get_contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID) -> Contact:
    return await get_in_tenant(session, Contact, actor.tenant_id, contact_id, what=N_("contact"))


async def is_blocked(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
                     ) -> bool:
    return bool(await session.scalar(select(Contact.blocked_at.is_not(None)).where(
        Contact.tenant_id == tenant_id, Contact.id == contact_id)))


async def blocked_contacts(session: AsyncSession, actor: Actor) -> list[Contact]:
    """The company's block list, most recently blocked first: supervisors'."""
    actor.require(Permission.MANAGE_CONTACTS)
    return list((await session.scalars(select(Contact).where(
        Contact.tenant_id == actor.tenant_id, Contact.blocked_at.is_not(None)
    ).order_by(Contact.blocked_at.desc()).limit(1000))).all())


async def set_blocked(session: AsyncSession, actor: Actor, contact_id: uuid.UUID,
                      blocked: bool) -> Contact:
    """Mark a contact blocked (now) or not; the caller checks who may."""
    contact = await get_contact(session, actor, contact_id)
    if blocked and contact.blocked_at is None:
        contact.blocked_at = datetime.now(UTC)
    elif not blocked:
        contact.blocked_at = None
    await session.flush()
    return contact


async def get_contacts(session: AsyncSession, actor: Actor, contact_ids: Iterable[uuid.UUID]
                       ) -> dict[uuid.UUID, Contact]:
    ids = set(contact_ids)
    if not ids:
        return {}
    rows = await session.scalars(select(Contact).where(Contact.tenant_id == actor.tenant_id,
                                                       Contact.id.in_(ids)))
    return {c.id: c for c in rows}


async def identities_of(session: AsyncSession, actor: Actor, contact_id: uuid.UUID
                        ) -> list[ContactIdentity]:
    """How each channel knows the contact (a WhatsApp number, an Instagram id...)."""
    return list((await session.scalars(select(ContactIdentity).where(
        ContactIdentity.tenant_id == actor.tenant_id, ContactIdentity.contact_id == contact_id
    ).order_by(ContactIdentity.created_at))).all())


async def search_contacts(
    session: AsyncSession, actor: Actor, *, q: str | None = None, tag: str | None = None,
    custom_field: tuple[str, str] | None = None, cursor: str | None = None, limit: int = 50,
) -> tuple[list[Contact], str | None]:
    """Words of the name or e-mail address, each from its start (Turkish letters folded: 'sukru'
    finds 'Şükrü'), phone digits, tag, or ``custom_field=(key, value)``; newest first,
    keyset-paginated. See ``inbox.search``."""
    query = select(Contact).where(Contact.tenant_id == actor.tenant_id)
    if q and q.strip():
        query = query.where(contact_match(actor, q))
    if tag:
        query = query.where(any_(Contact.tags) == tag)
    if custom_field:
        key, value = custom_field
        query = query.where(Contact.custom_fields[key].astext == value)
    return await newest_first_page(session, query, Contact.created_at, Contact.id,
                                   cursor=cursor, limit=limit)


async def create_contact(session: AsyncSession, actor: Actor, data: ContactCreate) -> Contact:
    contact = Contact(
        tenant_id=actor.tenant_id, name=data.name.strip(),
        phone=to_e164(data.phone) if data.phone else None,
        email=data.email.lower() if data.email else None, language=data.language,
        tags=await checked_tags(session, actor, data.tags),
        custom_fields=await _checked_custom_fields(session, actor, data.custom_fields),
    )
    await _flush_unique_phone(session, contact)
    await audit.record(session, actor, "contact.created", target_type="contact",
                       target_id=contact.id)
    await _emit(session, "contact_created", contact)
    return contact


async def update_contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID,
                         data: ContactUpdate) -> Contact:
    contact = await get_contact(session, actor, contact_id)
    changes = data.model_dump(exclude_unset=True)
    await _require_may_change_personal(session, actor, changes)
    # Everything is checked before the contact changes: the checks query, and an autoflush of a
    # taken phone number inside one of them would escape flush_unique's 409.
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = (data.name or "").strip()
    if "phone" in changes:
        values["phone"] = to_e164(data.phone) if data.phone else None
    if "email" in changes:
        values["email"] = data.email.lower() if data.email else None
    if "language" in changes:
        values["language"] = data.language
    if data.tags is not None:
        values["tags"] = await checked_tags(session, actor, data.tags)
    if data.custom_fields is not None:
        # A partial update: given keys are set, keys given as null are cleared.
        merged = {**contact.custom_fields, **data.custom_fields}
        values["custom_fields"] = await _checked_custom_fields(
            session, actor, {k: v for k, v in merged.items() if v is not None})
    before = _audited(contact, values)
    await _flush_unique_phone(session, contact, values)
    await audit.record(session, actor, "contact.updated", target_type="contact",
                       target_id=contact.id, data={"fields": sorted(changes)},
                       **audit.diff(before, _audited(contact, values)))
    await _emit(session, "contact_updated", contact, {"fields": sorted(changes)})
    return contact


def _audited(contact: Contact, values: dict[str, Any]) -> dict[str, Any]:
    """The changed fields as the audit log keeps them: personal values masked (the log is no
    second copy of a customer's data), custom fields by name only."""
    shown = {"name": masking.text, "phone": masking.phone, "email": masking.email}
    return {name: shown.get(name, lambda value: value)(getattr(contact, name))
            if name != "custom_fields" else sorted(contact.custom_fields)
            for name in values}


async def _require_may_change_personal(session: AsyncSession, actor: Actor,
                                       changes: dict[str, Any]) -> None:
    """Someone who sees a contact's personal data masked cannot overwrite it either: a number
    changed blind would send the customer's messages to a stranger."""
    masker = await masker_for(session, actor)
    if not masker.active:
        return
    touched = [name for name in ("phone", "email") if name in changes] + [
        f"custom_fields.{key}" for key in changes.get("custom_fields") or {}
        if key in masker.personal_fields]
    if touched:
        raise PermissionDenied("this field holds personal data, which you cannot change",
                               field=touched[0])


async def change_tags(session: AsyncSession, actor: Actor, contact_id: uuid.UUID, *,
                      add: list[str], remove: list[str]) -> Contact:
    """Tag or untag a contact (the contact card); the tags must be in the catalogue."""
    contact = await get_contact(session, actor, contact_id)
    kept = [t for t in contact.tags if t not in set(remove)]
    added = [t for t in await checked_tags(session, actor, add) if t not in kept]
    changed = contact.tags != kept + added
    contact.tags = kept + added
    await session.flush()
    if changed:
        await _emit(session, "contact_updated", contact, {"fields": ["tags"]})
    return contact


async def _emit(session: AsyncSession, kind: str, contact: Contact, data: dict | None = None
                ) -> None:
    """Tell the company's rules (local import: their actions reach the inbox, which reads
    contacts)."""
    from invekto.automation import service as automation
    from invekto.automation.events import Event

    await automation.emit(session, [Event(kind, contact.tenant_id, contact_id=contact.id,
                                          data=data or {})])
    from invekto.integrations import contacts as synced  # the CRMs kept the same (Zoho)

    await synced.contact_changed(session, contact)


async def delete_contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID) -> None:
    """Deletes the contact with its conversations and messages (supervisors and up)."""
    actor.require(Permission.MANAGE_CONTACTS)
    contact = await get_contact(session, actor, contact_id)
    await session.delete(contact)
    await session.flush()
    await audit.record(session, actor, "contact.deleted", target_type="contact",
                       target_id=contact_id)


@dataclass(frozen=True)
class ChannelSender:
    """Who wrote on a channel, as its adapter saw them."""

    handle: str
    phone: str | None = None
    name: str | None = None


async def find_or_create_for_channel(
    session: AsyncSession, tenant_id: uuid.UUID, *, channel_id: uuid.UUID, handle: str,
    phone: str | None = None, name: str | None = None,
) -> Contact:
    """The contact behind a channel handle, created on first contact."""
    found = await find_or_create_senders(session, tenant_id, channel_id,
                                         [ChannelSender(handle, phone, name)])
    return found[handle]


async def find_or_create_senders(session: AsyncSession, tenant_id: uuid.UUID,
                                 channel_id: uuid.UUID, senders: Iterable[ChannelSender]
                                 ) -> dict[str, Contact]:
    """The contacts behind a batch of channel handles (by handle), created on first contact, in
    a fixed number of statements however large the batch. A phone number links a new handle to
    an existing contact (the same person on WhatsApp, SMS and calls); a name fills an empty one."""
    by_handle: dict[str, ChannelSender] = {}
    for sender in senders:
        if sender.name and len(sender.name) > NAME_LENGTH:  # a profile name is the customer's
            sender = ChannelSender(sender.handle, sender.phone, sender.name[:NAME_LENGTH])
        known = by_handle.get(sender.handle)
        if known is None or (not known.name and sender.name):
            by_handle[sender.handle] = sender
    contact_ids = await _identities(session, tenant_id, channel_id, list(by_handle))
    new = [sender for handle, sender in by_handle.items() if handle not in contact_ids]
    if new:
        created = await _create_for_handles(session, tenant_id, channel_id, new)
        contact_ids = await _identities(session, tenant_id, channel_id, list(by_handle))
        if orphans := created - set(contact_ids.values()):
            # Another worker linked one of these handles first: ours never got an identity.
            await session.execute(delete(Contact).where(
                Contact.tenant_id == tenant_id, Contact.id == any_(list(orphans))))
    contacts = {c.id: c for c in (await session.scalars(select(Contact).where(
        Contact.tenant_id == tenant_id, Contact.id == any_(list(set(contact_ids.values())))
    ))).all()}
    found = {handle: contacts[contact_id] for handle, contact_id in contact_ids.items()}
    for handle, contact in found.items():
        name = by_handle[handle].name
        if name and not contact.name:
            contact.name = name
    return found


async def _identities(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                      handles: list[str]) -> dict[str, uuid.UUID]:
    # Identities, then contacts by primary key, rather than a join: every ingested batch runs
    # this, and a join's plan can go wrong while a young tenant's statistics are stale.
    return dict((await session.execute(select(
        ContactIdentity.handle, ContactIdentity.contact_id).where(
        ContactIdentity.tenant_id == tenant_id, ContactIdentity.channel_id == channel_id,
        ContactIdentity.handle == any_(handles)))).all())


async def _create_for_handles(session: AsyncSession, tenant_id: uuid.UUID,
                              channel_id: uuid.UUID, senders: list[ChannelSender]
                              ) -> set[uuid.UUID]:
    """Contacts and identities for handles seen for the first time; returns the ids of the
    contacts made without a phone. INSERT ... ON CONFLICT keeps two concurrent first messages
    from one number (or handle) to one row: the loser's handle is linked to the winner's
    contact when the identities are read again."""
    phones = {s.handle: to_e164(s.phone) if s.phone else None for s in senders}
    # Rows in key order: two batches inserting the same new numbers wait, never deadlock.
    with_phone = sorted((s for s in senders if phones[s.handle]), key=lambda s: phones[s.handle])
    contact_of: dict[str, uuid.UUID] = {}
    if with_phone:
        # Many rows as one executemany of a cached statement (SQLAlchemy pages it into
        # multi-row INSERTs): compiling one VALUES list per batch cost more than running it.
        await session.execute(insert(Contact.__table__).on_conflict_do_nothing(
            index_elements=["tenant_id", "phone"], index_where=Contact.phone.isnot(None)), [
            {"id": new_id(), "tenant_id": tenant_id, "phone": phones[s.handle],
             "name": s.name or ""} for s in with_phone])
        by_phone = dict((await session.execute(select(Contact.phone, Contact.id).where(
            Contact.tenant_id == tenant_id,
            Contact.phone == any_([phones[s.handle] for s in with_phone])))).all())
        contact_of.update({s.handle: by_phone[phones[s.handle]] for s in with_phone})
    created: set[uuid.UUID] = set()
    if without_phone := [s for s in senders if not phones[s.handle]]:
        rows = [{"id": new_id(), "tenant_id": tenant_id, "name": s.name or ""}
                for s in without_phone]
        await session.execute(insert(Contact.__table__), rows)
        for sender, row in zip(without_phone, rows, strict=True):
            contact_of[sender.handle] = row["id"]
            created.add(row["id"])
    await session.execute(insert(ContactIdentity.__table__).on_conflict_do_nothing(
        index_elements=["tenant_id", "channel_id", "handle"]), [
        {"id": new_id(), "tenant_id": tenant_id, "contact_id": contact_id,
         "channel_id": channel_id, "handle": handle}
        for handle, contact_id in sorted(contact_of.items())])
    return created


async def record_sms_opt_outs(session: AsyncSession, tenant_id: uuid.UUID,
                              opt_outs: dict[str, str]) -> None:
    """Numbers (E.164) that asked for no more marketing SMS, with the word they used; a number
    already on the list stays as it was."""
    if opt_outs:
        await session.execute(insert(SmsOptOut.__table__).on_conflict_do_nothing(
            index_elements=["tenant_id", "phone"]), [
            {"id": new_id(), "tenant_id": tenant_id, "phone": phone, "keyword": word}
            for phone, word in sorted(opt_outs.items())])


async def sms_opted_out(session: AsyncSession, actor: Actor, phone: str) -> bool:
    return await session.scalar(select(SmsOptOut.id).where(
        SmsOptOut.tenant_id == actor.tenant_id, SmsOptOut.phone == phone)) is not None


async def contact_on_channel(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                             handle: str) -> uuid.UUID | None:
    """The contact a channel knows by ``handle``, if any (never creates one)."""
    return (await _identities(session, tenant_id, channel_id, [handle])).get(handle)


async def handle_on_channel(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID,
                            channel_id: uuid.UUID) -> str | None:
    return await session.scalar(select(ContactIdentity.handle).where(
        ContactIdentity.tenant_id == tenant_id, ContactIdentity.contact_id == contact_id,
        ContactIdentity.channel_id == channel_id).limit(1))


# A contact's last activity is kept to the minute: a chatty customer's every message rewriting
# the row (and its search columns) cost a fifth of ingest time.
ACTIVITY_PRECISION = timedelta(minutes=1)


async def touch_activity(session: AsyncSession, tenant_id: uuid.UUID,
                         contact_ids: Iterable[uuid.UUID]) -> None:
    await session.execute(update(Contact).where(
        Contact.tenant_id == tenant_id, Contact.id == any_(list(contact_ids)),
        or_(Contact.last_activity_at.is_(None),
            Contact.last_activity_at < func.now() - ACTIVITY_PRECISION),
    ).values(last_activity_at=func.now()))


async def _flush_unique_phone(session: AsyncSession, contact: Contact,
                              values: dict[str, Any] | None = None) -> None:
    """Apply ``values`` and flush; a taken phone number is a 409 on ``phone``."""
    values = values or {}
    phone = values.get("phone", contact.phone)
    for name, value in values.items():
        setattr(contact, name, value)
    session.add(contact)
    await flush_unique(session, "a contact with phone %(phone)s exists", field="phone",
                       params={"phone": phone})


# ---- tags --------------------------------------------------------------------------------------

async def list_tags(session: AsyncSession, actor: Actor) -> list[Tag]:
    return list((await session.scalars(select(Tag).where(
        Tag.tenant_id == actor.tenant_id).order_by(Tag.name))).all())


async def create_tag_named(session: AsyncSession, actor: Actor, name: str) -> Tag:
    """A tag made while tagging a conversation (any role): the catalogue's default colour."""
    name = " ".join(name.split())
    if not name or len(name) > 50:
        raise ValidationFailed("a tag name is 1 to 50 characters", field="add")
    tag = Tag(tenant_id=actor.tenant_id, name=name)
    session.add(tag)
    await flush_unique(session, "this tag already exists", field="add")
    return tag


async def create_tag(session: AsyncSession, actor: Actor, data: TagCreate) -> Tag:
    actor.require(Permission.MANAGE_CONTACTS)
    tag = Tag(tenant_id=actor.tenant_id, name=data.name.strip(), color=data.color,
              marks_conversion=data.marks_conversion)
    session.add(tag)
    await flush_unique(session, "tag '%(name)s' exists", field="name", params={"name": tag.name})
    await audit.record(session, actor, "tag.created", target_type="tag", target_id=tag.id,
                       after={"name": tag.name, "marks_conversion": tag.marks_conversion})
    return tag


async def update_tag(session: AsyncSession, actor: Actor, tag_id: uuid.UUID, data: TagUpdate
                     ) -> Tag:
    actor.require(Permission.MANAGE_CONTACTS)
    tag = await _get_tag(session, actor, tag_id)
    before = {"color": tag.color, "marks_conversion": tag.marks_conversion}
    if data.color is not None:
        tag.color = data.color
    if data.marks_conversion is not None:
        tag.marks_conversion = data.marks_conversion
    await session.flush()
    after = {"color": tag.color, "marks_conversion": tag.marks_conversion}
    if after != before:
        await audit.record(session, actor, "tag.updated", target_type="tag", target_id=tag.id,
                           data={"name": tag.name}, **audit.diff(before, after))
    return tag


async def delete_tag(session: AsyncSession, actor: Actor, tag_id: uuid.UUID) -> Tag:
    """Removes the tag from the catalogue and from every contact. Returns the deleted tag so the
    caller can clear it elsewhere (conversations)."""
    actor.require(Permission.MANAGE_CONTACTS)
    tag = await _get_tag(session, actor, tag_id)
    await session.execute(update(Contact).where(
        Contact.tenant_id == actor.tenant_id, any_(Contact.tags) == tag.name).values(
        tags=func.array_remove(Contact.tags, tag.name)))
    await session.delete(tag)
    await session.flush()
    await audit.record(session, actor, "tag.deleted", target_type="tag", target_id=tag_id,
                       before={"name": tag.name})
    return tag


async def _get_tag(session: AsyncSession, actor: Actor, tag_id: uuid.UUID) -> Tag:
    return await get_in_tenant(session, Tag, actor.tenant_id, tag_id, what=N_("tag"))


async def checked_tags(session: AsyncSession, actor: Actor, names: list[str]) -> list[str]:
    """Deduplicated tag names, each one in the tenant's catalogue (else a 422 on ``tags``)."""
    wanted = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not wanted:
        return []
    known = set((await session.scalars(select(Tag.name).where(
        Tag.tenant_id == actor.tenant_id, Tag.name.in_(wanted)))).all())
    if unknown := [name for name in wanted if name not in known]:
        raise ValidationFailed("unknown tag '%(tag)s'; create it first", field="tags",
                               params={"tag": unknown[0]})
    return wanted


# ---- custom fields -----------------------------------------------------------------------------

async def list_custom_fields(session: AsyncSession, actor: Actor) -> list[CustomFieldDefinition]:
    return list((await session.scalars(select(CustomFieldDefinition).where(
        CustomFieldDefinition.tenant_id == actor.tenant_id).order_by(
        CustomFieldDefinition.position, CustomFieldDefinition.key))).all())


async def create_custom_field(session: AsyncSession, actor: Actor, data: CustomFieldCreate
                              ) -> CustomFieldDefinition:
    actor.require(Permission.MANAGE_SETTINGS)
    count = await session.scalar(select(func.count()).select_from(CustomFieldDefinition).where(
        CustomFieldDefinition.tenant_id == actor.tenant_id))
    if count >= MAX_CUSTOM_FIELDS:
        raise ValidationFailed(f"a company can define at most {MAX_CUSTOM_FIELDS} custom fields",
                               field="key")
    if data.field_type == "select" and not data.options:
        raise ValidationFailed("a select field needs options", field="options")
    definition = CustomFieldDefinition(
        tenant_id=actor.tenant_id, key=data.key, label=data.label, field_type=data.field_type,
        options=data.options, position=data.position, is_personal=data.is_personal)
    session.add(definition)
    await flush_unique(session, "custom field '%(key)s' exists", field="key",
                       params={"key": data.key})
    await audit.record(session, actor, "custom_field.created", target_type="custom_field",
                       target_id=definition.id, data={"key": data.key})
    return definition


async def update_custom_field(session: AsyncSession, actor: Actor, field_id: uuid.UUID,
                              data: CustomFieldUpdate) -> CustomFieldDefinition:
    actor.require(Permission.MANAGE_SETTINGS)
    definition = await _get_custom_field(session, actor, field_id)
    changes = {name: value for name, value in data.model_dump(exclude_unset=True).items()
               if getattr(definition, name) != value}
    before = {name: getattr(definition, name) for name in changes}
    for name, value in changes.items():
        setattr(definition, name, value)
    await session.flush()
    if changes:
        await audit.record(session, actor, "custom_field.updated", target_type="custom_field",
                           target_id=definition.id, data={"key": definition.key},
                           **audit.diff(before, changes))
    return definition


async def delete_custom_field(session: AsyncSession, actor: Actor, field_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_SETTINGS)
    definition = await _get_custom_field(session, actor, field_id)
    await session.execute(update(Contact).where(
        Contact.tenant_id == actor.tenant_id, Contact.custom_fields.has_key(definition.key)
    ).values(custom_fields=Contact.custom_fields.op("-", return_type=JSONB)(
        literal(definition.key, String))))
    await session.delete(definition)
    await session.flush()
    await audit.record(session, actor, "custom_field.deleted", target_type="custom_field",
                       target_id=field_id, data={"key": definition.key})


async def _get_custom_field(session: AsyncSession, actor: Actor, field_id: uuid.UUID
                            ) -> CustomFieldDefinition:
    return await get_in_tenant(session, CustomFieldDefinition, actor.tenant_id, field_id,
                               what=N_("custom field"))


async def _checked_custom_fields(session: AsyncSession, actor: Actor, values: dict[str, Any]
                                 ) -> dict[str, Any]:
    if not values:
        return {}
    definitions = {d.key: d for d in await list_custom_fields(session, actor)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        field = f"custom_fields.{key}"
        if definition is None:
            raise ValidationFailed("no custom field '%(key)s' is defined", field=field,
                                   params={"key": key})
        checked[key] = _coerce(definition, value, field)
    return checked


def _coerce(definition: CustomFieldDefinition, value: Any, field: str) -> Any:
    kind = definition.field_type
    try:
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError
            number = float(str(value).replace(",", "."))  # Turkish decimal comma
            if not math.isfinite(number):
                raise ValueError  # NaN and infinities are not numbers JSON can hold
            return int(number) if number.is_integer() else number
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            raise ValueError
        if kind == "date":
            return date.fromisoformat(str(value)).isoformat()
        text = str(value).strip()
        if kind == "select" and text not in definition.options:
            raise ValueError
        if kind == "url" and not _URL.match(text):
            raise ValueError
        if kind == "email" and not _EMAIL.match(text):
            raise ValueError
        if len(text) > 1000:
            raise ValueError
        return text
    except ValueError as exc:
        if kind == "select":
            expected = ", ".join(definition.options)
            raise ValidationFailed("'%(label)s' must be one of: %(expected)s", field=field,
                                   params={"label": definition.label,
                                           "expected": expected}) from exc
        expected = {"number": N_("a number"), "boolean": N_("true or false"),
                    "date": N_("a date YYYY-MM-DD"), "url": N_("an http(s) URL"),
                    "email": N_("an e-mail address")}.get(kind, N_("text up to 1000 characters"))
        raise ValidationFailed("'%(label)s' must be %(expected)s", field=field,
                               params={"label": definition.label, "expected": expected}) from exc


# ---- personal data -----------------------------------------------------------------------------

async def masker_for(session: AsyncSession, actor: Actor) -> masking.Masker:
    """How contacts' personal data is shown to ``actor``: in clear with "see personal data",
    masked (phone, e-mail and the custom fields marked personal) without."""
    if actor.can(Permission.SEE_PERSONAL_DATA):
        return masking.Masker(actor)
    keys = (await session.scalars(select(CustomFieldDefinition.key).where(
        CustomFieldDefinition.tenant_id == actor.tenant_id,
        CustomFieldDefinition.is_personal))).all()
    return masking.Masker(actor, keys)


async def reveal(session: AsyncSession, actor: Actor, contact_id: uuid.UUID) -> Contact:
    """One contact's personal data in clear for someone who sees it masked: an explicit act,
    recorded in the audit log (who, when, from where)."""
    contact = await get_contact(session, actor, contact_id)
    if not actor.can(Permission.SEE_PERSONAL_DATA):
        await audit.record(session, actor, "contact.personal_data_revealed",
                           target_type="contact", target_id=contact.id)
    return contact


# ---- marketing consent --------------------------------------------------------------------------
# Kept and changed by the consent domain (with its history, keywords and İYS); these names stay
# for callers of the contacts' service (local imports: consent records through campaigns).

async def consents(session: AsyncSession, actor: Actor, contact_id: uuid.UUID
                   ) -> list[ContactConsent]:
    from invekto.consent import service as consent

    return await consent.current(session, actor, contact_id)


async def set_consent(session: AsyncSession, actor: Actor, contact_id: uuid.UUID,
                      consent_type: str, data: ConsentIn) -> ContactConsent:
    """Record the contact's marketing consent for ``consent_type`` (message, call, email); see
    ``consent.service.set_manual``."""
    from invekto.consent import service as consent

    return await consent.set_manual(session, actor, contact_id, consent_type, data)

"""Everything the company holds about one contact, as the documents of a ZIP archive
(``archive.stream`` sends them with the files):

* ``README.txt``: what each file holds, in the contact's language (else the company's);
* ``contact.json``: the profile, custom fields by their labels, how each channel knows them,
  marketing consents, the SMS opt-out, notes about them, campaign messages sent to them,
  satisfaction survey answers and chatbot answers;
* ``conversations.json``: every conversation in the history export's format
  (``inbox.export``), each message with its structured content (``details``) and the path of
  its file in the archive;
* ``attachments.json`` and ``attachments/<id>-<file name>``: the files themselves.

Invekto has no appointments or orders yet; the README says so, rather than the archive
silently leaving them out. All times are UTC (ISO 8601)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.campaigns.models import Campaign, CampaignRecipient
from invekto.channels.models import Channel
from invekto.consent.models import ConsentEvent
from invekto.contacts.models import (
    Contact,
    ContactConsent,
    ContactIdentity,
    CustomFieldDefinition,
    SmsOptOut,
)
from invekto.core import i18n
from invekto.core.i18n import N_
from invekto.core.masking import Masker
from invekto.flows.models import Flow, FlowSession
from invekto.follow_ups.models import CsatResponse
from invekto.inbox import export as history
from invekto.inbox.models import Attachment, Conversation, Message, Note
from invekto.privacy.archive import StoredFile, safe_filename
from invekto.routing.service import company_zone
from invekto.tenants.models import Tenant
from invekto.users.models import User

FORMAT = "invekto.personal-data/1"

README = (
    N_("Personal data %(company)s holds about one person, exported on %(date)s (UTC)."),
    "",
    N_("contact.json: the profile (name, phone number, e-mail address, language, tags, custom "
       "fields), how each messaging channel knows the person, marketing consents, an SMS "
       "opt-out, notes about them, campaign messages sent to them, satisfaction survey "
       "answers and answers given to chatbots."),
    N_("conversations.json: every conversation with the person: the messages (text, time, "
       "direction, delivery status, structured content such as a shared location), the "
       "team's internal notes and what happened (assignments, transfers, closes)."),
    N_("attachments.json: the list of files sent in the conversations, with the messages "
       "they belong to."),
    N_("attachments/: the files themselves (pictures, documents, voice messages, call "
       "recordings), named after their id and original file name."),
    "",
    N_("No appointments or orders are kept in Invekto, so there are none in this export."),
    N_("Times are in UTC (ISO 8601)."),
)


@dataclass(frozen=True)
class PersonalData:
    """The archive's documents and files, and what it holds (counts, for the request's
    record)."""

    filename: str
    exported_at: datetime
    documents: list[tuple[str, bytes]]
    files: list[StoredFile]
    counts: dict[str, int]


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()


def readme(language: str, company: str, exported_at: datetime) -> bytes:
    lines = [i18n.text(language, line, company=company, date=exported_at.strftime("%Y-%m-%d"))
             if "%(" in line else i18n.text(language, line) if line else ""
             for line in README]
    return ("\n".join(lines) + "\n").encode()


async def gather(session: AsyncSession, tenant_id: uuid.UUID, contact: Contact, *,
                 now: datetime, erased_at: datetime | None, masker: Masker) -> PersonalData:
    """Read everything about ``contact`` in this transaction (one consistent picture);
    ``masker``: how the history export shows the contact's number and address (the caller
    sees personal data: in clear)."""
    company = await session.scalar(select(Tenant.name).where(Tenant.id == tenant_id)) or ""
    default_language = await session.scalar(select(Tenant.default_language).where(
        Tenant.id == tenant_id))
    channels = {c.id: c for c in (await session.scalars(select(Channel).where(
        Channel.tenant_id == tenant_id))).all()}
    people = dict((await session.execute(select(User.id, User.display_name).where(
        User.tenant_id == tenant_id))).all())
    conversation_ids = list((await session.scalars(select(Conversation.id).where(
        Conversation.tenant_id == tenant_id, Conversation.contact_id == contact.id)
        .order_by(Conversation.opened_at, Conversation.id))).all())

    files, file_of_message, attachments = await _attachments(session, tenant_id,
                                                             conversation_ids)
    conversations = await _conversations(session, tenant_id, conversation_ids, company, now,
                                         file_of_message, masker)
    profile = await _profile(session, tenant_id, contact, channels, people, erased_at)
    profile["exported_at"], profile["company"] = now.isoformat(), company
    language = contact.language or default_language
    messages = sum(len(c["messages"]) for c in conversations["conversations"])
    notes = len(profile["notes"]) + sum(len(c["notes"]) for c in conversations["conversations"])
    return PersonalData(
        filename=f"personal-data-{contact.id}.zip", exported_at=now,
        documents=[("README.txt", readme(language if language in i18n.LANGUAGES else "tr",
                                         company, now)),
                   ("contact.json", _json(profile)),
                   ("conversations.json", _json(conversations)),
                   ("attachments.json", _json(attachments))],
        files=files,
        counts={"conversations": len(conversation_ids), "messages": messages, "notes": notes,
                "attachments": len(files),
                "bytes": sum(item["size_bytes"] for item in attachments)})


async def _conversations(session: AsyncSession, tenant_id: uuid.UUID,
                         conversation_ids: list[uuid.UUID], company: str, now: datetime,
                         file_of_message: dict[uuid.UUID, str], masker: Masker) -> dict:
    """The history export's document for these conversations, each message with its
    structured content and the path of its file in the archive."""
    # The history export's reading and its document, so both exports describe a
    # conversation the same way (its loader is module-private: called here on purpose).
    loaded = await history.load(session, tenant_id, conversation_ids, masker)
    document = json.loads(history.to_json(history.Export(
        company, await company_zone(session, tenant_id), now, loaded)))
    details = dict((await session.execute(select(Message.id, Message.payload).where(
        Message.tenant_id == tenant_id, Message.conversation_id.in_(conversation_ids),
        Message.payload != {}))).all()) if conversation_ids else {}
    for conversation in document["conversations"]:
        for message in conversation["messages"]:
            message_id = uuid.UUID(message["id"])
            if details.get(message_id):
                message["details"] = details[message_id]
            if message.get("attachment") and message_id in file_of_message:
                message["attachment"]["file"] = file_of_message[message_id]
    return document


async def _attachments(session: AsyncSession, tenant_id: uuid.UUID,
                       conversation_ids: list[uuid.UUID]
                       ) -> tuple[list[StoredFile], dict[uuid.UUID, str], list[dict]]:
    """The files of the conversations (each once, however many messages show it), where each
    goes in the archive, and their list."""
    if not conversation_ids:
        return [], {}, []
    rows = (await session.execute(
        select(Message.id, Message.conversation_id, Attachment)
        .join(Attachment, Attachment.id == Message.attachment_id)
        .where(Message.tenant_id == tenant_id, Message.conversation_id.in_(conversation_ids))
        .order_by(Message.created_at, Message.id))).all()
    files: list[StoredFile] = []
    listed: dict[uuid.UUID, dict] = {}
    file_of_message: dict[uuid.UUID, str] = {}
    for message_id, conversation_id, attachment in rows:
        if attachment.id not in listed:
            path = f"attachments/{attachment.id}-{safe_filename(attachment.filename)}"
            files.append(StoredFile(path, attachment.storage_key))
            listed[attachment.id] = {
                "id": str(attachment.id), "file": path, "filename": attachment.filename,
                "content_type": attachment.content_type, "size_bytes": attachment.size_bytes,
                "sha256": attachment.sha256, "received_at": _at(attachment.created_at),
                "messages": [], "conversations": []}
        entry = listed[attachment.id]
        entry["messages"].append(str(message_id))
        if str(conversation_id) not in entry["conversations"]:
            entry["conversations"].append(str(conversation_id))
        file_of_message[message_id] = entry["file"]
    return files, file_of_message, list(listed.values())


async def _profile(session: AsyncSession, tenant_id: uuid.UUID, contact: Contact,
                   channels: dict[uuid.UUID, Channel], people: dict[uuid.UUID, str],
                   erased_at: datetime | None) -> dict:
    labels = dict((await session.execute(select(
        CustomFieldDefinition.key, CustomFieldDefinition.label).where(
        CustomFieldDefinition.tenant_id == tenant_id))).all())
    identities = (await session.scalars(select(ContactIdentity).where(
        ContactIdentity.tenant_id == tenant_id, ContactIdentity.contact_id == contact.id)
        .order_by(ContactIdentity.created_at))).all()
    consents = (await session.scalars(select(ContactConsent).where(
        ContactConsent.tenant_id == tenant_id, ContactConsent.contact_id == contact.id)
        .order_by(ContactConsent.consent_type))).all()
    history = (await session.scalars(select(ConsentEvent).where(
        ConsentEvent.tenant_id == tenant_id, ConsentEvent.contact_id == contact.id)
        .order_by(ConsentEvent.occurred_at, ConsentEvent.id))).all()
    opt_out = await session.scalar(select(SmsOptOut).where(
        SmsOptOut.tenant_id == tenant_id, SmsOptOut.phone == contact.phone)
    ) if contact.phone else None
    notes = (await session.scalars(select(Note).where(
        Note.tenant_id == tenant_id, Note.contact_id == contact.id,
        Note.conversation_id.is_(None)).order_by(Note.created_at))).all()

    def channel(channel_id: uuid.UUID | None) -> dict | None:
        found = channels.get(channel_id)
        return {"id": str(found.id), "name": found.name, "kind": found.kind} if found else None

    return {
        "format": FORMAT,
        "contact": {
            "id": str(contact.id), "name": contact.name, "phone": contact.phone,
            "email": contact.email, "language": contact.language, "tags": list(contact.tags),
            "custom_fields": [{"key": key, "label": labels.get(key, key), "value": value}
                              for key, value in sorted(contact.custom_fields.items())],
            "created_at": _at(contact.created_at), "updated_at": _at(contact.updated_at),
            "last_activity_at": _at(contact.last_activity_at),
            "blocked_at": _at(contact.blocked_at), "erased_at": _at(erased_at)},
        "identities": [{"channel": channel(i.channel_id), "handle": i.handle,
                        "first_seen_at": _at(i.created_at)} for i in identities],
        "consents": [{"type": c.consent_type, "granted": c.granted, "source": c.source,
                      "iys_status": c.iys_status, "recorded_at": _at(c.recorded_at)}
                     for c in consents],
        "consent_history": [{"type": e.consent_type, "granted": e.granted, "source": e.source,
                             "iys_source": e.iys_source, "iys_status": e.iys_status,
                             "for": e.recipient, "occurred_at": _at(e.occurred_at),
                             "recorded_at": _at(e.recorded_at), "evidence": e.evidence}
                            for e in history],
        "sms_opt_out": {"keyword": opt_out.keyword, "at": _at(opt_out.created_at)}
        if opt_out else None,
        "notes": [{"at": _at(n.created_at), "author": people.get(n.author_id, ""),
                   "text": n.body} for n in notes],
        "campaign_messages": await _campaign_messages(session, tenant_id, contact.id, channel),
        "satisfaction_answers": [
            {"conversation_id": str(r.conversation_id), "asked_at": _at(r.asked_at),
             "answered_at": _at(r.answered_at), "score": r.score, "comment": r.comment}
            for r in (await session.scalars(select(CsatResponse).where(
                CsatResponse.tenant_id == tenant_id, CsatResponse.contact_id == contact.id,
                CsatResponse.asked_at.is_not(None)).order_by(CsatResponse.asked_at))).all()],
        "chatbot_answers": await _chatbot_answers(session, tenant_id, contact.id),
    }


async def _campaign_messages(session: AsyncSession, tenant_id: uuid.UUID,
                             contact_id: uuid.UUID, channel) -> list[dict]:
    rows = (await session.execute(
        select(CampaignRecipient, Campaign.name, Campaign.channel_id)
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .where(CampaignRecipient.tenant_id == tenant_id,
               CampaignRecipient.contact_id == contact_id)
        .order_by(CampaignRecipient.sent_at.nulls_last(), CampaignRecipient.id))).all()
    return [{"campaign": name, "channel": channel(channel_id),
             "to": r.handle or r.phone, "state": r.state, "text": r.body,
             "sent_at": _at(r.sent_at), "delivered_at": _at(r.delivered_at),
             "read_at": _at(r.read_at), "replied_at": _at(r.replied_at)}
            for r, name, channel_id in rows]


async def _chatbot_answers(session: AsyncSession, tenant_id: uuid.UUID,
                           contact_id: uuid.UUID) -> list[dict]:
    """What the chatbots captured from the person (the flow's variables), per run."""
    rows = (await session.execute(
        select(FlowSession, Flow.name).join(Flow, Flow.id == FlowSession.flow_id)
        .where(FlowSession.tenant_id == tenant_id, FlowSession.contact_id == contact_id,
               FlowSession.variables != {})
        .order_by(FlowSession.started_at))).all()
    return [{"flow": flow, "conversation_id": str(run.conversation_id),
             "started_at": _at(run.started_at), "ended_at": _at(run.ended_at),
             "answers": run.variables} for run, flow in rows]

"""A customer with a history worth erasing, made through the real services (and, for a
campaign and a survey answer, rows written as those features write them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from invekto.campaigns.models import Campaign, CampaignRecipient
from invekto.contacts import service as contacts
from invekto.contacts.schemas import ConsentIn, ContactUpdate, CustomFieldCreate, TagCreate
from invekto.follow_ups.models import CsatResponse
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage
from tests.reports.support import post

NAME = "Ayşe Yılmazoğlu"
PHONE = "+905321112233"
EMAIL = "ayse.yilmazoglu@example.com"
# Words only this customer's history contains: a search for them finds nothing afterwards.
SECRET = "periodontitis"
NATIONAL_ID = "12345678901"
PICTURE = b"\x89PNG\r\n\x1a\n" + b"rontgen" * 200
CAMPAIGN_TEXT = f"Merhaba {NAME}, kontrol zamanınız geldi"


@dataclass
class History:
    contact_id: uuid.UUID
    conversation_id: uuid.UUID
    handle: str
    attachment_id: uuid.UUID
    storage_key: str


async def sql(company, statement: str, **params) -> list:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        result = await session.execute(text(statement), params)
        return result.all() if result.returns_rows else []


async def inbound(company, handle: str, phone: str, **values) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await inbox.receive_inbound(session, company.tenant_id, InboundMessage(
            channel_id=company.channel_id, handle=handle, phone=phone,
            provider_message_id=f"evt-{uuid.uuid4().hex}", **values))


async def customer_with_history(company, *, close: bool = True, phone: str = PHONE
                                ) -> History:
    """Ayşe writes (a text, an X-ray picture, her location), Bora answers and notes what she
    said; her card gets an e-mail address, a tag, a custom field, a note and a marketing
    consent; a campaign reached her and she answered a satisfaction survey."""
    rt, system = company.rt, company.system
    handle = f"ayse-{uuid.uuid4().hex[:10]}"
    first = await company.inbound(f"Merhaba, {SECRET} için randevu istiyorum", handle=handle,
                                  phone=phone, name=NAME)
    conversation_id, contact_id = first.conversation_id, first.contact_id
    async with rt.db.tenant_session(company.tenant_id) as session:
        picture = await inbox.store_attachment(
            session, system, rt.storage, filename="röntgen ağız.png", content_type="image/png",
            data=PICTURE, max_bytes=rt.settings.max_attachment_bytes)
    await inbound(company, handle, phone, content_kind="image", body=f"Röntgenim, {SECRET}",
                  attachment_id=picture.id)
    await inbound(company, handle, phone, content_kind="location",
                  payload={"latitude": 41.0151, "longitude": 28.9795, "name": "Evim"})
    bora = company.people.get("bora") or company.ayla  # Charlie's company has only its admin
    await post(bora, f"/conversations/{conversation_id}/assign",
               {"assignee_id": str(bora.user_id)})
    await post(bora, f"/conversations/{conversation_id}/messages",
               {"body": f"{NAME.split()[0]} Hanım, yarın 10:00 uygun mu?"})
    await post(bora, f"/conversations/{conversation_id}/notes",
               {"body": f"Hasta {SECRET} şikayetiyle geldi"})
    async with rt.db.tenant_session(company.tenant_id) as session:
        if "implant" not in {t.name for t in await contacts.list_tags(session, system)}:
            await contacts.create_tag(session, system, TagCreate(name="implant"))
            await contacts.create_custom_field(session, system, CustomFieldCreate(
                key="tc_no", label="TC kimlik no", field_type="text"))
        await contacts.update_contact(session, system, contact_id, ContactUpdate(
            email=EMAIL, language="tr", tags=["implant"],
            custom_fields={"tc_no": NATIONAL_ID}))
        await inbox.add_note(session, system, contact_id=contact_id,
                             body=f"{NAME} ödemeyi taksitle yapacak")
        await contacts.set_consent(session, system, contact_id, "message",
                                   ConsentIn(granted=True, source="manual"))
        campaign = Campaign(tenant_id=company.tenant_id, name="Kontrol hatırlatması",
                            channel_id=company.channel_id, status="completed",
                            reply_tag="kontrol", body="Merhaba {{ contact.name }}")
        session.add(campaign)
        await session.flush()
        now = datetime.now(UTC)
        session.add(CampaignRecipient(
            tenant_id=company.tenant_id, campaign_id=campaign.id, contact_id=contact_id,
            handle=handle, phone=phone, body=CAMPAIGN_TEXT, state="read",
            values={"isim": NAME}, sent_at=now - timedelta(days=3),
            delivered_at=now - timedelta(days=3), read_at=now - timedelta(days=2)))
    if close:
        await post(bora, f"/conversations/{conversation_id}/close")
        await answer_survey(company, conversation_id, contact_id, score=4,
                            comment=f"{NAME.split()[0]} olarak memnun kaldım")
    return History(contact_id, conversation_id, handle, picture.id, picture.storage_key)


async def answer_survey(company, conversation_id: uuid.UUID, contact_id: uuid.UUID, *,
                        score: int, comment: str) -> None:
    """The survey after the close, asked and answered (as ``follow_ups`` records it)."""
    [(closed_at, agent_id)] = await sql(company, """
        SELECT closed_at, assignee_id FROM conversations WHERE id = :id""", id=conversation_id)
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        session.add(CsatResponse(
            tenant_id=company.tenant_id, conversation_id=conversation_id,
            contact_id=contact_id, channel_id=company.channel_id, agent_id=agent_id,
            closed_at=closed_at, due_at=closed_at, asked_at=closed_at + timedelta(minutes=1),
            answered_at=closed_at + timedelta(minutes=3), score=score, comment=comment))


async def all_text_of(company, contact_id: uuid.UUID) -> str:
    """Every text column that could hold what the customer said or who they are, as one
    string to search."""
    rows = await sql(company, """
        SELECT concat_ws(' | ',
          (SELECT string_agg(concat_ws(' ', body, payload::text, error_message), ' ')
             FROM messages WHERE contact_id = :c),
          (SELECT string_agg(body, ' ') FROM notes WHERE contact_id = :c),
          (SELECT string_agg(concat_ws(' ', name, phone, email, custom_fields::text,
                                       tags::text), ' ') FROM contacts WHERE id = :c),
          (SELECT string_agg(handle, ' ') FROM contact_identities WHERE contact_id = :c),
          (SELECT string_agg(last_message_preview, ' ') FROM conversations
            WHERE contact_id = :c),
          (SELECT string_agg(concat_ws(' ', handle, phone, body, values::text), ' ')
             FROM campaign_recipients WHERE contact_id = :c),
          (SELECT string_agg(comment, ' ') FROM csat_responses WHERE contact_id = :c),
          (SELECT string_agg(data::text, ' ') FROM conversation_events
            WHERE contact_id = :c))""", c=contact_id)
    return rows[0][0] or ""

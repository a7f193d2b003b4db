"""WhatsApp end to end, below the browser: the simulator (as Meta) posts signed webhooks to our
intake over HTTP, the ingest job turns them into contacts, conversations and messages, our replies
go out through the adapter to the simulator, and its statuses come back to move the ticks."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from sqlalchemy import func, select, text, update

from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters.base import Sent
from invekto.channels.adapters.whatsapp import WhatsAppCloudAdapter
from invekto.channels.models import Channel, ChatLink, SendPacing, WebhookEvent
from invekto.channels.schemas import ChannelCreate
from invekto.contacts.models import Contact
from invekto.inbox import service as inbox
from invekto.inbox.models import Attachment, Conversation, Message, StatusBacklog
from invekto.inbox.tasks import ProviderUnavailable, deliver_message
from invekto.replies.models import QuickReply
from tests.channels.harness import (
    WHATSAPP_APP_SECRET,
    WHATSAPP_NUMBER_ID,
    whatsapp_simulated,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
APP_SECRET, PHONE_NUMBER_ID = WHATSAPP_APP_SECRET, WHATSAPP_NUMBER_ID
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 40


@pytest.fixture
async def wa(world, app):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp", external_id=PHONE_NUMBER_ID,
            settings={"api_base_url": "http://graph.simulator"},
            credentials={"app_secret": APP_SECRET, "access_token": "EAAG-test"}))
    async with whatsapp_simulated(app, home, channel.id) as simulated:
        yield simulated


async def test_a_customer_message_becomes_contact_conversation_and_message(wa):
    body, headers = wa.simulator.customer_message("Merhaba, randevu alabilir miyim?",
                                                  wa_id="905321234567", name="Ayşe Yılmaz")
    assert (await wa.deliver(body, headers)).status_code == 200
    message = await wa.scalar(select(Message).where(Message.channel_id == wa.channel_id))
    assert (message.direction, message.content_kind, message.body) == (
        "inbound", "text", "Merhaba, randevu alabilir miyim?")
    assert message.provider_message_id.startswith("wamid.")
    contact = await wa.scalar(select(Contact).where(Contact.id == message.contact_id))
    assert (contact.name, contact.phone) == ("Ayşe Yılmaz", "+905321234567")
    conversation = await wa.scalar(select(Conversation).where(
        Conversation.id == message.conversation_id))
    assert (conversation.status, conversation.channel_id, conversation.unread_count) == (
        "open", wa.channel_id, 1)


async def test_the_same_delivery_five_times_makes_one_message(wa):
    body, headers = wa.simulator.customer_message("Bir kez yazdım")
    for _ in range(5):
        assert (await wa.deliver(body, headers)).status_code == 200
    # A job that runs again over a delivery it had finished (as if it had crashed before
    # recording so) adds nothing either: messages are unique per provider id.
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        await session.execute(update(WebhookEvent).where(
            WebhookEvent.channel_id == wa.channel_id).values(processed_at=None))
    await wa.ingest_all()
    assert await wa.scalar(select(func.count()).select_from(Message).where(
        Message.channel_id == wa.channel_id)) == 1


async def test_a_photo_is_downloaded_with_the_token_and_stored(wa):
    body, headers = wa.simulator.customer_message(
        "Fişim", media_kind="image", data=PNG, mime_type="image/png")
    await wa.deliver(body, headers)
    message = await wa.scalar(select(Message).where(Message.channel_id == wa.channel_id))
    assert (message.content_kind, message.body) == ("image", "Fişim")
    attachment = await wa.scalar(select(Attachment).where(
        Attachment.id == message.attachment_id))
    assert attachment.content_type == "image/png"
    assert await wa.home.rt.storage.get(attachment.storage_key) == PNG


async def test_an_unavailable_photo_still_leaves_the_message_with_the_reason(wa):
    body, headers = wa.simulator.customer_message("kayıp", media_kind="image", data=PNG,
                                                  mime_type="image/png")
    wa.simulator.state.media.clear()  # Meta no longer has the file
    await wa.deliver(body, headers)
    message = await wa.scalar(select(Message).where(Message.channel_id == wa.channel_id))
    assert message.content_kind == "image" and message.attachment_id is None
    assert message.payload["media_error"]


async def test_a_click_to_whatsapp_ad_is_kept_on_the_conversation(wa):
    referral = {"source_url": "https://fb.me/abc", "source_type": "ad", "source_id": "120",
                "headline": "Diş beyazlatma %20 indirim", "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ"}
    body, headers = wa.simulator.customer_message("Reklamdan geldim", referral=referral)
    await wa.deliver(body, headers)
    conversation = await wa.scalar(select(Conversation).where(
        Conversation.channel_id == wa.channel_id))
    assert conversation.referral["ctwa_clid"] == "ARAkLkA8rmlFeiCktEJQ"


@pytest.mark.parametrize(("name", "kind"), [
    ("whatsapp_cloud.inbound_text.json", "text"),
    ("whatsapp_cloud.inbound_image.json", "image"),
    ("whatsapp_cloud.inbound_document.json", "document"),
    ("whatsapp_cloud.inbound_voice.json", "audio"),
    ("whatsapp_cloud.inbound_interactive_button_reply.json", "interactive"),
    ("whatsapp_cloud.inbound_interactive_list_reply.json", "interactive"),
    ("whatsapp_cloud.inbound_template_quick_reply.json", "interactive"),
    ("whatsapp_cloud.inbound_referral_ctwa.json", "text"),
])
async def test_every_reference_sample_ingests_to_one_message_of_its_kind(wa, name, kind):
    body = (FIXTURES / name).read_bytes()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    await wa.deliver(body, {"X-Hub-Signature-256": f"sha256={digest}",
                            "Content-Type": "application/json"})
    messages = await wa.rows(select(Message).where(Message.channel_id == wa.channel_id))
    assert [m.content_kind for m in messages] == [kind]
    contact = await wa.scalar(select(Contact).where(Contact.id == messages[0].contact_id))
    assert contact.phone == "+905321234567"


async def test_a_reply_goes_out_as_meta_documents_and_its_statuses_move_the_ticks(wa):
    inbound = await wa.customer_writes("Fiyat nedir?")
    home = wa.home
    reply_id = await wa.reply(inbound.conversation_id, "750 TL'dir.")
    await deliver_message(tenant_id=str(home.tenant_id), message_id=str(reply_id))
    (sent,) = wa.simulator.state.sent
    assert sent.body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                         "to": "905321234567", "type": "text",
                         "text": {"body": "750 TL'dir.", "preview_url": False}}
    stored = await wa.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.provider_message_id) == ("sent", sent.wamid)

    for status in ("delivered", "read", "delivered"):  # a late "delivered" changes nothing
        await wa.deliver(*wa.simulator.status(sent.wamid, status))
    assert await wa.scalar(select(Message.status).where(Message.id == reply_id)) == "read"


async def test_an_agents_file_is_uploaded_then_sent_by_its_media_id(wa):
    inbound = await wa.customer_writes("Faturamı gönderir misiniz?")
    reply_id = await wa.reply_with_file(inbound.conversation_id, b"%PDF-1.7 fatura",
                                        content_type="application/pdf", kind="document",
                                        filename="fatura-2026-11.pdf", caption="Faturanız ektedir")
    await wa.deliver_reply(reply_id)

    upload, send = [r for r in wa.simulator.state.requests if r.method == "POST"]
    assert (upload.path, send.path) == (f"/v25.0/{PHONE_NUMBER_ID}/media",
                                        f"/v25.0/{PHONE_NUMBER_ID}/messages")
    assert upload.headers["authorization"] == "Bearer EAAG-test"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    (sent,) = wa.simulator.state.sent
    media_id = sent.body["document"]["id"]
    assert sent.body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                         "to": "905321234567", "type": "document", "document": {
                             "id": media_id, "filename": "fatura-2026-11.pdf",
                             "caption": "Faturanız ektedir"}}
    held = wa.simulator.state.media[media_id]
    assert (held.data, held.mime_type, held.filename) == (
        b"%PDF-1.7 fatura", "application/pdf", "fatura-2026-11.pdf")
    assert await wa.scalar(select(Message.status).where(Message.id == reply_id)) == "sent"


async def test_a_refused_upload_fails_the_message_and_sends_nothing(wa):
    inbound = await wa.customer_writes("Fotoğraf?")
    wa.simulator.access_token = "another-token"  # the channel's token was revoked
    reply_id = await wa.reply_with_file(inbound.conversation_id, PNG, content_type="image/png",
                                        kind="image", filename="ornek.png")
    await wa.deliver_reply(reply_id)
    stored = await wa.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.error_code) == ("failed", "190")
    assert wa.simulator.state.sent == []


async def test_each_send_takes_its_channels_next_sending_slot(wa):
    inbound = await wa.customer_writes("Merhaba")
    replies = [await wa.reply(inbound.conversation_id, f"Yanıt {n}") for n in range(3)]
    assert await wa.scalar(select(SendPacing).where(SendPacing.channel_id == wa.channel_id)
                           ) is None
    for reply_id in replies:
        await wa.deliver_reply(reply_id)
    assert len(wa.simulator.state.sent) == 3
    # The next free slot is one gap (1/80 s by default) after the last send's own slot, which
    # came after that send was claimed.
    next_slot = await wa.scalar(select(SendPacing.next_slot_at).where(
        SendPacing.channel_id == wa.channel_id))
    last_claimed = await wa.scalar(select(func.max(Message.dispatched_at)).where(
        Message.id.in_(replies)))
    assert next_slot >= last_claimed + timedelta(seconds=1 / 80)


async def test_a_status_that_overtakes_the_send_is_applied_when_the_send_returns(wa):
    inbound = await wa.customer_writes("Merhaba")
    home = wa.home
    reply_id = await wa.reply(inbound.conversation_id, "Buyurun")
    wamid = f"wamid.{uuid.uuid4().hex}"
    # Meta's "delivered" arrives while our send call is still waiting for its answer.
    await wa.deliver(*wa.simulator.status(wamid, "delivered"))
    assert await wa.scalar(select(func.count()).select_from(StatusBacklog).where(
        StatusBacklog.provider_message_id == wamid)) == 1
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await inbox.deliver_outbound(session, home.tenant_id, reply_id) == "send"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.record_send_result(session, home.tenant_id, reply_id, Sent(wamid))
    assert await wa.scalar(select(Message.status).where(Message.id == reply_id)) == "delivered"
    assert await wa.scalar(select(func.count()).select_from(StatusBacklog).where(
        StatusBacklog.provider_message_id == wamid)) == 0


async def test_a_failed_status_records_the_providers_code_and_title(wa):
    inbound = await wa.customer_writes("Merhaba")
    home = wa.home
    reply_id = await wa.reply(inbound.conversation_id, "Geç kalan cevap")
    await deliver_message(tenant_id=str(home.tenant_id), message_id=str(reply_id))
    (sent,) = wa.simulator.state.sent
    await wa.deliver(*wa.simulator.status(sent.wamid, "failed", error_code=131047))
    stored = await wa.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.error_code) == ("failed", "131047")
    assert stored.error_message


async def test_a_permanent_send_error_fails_the_message_without_a_retry(wa):
    inbound = await wa.customer_writes("Merhaba")
    home = wa.home
    reply_id = await wa.reply(inbound.conversation_id, "Merhaba")
    wa.simulator.fail_next(status=400, code=131026)
    await deliver_message(tenant_id=str(home.tenant_id), message_id=str(reply_id))  # no raise
    stored = await wa.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.error_code) == ("failed", "131026")
    assert len(wa.simulator.state.requests) == 1


async def test_a_rate_limit_is_retried_once_and_the_message_sent_once(wa):
    inbound = await wa.customer_writes("Merhaba")
    home = wa.home
    reply_id = await wa.reply(inbound.conversation_id, "Sırada")
    wa.simulator.fail_next(status=429, code=130429, retry_after=1)
    with pytest.raises(ProviderUnavailable):  # procrastinate retries the job with back-off
        await deliver_message(tenant_id=str(home.tenant_id), message_id=str(reply_id))
    assert await wa.scalar(select(Message.status).where(Message.id == reply_id)) == "pending"
    await deliver_message(tenant_id=str(home.tenant_id), message_id=str(reply_id))
    await deliver_message(tenant_id=str(home.tenant_id), message_id=str(reply_id))  # a rerun
    assert len(wa.simulator.state.requests) == 2 and len(wa.simulator.state.sent) == 1
    assert await wa.scalar(select(Message.status).where(Message.id == reply_id)) == "sent"


# ---- batches: many deliveries, one job, one transaction ----------------------------------------

async def _waiting_jobs(wa) -> list[tuple[int, str]]:
    return (await _sql(wa, "SELECT id, status::text FROM procrastinate_jobs WHERE task_name = "
                           "'channels:ingest_webhooks' AND args->>'channel_id' = :channel "
                           "AND status = 'todo'", channel=str(wa.channel_id))).all()


async def _sql(wa, sql: str, **params):
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        return await session.execute(text(sql), params)


async def test_many_deliveries_wait_for_one_job_that_ingests_them_all_in_order(wa):
    customers = [f"90532{n:07d}" for n in range(30)]
    for n, wa_id in enumerate(customers * 2):
        body, headers = wa.simulator.customer_message(f"Mesaj {n}", wa_id=wa_id,
                                                      name=f"Müşteri {wa_id[-2:]}",
                                                      timestamp=1_760_000_000 + n)
        assert (await wa.simulator.deliver(body, headers)).status_code == 200
    assert len(await _waiting_jobs(wa)) == 1

    await wa.ingest_all()

    messages = await wa.rows(select(Message).where(Message.channel_id == wa.channel_id)
                             .order_by(Message.created_at))
    assert [m.body for m in messages] == [f"Mesaj {n}" for n in range(60)]
    conversations = await wa.rows(select(Conversation).where(
        Conversation.channel_id == wa.channel_id))
    assert len(conversations) == 30
    assert {c.unread_count for c in conversations} == {2}
    # Each conversation's preview is its customer's latest message.
    previews = {c.last_message_preview for c in conversations}
    assert previews == {f"Mesaj {n}" for n in range(30, 60)}
    assert await wa.scalar(select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.channel_id == wa.channel_id, WebhookEvent.processed_at.is_(None))) == 0


async def test_a_delivery_arriving_while_its_job_waits_wakes_the_workers(wa, rt):
    """The second delivery finds the job waiting and touches it (locking it until its own
    commit); it must then wake the workers, which may have skipped the locked job."""
    from invekto.db.provision import to_libpq_url

    async with await psycopg.AsyncConnection.connect(to_libpq_url(rt.db.url),
                                                     autocommit=True) as listener:
        await listener.execute('LISTEN "procrastinate_queue_v1#ingest"')
        for text_ in ("Birinci", "İkinci"):
            await wa.simulator.deliver(*wa.simulator.customer_message(text_))
        wakes = []
        async for notify in listener.notifies(timeout=2, stop_after=2):
            wakes.append(json.loads(notify.payload))
    [(job_id, _)] = await _waiting_jobs(wa)
    assert wakes == [{"type": "job_inserted", "job_id": job_id}] * 2


async def test_a_delivery_that_cannot_be_stored_does_not_hold_up_the_others(wa, rt):
    # A real database failure for one message (a trigger refusing it), not a mock.
    async with rt.db.transaction() as session:
        await session.execute(text(
            "CREATE FUNCTION test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF NEW.body = 'zehir' THEN RAISE EXCEPTION 'poisoned message'; END IF; "
            "RETURN NEW; END $$"))
        await session.execute(text(
            "CREATE TRIGGER test_refuse_poison BEFORE INSERT ON messages FOR EACH ROW "
            "EXECUTE FUNCTION test_refuse_poison()"))
    try:
        for n, body in enumerate(("önce", "zehir", "sonra")):
            await wa.simulator.deliver(*wa.simulator.customer_message(
                body, wa_id=f"9053200000{n:02d}", timestamp=1_760_000_000 + n))
        await wa.ingest_all()
    finally:
        async with rt.db.transaction() as session:
            await session.execute(text("DROP TRIGGER test_refuse_poison ON messages"))
            await session.execute(text("DROP FUNCTION test_refuse_poison()"))
    messages = await wa.rows(select(Message.body).where(Message.channel_id == wa.channel_id))
    assert sorted(messages) == ["sonra", "önce"]
    events = await wa.rows(select(WebhookEvent).where(WebhookEvent.channel_id == wa.channel_id))
    assert all(e.processed_at is not None for e in events)
    [failed] = [e for e in events if e.error]
    assert "poisoned message" in failed.error
    assert failed.payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"] == {
        "body": "zehir"}  # kept raw, for a replay


async def test_deliveries_claimed_by_another_job_are_left_until_the_claim_runs_out(wa):
    await wa.simulator.deliver(*wa.simulator.customer_message("Bir fotoğraf bekliyor"))
    await _sql(wa, "UPDATE webhook_events SET claimed_until = now() + interval '1 minute' "
                   "WHERE channel_id = :channel", channel=wa.channel_id)
    await wa.ingest_all()
    assert await wa.scalar(select(func.count()).select_from(Message).where(
        Message.channel_id == wa.channel_id)) == 0
    # The other job died: once its claim has run out, the next job takes the delivery.
    await _sql(wa, "UPDATE webhook_events SET claimed_until = now() - interval '1 second' "
                   "WHERE channel_id = :channel", channel=wa.channel_id)
    await wa.ingest_all()
    assert await wa.scalar(select(func.count()).select_from(Message).where(
        Message.channel_id == wa.channel_id)) == 1


async def test_a_media_batch_is_claimed_while_its_files_download(wa):
    """Files are fetched outside any transaction; meanwhile the claim keeps other jobs off."""
    claims_seen = []

    class Watching(httpx.AsyncBaseTransport):
        """The simulator, with a look at the delivery's claim as the file is downloaded."""

        def __init__(self):
            self.simulator = httpx.ASGITransport(app=wa.simulator)

        async def handle_async_request(self, request):
            if "/media-download/" in request.url.path:
                claims_seen.append(await wa.scalar(select(WebhookEvent.claimed_until).where(
                    WebhookEvent.channel_id == wa.channel_id)))
            return await self.simulator.handle_async_request(request)

    adapters.register(WhatsAppCloudAdapter(transport=Watching()))
    await wa.deliver(*wa.simulator.customer_message("Fişim", media_kind="image", data=PNG,
                                                    mime_type="image/png"))
    assert len(claims_seen) == 1 and claims_seen[0] is not None
    message = await wa.scalar(select(Message).where(Message.channel_id == wa.channel_id))
    assert message.attachment_id is not None
    event = await wa.scalar(select(WebhookEvent).where(WebhookEvent.channel_id == wa.channel_id))
    assert event.processed_at is not None and event.error is None


# ---- reply buttons and lists from the composer ---------------------------------------------------

async def _compose(person, conversation_id, body: str, choices, expect: int = 200):
    response = await person.client.post(
        f"/inbox/c/{conversation_id}/messages", headers={"HX-Request": "true"},
        data={"body": body, "client_message_id": uuid.uuid4().hex,
              "choices": json.dumps(choices, ensure_ascii=False)})
    assert response.status_code == expect, response.text
    return response


def _documented(name: str) -> dict:
    return json.loads((FIXTURES / f"whatsapp_cloud.{name}.request.json").read_text())


async def test_reply_buttons_from_the_composer_go_out_as_meta_documents_them(wa):
    inbound = await wa.customer_writes("Merhaba")
    documented = _documented("send_interactive_buttons")["interactive"]
    page = await _compose(wa.home.bora, inbound.conversation_id, documented["body"]["text"], {
        "type": "buttons", "header": documented["header"]["text"],
        "footer": documented["footer"]["text"],
        "buttons": [b["reply"] for b in documented["action"]["buttons"]]})
    assert page.text.count('class="choice"') == 3 and "İade talebi" in page.text

    reply = await wa.scalar(select(Message).where(Message.conversation_id ==
                                                  inbound.conversation_id,
                                                  Message.direction == "outbound"))
    assert reply.content_kind == "interactive"
    await wa.deliver_reply(reply.id)
    (sent,) = wa.simulator.state.sent
    assert sent.body == _documented("send_interactive_buttons")


async def test_a_list_from_the_composer_goes_out_as_meta_documents_it(wa):
    inbound = await wa.customer_writes("Merhaba")
    documented = _documented("send_interactive_list")
    interactive = documented["interactive"]
    await _compose(wa.home.bora, inbound.conversation_id, interactive["body"]["text"], {
        "type": "list", "header": interactive["header"]["text"],
        "footer": interactive["footer"]["text"], "button": interactive["action"]["button"],
        "sections": interactive["action"]["sections"]})
    reply = await wa.scalar(select(Message).where(Message.conversation_id ==
                                                  inbound.conversation_id,
                                                  Message.direction == "outbound"))
    await wa.deliver_reply(reply.id)
    (sent,) = wa.simulator.state.sent
    assert sent.body == {**documented, "recipient_type": "individual"}
    # The customer's tap comes back as the row it chose.
    await wa.deliver(*wa.simulator.customer_message(message={
        "type": "interactive", "interactive": {"type": "list_reply", "list_reply": {
            "id": "order_cancel", "title": "Sipariş iptali"}}}))
    tap = await wa.scalar(select(Message).where(Message.conversation_id ==
                                                inbound.conversation_id,
                                                Message.content_kind == "interactive",
                                                Message.direction == "inbound"))
    assert tap.body == "Sipariş iptali"


@pytest.mark.parametrize(("choices", "field"), [
    ({"type": "buttons", "buttons": []}, "choices.buttons"),
    ({"type": "buttons", "buttons": [{"title": f"Seçenek {n}"} for n in range(4)]},
     "choices.buttons"),
    ({"type": "buttons", "buttons": [{"title": "Çok uzun bir düğme başlığı"}]},
     "choices.buttons.1.title"),
    ({"type": "buttons", "buttons": [{"title": "Evet"}, {"title": "EVET"}]},
     "choices.buttons.2.title"),
    ({"type": "list", "sections": [{"rows": [{"title": "Bir"}]}]}, "choices.button"),
    ({"type": "list", "button": "Seçenekler",
      "sections": [{"rows": [{"title": f"Satır {n}"} for n in range(11)]}]}, "choices.sections"),
    ({"type": "list", "button": "Seçenekler", "sections": [
        {"title": "A", "rows": [{"title": "Bir"}]}, {"rows": [{"title": "İki"}]}]},
     "choices.sections"),
    ({"type": "radio"}, "choices.type"),
])
async def test_buttons_and_lists_outside_whatsapps_limits_are_refused_naming_the_field(
        wa, choices, field):
    inbound = await wa.customer_writes("Merhaba")
    response = await _compose(wa.home.bora, inbound.conversation_id, "Hangisi?", choices,
                              expect=422)
    assert response.json()["error"]["field"] == field
    assert await wa.scalar(select(func.count()).select_from(Message).where(
        Message.direction == "outbound")) == 0  # nothing half-made


async def test_buttons_are_refused_on_a_channel_that_cannot_show_them(wa):
    webchat = await wa.home.inbound("Merhaba")  # the company's web chat
    response = await _compose(wa.home.bora, webchat.conversation_id, "Hangisi?",
                              {"type": "buttons", "buttons": [{"title": "Evet"}]}, expect=422)
    assert response.json()["error"]["field"] == "content_kind"


# ---- housekeeping --------------------------------------------------------------------------------

async def test_old_ingested_deliveries_and_stale_statuses_are_pruned_nightly(wa, rt):
    from invekto.channels.tasks import prune_webhook_events
    from invekto.inbox.tasks import prune_status_backlog

    await wa.customer_writes("Eski mesaj")
    await wa.customer_writes("Yeni mesaj")
    await wa.deliver(*wa.simulator.status("wamid.never-recorded", "delivered"))
    await wa.simulator.deliver(*wa.simulator.customer_message("Henüz işlenmedi"))
    events = await wa.rows(select(WebhookEvent).where(WebhookEvent.channel_id == wa.channel_id)
                           .order_by(WebhookEvent.received_at))
    async with rt.db.tenant_session(wa.home.tenant_id) as session:
        await session.execute(update(WebhookEvent).where(WebhookEvent.id == events[0].id).values(
            processed_at=func.now() - timedelta(days=31)))
        await session.execute(update(WebhookEvent).where(WebhookEvent.id == events[3].id).values(
            received_at=func.now() - timedelta(days=40)))  # old, but never ingested: kept
        await session.execute(update(StatusBacklog).values(
            created_at=func.now() - timedelta(days=8)))

    assert await prune_webhook_events(timestamp=0) >= 1
    assert await prune_status_backlog(timestamp=0) >= 1

    left = await wa.rows(select(WebhookEvent.id).where(WebhookEvent.channel_id == wa.channel_id))
    assert sorted(left) == sorted(e.id for e in events[1:])
    assert await wa.scalar(select(func.count()).select_from(StatusBacklog).where(
        StatusBacklog.channel_id == wa.channel_id)) == 0
    # The messages themselves stay: only the raw deliveries go.
    assert await wa.scalar(select(func.count()).select_from(Message).where(
        Message.channel_id == wa.channel_id)) == 2


# ---- templates after the 24-hour window ----------------------------------------------------------

WABA_ID = "214365870912345"


async def _with_waba(wa) -> None:
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        channel = await session.get_one(Channel, wa.channel_id)
        channel.settings = {**channel.settings, "waba_id": WABA_ID}


async def _window_closed(wa) -> Message:
    inbound = await wa.customer_writes("Siparişim ne durumda?")
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == inbound.id).values(
            created_at=Message.created_at - timedelta(hours=30)))
    return inbound


async def test_only_the_approved_templates_are_offered(wa):
    await _with_waba(wa)
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        channel = await session.get_one(Channel, wa.channel_id)
        offered = await inbox.channel_templates(channel)
    assert [(t.name, t.language, t.parameters) for t in offered] == [
        ("appointment_reminder", "en", ("1", "2")), ("kargo_bilgilendirme", "tr", ("1", "2", "3")),
        ("randevu_hatirlatma", "tr", ("1", "2"))]  # not the rejected kis_kampanyasi
    lookup = next(r for r in wa.simulator.state.requests if r.path.endswith("message_templates"))
    assert (lookup.path, lookup.headers["authorization"]) == (
        f"/v25.0/{WABA_ID}/message_templates", "Bearer EAAG-test")


async def test_after_the_window_a_template_goes_out_as_meta_documents_it(wa):
    await _with_waba(wa)
    inbound = await _window_closed(wa)
    path = f"/api/v1/conversations/{inbound.conversation_id}/messages"
    refused = await wa.home.bora.client.post(path, json={"body": "Kargoya verildi"})
    assert refused.json()["error"]["code"] == "outside_reply_window"
    response = await wa.home.bora.client.post(path, json={
        "content_kind": "template", "template": {
            "name": "kargo_bilgilendirme", "language": "tr",
            "parameters": {"1": "Ayşe", "2": "TR-100245", "3": "Yurtiçi Kargo"}}})
    assert response.status_code == 201, response.text
    assert response.json()["body"] == ("Merhaba Ayşe, TR-100245 numaralı siparişiniz Yurtiçi "
                                       "Kargo ile kargoya verildi.")
    await wa.deliver_reply(uuid.UUID(response.json()["id"]))
    documented = _documented("send_template")
    documented["template"]["components"] = [  # the body's values only (no header or buttons)
        c for c in documented["template"]["components"] if c["type"] == "body"]
    (sent,) = wa.simulator.state.sent
    assert sent.body == {**documented, "recipient_type": "individual"}


@pytest.mark.parametrize(("template", "field"), [
    ({"name": "kis_kampanyasi", "language": "tr"}, "template.name"),  # rejected by Meta
    ({"name": "kargo_bilgilendirme", "language": "en"}, "template.name"),
    ({"name": "kargo_bilgilendirme", "language": "tr", "parameters": {"1": "Ayşe", "3": "X"}},
     "template.parameters.2"),
])
async def test_a_template_that_is_not_approved_or_not_filled_is_refused(wa, template, field):
    await _with_waba(wa)
    inbound = await _window_closed(wa)
    response = await wa.home.bora.client.post(
        f"/api/v1/conversations/{inbound.conversation_id}/messages",
        json={"content_kind": "template", "template": template})
    assert (response.status_code, response.json()["error"]["field"]) == (422, field)
    assert wa.simulator.state.sent == []


async def test_without_the_business_account_id_the_templates_cannot_be_listed(wa):
    inbound = await _window_closed(wa)
    response = await wa.home.bora.client.get(f"/inbox/c/{inbound.conversation_id}/templates")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_unavailable"


async def test_the_composer_offers_templates_once_the_window_has_closed(wa):
    await _with_waba(wa)
    inbound = await _window_closed(wa)
    page = await wa.home.bora.client.get(f"/inbox?c={inbound.conversation_id}")
    assert 'id="template-composer"' in page.text and 'id="composer"' not in page.text
    options = await wa.home.bora.client.get(f"/inbox/c/{inbound.conversation_id}/templates")
    assert 'data-name="kargo_bilgilendirme"' in options.text
    assert "kis_kampanyasi" not in options.text
    sent = await _compose_template(wa, inbound.conversation_id, {
        "name": "randevu_hatirlatma", "language": "tr",
        "parameters": {"1": "Ayşe Hanım", "2": "28 Kasım"}})
    assert "28 Kasım tarihindeki randevunuzu" in sent.text and "randevu_hatirlatma" in sent.text


async def _compose_template(wa, conversation_id, template):
    response = await wa.home.bora.client.post(
        f"/inbox/c/{conversation_id}/messages", headers={"HX-Request": "true"},
        data={"body": "", "client_message_id": uuid.uuid4().hex,
              "template": json.dumps(template, ensure_ascii=False)})
    assert response.status_code == 200, response.text
    return response


# ---- quick replies with a file -----------------------------------------------------------------

async def test_a_quick_replys_file_goes_out_as_a_copy_of_its_own(wa):
    home = wa.home
    created = await home.ayla.client.post(
        "/settings/quick-replies", headers={"HX-Request": "true"},
        data={"shortcut": "fiyatlar", "body": "Güncel fiyat listemiz ektedir."},
        files={"file": ("fiyat-listesi.pdf", b"%PDF-1.7 fiyatlar", "application/pdf")})
    assert created.status_code == 200, created.text
    assert "fiyat-listesi.pdf" in created.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        reply = await session.scalar(select(QuickReply).where(QuickReply.shortcut == "fiyatlar"))
    offered = (await home.bora.client.get("/inbox/quick-replies", params={"q": "fiy"})).json()
    assert offered == [{"id": str(reply.id), "shortcut": "fiyatlar",
                        "body": "Güncel fiyat listemiz ektedir.", "file": "fiyat-listesi.pdf"}]

    inbound = await wa.customer_writes("Fiyatlarınızı öğrenebilir miyim?")
    page = await home.bora.client.post(
        f"/inbox/c/{inbound.conversation_id}/messages", headers={"HX-Request": "true"},
        data={"body": reply.body, "quick_reply": str(reply.id),
              "client_message_id": uuid.uuid4().hex})
    assert page.status_code == 200, page.text
    sent_message = await wa.scalar(select(Message).where(
        Message.conversation_id == inbound.conversation_id, Message.direction == "outbound"))
    assert sent_message.content_kind == "document"
    assert sent_message.attachment_id not in (None, reply.attachment_id)  # a copy
    await wa.deliver_reply(sent_message.id)
    (sent,) = wa.simulator.state.sent
    assert sent.body["document"]["filename"] == "fiyat-listesi.pdf"
    assert sent.body["document"]["caption"] == "Güncel fiyat listemiz ektedir."
    assert wa.simulator.state.media[sent.body["document"]["id"]].data == b"%PDF-1.7 fiyatlar"


async def test_a_quick_replys_file_can_be_replaced_and_removed(wa):
    home = wa.home
    headers = {"HX-Request": "true"}
    await home.ayla.client.post("/settings/quick-replies", headers=headers, data={
        "shortcut": "harita", "body": "Yol tarifimiz:"},
        files={"file": ("harita.png", PNG, "image/png")})
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        reply = await session.scalar(select(QuickReply).where(QuickReply.shortcut == "harita"))
    first = reply.attachment_id
    replaced = await home.ayla.client.post(
        f"/settings/quick-replies/{reply.id}", headers=headers,
        data={"shortcut": "harita", "body": "Yol tarifimiz:"},
        files={"file": ("harita-yeni.png", PNG, "image/png")})
    assert "harita-yeni.png" in replaced.text
    kept = await home.ayla.client.post(f"/settings/quick-replies/{reply.id}", headers=headers,
                                       data={"shortcut": "harita", "body": "Yeni tarif:"})
    assert "harita-yeni.png" in kept.text  # no new file chosen: the file stays
    removed = await home.ayla.client.post(f"/settings/quick-replies/{reply.id}", headers=headers,
                                          data={"shortcut": "harita", "body": "Yeni tarif:",
                                                "remove_file": "1"})
    assert "harita-yeni.png" not in removed.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        reply = await session.get_one(QuickReply, reply.id)
    assert reply.attachment_id is None and first is not None
    # An agent may not change the library, files included.
    refused = await home.bora.client.post(
        "/settings/quick-replies", headers=headers, data={"shortcut": "x", "body": "y"},
        files={"file": ("x.png", PNG, "image/png")})
    assert refused.status_code == 403


# ---- click-to-chat -----------------------------------------------------------------------------

async def test_a_click_to_chat_link_and_the_conversation_it_brings(wa):
    home = wa.home
    headers = {"HX-Request": "true"}
    page = await home.sevgi.client.post("/settings/click-to-chat", headers=headers, data={
        "channel_id": str(wa.channel_id), "name": "Kasım broşürü", "phone": "0850 123 45 67",
        "message": "Merhaba, diş beyazlatma hakkında bilgi almak istiyorum"})
    assert page.status_code == 200, page.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        link = await session.scalar(select(ChatLink).where(ChatLink.name == "Kasım broşürü"))
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{6}", link.code) and link.phone == "+908501234567"
    text = f"Merhaba, diş beyazlatma hakkında bilgi almak istiyorum (Ref: {link.code})"
    assert f"https://wa.me/908501234567?text={quote(text)}" in html.unescape(page.text)
    assert "<svg" in page.text and "position:fixed" in html.unescape(page.text)

    # A customer who sends the ready message: the conversation is the campaign's.
    message = await wa.customer_writes(text)
    conversation = await wa.scalar(select(Conversation).where(
        Conversation.id == message.conversation_id))
    assert conversation.referral == {"source": "click_to_chat", "ref": link.code,
                                     "campaign": "Kasım broşürü", "link_id": str(link.id)}
    # Unknown or another company's codes attribute nothing.
    await wa.deliver(*wa.simulator.customer_message("Merhaba (Ref: ZZZZZZ)",
                                                    wa_id="905339990000"))
    other = await wa.scalar(select(Contact).where(Contact.phone == "+905339990000"))
    assert await wa.scalar(select(Conversation.referral).where(
        Conversation.contact_id == other.id)) is None


async def test_click_to_chat_links_are_for_supervisors_and_whatsapp(wa):
    home = wa.home
    headers = {"HX-Request": "true"}
    data = {"channel_id": str(wa.channel_id), "name": "Bio", "phone": "+908501234567",
            "message": "Merhaba"}
    assert (await home.bora.client.post("/settings/click-to-chat", headers=headers,
                                        data=data)).status_code == 403
    webchat = await home.inbound("Merhaba")
    refused = await home.sevgi.client.post("/settings/click-to-chat", headers=headers, data={
        **data, "channel_id": str(webchat.channel_id)})
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "channel_id")
    bad_phone = await home.sevgi.client.post("/settings/click-to-chat", headers=headers,
                                             data={**data, "phone": "12"})
    assert (bad_phone.status_code, bad_phone.json()["error"]["field"]) == (422, "phone")

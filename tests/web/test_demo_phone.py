"""The demo's customer phone (/demo/phone), through the app in demo mode: what the phone sends
reaches our intake as signed webhooks and becomes the demo company's messages; what the app sends
(by the outbound job, over the simulator's Cloud API) shows on the phone, which sends receipts."""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from invekto import demo, runtime
from invekto.app import create_app
from invekto.audit.models import AuditEvent
from invekto.channels import adapters, intake
from invekto.channels import service as channels
from invekto.channels.adapters.base import ChannelAccount, OutboundMessage, Sent
from invekto.channels.adapters.whatsapp import WhatsAppCloudAdapter
from invekto.channels.models import Channel, WebhookEvent
from invekto.contacts.models import Contact
from invekto.core import i18n
from invekto.db.base import new_id
from invekto.inbox.models import Attachment, Conversation, Message, Notification
from invekto.inbox.tasks import deliver_message
from invekto.integrations import service
from invekto.integrations.iyzico import signing
from invekto.integrations.iyzico import simulator as iyzico
from invekto.integrations.models import Integration
from tests.demo_company import TESTER, DemoCompany, demo_company
from tests.factories import PASSWORD

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8DAwMDAAAAl9gP9lFq38AAAAABJRU5Er"
    "kJggg==")


@dataclass
class DemoApp:
    company: DemoCompany
    app: FastAPI
    rt: runtime.Runtime
    client: httpx.AsyncClient
    channel_id: object

    async def ingest(self) -> None:
        """What the worker's ingest job does with the demo number's waiting deliveries."""
        await intake.ingest_pending(self.rt.db, self.rt.storage, self.company.tenant_id,
                                    self.channel_id,
                                    max_attachment_bytes=self.rt.settings.max_attachment_bytes)

    async def scalar(self, query):
        async with self.rt.db.tenant_session(self.company.tenant_id) as session:
            return await session.scalar(query)

    async def scalars(self, query) -> list:
        async with self.rt.db.tenant_session(self.company.tenant_id) as session:
            return list((await session.scalars(query)).all())

    async def account(self) -> ChannelAccount:
        async with self.rt.db.tenant_session(self.company.tenant_id) as session:
            channel = await session.get_one(Channel, self.channel_id)
            return ChannelAccount(kind=channel.kind, external_id=channel.external_id,
                                  settings=channel.settings,
                                  credentials=channels.credentials_of(channel))

    async def business_sends(self, number: str, kind: str, payload: dict, *,
                             attachment_url: str | None = None) -> str:
        """The business sends a message the inbox composer does not make (buttons, a list, a
        template) through the demo number's Cloud API; returns its wamid."""
        adapter = WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=self.app))
        result = await adapter.send(await self.account(), OutboundMessage(
            message_id=new_id(), recipient_handle=number.lstrip("+"), recipient_phone=number,
            content_kind=kind, body="", payload=payload, attachment_url=attachment_url))
        assert isinstance(result, Sent), result
        return result.provider_message_id


@pytest.fixture(scope="module")
async def demo_app(pg_server, settings, app):
    """The app in demo mode over the demo company's database. It is not started (its lifespan
    would reopen the shared job app): the phone wires itself at its first request."""
    company = await demo_company(pg_server, settings)
    previous = runtime.current()
    rt = runtime.build(settings.model_copy(update={"demo": True}), company.database_url,
                       application_name="invekto-tests-demo")
    application = create_app(rt)  # installs its runtime, which the jobs run below then use
    # In-process: the phone's webhooks and the worker's sends reach the app without a socket.
    application.state.demo_phone.webhook_transport = httpx.ASGITransport(app=application)
    original = adapters.adapter_for("whatsapp_cloud")
    adapters.register(WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=application)))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                     base_url="http://testserver") as client:
            line = await application.state.demo_phone.connect()
            assert line is not None and line.tenant_id == company.tenant_id
            yield DemoApp(company, application, rt, client, line.channel_id)
    finally:
        adapters.register(original)
        runtime.install(previous)
        await rt.db.dispose()


def new_number() -> str:
    """A Turkish mobile number no other test uses, as a person would type it."""
    digits = f"{secrets.randbelow(10**7):07d}"
    return f"+90 532 {digits[:3]} {digits[3:5]} {digits[5:]}"


def e164(number: str) -> str:
    return "+" + re.sub(r"\D", "", number)


async def write(demo_app: DemoApp, number: str, text: str, *, name: str = "Deniz Yılmaz",
                files=None) -> httpx.Response:
    return await demo_app.client.post("/demo/phone/messages", data={
        "number": number, "name": name, "text": text}, files=files)


async def last_inbound(demo_app: DemoApp, number: str) -> Message | None:
    return await demo_app.scalar(select(Message).join(
        Contact, Contact.id == Message.contact_id).where(
        Contact.phone == e164(number), Message.direction == "inbound").order_by(
        Message.created_at.desc(), Message.id.desc()).limit(1))


# ---- demo mode only ---------------------------------------------------------------------------

async def test_without_demo_mode_nothing_under_demo_exists(client):
    assert (await client.get("/demo/phone")).status_code == 404
    assert (await client.get("/demo/phone/chat", params={"number": new_number()})
            ).status_code == 404
    assert (await client.post("/demo/phone/messages", data={
        "number": new_number(), "name": "X", "text": "Merhaba"})).status_code == 404
    assert (await client.post("/demo/provider/whatsapp/v25.0/demo-phone-number-id/messages",
                              json={})).status_code == 404


async def test_the_demo_number_is_wired_to_the_simulator_of_this_process(demo_app):
    account = await demo_app.account()
    assert account.settings["api_base_url"] == "http://127.0.0.1:8000/demo/provider/whatsapp"
    assert {"app_secret", "access_token", "verify_token"} <= set(account.credentials)
    page = await demo_app.client.get("/demo/phone")
    assert page.status_code == 200
    assert "Gülüş Diş Kliniği" in page.text and "WhatsApp · 0216 555 01 02" in page.text
    assert 'id="phone-number" name="number" value="+90 532 ' in page.text
    assert '<html lang="tr">' in page.text  # Turkish unless asked otherwise
    assert '<html lang="en">' in (await demo_app.client.get("/demo/phone?lang=en")).text

    # Another port on the next run: re-wired, same secrets, one audited change.
    changes = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "channel.updated", AuditEvent.target_id == demo_app.channel_id)
    changes_before = await demo_app.scalar(changes)
    moved = demo_app.rt.settings.model_copy(update={"port": 8123})
    line = await demo.wire_phone(demo_app.rt.db, moved)
    again = await demo.wire_phone(demo_app.rt.db, moved)
    assert line == again
    assert await demo_app.scalar(changes) == changes_before + 1
    account_moved = await demo_app.account()
    assert account_moved.settings["api_base_url"] == (
        "http://127.0.0.1:8123/demo/provider/whatsapp")
    assert account_moved.credentials == account.credentials
    await demo.wire_phone(demo_app.rt.db, demo_app.rt.settings)
    assert (await demo_app.account()).settings == account.settings


async def test_the_demo_companys_iyzico_is_the_simulator_of_this_process(demo_app, client):
    assert (await client.get("/demo/provider/iyzico/checkout?token=x")).status_code == 404
    payments = demo_app.app.state.demo_payments
    assert await payments.connect()
    integrations = select(Integration).where(Integration.tenant_id == demo_app.company.tenant_id,
                                             Integration.kind == "iyzico")
    row = await demo_app.scalar(integrations)
    conn = service.connection_of(row)
    assert conn.base_url == "http://127.0.0.1:8000/demo/provider/iyzico"
    assert (conn.secret("api_key"), conn.secret("secret_key")) == (iyzico.API_KEY,
                                                                   iyzico.SECRET_KEY)
    # iyzico's notifications come to this process's own hook of that connection.
    assert payments.simulator.notification_url == (
        f"http://127.0.0.1:8000/hooks/integrations/iyzico/{row.id}")
    # The simulator answers there, to requests signed as iyzico's API wants (the path after
    # the API's address), and refuses others with iyzico's failure.
    body = '{"locale":"tr","conversationId":"check","binNumber":"552879"}'
    signed = await demo_app.client.post(
        "/demo/provider/iyzico/payment/bin/check", content=body, headers={
            "x-iyzi-rnd": "123", "Authorization": signing.authorization(
                iyzico.API_KEY, iyzico.SECRET_KEY, "123", "/payment/bin/check", body)})
    assert signed.json()["status"] == "success", signed.text
    refused = await demo_app.client.post("/demo/provider/iyzico/payment/bin/check", json={})
    assert refused.status_code == 200 and refused.json()["errorCode"] == "1000"
    assert (await demo_app.client.get("/demo/provider/iyzico/checkout?token=x")
            ).status_code == 404

    # Another port on the next run: re-wired once (audited), the same connection.
    changes = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(["integration.connected", "integration.updated"]),
        AuditEvent.target_id == row.id)
    changes_before = await demo_app.scalar(changes)
    moved = demo_app.rt.settings.model_copy(update={"port": 8123})
    assert await demo.wire_iyzico(demo_app.rt.db, moved) == (
        f"http://127.0.0.1:8123/hooks/integrations/iyzico/{row.id}")
    await demo.wire_iyzico(demo_app.rt.db, moved)
    assert await demo_app.scalar(changes) == changes_before + 1
    assert service.connection_of(await demo_app.scalar(integrations)).base_url == (
        "http://127.0.0.1:8123/demo/provider/iyzico")
    await demo.wire_iyzico(demo_app.rt.db, demo_app.rt.settings)
    assert (await demo_app.scalar(integrations)).id == row.id


async def test_without_private_urls_the_demo_has_no_iyzico(demo_app, settings, monkeypatch):
    """As in production: this machine's own address is refused, and the demo still starts."""
    monkeypatch.setattr(settings, "allow_private_urls", False)
    moved = demo_app.rt.settings.model_copy(update={"port": 8124})
    assert await demo.wire_iyzico(demo_app.rt.db, moved) is None


async def test_the_provider_api_needs_the_demo_numbers_token(demo_app):
    response = await demo_app.client.post(
        "/demo/provider/whatsapp/v25.0/demo-phone-number-id/messages",
        headers={"Authorization": "Bearer not-the-token"},
        json={"messaging_product": "whatsapp", "to": "905321112233", "type": "text",
              "text": {"body": "sahte"}})
    assert response.status_code == 401


# ---- the customer writes ----------------------------------------------------------------------

async def test_a_message_typed_on_the_phone_is_stored_in_the_demo_company(demo_app):
    number = new_number()
    events_before = await demo_app.scalar(select(func.count()).select_from(WebhookEvent))
    response = await write(demo_app, number, "Merhaba, yarın için randevu var mı?",
                           name="Selin Kara")
    assert response.status_code == 200
    assert "Merhaba, yarın için randevu var mı?" in response.text
    assert 'class="wa-ticks wa-ticks-delivered"' in response.text  # our intake took it
    # It went through the intake: one signed delivery stored.
    assert await demo_app.scalar(select(func.count()).select_from(WebhookEvent)) == (
        events_before + 1)

    await demo_app.ingest()
    message = await last_inbound(demo_app, number)
    assert message is not None
    assert (message.content_kind, message.body, message.channel_id) == (
        "text", "Merhaba, yarın için randevu var mı?", demo_app.channel_id)
    assert message.tenant_id == demo_app.company.tenant_id
    contact = await demo_app.scalar(select(Contact).where(Contact.id == message.contact_id))
    assert (contact.name, contact.phone) == ("Selin Kara", e164(number))


async def test_a_photo_from_the_phone_reaches_the_inbox_as_an_image(demo_app):
    number = new_number()
    response = await write(demo_app, number, "Dişimin fotoğrafı",
                           files={"image": ("dis.png", PNG, "image/png")})
    assert response.status_code == 200
    src = re.search(r'<img class="wa-image" src="(/demo/phone/media/\d+)"', response.text)
    assert src, response.text
    shown = await demo_app.client.get(src.group(1))
    assert (shown.status_code, shown.content, shown.headers["content-type"]) == (
        200, PNG, "image/png")
    assert shown.headers["x-content-type-options"] == "nosniff"

    await demo_app.ingest()  # downloads the photo from the simulator, as Meta's media API
    message = await last_inbound(demo_app, number)
    assert (message.content_kind, message.body) == ("image", "Dişimin fotoğrafı")
    attachment = await demo_app.scalar(select(Attachment).where(
        Attachment.id == message.attachment_id))
    assert attachment.content_type == "image/png"
    assert await demo_app.rt.storage.get(attachment.storage_key) == PNG


# ---- the business answers ---------------------------------------------------------------------

async def test_an_agent_reply_reaches_the_phone_and_the_phone_reads_it(demo_app):
    number = new_number()
    await write(demo_app, number, "Fiyat alabilir miyim?")
    await demo_app.ingest()
    conversation_id = (await last_inbound(demo_app, number)).conversation_id

    agent = demo_app.client
    login = await agent.post("/api/v1/auth/login", json={
        "company": demo.SLUG, "username": TESTER, "password": PASSWORD})
    assert login.status_code == 200
    sent = await agent.post(f"/api/v1/conversations/{conversation_id}/messages",
                            json={"body": "Muayene 750 TL, hemen randevu verebiliriz."},
                            headers={"x-csrf-token": login.json()["csrf_token"]})
    assert sent.status_code == 201, sent.text
    reply_id = sent.json()["id"]
    await agent.post("/api/v1/auth/logout")
    agent.cookies.clear()

    chat = await demo_app.client.get("/demo/phone/chat", params={"number": number})
    assert "Muayene 750 TL" not in chat.text  # not sent yet: the outbound job has not run
    await deliver_message(tenant_id=str(demo_app.company.tenant_id), message_id=reply_id)
    reply = await demo_app.scalar(select(Message).where(Message.id == reply_id))
    assert reply.status == "sent" and reply.provider_message_id.startswith("wamid.")

    chat = await demo_app.client.get("/demo/phone/chat", params={"number": number,
                                                                 "v": chat.headers[
                                                                     "x-phone-version"]})
    assert chat.status_code == 200
    theirs = re.search(r'<div class="wa-msg wa-theirs" data-wamid="([^"]+)" '
                       r'data-status="received"', chat.text)
    assert theirs and theirs.group(1) == reply.provider_message_id
    assert "Muayene 750 TL, hemen randevu verebiliriz." in chat.text
    # Answered, the customer's own message shows as read (blue ticks).
    assert 'wa-ticks-read" data-status="read"' in chat.text
    version = chat.headers["x-phone-version"]
    unchanged = await demo_app.client.get("/demo/phone/chat", params={"number": number,
                                                                      "v": version})
    assert unchanged.status_code == 204

    # On screen: the phone sends "delivered" and then "read", once.
    for _ in range(2):
        receipt = await demo_app.client.post("/demo/phone/receipts", data={
            "number": number, "status": "read", "message_ids": [reply.provider_message_id]})
        assert receipt.status_code == 204
    statuses = await demo_app.scalar(select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.payload["entry"][0]["changes"][0]["value"]["statuses"][0]["id"].astext
        == reply.provider_message_id))
    assert statuses == 2
    await demo_app.ingest()
    assert (await demo_app.scalar(select(Message.status).where(Message.id == reply_id))
            ) == "read"


async def test_a_tapped_button_arrives_as_an_interactive_reply(demo_app):
    number = new_number()
    await write(demo_app, number, "Randevu almak istiyorum")
    await demo_app.ingest()
    asked = await demo_app.business_sends(number, "interactive", {"interactive": {
        "type": "button", "body": {"text": "Hangi gün size uygun?"},
        "footer": {"text": "Gülüş Diş"},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": "gun-persembe", "title": "Perşembe"}},
            {"type": "reply", "reply": {"id": "gun-cuma", "title": "Cuma"}}]}}})
    chat = await demo_app.client.get("/demo/phone/chat", params={"number": number})
    assert "Hangi gün size uygun?" in chat.text
    assert (f'data-message-id="{asked}" data-option-id="gun-cuma"><i class="ti '
            f'ti-arrow-back-up"></i> Cuma</button>') in chat.text

    tapped = await demo_app.client.post("/demo/phone/replies", data={
        "number": number, "name": "Deniz Yılmaz", "message_id": asked,
        "option_id": "gun-cuma"})
    assert tapped.status_code == 200
    assert '<div class="wa-quote">Hangi gün size uygun?</div>' in tapped.text
    await demo_app.ingest()
    message = await last_inbound(demo_app, number)
    assert (message.content_kind, message.body) == ("interactive", "Cuma")
    assert message.payload["type"] == "button_reply"
    assert (message.payload["id"], message.payload["title"]) == ("gun-cuma", "Cuma")
    assert message.payload["context"]["message_id"] == asked

    # Only an option that message offers, of a message sent to this number.
    for option, to in (("gun-pazar", number), ("gun-cuma", new_number())):
        refused = await demo_app.client.post("/demo/phone/replies", data={
            "number": to, "name": "Deniz Yılmaz", "message_id": asked, "option_id": option})
        assert refused.status_code == 404


async def test_a_list_row_and_a_templates_quick_reply(demo_app):
    number = new_number()
    await write(demo_app, number, "Tedaviler neler?")
    await demo_app.ingest()
    listed = await demo_app.business_sends(number, "interactive", {"interactive": {
        "type": "list", "header": {"type": "text", "text": "Tedaviler"},
        "body": {"text": "Birini seçin"},
        "action": {"button": "Seçenekler", "sections": [{"title": "Estetik", "rows": [
            {"id": "beyazlatma", "title": "Diş beyazlatma", "description": "1 seans"},
            {"id": "implant", "title": "İmplant"}]}]}}})
    template = await demo_app.business_sends(number, "template", {"template": {
        "name": "randevu_hatirlatma", "language": "tr", "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Deniz Hanım"},
                                            {"type": "text", "text": "12 Mart"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0",
             "parameters": [{"type": "payload", "payload": "geliyorum"}]}]}})
    chat = (await demo_app.client.get("/demo/phone/chat", params={"number": number})).text
    assert "<summary" in chat and "Seçenekler" in chat and "Diş beyazlatma" in chat
    assert ("Merhaba Deniz Hanım, 12 Mart tarihindeki randevunuzu hatırlatırız. Gelebilecek "
            "misiniz?") in chat
    assert "randevu_hatirlatma" in chat and "Evet, geleceğim" in chat

    for wamid, option in ((listed, "beyazlatma"), (template, "geliyorum")):
        assert (await demo_app.client.post("/demo/phone/replies", data={
            "number": number, "name": "Deniz Yılmaz", "message_id": wamid,
            "option_id": option})).status_code == 200
    await demo_app.ingest()
    async with demo_app.rt.db.tenant_session(demo_app.company.tenant_id) as session:
        stored = list((await session.scalars(select(Message).join(
            Contact, Contact.id == Message.contact_id).where(
            Contact.phone == e164(number), Message.content_kind == "interactive").order_by(
            Message.created_at, Message.id))).all())
    assert [(m.payload["type"], m.payload["id"], m.body) for m in stored] == [
        ("list_reply", "beyazlatma", "Diş beyazlatma"),
        ("button", "geliyorum", "Evet, geleceğim")]


# ---- not an open relay ------------------------------------------------------------------------

async def test_bad_input_is_refused_in_turkish_and_sends_nothing(demo_app):
    number = new_number()
    events_before = await demo_app.scalar(select(func.count()).select_from(WebhookEvent))

    empty = await write(demo_app, number, "   ")
    assert empty.status_code == 422
    assert empty.json()["error"]["message"] == "Mesaj boş"
    assert empty.json()["error"]["field"] == "text"

    too_long = await write(demo_app, number, "a" * 4097)
    assert too_long.status_code == 422
    assert too_long.json()["error"]["field"] == "text"
    assert too_long.json()["error"]["message"] == i18n.text(
        "tr", "the message is longer than %(max)s characters", max=4096)

    not_a_number = await write(demo_app, "12ab", "Merhaba")
    assert not_a_number.status_code == 422
    assert not_a_number.json()["error"]["message"] == "'12ab' bir telefon numarası değil"
    huge_number = await write(demo_app, "9" * 5000, "Merhaba")
    assert huge_number.status_code == 422 and len(huge_number.text) < 500

    no_name = await write(demo_app, number, "Merhaba", name=" ")
    assert (no_name.status_code, no_name.json()["error"]["field"]) == (422, "name")
    long_name = await write(demo_app, number, "Merhaba", name="Ş" * 61)
    assert (long_name.status_code, long_name.json()["error"]["field"]) == (422, "name")

    not_an_image = await write(demo_app, number, "", files={
        "image": ("resim.png", b"<svg onload=alert(1)>", "image/png")})
    assert (not_an_image.status_code, not_an_image.json()["error"]["field"]) == (422, "image")
    too_big = await write(demo_app, number, "", files={
        "image": ("big.png", PNG + b"\0" * (5 * 1024 * 1024), "image/png")})
    assert too_big.status_code == 422
    assert "5 MB" in too_big.json()["error"]["message"]

    receipt = await demo_app.client.post("/demo/phone/receipts", data={
        "number": number, "status": "played", "message_ids": ["x"]})
    assert receipt.status_code == 422
    assert await demo_app.scalar(select(func.count()).select_from(WebhookEvent)) == events_before


async def test_html_in_messages_is_escaped(demo_app):
    number = new_number()
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = await write(demo_app, number, f"Merhaba {attack}", name="<b>Kötü</b> Niyet")
    assert response.status_code == 200
    await demo_app.ingest()
    stored = await last_inbound(demo_app, number)
    assert stored.body == f"Merhaba {attack}"  # kept as typed, escaped when shown
    await demo_app.business_sends(number, "interactive", {"interactive": {
        "type": "button", "body": {"text": f"Yanıt {attack}"},
        "action": {"buttons": [{"type": "reply", "reply": {
            "id": '"><script>x</script>', "title": "<i>Evet</i>"}}]}}})
    await demo_app.business_sends(number, "document", {"filename": '<b>"x"</b>.pdf'},
                                  attachment_url="javascript:alert(1)")
    chat = (await demo_app.client.get("/demo/phone/chat", params={"number": number})).text
    assert "<script" not in chat and "<img src=x" not in chat and "<i>Evet" not in chat
    assert "javascript:" not in chat  # a link the phone would not open is not shown
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in chat
    assert "&lt;i&gt;Evet&lt;/i&gt;" in chat
    assert 'data-option-id="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in chat


async def test_the_demo_website_shows_the_web_chat_which_allows_that_site(demo_app):
    response = await demo_app.client.get("/demo/site")
    assert response.status_code == 200
    channel_id = re.search(r'src="http://testserver/widget.js" data-channel="([0-9a-f-]+)"',
                           response.text).group(1)
    config = await demo_app.client.get(f"/widget/api/{channel_id}/config",
                                       headers={"Referer": "http://testserver/demo/site"})
    assert config.status_code == 200
    assert "KVKK" in config.json()["consent_text"]
    again = await demo_app.client.get("/demo/site")  # the site is listed once
    assert again.status_code == 200
    async with demo_app.rt.db.tenant_session(demo_app.company.tenant_id) as session:
        channel = await session.get_one(Channel, uuid.UUID(channel_id))
    assert channel.settings["allowed_origins"] == "http://testserver"


# ---- the demo company's chatbot and rule ------------------------------------------------------

async def test_writing_menu_on_the_phone_starts_the_clinics_chatbot(demo_app):
    number = new_number()
    assert (await write(demo_app, number, "Menü")).status_code == 200
    await demo_app.ingest()
    message = await last_inbound(demo_app, number)
    conversation = await demo_app.scalar(select(Conversation).where(
        Conversation.id == message.conversation_id))
    assert conversation.held_by_bot and conversation.assignee_id is None  # routing waits
    sent = await demo_app.scalars(select(Message).where(
        Message.conversation_id == conversation.id, Message.direction == "outbound"
    ).order_by(Message.created_at, Message.id))
    assert [m.sender_kind for m in sent] == ["bot", "bot"]
    question = sent[-1]
    assert question.body == "Size nasıl yardımcı olabiliriz?"
    assert [c["title"] for c in question.payload["choices"]["buttons"]] == [
        "Fiyat bilgisi", "Randevu almak", "Başka bir konu"]


async def test_an_urgent_message_is_tagged_and_the_supervisor_told(demo_app):
    number = new_number()
    await write(demo_app, number, "Dişimde çok AĞRI var, bugün gelebilir miyim?")
    await demo_app.ingest()
    message = await last_inbound(demo_app, number)
    conversation = await demo_app.scalar(select(Conversation).where(
        Conversation.id == message.conversation_id))
    assert "acil" in conversation.tags
    notified = await demo_app.scalar(select(func.count()).select_from(Notification).where(
        Notification.conversation_id == conversation.id, Notification.kind == "automation"))
    assert notified == 1

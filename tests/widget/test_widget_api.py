"""The website chat widget's API, over HTTP as the widget's script calls it from a company's web
page (another origin): CORS for the channel's websites only, the pre-chat form with its KVKK
consent and clear refusals, the signed visitor token, messages both ways (a retried message
stored once), files, read receipts, and nothing of one visitor reachable by another."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from invekto.audit.models import AuditEvent
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate, ChannelUpdate
from invekto.contacts.models import Contact
from invekto.inbox import service as inbox
from invekto.inbox.models import Message, Note
from invekto.inbox.schemas import MessageSend
from invekto.inbox.tasks import deliver_message
from tests.widget.visitor import CONSENT, PNG, SITE, Widget, agent_replies


async def _rows(home, query):
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return list((await session.scalars(query)).all())


# ---- the channel's websites only ---------------------------------------------------------------

async def test_the_config_is_given_to_an_allowed_site_with_cors(widget):
    response = await widget.get("/config")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE
    assert "Origin" in response.headers["vary"]
    config = response.json()
    assert config["title"] == "Test Kliniği"  # the company's name unless a title is set
    assert (config["consent_text"], config["color"]) == (CONSENT, "#0ca678")
    assert config["welcome_text"] == "Nasıl yardımcı olabiliriz?"
    assert config["max_file_bytes"] > 0


@pytest.mark.parametrize("origin", ["https://kotu-site.example", "http://www.gulusdis.com.tr",
                                    "https://www.gulusdis.com.tr.kotu.example"])
async def test_another_site_is_refused_without_cors(client, channel_id, origin):
    other = Widget(client, channel_id, origin=origin)
    response = await other.get("/config")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers
    preflight = await client.options(other.api + "/visitors", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


async def test_a_preflight_from_an_allowed_site_allows_the_token_header(client, channel_id):
    response = await client.options(f"/widget/api/{channel_id}/messages", headers={
        "Origin": "https://gulusdis.com.tr", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://gulusdis.com.tr"
    assert "Authorization" in response.headers["access-control-allow-headers"]


async def test_without_an_origin_the_referer_decides(client, channel_id):
    allowed = await client.get(f"/widget/api/{channel_id}/config",
                               headers={"Referer": f"{SITE}/hizmetler?x=1"})
    assert allowed.status_code == 200
    assert (await client.get(f"/widget/api/{channel_id}/config")).status_code == 403


async def test_an_unknown_or_switched_off_channel_is_not_found(world, client, channel_id):
    assert (await Widget(client, uuid.uuid4()).get("/config")).status_code == 404
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await channels.update_channel(session, home.system, channel_id,
                                      ChannelUpdate(is_active=False))
    assert (await Widget(client, channel_id).get("/config")).status_code == 404


async def test_the_config_says_whether_anyone_is_online(world, widget):
    assert (await widget.get("/config")).json()["online"] is False
    response = await world.home.bora.client.post("/me/presence", data={"presence": "online"})
    assert response.status_code == 204, response.text
    assert (await widget.get("/config")).json()["online"] is True


async def test_the_script_is_served_as_javascript(client):
    response = await client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "attachShadow" in response.text and "data-channel" in response.text


# ---- the pre-chat form -----------------------------------------------------------------------

async def test_a_visitor_starts_a_chat_and_their_consent_is_recorded(world, widget, channel_id):
    started = await widget.start(email="elif@example.com")
    assert started["name"] == "Elif Yıldız"
    home = world.home
    (contact,) = await _rows(home, select(Contact).where(Contact.tenant_id == home.tenant_id,
                                                         Contact.name == "Elif Yıldız"))
    assert (contact.phone, contact.email, contact.language) == (
        "+905321112233", "elif@example.com", "tr")
    (consent,) = await _rows(home, select(AuditEvent).where(
        AuditEvent.tenant_id == home.tenant_id, AuditEvent.action == "contact.consent_given"))
    assert consent.target_id == contact.id
    assert consent.data["consent_text"] == CONSENT
    assert consent.data["origin"] == SITE
    assert consent.data["page"] == f"{SITE}/iletisim"
    assert consent.data["channel_id"] == str(channel_id)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"consent": False}, "consent", "Sohbete başlamak için lütfen aydınlatma metnini kabul edin"),
    ({"phone": None}, "phone",
     "Size ulaşabilmemiz için bir telefon numarası ya da e-posta adresi girin"),
    ({"phone": "123"}, "phone", "'123' geçerli bir telefon numarası değil"),
    ({"phone": None, "email": "elif@"}, "email", "'elif@' bir e-posta adresi değil"),
    ({"name": "   "}, "name", "Ad zorunludur"),
])
async def test_the_form_refuses_bad_input_naming_the_field_in_turkish(world, widget, fields,
                                                                      field, message):
    response = await widget.post("/visitors", {
        "name": "Elif", "phone": "05321112233", "consent": True, **fields})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["message"] == message
    assert response.headers["access-control-allow-origin"] == SITE  # the widget can read it


async def test_english_visitors_get_english_errors(client, channel_id):
    widget = Widget(client, channel_id, language="en")
    response = await widget.post("/visitors", {"name": "Elif", "phone": "05321112233"})
    assert response.json()["error"]["message"] == (
        "please accept the privacy notice to start the chat")


async def test_a_phone_number_of_another_contact_does_not_open_their_history(world, widget):
    home = world.home
    known = await home.inbound("Randevum ne zaman?", phone="+905321112233", name="Ahmet Kaya")
    await widget.start(name="Başkası")
    assert await widget.messages() == []
    (visitor,) = await _rows(home, select(Contact).where(Contact.tenant_id == home.tenant_id,
                                                         Contact.name == "Başkası"))
    assert visitor.id != known.contact_id and visitor.phone is None
    (note,) = await _rows(home, select(Note).where(Note.tenant_id == home.tenant_id,
                                                   Note.contact_id == visitor.id))
    assert "+905321112233" in note.body and "Ahmet Kaya" in note.body


# ---- messages ---------------------------------------------------------------------------------

async def test_visitor_and_agent_exchange_messages(world, widget):
    home = world.home
    await widget.start()
    response = await widget.write("Merhaba, diş beyazlatma fiyatı nedir?")
    assert response.status_code == 201, response.text
    written = response.json()
    assert (written["author"], written["body"]) == ("visitor",
                                                    "Merhaba, diş beyazlatma fiyatı nedir?")

    # In the inbox, as any customer's message.
    conversations = (await home.bora.client.get("/api/v1/conversations")).json()["items"]
    conversation = next(c for c in conversations
                        if c["last_message_preview"].startswith("Merhaba, diş"))
    reply = await agent_replies(home, conversation["id"], "Merhaba Elif Hanım, 2.500 TL.",
                                 deliver=False)
    # Not shown while it is still being sent...
    assert [m["id"] for m in await widget.messages()] == [written["id"]]
    await deliver_message(tenant_id=str(home.tenant_id), message_id=str(reply))
    shown = await widget.messages()
    assert [m["author"] for m in shown] == ["visitor", "agent"]
    assert shown[1]["body"] == "Merhaba Elif Hanım, 2.500 TL."
    assert shown[1]["agent"] == {"name": "Bora", "initials": "B"}

    # ...and read once the widget showed it.
    response = await widget.post("/read", {"up_to": shown[1]["id"]})
    assert response.status_code == 204
    (stored,) = await _rows(home, select(Message).where(Message.id == reply))
    assert stored.status == "read"


async def test_notes_and_other_channels_stay_out_of_the_visitors_view(world, widget):
    home = world.home
    await widget.start()
    written = (await widget.write("Merhaba")).json()
    conversation_id = (await _rows(home, select(Message.conversation_id).where(
        Message.id == uuid.UUID(written["id"]))))[0]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.add_note(session, home.system, body="Fiyat listesini gönder",
                             conversation_id=conversation_id)
    assert [m["body"] for m in await widget.messages()] == ["Merhaba"]


async def test_a_retried_message_is_stored_once(world, widget):
    await widget.start()
    client_id = uuid.uuid4()
    first = await widget.write("Merhaba", client_id)
    again = await widget.write("Merhaba", client_id)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert len(await widget.messages()) == 1


@pytest.mark.parametrize("body", ["", "x" * 4097])
async def test_an_empty_or_too_long_message_is_refused(widget, body):
    await widget.start()
    response = await widget.write(body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body"


async def test_a_missing_or_forged_token_is_refused(widget):
    assert (await widget.get("/messages")).status_code == 401
    widget.token = "gAAAAAsahte"
    response = await widget.write("Merhaba")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_visitor_token"


async def test_a_token_works_only_on_its_own_channel_and_sites(world, client, widget):
    await widget.start()
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        other = await channels.create_channel(session, home.system, ChannelCreate(
            kind="webchat", name="İkinci site", settings={"allowed_origins": SITE}))
    elsewhere = Widget(client, other.id)
    elsewhere.token = widget.token
    assert (await elsewhere.get("/messages")).status_code == 401
    foreign = Widget(client, widget.api.rsplit("/", 1)[1], origin="https://kotu-site.example")
    foreign.token = widget.token
    assert (await foreign.get("/messages")).status_code == 403


async def test_two_visitors_see_only_their_own_messages(client, channel_id, widget):
    await widget.start(phone="05321112233")
    await widget.write("Benim sorum")
    other = Widget(client, channel_id)
    await other.start(name="Ali", phone="05442223344")
    assert await other.messages() == []
    await other.write("Ali'nin sorusu")
    assert [m["body"] for m in await widget.messages()] == ["Benim sorum"]


# ---- files ------------------------------------------------------------------------------------

async def test_a_visitor_sends_a_picture_only_they_can_fetch(client, widget):
    await widget.start()
    response = await widget.post("/files", data={"client_id": str(uuid.uuid4()),
                                                  "caption": "Dişimin fotoğrafı"},
                                 files={"file": ("dis.png", PNG, "image/png")})
    assert response.status_code == 201, response.text
    sent = response.json()
    assert (sent["kind"], sent["body"], sent["file"]["name"]) == (
        "image", "Dişimin fotoğrafı", "dis.png")
    download = await widget.get(f"/files/{sent['file']['id']}")
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment")

    # Another visitor cannot fetch it.
    other = Widget(client, widget.api.rsplit("/", 1)[1])
    await other.start(name="Ali", phone="05442223344")
    assert (await other.get(f"/files/{sent['file']['id']}")).status_code == 404


async def test_a_file_type_that_cannot_be_sent_is_refused_naming_the_file(widget):
    await widget.start()
    response = await widget.post("/files", data={"client_id": str(uuid.uuid4())},
                                 files={"file": ("x.exe", b"MZ....", "application/x-msdownload")})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "file"


async def test_an_agents_file_reaches_the_visitor(world, widget):
    home = world.home
    await widget.start()
    written = (await widget.write("Fiyat listesi var mı?")).json()
    (conversation_id,) = await _rows(home, select(Message.conversation_id).where(
        Message.id == uuid.UUID(written["id"])))
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        attachment = await inbox.store_attachment(
            session, home.system, home.rt.storage, filename="fiyatlar.pdf",
            content_type="application/pdf", data=b"%PDF-1.4 fiyatlar", max_bytes=10_000_000)
        reply, _ = await inbox.send_message(session, home.system, conversation_id, MessageSend(
            body="Buyurun", content_kind="document", attachment_id=attachment.id))
    await deliver_message(tenant_id=str(home.tenant_id), message_id=str(reply.id))
    shown = (await widget.messages())[-1]
    assert (shown["author"], shown["kind"], shown["file"]["name"]) == (
        "agent", "document", "fiyatlar.pdf")
    assert (await widget.get(f"/files/{shown['file']['id']}")).content == b"%PDF-1.4 fiyatlar"


async def test_one_address_cannot_start_chats_without_end(client, channel_id, monkeypatch):
    from invekto.widget import service as widget_service

    monkeypatch.setattr(widget_service, "VISITORS_PER_HOUR", 3)
    for number in ("05321112233", "05321112234", "05321112235"):
        await Widget(client, channel_id).start(phone=number)
    response = await Widget(client, channel_id).post("/visitors", {
        "name": "Dördüncü", "phone": "05321112236", "consent": True})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3600"
    assert response.json()["error"]["message"] == (
        "Adresinizden çok fazla sohbet başlatıldı; lütfen daha sonra tekrar deneyin")

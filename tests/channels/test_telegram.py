"""Telegram: the Bot API adapter against its simulator (Update parsing from the reference
samples, exact send bodies, error mapping, media, connection, explanations), then end to end
below the browser: the simulator posts Updates to our intake with the secret header, the ingest
job makes contacts, conversations and messages, replies go out through the adapter."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import (
    ChannelAccount,
    ConnectionCheck,
    InboundEvent,
    MediaRef,
    OutboundFile,
    OutboundMessage,
    PermanentFailure,
    Sent,
    TemporaryFailure,
)
from invekto.channels.adapters.telegram import (
    ALLOWED_UPDATES,
    TelegramAdapter,
    explain,
    parse_webhook,
)
from invekto.channels.adapters.whatsapp import MediaUnavailable
from invekto.channels.models import Channel, WebhookEvent
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.telegram import (
    BOT_ID,
    CUSTOMER_ID,
    TelegramSimulator,
    create_simulator,
)
from invekto.contacts.models import Contact, ContactIdentity
from invekto.inbox.models import Attachment, Conversation, Message
from invekto.inbox.tasks import ProviderUnavailable
from tests.channels.harness import ChannelWorld

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
TOKEN = f"{BOT_ID}:AAH-test-token-telegram-0123456789ab"
SECRET = "Tg_Secret-Only_Allowed_Chars_123"
SIM = "http://telegram.simulator"
CHAT = "5123456789"
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 60
OGG = b"OggS" + b"\0" * 60
NOW = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def account(external_id: str | None = None, token: str | None = TOKEN, **settings
            ) -> ChannelAccount:
    return ChannelAccount(kind="telegram", external_id=external_id,
                          settings={"api_base_url": SIM, **settings},
                          credentials={"bot_token": token, "webhook_token": SECRET}
                          if token else {})


def outbound(content_kind: str = "text", body: str = "", *, payload=None,
             attachment_url: str | None = None, attachment: OutboundFile | None = None,
             handle: str = CHAT) -> OutboundMessage:
    return OutboundMessage(message_id=uuid.uuid4(), recipient_handle=handle,
                           recipient_phone=None, content_kind=content_kind, body=body,
                           payload=payload or {}, attachment_url=attachment_url,
                           attachment=attachment)


def only(items):
    assert len(items) == 1, items
    return items[0]


@pytest.fixture
def simulator() -> TelegramSimulator:
    return create_simulator(TOKEN)


@pytest.fixture
async def adapter(simulator):
    made = TelegramAdapter(transport=httpx.ASGITransport(app=simulator))
    yield made
    await made.aclose()


# ---- parsing updates: every reference sample ---------------------------------------------------

NAME = "Mehmet Kaya"
SAMPLES: dict[str, list] = {
    "telegram.update_text.json": [InboundEvent(
        account_id="", provider_message_id=f"{CHAT}:311", handle=CHAT, sent_at=at(1767261600),
        content_kind="text", body="Merhaba, siparişimi sorgulamak istiyorum",
        contact_name=NAME)],
    "telegram.update_command.json": [InboundEvent(
        account_id="", provider_message_id=f"{CHAT}:312", handle=CHAT, sent_at=at(1767261610),
        content_kind="text", body="/start ref_instagram", contact_name=NAME,
        payload={"start": "ref_instagram"})],
    "telegram.update_photo.json": [InboundEvent(
        account_id="", provider_message_id=f"{CHAT}:313", handle=CHAT, sent_at=at(1767261700),
        content_kind="image", body="Ürün hasarlı geldi", contact_name=NAME,
        media=MediaRef(media_id="AgACAgQAAxkBAAIBOWExampleLarge"))],
    "telegram.update_voice.json": [InboundEvent(
        account_id="", provider_message_id=f"{CHAT}:314", handle=CHAT, sent_at=at(1767261800),
        content_kind="audio", contact_name=NAME, payload={"voice": True},
        media=MediaRef(media_id="AwACAgQAAxkBAAIBOmVoiceExample", mime_type="audio/ogg"))],
    "telegram.update_document.json": [InboundEvent(
        account_id="", provider_message_id=f"{CHAT}:315", handle=CHAT, sent_at=at(1767261900),
        content_kind="document", body="Ödeme dekontu", contact_name=NAME,
        media=MediaRef(media_id="BQACAgQAAxkBAAIBO2DocumentExample",
                       mime_type="application/pdf", filename="dekont.pdf"))],
    # A button tap has no time of its own: it is when we read it.
    "telegram.update_callback_query.json": [InboundEvent(
        account_id="", provider_message_id="callback:4382019374650123456", handle=CHAT,
        sent_at=NOW, content_kind="interactive", body="Sipariş durumu", contact_name=NAME,
        payload={"type": "callback", "id": "order_status",
                 "callback_query_id": "4382019374650123456"})],
}


def test_every_update_sample_on_disk_is_covered():
    assert {path.name for path in FIXTURES.glob("telegram.update_*.json")} == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_update_sample_parses_to_its_event(name):
    assert parse_webhook(fixture(name), now=NOW) == SAMPLES[name]


def test_the_adapter_is_registered_and_parses_with_the_current_time():
    adapter = adapter_for("telegram")
    assert isinstance(adapter, TelegramAdapter)
    event = only(adapter.parse_webhook(fixture("telegram.update_callback_query.json")))
    assert event.sent_at.tzinfo is UTC
    assert abs((datetime.now(UTC) - event.sent_at).total_seconds()) < 60


def _message(**content) -> dict:
    base = fixture("telegram.update_text.json")
    del base["message"]["text"]
    base["message"].update(content)
    return base


@pytest.mark.parametrize("content, kind, body, payload, media", [
    ({"audio": {"file_id": "A1", "mime_type": "audio/mpeg", "file_name": "şarkı.mp3",
                "title": "Şarkı", "performer": "Sanatçı"}},
     "audio", "", {"title": "Şarkı", "performer": "Sanatçı"},
     MediaRef(media_id="A1", mime_type="audio/mpeg", filename="şarkı.mp3")),
    ({"video": {"file_id": "V1", "mime_type": "video/mp4"}, "caption": "Bakın"},
     "video", "Bakın", {}, MediaRef(media_id="V1", mime_type="video/mp4")),
    ({"location": {"latitude": 41.0082, "longitude": 28.9784}},
     "location", "", {"latitude": 41.0082, "longitude": 28.9784}, None),
    ({"sticker": {"file_id": "S1", "emoji": "👍", "is_animated": False, "is_video": False}},
     "sticker", "", {"emoji": "👍"}, MediaRef(media_id="S1", mime_type="image/webp")),
    ({"poll": {"id": "1", "question": "?"}}, "unsupported", "", {"type": "poll"}, None),
    ({"text": "/start"}, "text", "/start", {"start": ""}, None),
])
def test_other_message_kinds(content, kind, body, payload, media):
    event = only(parse_webhook(_message(**content)))
    assert (event.content_kind, event.body, event.payload, event.media) == (
        kind, body, payload, media)


def test_a_contact_of_the_customer_themself_gives_their_phone():
    own = only(parse_webhook(_message(contact={
        "phone_number": "90 532 111 22 33", "first_name": "Mehmet", "user_id": CUSTOMER_ID})))
    assert (own.content_kind, own.phone) == ("contact", "+905321112233")
    assert own.payload == {"phone_number": "90 532 111 22 33", "first_name": "Mehmet",
                           "user_id": CUSTOMER_ID}
    other = only(parse_webhook(_message(contact={"phone_number": "+90 555 000 00 00",
                                                 "first_name": "Ayşe"})))
    assert other.phone is None


def test_an_edit_is_a_message_of_its_own_marked_edited():
    update = fixture("telegram.update_text.json")
    edited = update.pop("message")
    edited.update(text="Düzeltme", edit_date=1767261650)
    event = only(parse_webhook({**update, "edited_message": edited}))
    assert (event.provider_message_id, event.body, event.sent_at, event.payload) == (
        f"{CHAT}:311:edit:1767261650", "Düzeltme", at(1767261650),
        {"edited": True, "message_id": 311})


def test_a_reply_carries_the_message_replied_to():
    event = only(parse_webhook(_message(text="Bu mu?", reply_to_message={"message_id": 320})))
    assert event.payload == {"context": {"message_id": f"{CHAT}:320"}}


def test_groups_and_other_updates_give_nothing():
    group = fixture("telegram.update_text.json")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Grup"}
    assert parse_webhook(group) == []
    assert parse_webhook({"update_id": 1, "my_chat_member": {}}) == []


@pytest.mark.parametrize("body", [
    {}, {"update_id": "1"}, {"message": {}}, [],
    {"update_id": 1, "message": {"chat": {"id": 1, "type": "private"}, "date": 1}},
    {"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1, "type": "private"}}},
])
def test_a_body_that_is_not_an_update_is_refused(body):
    with pytest.raises(ValueError):
        parse_webhook(body)


def test_a_tap_on_an_unknown_button_keeps_its_data():
    update = fixture("telegram.update_callback_query.json")
    update["callback_query"]["data"] = "gone"
    assert only(parse_webhook(update)).body == "gone"


# ---- sending -----------------------------------------------------------------------------------

async def test_buttons_go_out_as_an_inline_keyboard(adapter, simulator):
    documented = fixture("telegram.sendMessage.request.json")
    callbacks = [button for row in documented["reply_markup"]["inline_keyboard"]
                 for button in row if "callback_data" in button]
    choices = {"type": "buttons", "buttons": [
        {"id": b["callback_data"], "title": b["text"]} for b in callbacks]}
    result = await adapter.send(account(), outbound(
        "interactive", documented["text"], payload={"choices": choices}))
    sent = only(simulator.state.sent)
    assert result == Sent(f"{CHAT}:{sent.message_id}")
    assert (sent.method, sent.content_type) == ("sendMessage", "application/json")
    # One button a row (the documented sample also has a URL button we do not make).
    assert sent.params == {"chat_id": documented["chat_id"], "text": documented["text"],
                           "reply_markup": {"inline_keyboard": [[b] for b in callbacks]}}


async def test_a_list_is_an_inline_keyboard_of_its_rows(adapter, simulator):
    choices = {"type": "list", "button": "Seçin", "sections": [
        {"title": "A", "rows": [{"id": "r1", "title": "Bir", "description": "x"}]},
        {"title": "B", "rows": [{"id": "r2", "title": "İki"}]}]}
    await adapter.send(account(), outbound("interactive", "Hangisi?",
                                           payload={"choices": choices}))
    assert only(simulator.state.sent).params["reply_markup"] == {"inline_keyboard": [
        [{"text": "Bir", "callback_data": "r1"}], [{"text": "İki", "callback_data": "r2"}]]}


async def test_a_text_reply_quotes_the_message(adapter, simulator):
    await adapter.send(account(), outbound("text", "Evet", payload={"reply_to": f"{CHAT}:311"}))
    assert only(simulator.state.sent).params == {
        "chat_id": int(CHAT), "text": "Evet", "reply_parameters": {"message_id": 311}}


@pytest.mark.parametrize("name, message", [
    ("sendPhoto", outbound("image", "Kargo etiketiniz",
                           attachment_url="https://files.example.com/labels/TR-100245.png")),
    ("sendDocument", outbound("document", "Faturanız",
                              payload={"file_id": "BQACAgQAAxkBAAIBO2DocumentExample"})),
    ("sendVoice", outbound("audio", payload={"file_id": "AwACAgQAAxkBAAIBOmVoiceExample",
                                             "duration": 7, "voice": True})),
])
async def test_each_documented_send_goes_out_exactly_as_documented(adapter, simulator, name,
                                                                   message):
    await adapter.send(account(), message)
    sent = only(simulator.state.sent)
    assert (sent.method, sent.params) == (name, fixture(f"telegram.{name}.request.json"))


@pytest.mark.parametrize("kind, mime, filename, method, field", [
    ("image", "image/jpeg", "foto.jpg", "sendPhoto", "photo"),
    ("document", "application/pdf", "fatura.pdf", "sendDocument", "document"),
    ("video", "video/mp4", "video.mp4", "sendVideo", "video"),
    ("audio", "audio/ogg; codecs=opus", "ses.ogg", "sendVoice", "voice"),
    ("audio", "audio/mpeg", "muzik.mp3", "sendAudio", "audio"),
    ("audio", "audio/webm", "ses.webm", "sendDocument", "document"),
])
async def test_an_agents_file_is_uploaded_with_its_caption(adapter, simulator, kind, mime,
                                                           filename, method, field):
    file = OutboundFile(data=JPEG, mime_type=mime, filename=filename)
    result = await adapter.send(account(), outbound(kind, "Açıklama", attachment=file,
                                                    payload={"reply_to": f"{CHAT}:5"}))
    sent = only(simulator.state.sent)
    assert result == Sent(f"{CHAT}:{sent.message_id}")
    assert (sent.method, sent.content_type) == (method, "multipart/form-data")
    assert sent.params == {"chat_id": CHAT, "caption": "Açıklama",
                           "reply_parameters": {"message_id": 5}}
    assert (sent.file.data, sent.file.filename) == (JPEG, filename)
    assert simulator.state.files[sent.file_id][1].data == JPEG


@pytest.mark.parametrize("message, code", [
    (outbound("text", ""), "invalid_message"),
    (outbound("text", "x" * 4097), "text_too_long"),
    (outbound("image", "x" * 1025, attachment_url="https://x/y.png"), "text_too_long"),
    (outbound("image"), "invalid_message"),
    (outbound("template", "x"), "invalid_message"),
    (outbound("text", "x", payload={"choices": {"type": "buttons", "buttons": [
        {"id": "ş" * 33, "title": "Uzun"}]}}), "invalid_message"),  # 66 bytes of data
    (outbound("text", "x", handle=""), "invalid_message"),
])
async def test_a_message_telegram_would_refuse_fails_without_calling_it(adapter, simulator,
                                                                        message, code):
    result = await adapter.send(account(), message)
    assert isinstance(result, PermanentFailure) and result.code == code
    assert simulator.state.requests == []


async def test_missing_token_or_bad_address_fail_clearly(adapter, simulator):
    assert await adapter.send(account(token=None), outbound("text", "x")) == PermanentFailure(
        "missing_credentials", explain("missing_credentials", "en"))
    result = await adapter.send(account(api_base_url="ftp://x"), outbound("text", "x"))
    assert result.code == "invalid_settings"


async def test_429_is_temporary_with_the_retry_after(adapter, simulator):
    simulator.fail_next(body=fixture("telegram.error_429.json"), status=429)
    result = await adapter.send(account(), outbound("text", "x"))
    assert result == TemporaryFailure("429: Too Many Requests: retry after 17",
                                      retry_after_seconds=17)


@pytest.mark.parametrize("sample, code", [
    ("telegram.error_403_blocked.json", "blocked"),
    ("telegram.error_400_chat_not_found.json", "chat_not_found"),
])
async def test_refusals_are_permanent_with_our_code(adapter, simulator, sample, code):
    body = fixture(sample)
    simulator.fail_next(body=body, status=body["error_code"])
    assert await adapter.send(account(), outbound("text", "x")) == PermanentFailure(
        code, explain(code, "en"))
    assert simulator.state.sent == []


async def test_a_revoked_token_is_invalid_token(adapter, simulator):
    result = await adapter.send(account(token=f"{BOT_ID}:revoked"), outbound("text", "x"))
    assert result == PermanentFailure("invalid_token", explain("invalid_token", "en"))


async def test_server_errors_are_temporary_and_other_refusals_keep_the_description(
        adapter, simulator):
    simulator.fail_next(error_code=502, description="Bad Gateway")
    assert isinstance(await adapter.send(account(), outbound("text", "x")), TemporaryFailure)
    simulator.fail_next(error_code=400, description=f"Bad Request: can't parse {TOKEN}")
    result = await adapter.send(account(), outbound("text", "x"))
    assert result == PermanentFailure("bad_request", "Bad Request: can't parse <token>")


async def test_network_errors_before_and_after_sending():
    def refuse(request):
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    def lose(request):
        raise httpx.ReadTimeout(f"timed out on {request.url}")

    for handler, expected in ((refuse, TemporaryFailure), (lose, PermanentFailure)):
        adapter = TelegramAdapter(transport=httpx.MockTransport(handler))
        result = await adapter.send(account(), outbound("text", "x"))
        assert isinstance(result, expected)
        assert TOKEN not in repr(result)
        if expected is PermanentFailure:
            assert result.code == "delivery_unknown"
        await adapter.aclose()


# ---- explanations ------------------------------------------------------------------------------

def test_explanations_in_turkish_and_english():
    for code in ("blocked", "chat_not_found", "invalid_token", "rate_limited", "text_too_long",
                 "delivery_unknown", "missing_credentials", "file_too_large", "connected",
                 "unreachable", "invalid_secret"):
        english, turkish = explain(code, "en"), explain(code, "tr")
        assert english and turkish and english != turkish
        assert english != explain("no-such-code", "en")
    assert "engellemiş" in explain("blocked", "tr")
    assert explain("blocked", "tr-TR") == explain("blocked", "tr")
    assert explain("999", "tr") == "Telegram mesajı iletemedi."
    assert explain("999", "de") == "Telegram could not deliver the message."
    assert TelegramAdapter().explain("blocked", "tr") == explain("blocked", "tr")


# ---- media, connection, webhook registration, callbacks ---------------------------------------

async def test_a_file_is_downloaded_through_getfile(adapter, simulator):
    body, _ = simulator.customer_message(photo=JPEG, caption="Hasar")
    event = only(parse_webhook(json.loads(body)))
    assert event.media.media_id == json.loads(body)["message"]["photo"][-1]["file_id"]
    media = await adapter.fetch_media(account(), event.media)
    assert (media.data, media.mime_type) == (JPEG, "image/jpeg")
    get_file, download = simulator.state.requests[-2:]
    assert (get_file.method, get_file.path) == ("POST", "/bot<token>/getFile")
    assert download.method == "GET" and download.path.startswith("/file/bot<token>/photos/")


async def test_a_document_keeps_its_name_and_type(adapter, simulator):
    body, _ = simulator.customer_message(document=b"%PDF-1.4", filename="dekont.pdf")
    media = await adapter.fetch_media(account(), only(parse_webhook(json.loads(body))).media)
    assert (media.data, media.mime_type, media.filename) == (b"%PDF-1.4", "application/pdf",
                                                             "dekont.pdf")


async def test_an_unknown_file_is_unavailable_without_the_token(adapter, simulator):
    with pytest.raises(MediaUnavailable) as caught:
        await adapter.fetch_media(account(), MediaRef(media_id="nope"))
    assert not caught.value.temporary and TOKEN not in str(caught.value)


async def test_check_connection_names_the_bot(adapter, simulator):
    assert await adapter.check_connection(account()) == ConnectionCheck(
        ok=True, detail="@ornek_destek_bot · Ornek Destek")
    assert (await adapter.check_connection(account(external_id=str(BOT_ID)))).ok
    other = await adapter.check_connection(account(external_id="42"))
    assert (other.ok, other.error_code) == (False, "account_mismatch")
    revoked = await adapter.check_connection(account(token="1:x"))
    assert (revoked.ok, revoked.error_code, revoked.detail) == (False, "invalid_token",
                                                               "Unauthorized")
    missing = await adapter.check_connection(account(token=None))
    assert missing.error_code == "missing_credentials"


async def test_check_connection_when_telegram_is_unreachable():
    def refuse(request):
        raise httpx.ConnectError("no")

    adapter = TelegramAdapter(transport=httpx.MockTransport(refuse))
    check = await adapter.check_connection(account())
    assert (check.ok, check.error_code) == (False, "unreachable")
    await adapter.aclose()


async def test_connect_registers_the_webhook_with_its_secret(adapter, simulator):
    url = "https://crm.example.com/webhooks/telegram/ch_tg_01"
    assert await adapter.connect(account(), url, SECRET) == ConnectionCheck(
        ok=True, detail="Webhook was set")
    assert (simulator.webhook_url, simulator.secret_token, simulator.allowed_updates) == (
        url, SECRET, ALLOWED_UPDATES)
    _, headers = simulator.customer_message("Merhaba")
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    bad = await adapter.connect(account(), url, "not allowed!")
    assert (bad.ok, bad.error_code) == (False, "invalid_secret")


async def test_a_button_tap_is_answered(adapter, simulator):
    choices = {"type": "buttons", "buttons": [{"id": "agent", "title": "Temsilci"}]}
    await adapter.send(account(), outbound("interactive", "Nasıl yardımcı olalım?",
                                           payload={"choices": choices}))
    body, _ = simulator.callback("agent", only(simulator.state.sent).message_id)
    event = only(parse_webhook(json.loads(body)))
    assert (event.body, event.payload["id"]) == ("Temsilci", "agent")
    assert await adapter.answer_callback(account(), event.payload["callback_query_id"])
    assert simulator.state.answered == [
        {"callback_query_id": event.payload["callback_query_id"]}]
    # Quietly false when it cannot.
    assert not await adapter.answer_callback(account(token=None), "1")
    assert not await adapter.answer_callback(account(token="1:x"), "1")


async def test_the_simulator_refuses_a_wrong_token_and_bad_sends(simulator):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        answer = await http.post("/botwrong/getMe")
        assert (answer.status_code, answer.json()) == (
            401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        for bad in ({"text": "x"}, {"chat_id": 1}, {"chat_id": 1, "text": "x" * 4097}):
            answer = await http.post(f"/bot{TOKEN}/sendMessage", json=bad)
            assert (answer.status_code, answer.json()["ok"]) == (400, False)
        answer = await http.post(f"/bot{TOKEN}/sendPhoto", json={"chat_id": 1})
        assert answer.status_code == 400
    assert simulator.state.sent == []


# ---- end to end: the intake, the ingest job, the outbound job -----------------------------------

@pytest.fixture
async def telegram(world, app):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="telegram", name="Telegram", settings={"api_base_url": SIM},
            credentials={"bot_token": TOKEN, "webhook_token": SECRET}))
    simulator = create_simulator(
        TOKEN, webhook_url=f"http://testserver/webhooks/telegram/{channel.id}",
        secret_token=SECRET, webhook_transport=httpx.ASGITransport(app=app))
    original = adapters.adapter_for("telegram")
    adapters.register(TelegramAdapter(transport=httpx.ASGITransport(app=simulator)))
    yield ChannelWorld(home, channel.id, simulator, "telegram")
    adapters.register(original)


async def test_a_customer_text_becomes_contact_conversation_and_message(telegram):
    body, headers = telegram.simulator.customer_message("Merhaba, siparişim nerede?")
    assert (await telegram.deliver(body, headers)).status_code == 200
    message = await telegram.scalar(select(Message).where(
        Message.channel_id == telegram.channel_id))
    assert (message.direction, message.content_kind, message.body) == (
        "inbound", "text", "Merhaba, siparişim nerede?")
    assert message.provider_message_id.startswith(f"{CHAT}:")
    contact = await telegram.scalar(select(Contact).where(Contact.id == message.contact_id))
    assert contact.name == NAME
    identity = await telegram.scalar(select(ContactIdentity).where(
        ContactIdentity.contact_id == contact.id))
    assert (identity.channel_id, identity.handle) == (telegram.channel_id, CHAT)
    conversation = await telegram.scalar(select(Conversation).where(
        Conversation.id == message.conversation_id))
    assert (conversation.status, conversation.unread_count) == ("open", 1)


async def test_the_same_update_five_times_makes_one_message(telegram):
    body, headers = telegram.simulator.customer_message("Bir kez yazdım")
    for _ in range(5):
        assert (await telegram.deliver(body, headers)).status_code == 200
    assert await telegram.scalar(select(func.count()).select_from(Message).where(
        Message.channel_id == telegram.channel_id)) == 1


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
async def test_a_wrong_or_missing_secret_is_refused_and_nothing_stored(telegram, secret):
    body, headers = telegram.simulator.customer_message("Sahte")
    del headers["X-Telegram-Bot-Api-Secret-Token"]
    if secret:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    assert (await telegram.deliver(body, headers)).status_code == 401
    assert await telegram.scalar(select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.channel_id == telegram.channel_id)) == 0
    assert await telegram.scalar(select(func.count()).select_from(Message).where(
        Message.channel_id == telegram.channel_id)) == 0


async def test_a_photo_is_downloaded_and_stored(telegram):
    await telegram.deliver(*telegram.simulator.customer_message(photo=JPEG, caption="Hasarlı"))
    message = await telegram.scalar(select(Message).where(
        Message.channel_id == telegram.channel_id))
    assert (message.content_kind, message.body) == ("image", "Hasarlı")
    attachment = await telegram.scalar(select(Attachment).where(
        Attachment.id == message.attachment_id))
    assert attachment.content_type == "image/jpeg"
    assert await telegram.home.rt.storage.get(attachment.storage_key) == JPEG


async def test_an_agents_reply_reaches_the_customer(telegram):
    await telegram.deliver(*telegram.simulator.customer_message("Kargom ne zaman gelir?"))
    inbound = await telegram.scalar(select(Message).where(
        Message.channel_id == telegram.channel_id))
    reply_id = await telegram.reply(inbound.conversation_id, "Yarın teslim edilecek.")
    await telegram.deliver_reply(reply_id)
    sent = only(telegram.simulator.state.sent)
    assert (sent.method, sent.params) == ("sendMessage", {"chat_id": int(CHAT),
                                                          "text": "Yarın teslim edilecek."})
    stored = await telegram.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.provider_message_id) == ("sent", f"{CHAT}:{sent.message_id}")


async def test_a_rate_limit_is_retried_and_the_message_sent_once(telegram):
    await telegram.deliver(*telegram.simulator.customer_message("Merhaba"))
    inbound = await telegram.scalar(select(Message).where(
        Message.channel_id == telegram.channel_id))
    reply_id = await telegram.reply(inbound.conversation_id, "Sırada")
    telegram.simulator.fail_next(error_code=429, retry_after=1)
    with pytest.raises(ProviderUnavailable):
        await telegram.deliver_reply(reply_id)
    assert await telegram.scalar(select(Message.status).where(Message.id == reply_id)
                                 ) == "pending"
    await telegram.deliver_reply(reply_id)
    await telegram.deliver_reply(reply_id)  # a rerun
    assert len(telegram.simulator.state.sent) == 1
    assert await telegram.scalar(select(Message.status).where(Message.id == reply_id)) == "sent"


async def test_a_blocked_bot_fails_without_retry(telegram):
    await telegram.deliver(*telegram.simulator.customer_message("Merhaba"))
    inbound = await telegram.scalar(select(Message).where(
        Message.channel_id == telegram.channel_id))
    reply_id = await telegram.reply(inbound.conversation_id, "Geç cevap")
    telegram.simulator.fail_next(error_code=403)
    await telegram.deliver_reply(reply_id)  # no raise: permanent
    stored = await telegram.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.error_code, stored.error_message) == (
        "failed", "blocked", explain("blocked", "en"))
    assert telegram.simulator.state.sent == []


async def test_a_button_tap_is_stored_with_its_title_and_answered(telegram):
    await telegram.deliver(*telegram.simulator.customer_message("Merhaba"))
    inbound = await telegram.scalar(select(Message).where(
        Message.channel_id == telegram.channel_id))
    choices = {"type": "buttons", "buttons": [{"id": "agent", "title": "Temsilci"}]}
    await adapter_for("telegram").send(
        account(), outbound("interactive", "Nasıl yardımcı olalım?",
                            payload={"choices": choices}))
    await telegram.deliver(*telegram.simulator.callback(
        "agent", only(telegram.simulator.state.sent).message_id, query_id="77"))
    tap = await telegram.scalar(select(Message).where(
        Message.channel_id == telegram.channel_id, Message.provider_message_id == "callback:77"))
    assert (tap.content_kind, tap.body, tap.conversation_id) == (
        "interactive", "Temsilci", inbound.conversation_id)
    assert telegram.simulator.state.answered == [{"callback_query_id": "77"}]


# ---- settings: Connect registers the webhook; the form adds a bot ------------------------------

async def test_connect_gives_telegram_our_webhook_url_and_its_secret(telegram):
    home = telegram.home
    telegram.simulator.webhook_url = None
    response = await home.ayla.client.post(f"/api/v1/channels/{telegram.channel_id}/connect")
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    assert telegram.simulator.webhook_url == (
        f"http://testserver/webhooks/telegram/{telegram.channel_id}")
    assert telegram.simulator.secret_token == SECRET
    # Agents may not; and a Meta channel is connected in Meta's console, not from here.
    refused = await home.bora.client.post(f"/api/v1/channels/{telegram.channel_id}/connect")
    assert refused.status_code == 403


async def test_the_settings_form_adds_a_bot_with_a_generated_secret(world):
    home = world.home
    page = await home.ayla.client.post(
        "/settings/channels", headers={"HX-Request": "true"},
        data={"kind": "telegram", "name": "Telegram · @gulus_bot", "bot_token": TOKEN})
    assert page.status_code == 200, page.text
    assert 'id="webhook-connect"' in page.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await session.scalar(select(Channel).where(Channel.kind == "telegram"))
    credentials = channels.credentials_of(channel)
    assert credentials["bot_token"] == TOKEN
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", credentials["webhook_token"])
    assert TOKEN not in (await home.ayla.client.get("/settings/channels")).text

"""Messenger and Instagram Direct: the adapters against the provider simulator (webhook parsing
from the reference payloads, exact send bodies, error mapping, media, explanations), then end to
end below the browser: the simulator posts signed webhooks to our intake, the ingest job makes
contacts, conversations and messages, replies go out through the adapter and receipts come
back."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import (
    ChannelAccount,
    InboundEvent,
    MediaRef,
    OutboundMessage,
    PermanentFailure,
    ReceiptWatermark,
    Sent,
    StatusEvent,
    TemporaryFailure,
)
from invekto.channels.adapters.meta_messaging import (
    InstagramAdapter,
    MessengerAdapter,
    explain,
)
from invekto.channels.adapters.whatsapp import MediaUnavailable, verify_signature
from invekto.channels.models import Channel, WebhookEvent
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.meta_messaging import MetaMessagingSimulator, create_simulator
from invekto.contacts.models import Contact, ContactIdentity
from invekto.inbox import service as inbox
from invekto.inbox.models import Attachment, Conversation, Message, StatusBacklog
from invekto.inbox.tasks import ProviderUnavailable
from tests.channels.harness import ChannelWorld

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
PAGE_ID = "104857600123456"
PSID = "7712345678901234"
IG_ID = "17841400000000001"
IGSID = "1128000000000042"
TOKEN = "EAAG-page-token"
SECRET = "test_app_secret_123"
SIM = "http://graph.simulator"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 40
ADAPTERS = {"messenger": MessengerAdapter, "instagram": InstagramAdapter}
ACCOUNT_IDS = {"messenger": PAGE_ID, "instagram": IG_ID}
CUSTOMERS = {"messenger": PSID, "instagram": IGSID}


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def at(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds // 1000, UTC) + timedelta(
        milliseconds=milliseconds % 1000)


def account(kind: str = "messenger", external_id: str | None = "", **settings) -> ChannelAccount:
    return ChannelAccount(kind=kind,
                          external_id=ACCOUNT_IDS[kind] if external_id == "" else external_id,
                          settings={"api_base_url": SIM, **settings},
                          credentials={"access_token": TOKEN, "app_secret": SECRET})


def outbound(content_kind: str = "text", body: str = "", *, payload=None,
             attachment_url: str | None = None, handle: str = PSID) -> OutboundMessage:
    return OutboundMessage(message_id=uuid.uuid4(), recipient_handle=handle,
                           recipient_phone=None, content_kind=content_kind, body=body,
                           payload=payload or {}, attachment_url=attachment_url)


def only(events):
    assert len(events) == 1
    return events[0]


def messaging(name: str) -> dict:
    return fixture(name)["entry"][0]["messaging"][0]


def with_event(event: dict, kind: str = "messenger") -> dict:
    """A webhook of ``kind`` carrying one messaging ``event`` (from the customer)."""
    sender, recipient = CUSTOMERS[kind], ACCOUNT_IDS[kind]
    return {"object": "page" if kind == "messenger" else "instagram", "entry": [{
        "id": recipient, "time": 1767261600623, "messaging": [{
            "sender": {"id": sender}, "recipient": {"id": recipient},
            "timestamp": 1767261600123, **event}]}]}


@pytest.fixture(params=["messenger", "instagram"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def simulator(kind) -> MetaMessagingSimulator:
    return create_simulator(SECRET, product=kind, access_token=TOKEN)


@pytest.fixture
async def adapter(kind, simulator):
    made = ADAPTERS[kind](transport=httpx.ASGITransport(app=simulator))
    yield made
    await made.aclose()


# ---- parsing webhooks: every reference sample ---------------------------------------------------

M_TEXT = "m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789example1"
REFERRAL = messaging("messenger.inbound_referral_ad.json")["referral"]
SAMPLES: dict[str, list | str] = {
    "messenger.inbound_text.json": [InboundEvent(
        account_id=PAGE_ID, provider_message_id=M_TEXT, handle=PSID,
        sent_at=at(1767261600123), content_kind="text", body="Merhaba, kargom nerede?")],
    "messenger.inbound_image.json": [InboundEvent(
        account_id=PAGE_ID, provider_message_id="m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789example3",
        handle=PSID, sent_at=at(1767261720123), content_kind="image",
        media=MediaRef(url="https://scontent.xx.fbcdn.net/v/t1.15752-9/example.jpg"
                           "?_nc_cat=1&oh=abc&oe=6800FFFF"))],
    "messenger.inbound_quick_reply.json": [InboundEvent(
        account_id=PAGE_ID, provider_message_id="m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789example2",
        handle=PSID, sent_at=at(1767261660123), content_kind="interactive",
        body="Sipariş durumu",
        payload={"type": "quick_reply", "id": "ORDER_STATUS", "title": "Sipariş durumu"})],
    "messenger.inbound_postback.json": [InboundEvent(
        account_id=PAGE_ID, provider_message_id="m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789example4",
        handle=PSID, sent_at=at(1767261780123), content_kind="interactive",
        body="Temsilciye bağlan",
        payload={"type": "postback", "id": "TALK_TO_AGENT", "title": "Temsilciye bağlan"})],
    "messenger.inbound_referral_ad.json": [InboundEvent(
        account_id=PAGE_ID, provider_message_id=f"referral:{PSID}:1767261900123", handle=PSID,
        sent_at=at(1767261900123), content_kind="interactive",
        payload={"type": "referral", "source": "ADS", "ref": "winter_campaign",
                 "ad_id": "120210000000000002", "ad_title": "Kış indirimi"},
        referral=REFERRAL)],
    "messenger.inbound_delivery.json": [StatusEvent(
        account_id=PAGE_ID, provider_message_id="m_OutboundExampleMid00000000000000000000000001",
        status="delivered", at=at(1767261800123))],
    # Messenger's read receipt names a moment: what was sent until then has been read.
    "messenger.inbound_read.json": [ReceiptWatermark(
        account_id=PAGE_ID, handle=PSID, status="read", at=at(1767261830123))],
    # The page's own message (from another tool, or ours coming back): the customer is its
    # recipient.
    "messenger.inbound_echo.json": [InboundEvent(
        account_id=PAGE_ID, handle=PSID,
        provider_message_id="m_OutboundExampleMid00000000000000000000000002",
        sent_at=at(1767261860123), content_kind="text", body="Siparişiniz yola çıktı.",
        echo=True)],
    "instagram.inbound_text.json": [InboundEvent(
        account_id=IG_ID, handle=IGSID,
        provider_message_id=messaging("instagram.inbound_text.json")["message"]["mid"],
        sent_at=at(1767261600123), content_kind="text", body="Bu ürünün bedeni var mı?")],
    "instagram.inbound_image.json": [InboundEvent(
        account_id=IG_ID, handle=IGSID,
        provider_message_id=messaging("instagram.inbound_image.json")["message"]["mid"],
        sent_at=at(1767261660123), content_kind="image",
        media=MediaRef(url="https://lookaside.fbsbx.com/ig_messaging_cdn/"
                           "?asset_id=1234567890&signature=ExampleSig"))],
    "instagram.inbound_echo.json": [InboundEvent(
        account_id=IG_ID, handle=IGSID,
        provider_message_id=messaging("instagram.inbound_echo.json")["message"]["mid"],
        sent_at=at(1767261690123), content_kind="text", body="Evet, M ve L bedenleri mevcut.",
        echo=True)],
}


def test_every_inbound_reference_sample_is_covered():
    on_disk = {path.name for pattern in ("messenger.inbound_*.json", "instagram.inbound_*.json")
               for path in FIXTURES.glob(pattern)}
    assert on_disk == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_inbound_sample_parses_to_its_events(name):
    adapter = ADAPTERS[name.split(".")[0]]()
    expected = SAMPLES[name]
    events = adapter.parse_webhook(fixture(name))
    assert events == ([] if isinstance(expected, str) else expected)
    for event in events:
        assert (event.sent_at if isinstance(event, InboundEvent) else event.at).tzinfo is UTC
        if isinstance(event, InboundEvent):
            assert event.phone is None and event.contact_name is None


def test_a_sample_of_the_other_product_is_refused():
    with pytest.raises(ValueError, match="not the Messenger webhook envelope"):
        MessengerAdapter().parse_webhook(fixture("instagram.inbound_text.json"))
    with pytest.raises(ValueError, match="not the Instagram webhook envelope"):
        InstagramAdapter().parse_webhook(fixture("messenger.inbound_text.json"))


@pytest.mark.parametrize("payload", [
    {"object": "whatsapp_business_account", "entry": []},
    {"entry": []},
    {"object": "page"},
    {"object": "page", "entry": ["x"]},
    [],
])
def test_a_payload_that_is_not_the_envelope_is_refused(payload):
    with pytest.raises(ValueError):
        MessengerAdapter().parse_webhook(payload)


@pytest.mark.parametrize("event", [
    {"sender": {}, "message": {"mid": "m_1", "text": "x"}},
    {"message": {"text": "no mid"}},
    {"timestamp": "soon", "message": {"mid": "m_1", "text": "x"}},
])
def test_a_customer_event_without_sender_mid_or_time_is_refused(event):
    payload = with_event({})
    payload["entry"][0]["messaging"][0].update(event)
    with pytest.raises(ValueError):
        MessengerAdapter().parse_webhook(payload)


def test_replies_carry_the_message_replied_to_and_story_replies_the_story():
    event = only(MessengerAdapter().parse_webhook(with_event({"message": {
        "mid": "m_2", "text": "Bu mu?", "reply_to": {"mid": "m_OURS"}}})))
    assert (event.content_kind, event.payload) == ("text", {"context": {"message_id": "m_OURS"}})
    story = {"url": "https://lookaside.fbsbx.com/story.jpg", "id": "1800"}
    event = only(InstagramAdapter().parse_webhook(with_event({"message": {
        "mid": "ig_2", "text": "😍", "reply_to": {"story": story}}}, "instagram")))
    assert event.payload == {"context": {"story": story}}


def test_a_referral_inside_a_message_or_a_postback_is_kept():
    event = only(MessengerAdapter().parse_webhook(with_event({"message": {
        "mid": "m_3", "text": "Reklamdan geldim", "referral": REFERRAL}})))
    assert (event.content_kind, event.body, event.referral) == ("text", "Reklamdan geldim",
                                                                REFERRAL)
    event = only(MessengerAdapter().parse_webhook(with_event({"postback": {
        "title": "Başla", "payload": "GET_STARTED", "referral": REFERRAL}})))
    assert (event.provider_message_id, event.referral) == (f"postback:{PSID}:1767261600123",
                                                           REFERRAL)


@pytest.mark.parametrize(("reaction", "body", "payload"), [
    ({"mid": "m_OURS", "action": "react", "reaction": "love", "emoji": "❤️"}, "❤️",
     {"message_id": "m_OURS", "emoji": "❤️", "action": "react", "reaction": "love"}),
    ({"mid": "m_OURS", "action": "unreact"}, "",
     {"message_id": "m_OURS", "emoji": "", "action": "unreact"}),
])
def test_reactions_are_reaction_messages_on_their_target(kind, reaction, body, payload):
    event = only(ADAPTERS[kind]().parse_webhook(with_event({"reaction": reaction}, kind)))
    assert (event.content_kind, event.body, event.payload) == ("reaction", body, payload)
    assert event.provider_message_id == f"reaction:m_OURS:{CUSTOMERS[kind]}:1767261600123"


def test_several_files_in_one_message_are_one_event_each():
    urls = [f"https://scontent.xx.fbcdn.net/v/t1/{n}.jpg?oe=1" for n in range(3)]
    events = MessengerAdapter().parse_webhook(with_event({"message": {
        "mid": "m_4", "attachments": [{"type": "image", "payload": {"url": u}} for u in urls]}}))
    assert [(e.provider_message_id, e.content_kind, e.media.url) for e in events] == [
        ("m_4", "image", urls[0]), ("m_4#2", "image", urls[1]), ("m_4#3", "image", urls[2])]


@pytest.mark.parametrize(("attachment", "kind", "media", "payload"), [
    ({"type": "file", "payload": {"url": "https://cdn.fbsbx.com/v/t59/1_n.pdf/fatura%20no%201.pdf"
                                          "?oe=1"}},
     "document", MediaRef(url="https://cdn.fbsbx.com/v/t59/1_n.pdf/fatura%20no%201.pdf?oe=1",
                          filename="fatura no 1.pdf"), {}),
    ({"type": "audio", "payload": {"url": "https://cdn.fbsbx.com/a.mp4"}},
     "audio", MediaRef(url="https://cdn.fbsbx.com/a.mp4"), {}),
    ({"type": "video", "payload": {"url": "https://video.xx.fbcdn.net/v.mp4"}},
     "video", MediaRef(url="https://video.xx.fbcdn.net/v.mp4"), {}),
    ({"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/s.png",
                                   "sticker_id": 369239263222822}},
     "sticker", MediaRef(url="https://scontent.xx.fbcdn.net/s.png"),
     {"sticker_id": 369239263222822}),
    ({"type": "share", "payload": {"url": "https://www.instagram.com/p/abc/"}},
     "unsupported", None, {"type": "share", "raw": {
         "type": "share", "payload": {"url": "https://www.instagram.com/p/abc/"}}}),
])
def test_other_attachments(attachment, kind, media, payload):
    event = only(MessengerAdapter().parse_webhook(with_event({"message": {
        "mid": "m_5", "attachments": [attachment]}})))
    assert (event.content_kind, event.media, event.payload) == (kind, media, payload)


def test_instagram_seen_with_a_message_id_is_a_read_status():
    event = only(InstagramAdapter().parse_webhook(with_event({"read": {"mid": "ig_OURS"}},
                                                             "instagram")))
    assert event == StatusEvent(account_id=IG_ID, provider_message_id="ig_OURS", status="read",
                                at=at(1767261600123))


def test_a_delivery_receipt_without_message_ids_is_a_watermark():
    event = only(MessengerAdapter().parse_webhook(with_event(
        {"delivery": {"watermark": 1767261800123}})))
    assert event == ReceiptWatermark(account_id=PAGE_ID, handle=PSID, status="delivered",
                                     at=at(1767261800123))


def test_what_is_not_turned_into_events():
    for event in ({"message": {"mid": "ig_6", "is_deleted": True}},
                  {"optin": {"ref": "x"}},
                  {"pass_thread_control": {"new_owner_app_id": "1"}}):
        assert InstagramAdapter().parse_webhook(with_event(event, "instagram")) == []
    payload = with_event({"message": {"mid": "m_7", "text": "x"}})
    payload["entry"][0]["standby"] = payload["entry"][0].pop("messaging")
    assert MessengerAdapter().parse_webhook(payload) == []
    comments = {"object": "instagram", "entry": [{"id": IG_ID, "time": 1, "changes": [
        {"field": "comments", "value": {"text": "Fiyat?"}}]}]}
    assert InstagramAdapter().parse_webhook(comments) == []


def test_unsupported_instagram_messages_are_kept_as_unsupported():
    event = only(InstagramAdapter().parse_webhook(with_event({"message": {
        "mid": "ig_8", "is_unsupported": True}}, "instagram")))
    assert (event.content_kind, event.payload) == ("unsupported", {"type": "unsupported"})


def test_a_batch_yields_every_event():
    entries = []
    for name in ("messenger.inbound_text.json", "messenger.inbound_image.json",
                 "messenger.inbound_echo.json", "messenger.inbound_delivery.json"):
        entries.extend(copy.deepcopy(fixture(name)["entry"]))
    entries[0]["messaging"].append(messaging("messenger.inbound_postback.json"))
    events = MessengerAdapter().parse_webhook({"object": "page", "entry": entries})
    assert [type(e).__name__ for e in events] == ["InboundEvent"] * 4 + ["StatusEvent"]
    assert [(e.content_kind, e.echo) for e in events[:4]] == [
        ("text", False), ("interactive", False), ("image", False), ("text", True)]


def test_the_adapters_are_registered_by_kind():
    assert isinstance(adapter_for("messenger"), MessengerAdapter)
    assert isinstance(adapter_for("instagram"), InstagramAdapter)


# ---- sending -----------------------------------------------------------------------------------

def _from(name: str) -> dict:
    return fixture(f"{name}.request.json")["message"]


SENDS = {
    "messenger.send_text": outbound("text", _from("messenger.send_text")["text"],
                                    payload={"metadata": "crm-msg-9b1c"}),
    "messenger.send_image": outbound(
        "image", attachment_url="https://files.example.com/labels/TR-100245.png",
        payload={"is_reusable": True}),
    "messenger.send_quick_replies": outbound(
        "text", "Konu nedir?",
        payload={"quick_replies": _from("messenger.send_quick_replies")["quick_replies"]}),
    "messenger.send_button_template": outbound(
        "interactive", "Ödemenizi tamamlamak ister misiniz?", payload={
            "buttons": _from("messenger.send_button_template")["attachment"]["payload"][
                "buttons"]}),
    "messenger.send_human_agent_tag": outbound(
        "text", "Geç dönüş için özür dileriz, talebiniz çözüldü.", payload={"human_agent": True}),
    "instagram.send_text": outbound("text", "Evet, M ve L bedenleri mevcut.", handle=IGSID),
    "instagram.send_human_agent": outbound("text", "Siparişiniz için tekrar yazıyoruz.",
                                           handle=IGSID, payload={"human_agent": True}),
}
PATHS = {"messenger": f"/v25.0/{PAGE_ID}/messages", "instagram": "/v25.0/me/messages"}


def test_every_send_sample_is_covered():
    on_disk = {path.name.removesuffix(".request.json") for pattern in (
        "messenger.send_*.request.json", "instagram.send_*.request.json")
        for path in FIXTURES.glob(pattern)}
    assert on_disk == set(SENDS)


@pytest.mark.parametrize("name", sorted(SENDS))
async def test_each_documented_send_goes_out_exactly_as_documented(name):
    kind = name.split(".")[0]
    simulator = create_simulator(SECRET, product=kind, access_token=TOKEN)
    adapter = ADAPTERS[kind](transport=httpx.ASGITransport(app=simulator))
    result = await adapter.send(account(kind), SENDS[name])
    await adapter.aclose()
    sent = only(simulator.state.sent)
    assert result == Sent(sent.mid)
    assert sent.body == fixture(f"{name}.request.json")
    assert sent.path == PATHS[kind]
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert only(simulator.state.requests).host == "graph.simulator"


async def test_the_send_answer_is_metas_documented_response():
    answer = fixture("messenger.send.response.json")
    simulator = create_simulator(SECRET)
    adapter = MessengerAdapter(transport=httpx.ASGITransport(app=simulator))
    # Meta answers {"recipient_id", "message_id"}; the message id is what receipts name.
    simulator.fail_next(status=200, body=answer)
    assert await adapter.send(account(), outbound("text", "x")) == Sent(answer["message_id"])
    simulator.fail_next(status=200, body={"recipient_id": PSID})
    result = await adapter.send(account(), outbound("text", "x"))
    assert isinstance(result, PermanentFailure) and result.code == "delivery_unknown"
    await adapter.aclose()


async def test_messenger_without_a_page_id_sends_as_the_tokens_page():
    simulator = create_simulator(SECRET, access_token=TOKEN)
    adapter = MessengerAdapter(transport=httpx.ASGITransport(app=simulator))
    assert isinstance(await adapter.send(account(external_id=None), outbound("text", "x")), Sent)
    assert only(simulator.state.sent).path == "/v25.0/me/messages"
    await adapter.aclose()


async def test_instagram_login_sends_to_graph_instagram_com_with_the_account_id():
    simulator = create_simulator(SECRET, product="instagram", access_token=TOKEN)
    adapter = InstagramAdapter(transport=httpx.ASGITransport(app=simulator))
    ig_login = account("instagram", api_base_url="https://graph.instagram.com")
    assert isinstance(await adapter.send(ig_login, outbound("text", "x", handle=IGSID)), Sent)
    request = only(simulator.state.requests)
    assert (request.host, request.path) == ("graph.instagram.com", f"/v25.0/{IG_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    await adapter.aclose()


@pytest.mark.parametrize(("kind", "fits", "too_long"), [
    ("instagram", "ş" * 500, "ş" * 500 + "a"),  # 1,000 bytes; Turkish letters count twice
    ("instagram", "a" * 1000, "a" * 1001),
    ("messenger", "ş" * 2000, "ş" * 2001),  # characters
])
async def test_text_over_the_limit_is_refused_before_calling_meta(kind, fits, too_long,
                                                                 simulator, adapter):
    result = await adapter.send(account(kind), outbound("text", too_long))
    assert isinstance(result, PermanentFailure) and result.code == "text_too_long"
    assert result.message.startswith(explain("text_too_long", "en", kind))
    assert simulator.state.requests == []
    assert isinstance(await adapter.send(account(kind), outbound("text", fits)), Sent)


@pytest.mark.parametrize("message", [
    outbound("image", "altyazı", attachment_url="https://files.example.com/a.png"),
    outbound("image"),
    outbound("location", "x"),
    outbound("text", ""),
    outbound("text", "x", handle=""),
    outbound("text", "x", payload={"tag": "NOT_A_TAG"}),
    outbound("text", "x", payload={"quick_replies": [{"content_type": "text"}] * 14}),
    outbound("interactive", "x", payload={"buttons": [{"type": "postback"}] * 4}),
])
async def test_a_message_that_cannot_be_built_fails_without_calling_meta(kind, message,
                                                                        simulator, adapter):
    result = await adapter.send(account(kind), message)
    assert isinstance(result, PermanentFailure) and result.code == "invalid_message"
    assert simulator.state.requests == []


async def test_tags_other_than_human_agent_are_messenger_only():
    message = outbound("text", "Kargonuz yolda", payload={"tag": "POST_PURCHASE_UPDATE"})
    simulator = create_simulator(SECRET)
    adapter = MessengerAdapter(transport=httpx.ASGITransport(app=simulator))
    assert isinstance(await adapter.send(account(), message), Sent)
    assert only(simulator.state.sent).body["tag"] == "POST_PURCHASE_UPDATE"
    result = await InstagramAdapter().send(account("instagram"), message)
    assert isinstance(result, PermanentFailure) and result.code == "invalid_message"
    await adapter.aclose()


async def test_files_go_by_url_or_saved_attachment_id(simulator, adapter, kind):
    await adapter.send(account(kind), outbound(
        "document", attachment_url="https://files.example.com/f.pdf"))
    await adapter.send(account(kind), outbound("video", payload={"attachment_id": "1857777"}))
    assert [s.body["message"]["attachment"] for s in simulator.state.sent] == [
        {"type": "file", "payload": {"url": "https://files.example.com/f.pdf"}},
        {"type": "video", "payload": {"attachment_id": "1857777"}}]


async def test_missing_credentials_and_bad_settings_fail_clearly(simulator, adapter, kind):
    no_token = ChannelAccount(kind, ACCOUNT_IDS[kind], {"api_base_url": SIM}, {})
    assert await adapter.send(no_token, outbound("text", "x")) == PermanentFailure(
        "missing_credentials", explain("missing_credentials", "en", kind))
    assert await adapter.send(account(kind, api_base_url="graph.facebook.com"),
                              outbound("text", "x")) == PermanentFailure(
        "invalid_settings", explain("invalid_settings", "en", kind))
    assert simulator.state.requests == []


# ---- send errors -------------------------------------------------------------------------------

ERRORS = {
    "messenger.error_outside_window.json": ("messenger", 400, PermanentFailure(
        "outside_window", explain("outside_window", "en", "messenger"))),
    "instagram.error_outside_window.json": ("instagram", 400, PermanentFailure(
        "outside_window", explain("outside_window", "en", "instagram"))),
    "messenger.error_user_unavailable_551.json": ("messenger", 400, PermanentFailure(
        "551", explain("551", "en", "messenger"))),
    "messenger.error_rate_limit_613.json": ("messenger", 400, TemporaryFailure(
        "613: (#613) Calls to this api have exceeded the rate limit.")),
}


def test_every_error_sample_is_covered():
    on_disk = {path.name for pattern in ("messenger.error_*.json", "instagram.error_*.json")
               for path in FIXTURES.glob(pattern)}
    assert on_disk == set(ERRORS)


@pytest.mark.parametrize("name", sorted(ERRORS))
async def test_each_error_sample_maps_to_its_outcome(name):
    kind, status, expected = ERRORS[name]
    simulator = create_simulator(SECRET, product=kind)
    adapter = ADAPTERS[kind](transport=httpx.ASGITransport(app=simulator))
    simulator.fail_next(status=status, body=fixture(name))
    assert await adapter.send(account(kind), outbound("text", "x")) == expected
    await adapter.aclose()


async def test_the_rate_limit_keeps_the_retry_after(simulator, adapter, kind):
    simulator.fail_next(status=400, code=613, retry_after=7)
    result = await adapter.send(account(kind), outbound("text", "x"))
    assert isinstance(result, TemporaryFailure) and result.retry_after_seconds == 7
    assert isinstance(await adapter.send(account(kind), outbound("text", "x")), Sent)


@pytest.mark.parametrize("code", [1, 2, 4, 17, 32, 613])
async def test_throttling_and_temporary_codes_are_temporary(simulator, adapter, kind, code):
    simulator.fail_next(status=400, code=code)
    assert isinstance(await adapter.send(account(kind), outbound("text", "x")), TemporaryFailure)


@pytest.mark.parametrize(("code", "subcode", "status", "ours"), [
    (10, None, 400, "outside_window"),  # the simulator's default: this product's window subcode
    (10, 2018065, 400, "10"),
    (100, 2018001, 400, "2018001"),
    (100, None, 400, "100"),
    (190, None, 401, "190"),
    (200, 1545041, 403, "200"),
    (10, 2018108, 400, "2018108"),
])
async def test_refusals_are_permanent_with_our_code_and_an_explanation(
        simulator, adapter, kind, code, subcode, status, ours):
    simulator.fail_next(status=status, code=code, subcode=subcode)
    assert await adapter.send(account(kind), outbound("text", "x")) == PermanentFailure(
        ours, explain(ours, "en", kind))


async def test_an_unknown_code_keeps_metas_words(simulator, adapter, kind):
    simulator.fail_next(status=400, code=1893, message="(#1893) Something specific")
    assert await adapter.send(account(kind), outbound("text", "x")) == PermanentFailure(
        "1893", "(#1893) Something specific")


async def test_server_errors_and_429_are_temporary(simulator, adapter, kind):
    simulator.fail_next(status=500, body={"error": {"message": "oops", "code": 1200}})
    assert isinstance(await adapter.send(account(kind), outbound("text", "x")), TemporaryFailure)
    simulator.fail_next(status=503, body={})
    assert await adapter.send(account(kind), outbound("text", "x")) == TemporaryFailure(
        "HTTP 503")
    simulator.fail_next(status=429, body={}, retry_after=3)
    assert await adapter.send(account(kind), outbound("text", "x")) == TemporaryFailure(
        "HTTP 429", 3)
    simulator.fail_next(status=404, body={})
    result = await adapter.send(account(kind), outbound("text", "x"))
    assert isinstance(result, PermanentFailure) and result.code == "http_404"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_connection_error_is_temporary(kind):
    adapter = ADAPTERS[kind]()
    result = await adapter.send(account(kind, api_base_url=f"http://127.0.0.1:{_closed_port()}"),
                                outbound("text", "x"))
    await adapter.aclose()
    assert isinstance(result, TemporaryFailure) and "ConnectError" in result.reason


async def test_a_lost_answer_is_not_retried_because_the_message_may_be_out():
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(2)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = MessengerAdapter(timeout=0.3)
    try:
        result = await adapter.send(account(api_base_url=f"http://127.0.0.1:{port}"),
                                    outbound("text", "x"))
    finally:
        await adapter.aclose()
        server.close()
        await server.wait_closed()
    assert isinstance(result, PermanentFailure) and result.code == "delivery_unknown"


# ---- media -------------------------------------------------------------------------------------

async def test_fetch_media_from_the_cdn_without_the_token(simulator, adapter, kind):
    url = simulator.add_media(PNG, "image/png")
    assert not url.startswith(SIM)
    got = await adapter.fetch_media(account(kind), MediaRef(url=url))
    assert (got.data, got.mime_type, got.filename) == (PNG, "image/png", None)
    download = only(simulator.state.requests)
    assert "authorization" not in download.headers
    assert download.host in ("scontent.xx.fbcdn.net", "lookaside.fbsbx.com")


async def test_fetch_media_on_the_api_host_sends_the_token(kind):
    simulator = create_simulator(SECRET, product=kind, media_base_url=SIM)
    adapter = ADAPTERS[kind](transport=httpx.ASGITransport(app=simulator))
    url = simulator.add_media(b"%PDF-1.7", "application/pdf", filename="fatura.pdf")
    got = await adapter.fetch_media(account(kind), MediaRef(url=url, filename="fatura.pdf"))
    assert (got.data, got.mime_type, got.filename) == (b"%PDF-1.7", "application/pdf",
                                                       "fatura.pdf")
    assert only(simulator.state.requests).headers["authorization"] == f"Bearer {TOKEN}"
    await adapter.aclose()


async def test_media_that_is_gone_or_unreachable_raises_media_unavailable(simulator, adapter,
                                                                          kind):
    url = simulator.add_media(PNG, "image/png")
    simulator.state.media.clear()  # the CDN signature expired
    with pytest.raises(MediaUnavailable) as gone:
        await adapter.fetch_media(account(kind), MediaRef(url=url))
    assert (gone.value.status_code, gone.value.temporary) == (403, False)
    for ref in (MediaRef(media_id="123"), MediaRef(url="file:///etc/passwd")):
        with pytest.raises(MediaUnavailable):
            await adapter.fetch_media(account(kind), ref)
    unreachable = ADAPTERS[kind]()
    with pytest.raises(MediaUnavailable) as down:
        await unreachable.fetch_media(account(kind), MediaRef(
            url=f"http://127.0.0.1:{_closed_port()}/x.jpg"))
    assert down.value.temporary is True
    await unreachable.aclose()


# ---- the simulator -----------------------------------------------------------------------------

async def test_simulated_webhooks_are_signed_and_parse_back(kind):
    received: list[tuple[bool, list]] = []

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        received.append((verify_signature(SECRET, body,
                                          request.headers.get("x-hub-signature-256")),
                         ADAPTERS[kind]().parse_webhook(json.loads(body))))
        return JSONResponse({})

    receiver = Starlette(routes=[Route("/hook", webhook, methods=["POST"])])
    simulator = create_simulator(SECRET, "http://crm.test/hook", product=kind,
                                 webhook_transport=httpx.ASGITransport(app=receiver))
    adapter = ADAPTERS[kind](transport=httpx.ASGITransport(app=simulator))
    sent = await adapter.send(account(kind), outbound("text", "Merhaba",
                                                      handle=CUSTOMERS[kind]))
    mid = sent.provider_message_id
    receipt = (simulator.delivery([mid]) if kind == "messenger"
               else simulator.read(mid=mid))
    for body, headers in (
            simulator.customer_message("Selam 👋", reply_to=mid),
            simulator.customer_message(media_kind="image", data=b"jpeg"),
            simulator.customer_message("İade", quick_reply="RETURN"),
            simulator.postback("Temsilci", "TALK_TO_AGENT", referral=REFERRAL),
            simulator.webhook({"sender": {"id": CUSTOMERS[kind]},
                               "recipient": {"id": ACCOUNT_IDS[kind]}, "timestamp": 1,
                               "reaction": {"mid": mid, "action": "react", "emoji": "👍"}}),
            receipt):
        assert (await simulator.deliver(body, headers)).status_code == 200

    assert [ok for ok, _ in received] == [True] * 6
    text, image, quick, postback, reaction, status = (only(events) for _, events in received)
    assert (text.handle, text.body, text.payload) == (
        CUSTOMERS[kind], "Selam 👋", {"context": {"message_id": mid}})
    assert (quick.content_kind, quick.payload["id"]) == ("interactive", "RETURN")
    assert (postback.body, postback.referral) == ("Temsilci", REFERRAL)
    assert (reaction.content_kind, reaction.body) == ("reaction", "👍")
    assert (status.provider_message_id, status.status) == (
        mid, "delivered" if kind == "messenger" else "read")
    media = await adapter.fetch_media(account(kind), image.media)
    assert (image.content_kind, media.data, media.mime_type) == ("image", b"jpeg", "image/jpeg")
    await adapter.aclose()


async def test_the_simulator_checks_the_token_the_account_and_the_body():
    simulator = create_simulator(SECRET, access_token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        url = f"/v25.0/{PAGE_ID}/messages"
        good = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                "message": {"text": "x"}}
        no_token = await http.post(url, json=good)
        assert (no_token.status_code, no_token.json()["error"]["code"]) == (401, 190)
        by_query = await http.post(url, params={"access_token": TOKEN}, json=good)
        assert by_query.json()["message_id"].startswith("m_")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        other_page = await http.post("/v25.0/999/messages", headers=auth, json=good)
        assert other_page.json()["error"]["error_subcode"] == 33
        for bad in ({**good, "messaging_type": None}, {**good, "message": {}},
                    {**good, "messaging_type": "MESSAGE_TAG"},
                    {**good, "message": {"text": "x" * 2001}}):
            answer = await http.post(url, headers=auth, json=bad)
            assert (answer.status_code, answer.json()["error"]["code"]) == (400, 100)
    assert len(simulator.state.sent) == 1
    with pytest.raises(ValueError):
        create_simulator(SECRET, product="instagram").delivery(["x"])


# ---- explanations ------------------------------------------------------------------------------

def test_explanations_in_turkish_and_english_name_the_product():
    for code in ("outside_window", "551", "2018001", "613", "100", "190", "200",
                 "text_too_long", "delivery_unknown", "missing_credentials"):
        english, turkish = explain(code, "en"), explain(code, "tr")
        assert english and turkish and english != turkish
        assert english != explain("no-such-code", "en")
        assert "{" not in english + turkish
    assert "24" in explain("outside_window", "tr") and "7 gün" in explain("outside_window", "tr")
    assert "Instagram" in explain("text_too_long", "tr", "instagram")
    assert "Messenger" in explain("613", "en", "messenger")
    assert explain("613", "tr-TR") == explain("613", "tr")
    assert explain("999999", "tr", "instagram") == "Instagram mesajı iletemedi."
    assert explain("999999", "en") == "Messenger could not deliver the message."
    assert explain("551", "de") == explain("551", "en")


# ---- end to end: the intake, the ingest job, the outbound job -----------------------------------

class MetaWorld(ChannelWorld):
    """Messenger or Instagram: ``kind`` says which."""


@pytest.fixture
async def meta(world, app, kind):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind=kind, name=kind.title(), external_id=ACCOUNT_IDS[kind],
            settings={"api_base_url": SIM},
            credentials={"app_secret": SECRET, "access_token": TOKEN}))
    simulator = create_simulator(
        SECRET, webhook_url=f"http://testserver/webhooks/{kind}/{channel.id}", product=kind,
        webhook_transport=httpx.ASGITransport(app=app), access_token=TOKEN)
    # The adapter the worker uses, speaking to the simulator instead of graph.facebook.com.
    original = adapters.adapter_for(kind)
    adapters.register(ADAPTERS[kind](transport=httpx.ASGITransport(app=simulator)))
    yield MetaWorld(home, channel.id, simulator, kind)
    adapters.register(original)


async def test_a_customer_message_becomes_contact_conversation_and_message(meta):
    body, headers = meta.simulator.customer_message("Merhaba, kargom nerede?")
    assert (await meta.deliver(body, headers)).status_code == 200
    message = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    assert (message.direction, message.content_kind, message.body) == (
        "inbound", "text", "Merhaba, kargom nerede?")
    contact = await meta.scalar(select(Contact).where(Contact.id == message.contact_id))
    assert (contact.name, contact.phone) == ("", None)  # Meta does not tell us either
    identity = await meta.scalar(select(ContactIdentity).where(
        ContactIdentity.contact_id == contact.id))
    assert (identity.channel_id, identity.handle) == (meta.channel_id, CUSTOMERS[meta.kind])
    conversation = await meta.scalar(select(Conversation).where(
        Conversation.id == message.conversation_id))
    assert (conversation.status, conversation.channel_id, conversation.unread_count) == (
        "open", meta.channel_id, 1)


async def test_the_same_delivery_five_times_makes_one_message(meta):
    body, headers = meta.simulator.customer_message("Bir kez yazdım")
    for _ in range(5):
        assert (await meta.deliver(body, headers)).status_code == 200
    # A job that runs again over a delivery it had finished (as if it had crashed before
    # recording so) adds nothing either: messages are unique per provider id.
    async with meta.home.rt.db.tenant_session(meta.home.tenant_id) as session:
        await session.execute(update(WebhookEvent).where(
            WebhookEvent.channel_id == meta.channel_id).values(processed_at=None))
    await meta.ingest_all()
    assert await meta.scalar(select(func.count()).select_from(Message).where(
        Message.channel_id == meta.channel_id)) == 1


async def test_a_photo_is_downloaded_from_the_cdn_and_stored(meta):
    body, headers = meta.simulator.customer_message(media_kind="image", data=PNG,
                                                    mime_type="image/png")
    await meta.deliver(body, headers)
    message = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    assert message.content_kind == "image"
    attachment = await meta.scalar(select(Attachment).where(
        Attachment.id == message.attachment_id))
    assert attachment.content_type == "image/png"
    assert await meta.home.rt.storage.get(attachment.storage_key) == PNG
    download = meta.simulator.state.requests[-1]
    assert download.method == "GET" and "authorization" not in download.headers


async def test_an_ad_referral_is_kept_on_the_conversation(meta):
    await meta.deliver(*meta.simulator.customer_message("Reklamdan geldim", referral=REFERRAL))
    conversation = await meta.scalar(select(Conversation).where(
        Conversation.channel_id == meta.channel_id))
    assert conversation.referral == REFERRAL


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def test_every_reference_sample_ingests_through_the_intake(meta):
    names = sorted(name for name in SAMPLES if name.startswith(meta.kind))
    for name in names:
        body = (FIXTURES / name).read_bytes()
        assert (await meta.deliver(body, _signed(body))).status_code == 200
    messages = await meta.rows(select(Message).where(Message.channel_id == meta.channel_id)
                               .order_by(Message.created_at))
    expected = [event for name in names if not isinstance(SAMPLES[name], str)
                for event in SAMPLES[name] if isinstance(event, InboundEvent)]
    assert sorted((m.provider_message_id, m.content_kind) for m in messages) == sorted(
        (e.provider_message_id, e.content_kind) for e in expected)
    # The sample image's CDN URL is unknown to the simulator (expired): kept with the reason.
    image = next(m for m in messages if m.content_kind == "image")
    assert image.attachment_id is None and image.payload["media_error"]
    assert len({m.contact_id for m in messages}) == 1
    if meta.kind == "messenger":  # a receipt for a message we do not know (yet) waits
        assert await meta.scalar(select(func.count()).select_from(StatusBacklog).where(
            StatusBacklog.channel_id == meta.channel_id)) == 1


async def test_an_agents_photo_is_uploaded_then_sent_by_its_attachment_id(meta):
    await meta.deliver(*meta.simulator.customer_message("Ürünün fotoğrafı var mı?"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    reply_id = await meta.reply_with_file(inbound.conversation_id, PNG, content_type="image/png",
                                          kind="image", filename="urun.png")
    await meta.deliver_reply(reply_id)

    upload = next(r for r in meta.simulator.state.requests if r.method == "POST"
                  and r.path.endswith("/message_attachments"))
    assert upload.headers["authorization"] == f"Bearer {TOKEN}"
    sent = only(meta.simulator.state.sent)
    attachment = sent.body["message"]["attachment"]
    assert attachment["type"] == "image"
    assert set(attachment["payload"]) == {"attachment_id"}
    held = meta.simulator.state.media[attachment["payload"]["attachment_id"]]
    assert (held.data, held.mime_type) == (PNG, "image/png")
    assert await meta.scalar(select(Message.status).where(Message.id == reply_id)) == "sent"


async def _written_days_ago(meta, days: float):
    """The customer's message, as if it had come ``days`` ago."""
    await meta.deliver(*meta.simulator.customer_message("Siparişim hâlâ gelmedi"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    async with meta.home.rt.db.tenant_session(meta.home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == inbound.id).values(
            created_at=Message.created_at - timedelta(days=days)))
    return inbound


async def _allow_human_agent(meta) -> None:
    async with meta.home.rt.db.tenant_session(meta.home.tenant_id) as session:
        channel = await session.get_one(Channel, meta.channel_id)
        channel.settings = {**channel.settings, "human_agent": True}


async def test_a_person_answers_after_a_day_with_the_human_agent_tag(meta):
    inbound = await _written_days_ago(meta, 2)
    await _allow_human_agent(meta)
    text = "Geç dönüş için özür dileriz, talebiniz çözüldü."
    response = await meta.home.bora.client.post(
        f"/api/v1/conversations/{inbound.conversation_id}/messages", json={"body": text})
    assert response.status_code == 201, response.text
    await meta.deliver_reply(uuid.UUID(response.json()["id"]))
    sent = only(meta.simulator.state.sent)
    assert (sent.body["messaging_type"], sent.body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    if meta.kind == "messenger":
        documented = fixture("messenger.send_human_agent_tag.request.json")
        assert sent.body == {**documented, "recipient": sent.body["recipient"]}


async def test_without_the_permission_or_after_seven_days_the_reply_is_refused(meta):
    inbound = await _written_days_ago(meta, 2)
    path = f"/api/v1/conversations/{inbound.conversation_id}/messages"
    response = await meta.home.bora.client.post(path, json={"body": "Merhaba"})
    assert (response.status_code, response.json()["error"]["code"]) == (
        409, "outside_reply_window")
    await _allow_human_agent(meta)
    async with meta.home.rt.db.tenant_session(meta.home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == inbound.id).values(
            created_at=Message.created_at - timedelta(days=6)))  # 8 days ago now
    response = await meta.home.bora.client.post(path, json={"body": "Merhaba"})
    assert (response.status_code, response.json()["error"]["code"]) == (
        409, "outside_reply_window")
    assert meta.simulator.state.sent == []


async def test_a_reply_goes_out_as_documented_and_its_receipt_marks_it(meta):
    await meta.deliver(*meta.simulator.customer_message("Kargom ne zaman gelir?"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    documented = fixture(f"{meta.kind}.send_text.request.json")
    documented["message"].pop("metadata", None)  # the composer sends no metadata (yet)
    reply_id = await meta.reply(inbound.conversation_id, documented["message"]["text"])
    await meta.deliver_reply(reply_id)
    sent = only(meta.simulator.state.sent)
    assert sent.body == documented
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    stored = await meta.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.provider_message_id) == ("sent", sent.mid)

    if meta.kind == "messenger":
        await meta.deliver(*meta.simulator.delivery([sent.mid]))
        assert await meta.scalar(select(Message.status).where(Message.id == reply_id)
                                 ) == "delivered"
        await meta.deliver(*meta.simulator.read())  # read up to now: this reply included
        expected = "read"
    else:  # Instagram has no delivery receipts; "seen" names the message
        await meta.deliver(*meta.simulator.read(mid=sent.mid))
        expected = "read"
    assert await meta.scalar(select(Message.status).where(Message.id == reply_id)) == expected


async def test_a_message_sent_from_another_tool_joins_the_thread_as_answered(meta):
    await meta.deliver(*meta.simulator.customer_message("Kargom nerede?"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    # Someone answered from Meta Business Suite: Meta echoes it to us.
    await meta.deliver(*meta.simulator.echo("Yarın teslim edilecek."))
    echo = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id,
                                                   Message.direction == "outbound"))
    assert (echo.body, echo.status, echo.sender_kind, echo.sender_user_id) == (
        "Yarın teslim edilecek.", "sent", "agent", None)
    assert echo.payload["echo"] is True
    assert echo.conversation_id == inbound.conversation_id
    conversation = await meta.scalar(select(Conversation).where(
        Conversation.id == inbound.conversation_id))
    assert (conversation.waiting_since, conversation.unread_count,
            conversation.last_message_preview) == (None, 0, "Yarın teslim edilecek.")


async def test_the_echo_of_our_own_reply_is_not_a_second_message(meta):
    await meta.deliver(*meta.simulator.customer_message("Merhaba"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    reply_id = await meta.reply(inbound.conversation_id, "Buyurun")
    await meta.deliver_reply(reply_id)
    sent = only(meta.simulator.state.sent)
    await meta.deliver(*meta.simulator.echo("Buyurun", mid=sent.mid))
    outbound = await meta.rows(select(Message).where(Message.channel_id == meta.channel_id,
                                                     Message.direction == "outbound"))
    assert [m.id for m in outbound] == [reply_id]


async def test_an_echo_that_overtakes_our_send_gives_way_to_our_message(meta):
    await meta.deliver(*meta.simulator.customer_message("Merhaba"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    reply_id = await meta.reply(inbound.conversation_id, "Buyurun")
    mid = "m_echo_first_" + uuid.uuid4().hex
    await meta.deliver(*meta.simulator.echo("Buyurun", mid=mid))  # before our send's answer
    async with meta.home.rt.db.tenant_session(meta.home.tenant_id) as session:
        assert await inbox.deliver_outbound(session, meta.home.tenant_id, reply_id) == "send"
    async with meta.home.rt.db.tenant_session(meta.home.tenant_id) as session:
        await inbox.record_send_result(session, meta.home.tenant_id, reply_id, Sent(mid))
    outbound = await meta.rows(select(Message).where(Message.channel_id == meta.channel_id,
                                                     Message.direction == "outbound"))
    assert [(m.id, m.provider_message_id) for m in outbound] == [(reply_id, mid)]


@pytest.mark.parametrize("kind", ["messenger"])  # Instagram's seen receipts name the message
async def test_a_read_watermark_reads_what_was_sent_before_it_and_nothing_after(meta):
    await meta.deliver(*meta.simulator.customer_message("Merhaba"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    first = await meta.reply(inbound.conversation_id, "Bir")
    second = await meta.reply(inbound.conversation_id, "İki")
    for reply_id in (first, second):
        await meta.deliver_reply(reply_id)
    async with meta.home.rt.db.tenant_session(meta.home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == first).values(
            created_at=Message.created_at - timedelta(minutes=5)))
    cutoff = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp() * 1000)
    await meta.deliver(*meta.simulator.read(watermark=cutoff))
    assert await meta.scalar(select(Message.status).where(Message.id == first)) == "read"
    assert await meta.scalar(select(Message.status).where(Message.id == second)) == "sent"


async def test_outside_the_window_the_reply_fails_without_a_retry(meta):
    await meta.deliver(*meta.simulator.customer_message("Merhaba"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    reply_id = await meta.reply(inbound.conversation_id, "Geç kalan cevap")
    meta.simulator.fail_next(status=400, code=10)
    await meta.deliver_reply(reply_id)  # no raise: permanent
    stored = await meta.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.error_code) == ("failed", "outside_window")
    assert stored.error_message == explain("outside_window", "en", meta.kind)
    assert len(meta.simulator.state.sent) == 0


async def test_a_rate_limit_is_retried_and_the_message_sent_once(meta):
    await meta.deliver(*meta.simulator.customer_message("Merhaba"))
    inbound = await meta.scalar(select(Message).where(Message.channel_id == meta.channel_id))
    reply_id = await meta.reply(inbound.conversation_id, "Sırada")
    meta.simulator.fail_next(status=400, code=613)
    with pytest.raises(ProviderUnavailable):
        await meta.deliver_reply(reply_id)
    assert await meta.scalar(select(Message.status).where(Message.id == reply_id)) == "pending"
    await meta.deliver_reply(reply_id)
    await meta.deliver_reply(reply_id)  # a rerun
    assert len(meta.simulator.state.sent) == 1
    assert await meta.scalar(select(Message.status).where(Message.id == reply_id)) == "sent"

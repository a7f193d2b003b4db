"""The WhatsApp adapters (Meta's Cloud API direct and 360dialog) against the provider simulator:
webhook parsing from the reference payloads, exact send bodies and headers, error mapping, media
download, webhook signatures and error explanations. No database."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import (
    ChannelAccount,
    InboundEvent,
    MediaRef,
    OutboundMessage,
    PermanentFailure,
    Sent,
    StatusEvent,
    TemplateStatusEvent,
    TemporaryFailure,
)
from invekto.channels.adapters.whatsapp import (
    MediaUnavailable,
    WhatsApp360DialogAdapter,
    WhatsAppCloudAdapter,
    explain,
    verify_signature,
)
from invekto.channels.simulator.whatsapp import WhatsAppSimulator, create_simulator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
PHONE_NUMBER_ID = "109876543210987"
WA_ID = "905321234567"
TOKEN = "EAAG-test-token"
API_KEY = "d360-test-key"
SECRET = "test_app_secret_123"
SIM = "http://sim.test"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@pytest.fixture
def simulator() -> WhatsAppSimulator:
    return create_simulator(SECRET, access_token=TOKEN, api_key=API_KEY)


@pytest.fixture
async def cloud(simulator):
    adapter = WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=simulator))
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def d360(simulator):
    adapter = WhatsApp360DialogAdapter(transport=httpx.ASGITransport(app=simulator))
    yield adapter
    await adapter.aclose()


def cloud_account(**settings) -> ChannelAccount:
    return ChannelAccount(kind="whatsapp_cloud", external_id=PHONE_NUMBER_ID,
                          settings={"api_base_url": SIM, **settings},
                          credentials={"access_token": TOKEN, "app_secret": SECRET})


def d360_account(**settings) -> ChannelAccount:
    return ChannelAccount(kind="whatsapp_bsp", external_id=PHONE_NUMBER_ID,
                          settings={"api_base_url": SIM, **settings},
                          credentials={"api_key": API_KEY})


def outbound(content_kind: str = "text", body: str = "", *, payload=None,
             attachment_url: str | None = None, phone: str | None = "+" + WA_ID,
             handle: str = WA_ID) -> OutboundMessage:
    return OutboundMessage(message_id=uuid.uuid4(), recipient_handle=handle,
                           recipient_phone=phone, content_kind=content_kind, body=body,
                           payload=payload or {}, attachment_url=attachment_url)


def only(events):
    assert len(events) == 1
    return events[0]


# ---- parsing webhooks --------------------------------------------------------------------------

def test_a_text_message_parses_with_the_customer_and_the_receiving_number():
    event = only(WhatsAppCloudAdapter().parse_webhook(fixture("whatsapp_cloud.inbound_text.json")))
    assert event == InboundEvent(
        account_id=PHONE_NUMBER_ID,
        provider_message_id="wamid.HBgMOTA1MzIxMjM0NTY3FQIAEhgUM0EwQTc3RkM1QjY2NDdBQzE5RjIA",
        handle=WA_ID, sent_at=at(1767261600), content_kind="text",
        body="Merhaba, siparişim ne zaman kargoya verilir?", phone="+905321234567",
        contact_name="Ayşe Yılmaz")
    assert event.sent_at.tzinfo is UTC


@pytest.mark.parametrize(("name", "kind", "body", "media", "payload"), [
    ("image", "image", "Kutu hasarlı geldi",
     MediaRef(media_id="1234567890123456", mime_type="image/jpeg",
              sha256="Qm9ndXNTaGEyNTZCYXNlNjRWYWx1ZUZvclRlc3RzT25seT0="), {}),
    ("document", "document", "Fatura",
     MediaRef(media_id="2345678901234567", mime_type="application/pdf",
              filename="fatura-2026-001.pdf",
              sha256="VGVzdFNoYTI1NkRvY3VtZW50VmFsdWVCYXNlNjRQYWRkaW5nPQ=="), {}),
    ("voice", "audio", "",
     MediaRef(media_id="3456789012345678", mime_type="audio/ogg; codecs=opus",
              sha256="QXVkaW9TaGEyNTZCYXNlNjRWYWx1ZUZvclRlc3RzT25seTE9"), {"voice": True}),
])
def test_media_messages_carry_a_media_reference_and_the_caption(name, kind, body, media,
                                                                  payload):
    event = only(WhatsAppCloudAdapter().parse_webhook(
        fixture(f"whatsapp_cloud.inbound_{name}.json")))
    assert (event.content_kind, event.body, event.media, event.payload) == (
        kind, body, media, payload)
    assert (event.handle, event.phone, event.contact_name) == (WA_ID, "+905321234567",
                                                               "Ayşe Yılmaz")


@pytest.mark.parametrize(("name", "sent_at", "body", "payload", "context_id"), [
    ("interactive_button_reply", 1767262100, "Sipariş durumu",
     {"type": "button_reply", "id": "order_status", "title": "Sipariş durumu"},
     "wamid.HBgMOTA1MzIxMjM0NTY3FQIAERgSQjQ5RkE3MDFDQjM1RDQ0NkUyAA=="),
    ("interactive_list_reply", 1767262200, "İade talebi",
     {"type": "list_reply", "id": "return_request", "title": "İade talebi",
      "description": "Ürünü iade etmek istiyorum"},
     "wamid.HBgMOTA1MzIxMjM0NTY3FQIAERgSQzU5MEI4MTJEQzQ2RTU1N0YzAA=="),
    ("template_quick_reply", 1767262300, "Adresi onayla",
     {"type": "button", "id": "CONFIRM_DELIVERY_ADDRESS", "title": "Adresi onayla"},
     "wamid.HBgMOTA1MzIxMjM0NTY3FQIAERgSRDY5MUM5MjNFRDU3RjY2ODA0AA=="),
])
def test_replies_to_buttons_and_lists_are_interactive_with_the_choice_and_the_context(
        name, sent_at, body, payload, context_id):
    event = only(WhatsAppCloudAdapter().parse_webhook(
        fixture(f"whatsapp_cloud.inbound_{name}.json")))
    assert (event.content_kind, event.body, event.sent_at) == ("interactive", body, at(sent_at))
    assert event.payload == {**payload,
                             "context": {"message_id": context_id, "from": "908501234567"}}


def test_a_click_to_whatsapp_ad_brings_its_referral_with_the_click_id():
    event = only(WhatsAppCloudAdapter().parse_webhook(
        fixture("whatsapp_cloud.inbound_referral_ctwa.json")))
    assert (event.content_kind, event.body) == (
        "text", "Merhaba, bu reklam hakkında bilgi alabilir miyim?")
    assert event.referral["ctwa_clid"] == "ARAkExampleCtwaClickIdValue0123456789abcdefXYZ"
    assert event.referral == fixture("whatsapp_cloud.inbound_referral_ctwa.json")[
        "entry"][0]["changes"][0]["value"]["messages"][0]["referral"]


def test_statuses_parse_with_the_error_of_a_failure_and_what_we_asked_to_be_echoed():
    delivered = only(WhatsAppCloudAdapter().parse_webhook(
        fixture("whatsapp_cloud.status_delivered.json")))
    assert delivered == StatusEvent(
        account_id=PHONE_NUMBER_ID,
        provider_message_id="wamid.HBgMOTA1MzIxMjM0NTY3FQIAERgSRTc5MkQwMzRGRTY4MDc3OTE1AA==",
        status="delivered", at=at(1767262400), callback_data="crm-msg-7f3a9c")
    failed = only(WhatsAppCloudAdapter().parse_webhook(
        fixture("whatsapp_cloud.status_failed_131047.json")))
    assert (failed.status, failed.at, failed.error_code, failed.error_title) == (
        "failed", at(1767262500), "131047", "Re-engagement message")


def _with_message(message: dict, contacts: list | None = None) -> dict:
    payload = fixture("whatsapp_cloud.inbound_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    base = {"from": WA_ID, "id": "wamid.X", "timestamp": "1767261600"}
    value["messages"] = [{**base, **message}]
    if contacts is not None:
        value["contacts"] = contacts
    return payload


@pytest.mark.parametrize(("message", "kind", "body", "payload", "media"), [
    ({"type": "location", "location": {"latitude": 41.0082, "longitude": 28.9784,
                                       "name": "Kliniğimiz", "address": "Kadıköy"}},
     "location", "Kliniğimiz — Kadıköy",
     {"latitude": 41.0082, "longitude": 28.9784, "name": "Kliniğimiz", "address": "Kadıköy"},
     None),
    ({"type": "location", "location": {"latitude": 1.5, "longitude": 2.5}},
     "location", "", {"latitude": 1.5, "longitude": 2.5, "name": None, "address": None}, None),
    ({"type": "contacts", "contacts": [{"name": {"formatted_name": "Mehmet Öztürk"},
                                        "phones": [{"phone": "+905339876543"}]}]},
     "contact", "Mehmet Öztürk",
     {"contacts": [{"name": {"formatted_name": "Mehmet Öztürk"},
                    "phones": [{"phone": "+905339876543"}]}]}, None),
    ({"type": "reaction", "reaction": {"message_id": "wamid.OURS", "emoji": "👍"}},
     "reaction", "👍", {"message_id": "wamid.OURS", "emoji": "👍"}, None),
    ({"type": "reaction", "reaction": {"message_id": "wamid.OURS"}},
     "reaction", "", {"message_id": "wamid.OURS", "emoji": ""}, None),
    ({"type": "sticker", "sticker": {"id": "77", "mime_type": "image/webp", "sha256": "c2hh",
                                     "animated": False}},
     "sticker", "", {"animated": False},
     MediaRef(media_id="77", mime_type="image/webp", sha256="c2hh")),
    ({"type": "video", "video": {"id": "88", "mime_type": "video/mp4", "caption": "Kurulum"}},
     "video", "Kurulum", {}, MediaRef(media_id="88", mime_type="video/mp4")),
    ({"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
     "unsupported", "",
     {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
     None),
    ({"type": "order", "order": {"catalog_id": "1", "product_items": []}},
     "unsupported", "", {"type": "order", "raw": {"catalog_id": "1", "product_items": []}},
     None),
])
def test_other_message_types(message, kind, body, payload, media):
    event = only(WhatsAppCloudAdapter().parse_webhook(_with_message(message)))
    assert (event.content_kind, event.body, event.payload, event.media) == (
        kind, body, payload, media)


def test_a_user_without_a_phone_id_is_known_by_the_business_scoped_id():
    bsuid = "TR.4471029384756102938"
    payload = _with_message({"from_user_id": bsuid, "type": "text", "text": {"body": "Selam"}},
                            contacts=[{"profile": {"name": "Gizli"}, "user_id": bsuid}])
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    event = only(WhatsAppCloudAdapter().parse_webhook(payload))
    assert (event.handle, event.phone, event.contact_name) == (bsuid, None, "Gizli")


def test_the_name_is_the_one_of_the_matching_contact():
    payload = _with_message({"type": "text", "text": {"body": "a"}}, contacts=[
        {"profile": {"name": "Someone else"}, "wa_id": "905550000000"},
        {"profile": {"name": "Ayşe"}, "wa_id": WA_ID}])
    assert only(WhatsAppCloudAdapter().parse_webhook(payload)).contact_name == "Ayşe"


def test_a_batch_yields_every_message_and_status():
    text = fixture("whatsapp_cloud.inbound_text.json")["entry"][0]
    image = fixture("whatsapp_cloud.inbound_image.json")["entry"][0]
    status = fixture("whatsapp_cloud.status_delivered.json")["entry"][0]["changes"][0]
    entries = []
    for source in (text, image):
        entry = copy.deepcopy(source)
        value = entry["changes"][0]["value"]
        second = copy.deepcopy(value["messages"][0])
        second["id"] += "-2"
        value["messages"].append(second)
        entries.append(entry)
    entries[1]["changes"].append(status)
    events = WhatsAppCloudAdapter().parse_webhook(
        {"object": "whatsapp_business_account", "entry": entries})
    assert [type(e).__name__ for e in events] == ["InboundEvent"] * 4 + ["StatusEvent"]
    assert [e.content_kind for e in events[:4]] == ["text", "text", "image", "image"]
    assert len({e.provider_message_id for e in events}) == 5


@pytest.mark.parametrize("payload", [
    {"object": "page", "entry": []},
    {"entry": []},
    {"object": "whatsapp_business_account"},
    [],
])
def test_a_payload_that_is_not_the_whatsapp_envelope_is_refused(payload):
    with pytest.raises(ValueError):
        WhatsAppCloudAdapter().parse_webhook(payload)


def test_a_template_status_update_is_a_template_status_event():
    """Meta's decision on a template; more in tests/channels/test_whatsapp_templates.py."""
    payload = fixture("whatsapp_cloud.template_status_update.json")
    expected = [TemplateStatusEvent(
        waba_id="214365870912345", template_id="987654321098765", name="kargo_bilgilendirme",
        language="tr", status="REJECTED", reason="INVALID_FORMAT")]
    assert WhatsAppCloudAdapter().parse_webhook(payload) == expected
    assert WhatsApp360DialogAdapter().parse_webhook(payload) == expected


def test_the_adapters_are_registered_by_kind():
    assert isinstance(adapter_for("whatsapp_cloud"), WhatsAppCloudAdapter)
    assert isinstance(adapter_for("whatsapp_bsp"), WhatsApp360DialogAdapter)


# ---- sending -----------------------------------------------------------------------------------

def documented(name: str) -> dict:
    """A documented request body as we send it: always with ``recipient_type`` and (text)
    ``preview_url``, both defaults made explicit; ``biz_opaque_callback_data`` when the message
    asks for it (campaigns: their recipient's id)."""
    body = fixture(f"whatsapp_cloud.{name}.request.json")
    if body["type"] == "text":
        body["text"] = {"preview_url": False, **body["text"]}
    return {"recipient_type": "individual", **body}


SENDS = {
    "send_text": outbound("text", "Siparişiniz bugün kargoya verildi.",
                          payload={"callback_data": "crm-msg-7f3a9c"}),
    "send_reply_context": outbound("text", "Kontrol edip hemen dönüyorum.", payload={
        "reply_to": "wamid.HBgMOTA1MzIxMjM0NTY3FQIAEhgUM0EwQTc3RkM1QjY2NDdBQzE5RjIA"}),
    "send_image": outbound("image", "Kargo etiketiniz", payload={"media_id": "4567890123456789"}),
    "send_document_link": outbound(
        "document", "Faturanız ektedir", payload={"filename": "INV-2026-001.pdf"},
        attachment_url="https://files.example.com/invoices/INV-2026-001.pdf"),
    "send_interactive_buttons": outbound("interactive", "Lütfen bir seçenek belirleyin.", payload={
        "interactive": fixture("whatsapp_cloud.send_interactive_buttons.request.json")[
            "interactive"]}),
    "send_interactive_list": outbound("interactive", "Konuyu seçin", payload={
        "interactive": fixture("whatsapp_cloud.send_interactive_list.request.json")[
            "interactive"]}),
    "send_template": outbound("template", "Merhaba Ayşe...", payload={
        "template": fixture("whatsapp_cloud.send_template.request.json")["template"]}),
    "send_template_named_params": outbound("template", "", payload={
        "template": {"name": "randevu_hatirlatma", "language": "tr", "components": fixture(
            "whatsapp_cloud.send_template_named_params.request.json")["template"]["components"]}}),
}


@pytest.mark.parametrize("name", sorted(SENDS))
async def test_each_documented_send_goes_out_exactly_as_documented(cloud, simulator, name):
    result = await cloud.send(cloud_account(), SENDS[name])
    sent = only(simulator.state.sent)
    assert result == Sent(sent.wamid)
    assert sent.body == documented(name)
    assert sent.path == f"/v25.0/{PHONE_NUMBER_ID}/messages"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "application/json"
    assert "d360-api-key" not in sent.headers


BASE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID}


@pytest.mark.parametrize(("message", "expected"), [
    (outbound("audio", "ignored: audio has no caption", attachment_url="https://f.example/a.ogg"),
     {"type": "audio", "audio": {"link": "https://f.example/a.ogg"}}),
    (outbound("video", "Kurulum", attachment_url="https://f.example/v.mp4"),
     {"type": "video", "video": {"link": "https://f.example/v.mp4", "caption": "Kurulum"}}),
    (outbound("image", attachment_url="https://f.example/i.png"),
     {"type": "image", "image": {"link": "https://f.example/i.png"}}),
    (outbound("location", payload={"location": {"latitude": 41.0, "longitude": 29.0,
                                                "name": "Klinik", "address": "Kadıköy"}}),
     {"type": "location", "location": {"latitude": 41.0, "longitude": 29.0, "name": "Klinik",
                                       "address": "Kadıköy"}}),
    (outbound("reaction", payload={"reaction": {"message_id": "wamid.A", "emoji": "👍"}}),
     {"type": "reaction", "reaction": {"message_id": "wamid.A", "emoji": "👍"}}),
    (outbound("text", "https://x.example", payload={"preview_url": True}),
     {"type": "text", "text": {"preview_url": True, "body": "https://x.example"}}),
])
async def test_other_send_kinds(cloud, simulator, message, expected):
    assert isinstance(await cloud.send(cloud_account(), message), Sent)
    assert only(simulator.state.sent).body == {**BASE, **expected}


async def test_the_recipient_is_the_phone_digits_or_else_the_handle(cloud, simulator):
    await cloud.send(cloud_account(), outbound("text", "a", phone="+90 532 123 45 67"))
    await cloud.send(cloud_account(), outbound("text", "b", phone=None, handle="905551112233"))
    await cloud.send(cloud_account(), outbound("text", "c", phone=None, handle="TR.1234"))
    assert [(s.body.get("to"), s.body.get("recipient")) for s in simulator.state.sent] == [
        (WA_ID, None), ("905551112233", None), (None, "TR.1234")]


async def test_360dialog_sends_the_same_body_with_its_key_and_path(d360, simulator):
    message = outbound("text", "Merhaba! Size nasıl yardımcı olabilirim?")
    result = await d360.send(d360_account(), message)
    sent = only(simulator.state.sent)
    assert result == Sent(sent.wamid)
    expected = fixture("whatsapp_360dialog.send_text.request.json")
    expected["text"] = {"preview_url": False, **expected["text"]}
    assert sent.body == expected
    assert sent.path == "/messages"
    assert sent.headers["d360-api-key"] == API_KEY
    assert "authorization" not in sent.headers


async def test_another_cloud_compatible_host_is_a_settings_change(simulator):
    adapter = WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=simulator))
    account = cloud_account(api_base_url=SIM + "/", api_version="v23.0")
    assert isinstance(await adapter.send(account, outbound("text", "x")), Sent)
    assert only(simulator.state.sent).path == f"/v23.0/{PHONE_NUMBER_ID}/messages"
    await adapter.aclose()


async def test_a_message_that_cannot_be_built_fails_without_calling_whatsapp(cloud, simulator):
    for message in (outbound("image"), outbound("template", payload={"template": {"name": "x"}}),
                    outbound("call"), outbound("text", ""), outbound("text", "x", phone=None,
                                                                     handle="")):
        result = await cloud.send(cloud_account(), message)
        assert isinstance(result, PermanentFailure)
        assert result.code == "invalid_message"
    assert simulator.state.requests == []


async def test_missing_credentials_fail_clearly(cloud, simulator):
    account = ChannelAccount("whatsapp_cloud", PHONE_NUMBER_ID, {"api_base_url": SIM}, {})
    result = await cloud.send(account, outbound("text", "x"))
    assert result == PermanentFailure("missing_credentials", explain("missing_credentials", "en"))
    assert simulator.state.requests == []


# ---- send errors -------------------------------------------------------------------------------

async def test_throughput_limit_is_temporary_with_the_retry_after(cloud, simulator):
    simulator.fail_next(status=429, code=130429, retry_after=7)
    result = await cloud.send(cloud_account(), outbound("text", "x"))
    assert isinstance(result, TemporaryFailure)
    assert result.retry_after_seconds == 7
    assert result.reason.startswith("130429")
    assert simulator.state.sent == []
    assert isinstance(await cloud.send(cloud_account(), outbound("text", "x")), Sent)


@pytest.mark.parametrize("code", [130429, 131056, 80007, 4, 131016])
async def test_throttling_codes_are_temporary_even_as_400(cloud, simulator, code):
    simulator.fail_next(status=400, code=code)
    result = await cloud.send(cloud_account(), outbound("text", "x"))
    assert isinstance(result, TemporaryFailure)
    assert result.retry_after_seconds is None


@pytest.mark.parametrize(("code", "status"), [
    (131047, 400), (131026, 400), (100, 400), (190, 401), (131051, 400), (368, 403)])
async def test_refusals_are_permanent_with_the_code_and_an_explanation(cloud, simulator, code,
                                                                       status):
    simulator.fail_next(status=status, code=code)
    result = await cloud.send(cloud_account(), outbound("text", "x"))
    assert result == PermanentFailure(str(code), explain(str(code), "en"))


async def test_an_unknown_code_keeps_metas_details(cloud, simulator):
    simulator.fail_next(status=400, code=132001, details="template name does not exist in tr")
    assert await cloud.send(cloud_account(), outbound("text", "x")) == PermanentFailure(
        "132001", explain("132001", "en"))
    simulator.fail_next(status=400, code=139999, details="Something specific")
    assert await cloud.send(cloud_account(), outbound("text", "x")) == PermanentFailure(
        "139999", "Something specific")


async def test_server_errors_are_temporary(cloud, simulator):
    simulator.fail_next(status=500, body={"error": {"message": "oops", "code": 1}})
    assert isinstance(await cloud.send(cloud_account(), outbound("text", "x")), TemporaryFailure)
    simulator.fail_next(status=503, body={})
    result = await cloud.send(cloud_account(), outbound("text", "x"))
    assert result == TemporaryFailure("HTTP 503")


async def test_a_wrong_360dialog_key_is_permanent(simulator):
    adapter = WhatsApp360DialogAdapter(transport=httpx.ASGITransport(app=simulator))
    account = ChannelAccount("whatsapp_bsp", None, {"api_base_url": SIM}, {"api_key": "wrong"})
    assert await adapter.send(account, outbound("text", "x")) == PermanentFailure(
        "http_401", "Invalid api_key")
    await adapter.aclose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_connection_error_is_temporary():
    adapter = WhatsAppCloudAdapter()
    account = cloud_account(api_base_url=f"http://127.0.0.1:{_closed_port()}")
    result = await adapter.send(account, outbound("text", "x"))
    assert isinstance(result, TemporaryFailure)
    assert "ConnectError" in result.reason
    await adapter.aclose()


async def test_a_lost_answer_is_not_retried_because_the_message_may_be_out():
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(2)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = WhatsAppCloudAdapter(timeout=0.3)
    try:
        result = await adapter.send(cloud_account(api_base_url=f"http://127.0.0.1:{port}"),
                                    outbound("text", "x"))
    finally:
        await adapter.aclose()
        server.close()
        await server.wait_closed()
    assert isinstance(result, PermanentFailure)
    assert result.code == "delivery_unknown"


# ---- media -------------------------------------------------------------------------------------

async def test_fetch_media_from_meta(cloud, simulator):
    media_id = simulator.add_media(b"\x89PNG-bytes", "image/png")
    got = await cloud.fetch_media(cloud_account(), MediaRef(media_id=media_id,
                                                            filename="kutu.png"))
    assert (got.data, got.mime_type, got.filename) == (b"\x89PNG-bytes", "image/png", "kutu.png")
    lookup, download = simulator.state.requests
    assert lookup.path == f"/v25.0/{media_id}"
    assert download.path == f"/media-download/{media_id}"
    assert lookup.headers["authorization"] == download.headers["authorization"] == (
        f"Bearer {TOKEN}")


async def test_fetch_media_from_360dialog_rewrites_the_lookaside_host(d360, simulator):
    media_id = simulator.add_media(b"%PDF-1.7", "application/pdf")
    got = await d360.fetch_media(d360_account(), MediaRef(media_id=media_id))
    assert (got.data, got.mime_type) == (b"%PDF-1.7", "application/pdf")
    lookup, download = simulator.state.requests
    assert lookup.path == f"/{media_id}"
    assert (download.host, download.path) == ("sim.test", "/whatsapp_business/attachments/")
    assert f"mid={media_id}" in download.query
    assert lookup.headers["d360-api-key"] == download.headers["d360-api-key"] == API_KEY
    assert "authorization" not in download.headers


async def test_media_that_is_gone_or_unreachable_raises_media_unavailable(cloud, d360):
    with pytest.raises(MediaUnavailable) as gone:
        await cloud.fetch_media(cloud_account(), MediaRef(media_id="404404"))
    assert (gone.value.status_code, gone.value.temporary) == (404, False)
    with pytest.raises(MediaUnavailable):
        await d360.fetch_media(d360_account(), MediaRef(url="https://x.example/only-url"))
    account = ChannelAccount("whatsapp_bsp", None, {"api_base_url": SIM}, {"api_key": "wrong"})
    with pytest.raises(MediaUnavailable) as refused:
        await d360.fetch_media(account, MediaRef(media_id="1"))
    assert refused.value.status_code == 401
    adapter = WhatsAppCloudAdapter()
    with pytest.raises(MediaUnavailable) as down:
        await adapter.fetch_media(
            cloud_account(api_base_url=f"http://127.0.0.1:{_closed_port()}"),
            MediaRef(media_id="1"))
    assert down.value.temporary is True
    await adapter.aclose()


# ---- the simulator end to end -------------------------------------------------------------------

async def test_simulated_webhooks_are_signed_and_parse_back():
    received: list[tuple[bool, list]] = []

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        received.append((verify_signature(SECRET, body,
                                          request.headers.get("x-hub-signature-256")),
                         WhatsAppCloudAdapter().parse_webhook(json.loads(body))))
        return JSONResponse({})

    receiver = Starlette(routes=[Route("/hook", webhook, methods=["POST"])])
    simulator = WhatsAppSimulator(SECRET, "http://crm.test/hook",
                                  webhook_transport=httpx.ASGITransport(app=receiver))
    adapter = WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=simulator))
    sent = await adapter.send(cloud_account(), outbound("text", "Merhaba"))

    for body, headers in (
            simulator.customer_message("Selam 👋", reply_to=sent.provider_message_id),
            simulator.customer_message("Fiş", media_kind="image", data=b"jpeg", name="Ali"),
            simulator.customer_message(message={"type": "reaction", "reaction": {
                "message_id": sent.provider_message_id, "emoji": "❤️"}}),
            simulator.status(sent.provider_message_id, "read"),
            simulator.status(sent.provider_message_id, "failed", error_code=131026)):
        assert (await simulator.deliver(body, headers)).status_code == 200

    assert [ok for ok, _ in received] == [True] * 5
    text, image, reaction, read, failed = (only(events) for _, events in received)
    assert (text.body, text.payload["context"]["message_id"]) == ("Selam 👋",
                                                                  sent.provider_message_id)
    assert (image.content_kind, image.body, image.contact_name) == ("image", "Fiş", "Ali")
    assert (reaction.content_kind, reaction.payload["emoji"]) == ("reaction", "❤️")
    assert (read.status, failed.status, failed.error_code) == ("read", "failed", "131026")
    media = await adapter.fetch_media(cloud_account(), image.media)
    assert (media.data, media.mime_type) == (b"jpeg", "image/jpeg")
    await adapter.aclose()


async def test_the_simulator_checks_the_token_and_the_body():
    simulator = create_simulator(SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        url = f"/v25.0/{PHONE_NUMBER_ID}/messages"
        no_token = await http.post(url, json={"messaging_product": "whatsapp"})
        assert (no_token.status_code, no_token.json()["error"]["code"]) == (401, 190)
        auth = {"Authorization": "Bearer anything"}
        bad = await http.post(url, headers=auth, json={"messaging_product": "whatsapp",
                                                       "to": WA_ID, "type": "text"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, 100)
        good = await http.post(url, headers=auth, json={
            "messaging_product": "whatsapp", "to": WA_ID, "type": "text",
            "text": {"body": "x"}})
        assert good.json()["messages"][0]["id"].startswith("wamid.")
        assert good.json()["contacts"] == [{"input": WA_ID, "wa_id": WA_ID}]
    assert len(simulator.state.sent) == 1


async def test_the_simulator_runs_as_a_real_server():
    simulator = create_simulator(SECRET)
    server = uvicorn.Server(uvicorn.Config(simulator, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="warning", ws="none"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        adapter = WhatsAppCloudAdapter()
        base = f"http://127.0.0.1:{port}"
        assert isinstance(await adapter.send(cloud_account(api_base_url=base),
                                             outbound("text", "x")), Sent)
        media_id = simulator.add_media(b"ogg", "audio/ogg")
        media = await adapter.fetch_media(cloud_account(api_base_url=base),
                                          MediaRef(media_id=media_id))
        assert media.data == b"ogg"
        await adapter.aclose()
    finally:
        server.should_exit = True
        await task


# ---- signatures and explanations ----------------------------------------------------------------

VECTORS = fixture("signature_test_vectors.json")


@pytest.mark.parametrize("name", ["meta_x_hub_signature_256", "meta_x_hub_signature_256_utf8"])
def test_signature_vectors(name):
    vector = VECTORS[name]
    body = (vector.get("raw_body") or vector["raw_body_utf8"]).encode("utf-8")
    secret, header = vector["app_secret"], vector["header"]
    assert verify_signature(secret, body, header)
    assert verify_signature(secret, body, header.upper().replace("SHA256=", "sha256="))
    assert not verify_signature(secret, body, None)
    assert not verify_signature(secret, body, "")
    assert not verify_signature(secret, body, "sha256=" + "0" * 64)
    assert not verify_signature(secret, body, header.removeprefix("sha256="))
    assert not verify_signature(secret, body, "sha1=" + header.removeprefix("sha256="))
    assert not verify_signature("wrong_secret", body, header)
    assert not verify_signature("", body, header)
    altered = bytearray(body)
    altered[-2] ^= 1
    assert not verify_signature(secret, bytes(altered), header)


def test_explanations_in_turkish_and_english():
    for code in ("131047", "131026", "131051", "130429", "131056", "100", "190", "368",
                 "131000"):
        english, turkish = explain(code, "en"), explain(code, "tr")
        assert english and turkish and english != turkish
        assert english != explain("no-such-code", "en")
    assert "24" in explain("131047", "tr") and "şablon" in explain("131047", "tr")
    assert "template" in explain("131047", "en")
    assert explain("131047", "tr-TR") == explain("131047", "tr")
    assert explain("999999", "tr") == "WhatsApp mesajı iletemedi."
    assert explain("999999", "en") == "WhatsApp could not deliver the message."
    assert explain("131047", "de") == explain("131047", "en")


async def test_a_broken_api_address_is_a_settings_problem_not_a_retry(cloud):
    result = await cloud.send(cloud_account(api_base_url="graph.facebook.com"),
                              outbound("text", "x"))
    assert result == PermanentFailure("invalid_settings", explain("invalid_settings", "en"))

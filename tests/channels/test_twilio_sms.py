"""Twilio SMS: the Messages API adapter against its simulator (the signature's test vector,
webhook forms from the reference samples, exact send forms, error mapping, media, connection,
explanations), then end to end below the browser: the simulator posts signed forms to our
intake, the ingest job makes contacts, conversations and messages, replies go out through the
adapter and status callbacks move them on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

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
    StatusEvent,
    TemporaryFailure,
)
from invekto.channels.adapters.twilio_sms import (
    TwilioSmsAdapter,
    build_form,
    explain,
    parse_webhook,
    signature_matches,
    twilio_signature,
)
from invekto.channels.adapters.whatsapp import MediaUnavailable
from invekto.channels.models import WebhookEvent
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.twilio_sms import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER_PHONE,
    NUMBER,
    TwilioSmsSimulator,
    create_simulator,
)
from invekto.contacts.models import ContactIdentity
from invekto.inbox import service as inbox
from invekto.inbox.models import Attachment, Message
from invekto.inbox.tasks import ProviderUnavailable
from tests.channels.harness import ChannelWorld

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
VECTORS = FIXTURES / "signature_test_vectors.json"
SIM = "http://twilio.simulator"
NOW = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 60
BASIC = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def form(name: str) -> dict:
    """A form sample as the intake hands it over: without the documentation key."""
    data = fixture(name)
    data.pop("_wire_format", None)
    return data


def account(external_id: str | None = NUMBER, sid: str | None = ACCOUNT_SID,
            token: str | None = AUTH_TOKEN, **settings) -> ChannelAccount:
    credentials = {k: v for k, v in (("account_sid", sid), ("auth_token", token)) if v}
    return ChannelAccount(kind="sms_twilio", external_id=external_id,
                          settings={"api_base_url": SIM, **settings}, credentials=credentials)


def outbound(content_kind: str = "text", body: str = "", *, phone: str | None = CUSTOMER_PHONE,
             attachment_url: str | None = None, attachment: OutboundFile | None = None
             ) -> OutboundMessage:
    return OutboundMessage(message_id=uuid.uuid4(), recipient_handle=phone or "",
                           recipient_phone=phone, content_kind=content_kind, body=body,
                           attachment_url=attachment_url, attachment=attachment)


def only(items):
    assert len(items) == 1, items
    return items[0]


@pytest.fixture
def simulator() -> TwilioSmsSimulator:
    return create_simulator(base_url=SIM)


@pytest.fixture
async def adapter(simulator):
    made = TwilioSmsAdapter(transport=httpx.ASGITransport(app=simulator))
    yield made
    await made.aclose()


# ---- the signature ------------------------------------------------------------------------------

def test_the_signature_matches_the_reference_test_vector():
    vector = json.loads(VECTORS.read_text(encoding="utf-8"))["twilio_x_twilio_signature"]
    assert twilio_signature(vector["auth_token"], vector["url"], vector["params"]) == (
        vector["header"])
    assert signature_matches(vector["auth_token"], vector["url"], vector["params"],
                             vector["header"])
    # Twilio may sign with the default port: both are accepted.
    with_port = vector["url"].replace("example.com", "example.com:443")
    assert signature_matches(vector["auth_token"], with_port, vector["params"],
                             vector["header"])
    assert not signature_matches("other", vector["url"], vector["params"], vector["header"])
    assert not signature_matches(vector["auth_token"], vector["url"],
                                 {**vector["params"], "Body": "x"}, vector["header"])
    assert not signature_matches(vector["auth_token"], vector["url"], vector["params"], None)


def test_repeated_names_sign_each_value_sorted():
    one = twilio_signature("t", "https://x/y", {"MediaUrl": ["b", "a"], "A": "1"})
    assert one == twilio_signature("t", "https://x/y", {"A": "1", "MediaUrl": ["a", "b"]})
    expected = base64.b64encode(hmac.new(b"t", b"https://x/yA1MediaUrlaMediaUrlb",
                                         hashlib.sha1).digest()).decode()
    assert one == expected


# ---- parsing webhooks: every reference sample ----------------------------------------------------

MMS = "MM2a3b4c5d6e7f80912a3b4c5d6e7f8091"
MMS_MEDIA = ("https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/"
             f"Messages/{MMS}/Media/")
SAMPLES: dict[str, list | type] = {
    "twilio_sms.inbound_sms.form.json": [InboundEvent(
        account_id="+908501234567", provider_message_id="SM1f2e3d4c5b6a79881f2e3d4c5b6a7988",
        handle="+905321234567", phone="+905321234567", sent_at=NOW, content_kind="text",
        body="Siparişim ne durumda? 12345")],
    "twilio_sms.inbound_mms.form.json": [
        InboundEvent(account_id="+15557650002", provider_message_id=MMS,
                     handle="+15551230001", phone="+15551230001", sent_at=NOW,
                     content_kind="image", body="Photo of the damaged box",
                     media=MediaRef(url=MMS_MEDIA + "ME11111111111111111111111111111111",
                                    mime_type="image/jpeg")),
        InboundEvent(account_id="+15557650002", provider_message_id=f"{MMS}#2",
                     handle="+15551230001", phone="+15551230001", sent_at=NOW,
                     content_kind="image",
                     media=MediaRef(url=MMS_MEDIA + "ME22222222222222222222222222222222",
                                    mime_type="image/png"))],
    # WhatsApp over Twilio is not an SMS channel: refused (the delivery keeps the error).
    "twilio_sms.inbound_whatsapp.form.json": ValueError,
    "twilio_sms.status_callback_delivered.form.json": [StatusEvent(
        account_id="+908501234567", provider_message_id="SM9a8b7c6d5e4f30219a8b7c6d5e4f3021",
        status="delivered", at=NOW)],
    # A status callback is parsed whatever its addresses; the intake's account check drops a
    # ``whatsapp:`` one for an SMS channel whose number is set.
    "twilio_sms.status_callback_undelivered.form.json": [StatusEvent(
        account_id="whatsapp:+908501234567",
        provider_message_id="SM8b7c6d5e4f3021a09b8c7d6e5f403122", status="failed", at=NOW,
        error_code="63016", error_title="Failed to send freeform message because you are "
        "outside the allowed window")],
}


def test_every_webhook_sample_on_disk_is_covered():
    assert {path.name for path in FIXTURES.glob("twilio_sms.*.form.json")} - {
        "twilio_sms.send.request.form.json"} == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_webhook_sample_parses_to_its_events(name):
    expected = SAMPLES[name]
    if expected is ValueError:
        with pytest.raises(ValueError, match="whatsapp"):
            parse_webhook(form(name), now=NOW)
    else:
        assert parse_webhook(form(name), now=NOW) == expected


def test_the_adapter_is_registered_and_parses_with_the_current_time():
    adapter = adapter_for("sms_twilio")
    assert isinstance(adapter, TwilioSmsAdapter)
    event = only(adapter.parse_webhook(form("twilio_sms.inbound_sms.form.json")))
    assert event.sent_at.tzinfo is UTC
    assert abs((datetime.now(UTC) - event.sent_at).total_seconds()) < 60


@pytest.mark.parametrize("status, ours", [
    ("sent", "sent"), ("delivered", "delivered"), ("read", "read"), ("failed", "failed"),
    ("undelivered", "failed"), ("queued", None), ("accepted", None), ("sending", None),
    ("canceled", None), ("some_new_status", None)])
def test_status_callbacks_map_to_ours_or_are_ignored(status, ours):
    payload = {**form("twilio_sms.status_callback_delivered.form.json"),
               "MessageStatus": status, "SmsStatus": status}
    events = parse_webhook(payload, now=NOW)
    assert [e.status for e in events] == ([ours] if ours else [])


def test_a_failure_keeps_twilios_error_message_and_a_delivery_has_no_error():
    failed = {**form("twilio_sms.status_callback_delivered.form.json"),
              "MessageStatus": "failed", "ErrorCode": "30007", "ErrorMessage": "Filtered"}
    event = only(parse_webhook(failed, now=NOW))
    assert (event.status, event.error_code, event.error_title) == ("failed", "30007",
                                                                   "Filtered")
    unknown = {**failed, "ErrorCode": "39999", "ErrorMessage": ""}
    assert only(parse_webhook(unknown)).error_title is None
    delivered = {**failed, "MessageStatus": "delivered"}
    assert only(parse_webhook(delivered)).error_code is None


def test_a_repeated_field_and_media_kinds():
    payload = {**form("twilio_sms.inbound_mms.form.json"), "Body": ["Bir", "İki"],
               "NumMedia": "3", "MediaContentType0": "audio/amr",
               "MediaContentType1": "application/pdf", "MediaContentType2": "video/mp4",
               "MediaUrl2": "https://x/y"}
    events = parse_webhook(payload, now=NOW)
    assert [(e.content_kind, e.body) for e in events] == [("audio", "Bir"), ("document", ""),
                                                          ("video", "")]
    assert [e.provider_message_id for e in events] == [MMS, f"{MMS}#2", f"{MMS}#3"]


@pytest.mark.parametrize("payload", [
    {}, {"Body": "x"}, {"MessageSid": "SM1"}, [],
    {"MessageSid": "SM1", "Body": "x", "To": NUMBER},  # no From
    {"MessageSid": "SM1", "Body": "x", "From": CUSTOMER_PHONE, "NumMedia": "iki"},
    {"MessageSid": "SM1", "Body": "x", "From": CUSTOMER_PHONE, "SmsStatus": "sent"},
])
def test_a_form_that_is_neither_is_refused(payload):
    with pytest.raises(ValueError):
        parse_webhook(payload)


# ---- sending -----------------------------------------------------------------------------------

async def test_a_text_goes_out_exactly_as_documented(adapter, simulator):
    documented = form("twilio_sms.send.request.form.json")
    result = await adapter.send(
        account(status_callback_url=documented["StatusCallback"]),
        outbound("text", documented["Body"], phone=documented["To"]))
    sent = only(simulator.state.sent)
    assert result == Sent(sent.sid) and sent.sid.startswith("SM")
    assert sent.params == documented
    assert (sent.authorization, sent.content_type) == (BASIC,
                                                       "application/x-www-form-urlencoded")
    request = simulator.state.requests[-1]
    assert (request.method, request.path) == (
        "POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")


async def test_the_simulator_answers_the_documented_message_resource(simulator):
    documented = fixture("twilio_sms.send.response.json")
    request = form("twilio_sms.send.request.form.json")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        answer = await http.post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                                 data=request, auth=(ACCOUNT_SID, AUTH_TOKEN))
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == set(documented)
    assert {k: body[k] for k in ("account_sid", "body", "from", "to", "status", "direction",
                                 "num_media", "error_code", "price")} == {
        k: documented[k] for k in ("account_sid", "body", "from", "to", "status", "direction",
                                   "num_media", "error_code", "price")}


async def test_without_a_callback_url_or_with_a_messaging_service(adapter, simulator):
    await adapter.send(account(), outbound("text", "Merhaba"))
    await adapter.send(account(messaging_service_sid="MG01"), outbound("text", "Merhaba"))
    plain, service = simulator.state.sent
    assert plain.params == {"To": CUSTOMER_PHONE, "From": NUMBER, "Body": "Merhaba"}
    assert service.params == {"To": CUSTOMER_PHONE, "MessagingServiceSid": "MG01",
                              "Body": "Merhaba"}


async def test_a_file_with_a_public_url_is_an_mms(adapter, simulator):
    result = await adapter.send(account(), outbound(
        "image", "Kargo etiketi", attachment_url="https://files.example.com/etiket.png"))
    sent = only(simulator.state.sent)
    assert result == Sent(sent.sid) and sent.sid.startswith("MM")
    assert sent.params == {"To": CUSTOMER_PHONE, "From": NUMBER, "Body": "Kargo etiketi",
                           "MediaUrl": "https://files.example.com/etiket.png"}


@pytest.mark.parametrize("message, code", [
    (outbound("image", "x", attachment=OutboundFile(JPEG, "image/jpeg", "a.jpg")),
     "media_needs_public_url"),
    (outbound("text", ""), "invalid_message"),
    (outbound("text", "x" * 1601), "text_too_long"),
    (outbound("image"), "invalid_message"),
    (outbound("template", "x"), "invalid_message"),
    (outbound("text", "x", phone=None), "invalid_message"),
])
async def test_a_message_twilio_would_refuse_fails_without_calling_it(adapter, simulator,
                                                                      message, code):
    result = await adapter.send(account(), message)
    assert isinstance(result, PermanentFailure) and result.code == code
    assert simulator.state.requests == []


async def test_missing_credentials_sender_or_bad_address_fail_clearly(adapter, simulator):
    assert await adapter.send(account(token=None), outbound("text", "x")) == PermanentFailure(
        "missing_credentials", explain("missing_credentials", "en"))
    assert (await adapter.send(account(external_id=None), outbound("text", "x"))).code == (
        "missing_sender")
    assert (await adapter.send(account(api_base_url="ftp://x"), outbound("text", "x"))).code == (
        "invalid_settings")
    assert simulator.state.requests == []


@pytest.mark.parametrize("sample, code", [
    ("twilio_sms.error_invalid_to_21211.json", "invalid_number"),
    ("twilio_sms.error_unsubscribed_21610.json", "unsubscribed"),
])
async def test_refusals_are_permanent_with_our_code(adapter, simulator, sample, code):
    simulator.fail_next(body=fixture(sample))
    assert await adapter.send(account(), outbound("text", "x")) == PermanentFailure(
        code, explain(code, "en"))
    assert simulator.state.sent == []


async def test_an_invalid_number_is_refused_by_the_simulator_too(adapter, simulator):
    result = await adapter.send(account(), outbound("text", "x", phone="05321234567"))
    assert result == PermanentFailure("invalid_number", explain("invalid_number", "en"))


async def test_too_many_requests_is_temporary_with_the_retry_after(adapter, simulator):
    simulator.fail_next(body=fixture("twilio_sms.error_rate_limit_20429.json"), retry_after=7)
    assert await adapter.send(account(), outbound("text", "x")) == TemporaryFailure(
        "20429: Too Many Requests", retry_after_seconds=7)
    simulator.fail_next(code=20429)
    assert (await adapter.send(account(), outbound("text", "x"))).retry_after_seconds is None


async def test_wrong_credentials_server_errors_and_other_refusals(adapter, simulator):
    assert await adapter.send(account(token="wrong"), outbound("text", "x")) == (
        PermanentFailure("invalid_credentials", explain("invalid_credentials", "en")))
    simulator.fail_next(code=20500)
    assert isinstance(await adapter.send(account(), outbound("text", "x")), TemporaryFailure)
    simulator.fail_next(status=503, body={"message": "Service Unavailable"})
    assert isinstance(await adapter.send(account(), outbound("text", "x")), TemporaryFailure)
    simulator.fail_next(code=21408, message="Permission to send an SMS has not been enabled")
    assert await adapter.send(account(), outbound("text", "x")) == PermanentFailure(
        "twilio_21408", "21408: Permission to send an SMS has not been enabled")


async def test_network_errors_before_and_after_sending():
    def refuse(request):
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    def lose(request):
        raise httpx.ReadTimeout(f"timed out on {request.url}")

    for handler, expected in ((refuse, TemporaryFailure), (lose, PermanentFailure)):
        adapter = TwilioSmsAdapter(transport=httpx.MockTransport(handler))
        result = await adapter.send(account(), outbound("text", "x"))
        assert isinstance(result, expected)
        assert AUTH_TOKEN not in repr(result)
        if expected is PermanentFailure:
            assert result.code == "delivery_unknown"
        await adapter.aclose()


# ---- explanations ------------------------------------------------------------------------------

def test_explanations_in_turkish_and_english():
    for code in ("invalid_number", "unsubscribed", "invalid_credentials", "rate_limited",
                 "text_too_long", "media_needs_public_url", "delivery_unknown",
                 "missing_credentials", "missing_sender", "connected", "unreachable",
                 "account_inactive"):
        english, turkish = explain(code, "en"), explain(code, "tr")
        assert english and turkish and english != turkish
        assert english != explain("no-such-code", "en")
    assert "STOP" in explain("unsubscribed", "tr")
    assert explain("unsubscribed", "tr-TR") == explain("unsubscribed", "tr")
    assert explain("999", "tr") == "Twilio mesajı iletemedi."
    assert explain("999", "de") == "Twilio could not deliver the message."
    assert TwilioSmsAdapter().explain("unsubscribed", "tr") == explain("unsubscribed", "tr")


# ---- media, connection ---------------------------------------------------------------------------

async def test_an_mms_file_is_downloaded_with_basic_auth_through_the_redirect(adapter,
                                                                              simulator):
    body, _ = simulator.customer_message("Hasar", media=(JPEG, "image/jpeg"))
    event = only(parse_webhook(dict(parse_qsl(body.decode(), keep_blank_values=True))))
    assert (event.content_kind, event.body) == ("image", "Hasar")
    media = await adapter.fetch_media(account(), event.media)
    assert (media.data, media.mime_type) == (JPEG, "image/jpeg")
    lookup, storage = simulator.state.requests[-2:]
    assert lookup.path.startswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/")
    assert lookup.headers["authorization"] == BASIC
    assert storage.path.startswith("/storage/ME")


async def test_media_on_another_host_gets_no_credentials():
    seen = []

    def handler(request):
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, content=b"%PDF", headers={"content-type": "application/pdf"})

    adapter = TwilioSmsAdapter(transport=httpx.MockTransport(handler))
    media = await adapter.fetch_media(account(), MediaRef(url="https://cdn.example.com/f.pdf"))
    assert (media.data, media.mime_type, seen) == (b"%PDF", "application/pdf", [None])
    await adapter.aclose()


async def test_unknown_or_unauthorised_media_is_unavailable(adapter, simulator):
    url = f"{SIM}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/MEnone"
    with pytest.raises(MediaUnavailable) as caught:
        await adapter.fetch_media(account(), MediaRef(url=url))
    assert (caught.value.temporary, caught.value.status_code) == (False, 404)
    with pytest.raises(MediaUnavailable) as caught:
        await adapter.fetch_media(account(token="wrong"), MediaRef(url=url))
    assert caught.value.status_code == 401 and "wrong" not in str(caught.value)
    with pytest.raises(MediaUnavailable):
        await adapter.fetch_media(account(), MediaRef(media_id="x"))


async def test_check_connection_names_the_account(adapter, simulator):
    assert await adapter.check_connection(account()) == ConnectionCheck(
        ok=True, detail="Ornek Destek · active")
    request = simulator.state.requests[-1]
    assert (request.method, request.path, request.headers["authorization"]) == (
        "GET", f"/2010-04-01/Accounts/{ACCOUNT_SID}.json", BASIC)
    wrong = await adapter.check_connection(account(token="wrong"))
    assert (wrong.ok, wrong.error_code, wrong.detail) == (False, "invalid_credentials",
                                                          "Authenticate")
    missing = await adapter.check_connection(account(sid=None))
    assert missing.error_code == "missing_credentials"
    simulator.account_status = "suspended"
    suspended = await adapter.check_connection(account())
    assert (suspended.ok, suspended.error_code, suspended.detail) == (
        False, "account_inactive", "Ornek Destek · suspended")


async def test_check_connection_when_twilio_is_unreachable():
    def refuse(request):
        raise httpx.ConnectError("no")

    adapter = TwilioSmsAdapter(transport=httpx.MockTransport(refuse))
    check = await adapter.check_connection(account())
    assert (check.ok, check.error_code) == (False, "unreachable")
    await adapter.aclose()


async def test_the_simulators_webhooks_are_signed_forms(simulator):
    simulator.webhook_url = "https://crm.example.com/webhooks/sms_twilio/ch1"
    body, headers = simulator.customer_message("Merhaba")
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert signature_matches(AUTH_TOKEN, simulator.webhook_url, params,
                             headers["X-Twilio-Signature"])
    assert (params["Body"], params["From"], params["To"]) == ("Merhaba", CUSTOMER_PHONE,
                                                              NUMBER)
    body, headers = simulator.status(params["MessageSid"], "failed", error_code=30003)
    params = dict(parse_qsl(body.decode()))
    assert (params["MessageStatus"], params["ErrorCode"]) == ("failed", "30003")
    assert only(parse_webhook(params)).error_title == "Unreachable destination handset"


async def test_the_simulator_refuses_wrong_credentials_and_bad_sends(simulator):
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        answer = await http.post(path, data={"To": CUSTOMER_PHONE, "From": NUMBER,
                                             "Body": "x"}, auth=(ACCOUNT_SID, "wrong"))
        assert (answer.status_code, answer.json()["code"]) == (401, 20003)
        for bad, code in (({"From": NUMBER, "Body": "x"}, 21211),
                          ({"To": CUSTOMER_PHONE, "Body": "x"}, 21603),
                          ({"To": CUSTOMER_PHONE, "From": NUMBER}, 21602),
                          ({"To": CUSTOMER_PHONE, "From": NUMBER, "Body": "x" * 1601}, 21617)):
            answer = await http.post(path, data=bad, auth=(ACCOUNT_SID, AUTH_TOKEN))
            assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert simulator.state.sent == []


# ---- end to end: the intake, the ingest job, the outbound job -----------------------------------

@pytest.fixture
async def twilio(world, app):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="sms_twilio", name="SMS", external_id=NUMBER, settings={"api_base_url": SIM},
            credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}))
    simulator = create_simulator(
        base_url=SIM, webhook_url=f"http://testserver/webhooks/sms_twilio/{channel.id}",
        webhook_transport=httpx.ASGITransport(app=app))
    original = adapters.adapter_for("sms_twilio")
    adapters.register(TwilioSmsAdapter(transport=httpx.ASGITransport(app=simulator)))
    yield ChannelWorld(home, channel.id, simulator, "sms_twilio")
    adapters.register(original)


async def _count(world: ChannelWorld, model) -> int:
    return await world.scalar(select(func.count()).select_from(model).where(
        model.channel_id == world.channel_id))


async def test_a_customer_sms_becomes_contact_conversation_and_message(twilio):
    body, headers = twilio.simulator.customer_message("Siparişim nerede?")
    assert (await twilio.deliver(body, headers)).status_code == 200
    message = await twilio.scalar(select(Message).where(Message.channel_id == twilio.channel_id))
    assert (message.direction, message.content_kind, message.body) == (
        "inbound", "text", "Siparişim nerede?")
    identity = await twilio.scalar(select(ContactIdentity).where(
        ContactIdentity.contact_id == message.contact_id))
    assert (identity.channel_id, identity.handle) == (twilio.channel_id, CUSTOMER_PHONE)


async def test_the_same_sms_five_times_makes_one_message(twilio):
    body, headers = twilio.simulator.customer_message("Bir kez yazdım")
    for _ in range(5):
        assert (await twilio.deliver(body, headers)).status_code == 200
    assert await _count(twilio, Message) == 1


@pytest.mark.parametrize("signature", [None, "wrong"])
async def test_a_wrong_or_missing_signature_is_refused_and_nothing_stored(twilio, signature):
    body, headers = twilio.simulator.customer_message("Sahte")
    del headers["X-Twilio-Signature"]
    if signature:
        headers["X-Twilio-Signature"] = signature
    assert (await twilio.deliver(body, headers)).status_code == 401
    assert await _count(twilio, WebhookEvent) == 0
    assert await _count(twilio, Message) == 0


async def test_an_mms_photo_is_downloaded_and_stored(twilio):
    await twilio.deliver(*twilio.simulator.customer_message("Hasarlı",
                                                            media=(JPEG, "image/jpeg")))
    message = await twilio.scalar(select(Message).where(Message.channel_id == twilio.channel_id))
    assert (message.content_kind, message.body) == ("image", "Hasarlı")
    attachment = await twilio.scalar(select(Attachment).where(
        Attachment.id == message.attachment_id))
    assert attachment.content_type == "image/jpeg"
    assert await twilio.home.rt.storage.get(attachment.storage_key) == JPEG


async def test_a_reply_goes_out_and_its_status_callback_moves_it(twilio):
    await twilio.deliver(*twilio.simulator.customer_message("Kargom ne zaman gelir?"))
    inbound = await twilio.scalar(select(Message).where(Message.channel_id == twilio.channel_id))
    reply_id = await twilio.reply(inbound.conversation_id, "Yarın teslim edilecek.")
    await twilio.deliver_reply(reply_id)
    sent = only(twilio.simulator.state.sent)
    assert sent.params == {"To": CUSTOMER_PHONE, "From": NUMBER,
                           "Body": "Yarın teslim edilecek."}
    stored = await twilio.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.provider_message_id) == ("sent", sent.sid)
    assert (await twilio.deliver(*twilio.simulator.status(sent.sid, "delivered"))
            ).status_code == 200
    assert await twilio.scalar(select(Message.status).where(Message.id == reply_id)) == (
        "delivered")


async def test_a_rate_limit_is_retried_and_the_message_sent_once(twilio):
    await twilio.deliver(*twilio.simulator.customer_message("Merhaba"))
    inbound = await twilio.scalar(select(Message).where(Message.channel_id == twilio.channel_id))
    reply_id = await twilio.reply(inbound.conversation_id, "Sırada")
    twilio.simulator.fail_next(code=20429, retry_after=1)
    with pytest.raises(ProviderUnavailable):
        await twilio.deliver_reply(reply_id)
    assert await twilio.scalar(select(Message.status).where(Message.id == reply_id)
                               ) == "pending"
    await twilio.deliver_reply(reply_id)
    await twilio.deliver_reply(reply_id)  # a rerun
    assert len(twilio.simulator.state.sent) == 1
    assert await twilio.scalar(select(Message.status).where(Message.id == reply_id)) == "sent"


async def test_an_unsubscribed_recipient_fails_without_retry(twilio):
    await twilio.deliver(*twilio.simulator.customer_message("Merhaba"))
    inbound = await twilio.scalar(select(Message).where(Message.channel_id == twilio.channel_id))
    reply_id = await twilio.reply(inbound.conversation_id, "Geç cevap")
    twilio.simulator.fail_next(code=21610)
    await twilio.deliver_reply(reply_id)  # no raise: permanent
    stored = await twilio.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.error_code, stored.error_message) == (
        "failed", "unsubscribed", explain("unsubscribed", "en"))
    assert twilio.simulator.state.sent == []


async def test_with_a_public_address_each_sms_asks_for_its_statuses_at_the_channels_webhook(
        twilio):
    await twilio.deliver(*twilio.simulator.customer_message("Merhaba"))
    inbound = await twilio.scalar(select(Message).where(Message.channel_id == twilio.channel_id))
    reply_id = await twilio.reply(inbound.conversation_id, "Buyurun")
    home = twilio.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        without = await inbox.outbound_request(session, home.tenant_id, reply_id)
        request = await inbox.outbound_request(session, home.tenant_id, reply_id,
                                               public_url="https://crm.example.com/")
    assert "StatusCallback" not in build_form(without.account, without.message)
    webhook = f"https://crm.example.com/webhooks/sms_twilio/{twilio.channel_id}"
    assert request.account.webhook_url == webhook
    assert build_form(request.account, request.message)["StatusCallback"] == webhook

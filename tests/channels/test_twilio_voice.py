"""Twilio Voice and click-to-call: the adapter against its simulator served over real HTTP (every
reference sample, the TwiML for each routing case read as XML, the Calls API request exactly as
documented, error mapping), then end to end below the browser: the simulator posts signed
requests to our webhook, gets our TwiML back, the ingest job turns the call's final events into
one entry in the customer's thread and attaches its recording, in any order and any number of
times. Last, click-to-call through a PBX against a small stub server."""

from __future__ import annotations

import base64
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from invekto.audit.models import AuditEvent
from invekto.channels import calls
from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import (
    CallingAgent,
    CallPlaced,
    CallRecording,
    ChannelAccount,
    ConnectionCheck,
    InboundEvent,
    MediaRef,
    PermanentFailure,
    TemporaryFailure,
)
from invekto.channels.adapters.pbx import PbxAdapter
from invekto.channels.adapters.twilio_sms import signature_matches
from invekto.channels.adapters.twilio_voice import (
    QUERY,
    TwilioVoiceAdapter,
    client_identity,
    explain,
    is_incoming_call,
    parse_webhook,
)
from invekto.channels.models import WebhookEvent
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.twilio_voice import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER_PHONE,
    MP3,
    NUMBER,
    TwilioRequest,
    TwilioVoiceSimulator,
    callbacks_in,
    create_simulator,
)
from invekto.contacts.models import Contact
from invekto.core.actor import Actor
from invekto.core.errors import (
    NotFound,
    PermissionDenied,
    UpstreamUnavailable,
    ValidationFailed,
)
from invekto.inbox.models import Attachment, Conversation, Message
from invekto.inbox.models import CallRecording as CallRecordingRow
from invekto.users import service as users
from tests.channels.harness import ChannelWorld
from tests.processes import serving

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
BASIC = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
AGENT_PHONE = "+905551112233"
FORWARD = "+905441234567"
NOW = datetime(2026, 1, 1, 10, 5, 23, tzinfo=UTC)  # the samples' Timestamp
# When the calls below ended, by their status callbacks' Timestamp (<Dial>'s action has none: it
# counts as ingested now, later than this).
ENDED = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
SAMPLE_CALL = "CA0a1b2c3d4e5f60718a9b0c1d2e3f4a5b"
SAMPLE_RECORDING = "RE1b2c3d4e5f60718a9b0c1d2e3f4a5b6c"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def form(name: str) -> dict:
    data = fixture(name)
    data.pop("_wire_format", None)
    return data


def only(items):
    assert len(items) == 1, items
    return items[0]


def xml(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return root


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def without_query(url: str) -> str:
    return url.split("?", 1)[0]


# ---- the simulator as a real server --------------------------------------------------------------

@pytest.fixture(scope="module")
async def served() -> AsyncIterator[TwilioVoiceSimulator]:
    simulator = create_simulator()
    async with serving(simulator) as base_url:
        simulator.base_url = base_url
        yield simulator


@pytest.fixture
def simulator(served) -> TwilioVoiceSimulator:
    served.reset()
    served.account_status = "active"
    served.webhook_url = None
    served.webhook_transport = None
    return served


@pytest.fixture
async def adapter():
    made = TwilioVoiceAdapter()  # real HTTP, to the simulator's address in the settings
    yield made
    await made.aclose()


def account(simulator, external_id: str | None = NUMBER, token: str = AUTH_TOKEN,
            webhook_url: str | None = "https://crm.example.com/webhooks/voice_twilio/ch1",
            **settings) -> ChannelAccount:
    return ChannelAccount(kind="voice_twilio", external_id=external_id,
                          settings={"api_base_url": simulator.base_url, **settings},
                          credentials={"account_sid": ACCOUNT_SID, "auth_token": token},
                          webhook_url=webhook_url)


AGENT = CallingAgent(user_id=uuid.UUID("01940000-0000-7000-8000-000000000042"),
                     username="bora", name="Bora")


# ---- parsing: every reference sample -------------------------------------------------------------

SAMPLES = ("twilio_voice.incoming_call.form.json",
           "twilio_voice.status_callback_completed.form.json",
           "twilio_voice.recording_status_callback.form.json",
           "twilio_voice.create_call.request.form.json",
           "twilio_voice.create_call.response.json")


def test_every_sample_on_disk_is_covered():
    assert {p.name for p in FIXTURES.glob("twilio_voice.*.json")} == set(SAMPLES)


def test_an_incoming_call_makes_no_entry_and_asks_who_to_ring():
    payload = form("twilio_voice.incoming_call.form.json")
    assert is_incoming_call(payload)
    assert parse_webhook(payload, now=NOW) == []


def test_a_calls_final_status_is_an_entry_like_a_pbx_call():
    # A call placed through the API straight to the customer (no query of ours): the customer
    # is whom it was to; it was answered and lasted CallDuration.
    event = only(parse_webhook(form("twilio_voice.status_callback_completed.form.json"),
                               now=datetime(2030, 1, 1, tzinfo=UTC)))
    assert event == InboundEvent(
        account_id=NUMBER, provider_message_id=f"call:{SAMPLE_CALL}", handle=AGENT_PHONE,
        phone=AGENT_PHONE, sent_at=NOW - timedelta(seconds=143), content_kind="call",
        payload={"call": {
            "direction": "outbound", "outcome": "answered", "from": NUMBER, "to": AGENT_PHONE,
            "started_at": (NOW - timedelta(seconds=143)).isoformat(),
            "ended_at": NOW.isoformat(), "duration_seconds": 143}},
        echo=True)


def test_a_click_to_calls_status_names_the_customer_from_our_query():
    # Twilio rang the agent (+905551112233) first; the customer is in our callback's query,
    # and whether they answered comes with <Dial>'s action.
    payload = {**form("twilio_voice.status_callback_completed.form.json"),
               QUERY: {"event": "status", "direction": "outbound",
                       "customer": CUSTOMER_PHONE, "agent": "Bora"}}
    event = only(parse_webhook(payload, now=NOW))
    assert (event.handle, event.echo, event.payload["call"]["outcome"],
            event.payload["call"]["duration_seconds"]) == (CUSTOMER_PHONE, True, "no_answer", 0)
    assert (event.payload["call"]["from"], event.payload["call"]["to"]) == (NUMBER,
                                                                            CUSTOMER_PHONE)
    # The agent's phone never answered: nobody rang the customer, nothing to keep.
    assert parse_webhook({**payload, "CallStatus": "no-answer"}, now=NOW) == []


def test_a_completed_recording_is_downloaded_as_mp3_for_its_call():
    event = only(parse_webhook(form("twilio_voice.recording_status_callback.form.json")))
    url = ("https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/"
           f"Recordings/{SAMPLE_RECORDING}.mp3")
    assert event == CallRecording(
        account_id="", call_id=f"call:{SAMPLE_CALL}", recording_id=SAMPLE_RECORDING,
        media=MediaRef(url=url, mime_type="audio/mpeg", filename=f"{SAMPLE_RECORDING}.mp3"),
        duration_seconds=138)
    # Our recordingStatusCallback names the parent call; other states keep nothing.
    payload = {**form("twilio_voice.recording_status_callback.form.json"),
               QUERY: {"event": "recording", "call": "CAparent"}}
    assert only(parse_webhook(payload)).call_id == "call:CAparent"
    for status in ("in-progress", "absent", "failed"):
        assert parse_webhook({**payload, "RecordingStatus": status}) == []


@pytest.mark.parametrize("status", ["queued", "initiated", "ringing", "in-progress"])
def test_a_calls_states_before_the_last_make_nothing(status):
    payload = {**form("twilio_voice.status_callback_completed.form.json"), "CallStatus": status}
    assert parse_webhook(payload) == []


@pytest.mark.parametrize(("status", "inbound", "outbound"), [
    ("busy", "busy", "busy"), ("no-answer", "missed", "no_answer"),
    ("canceled", "missed", "no_answer"), ("failed", "failed", "failed"),
    ("completed", "answered", "answered")])
def test_dial_outcomes_by_direction(status, inbound, outbound):
    base = {**form("twilio_voice.incoming_call.form.json"), "CallStatus": "in-progress",
            "DialCallStatus": status, "DialCallDuration": "61", "CallerName": "AYSE YILMAZ"}
    event = only(parse_webhook(base, now=NOW))
    assert (event.echo, event.handle, event.payload["call"]["outcome"], event.contact_name) == (
        False, CUSTOMER_PHONE, inbound, "AYSE YILMAZ")
    assert event.payload["call"]["duration_seconds"] == (61 if inbound == "answered" else 0)
    out = {**base, "Direction": "outbound-api", "From": NUMBER, "To": AGENT_PHONE,
           QUERY: {"event": "dial", "direction": "outbound", "customer": CUSTOMER_PHONE,
                   "agent": "Bora"}}
    event = only(parse_webhook(out, now=NOW))
    assert (event.echo, event.handle, event.payload["call"]["outcome"], event.contact_name) == (
        True, CUSTOMER_PHONE, outbound, None)
    assert event.payload["call"].get("agent") == ("Bora" if outbound == "answered" else None)


@pytest.mark.parametrize("payload", [
    {}, [], {"CallStatus": "completed"},
    {"CallSid": "CA1", "CallStatus": "completed", "CallbackSource": "call-progress-events",
     "Direction": "inbound", "From": "anonymous", "To": NUMBER},
    {"CallSid": "CA1", "RecordingSid": "RE1", "RecordingStatus": "completed"},
])
def test_a_form_that_is_not_a_call_is_refused(payload):
    with pytest.raises(ValueError):
        parse_webhook(payload)


def test_statuses_twilio_may_add_are_ignored():
    assert parse_webhook({"CallSid": "CA1", "CallStatus": "some-new-status",
                          "CallbackSource": "call-progress-events", "Direction": "outbound-api",
                          "From": NUMBER, "To": CUSTOMER_PHONE}) == []


def test_the_adapter_is_registered():
    assert isinstance(adapter_for("voice_twilio"), TwilioVoiceAdapter)
    assert explain("channel_cannot_send", "tr") != explain("channel_cannot_send", "en")
    assert explain("invalid_credentials", "en") == TwilioVoiceAdapter().explain(
        "invalid_credentials", "en")


# ---- the Calls API: click-to-call as documented -------------------------------------------------

async def test_a_click_to_call_is_requested_exactly_as_documented(adapter, simulator):
    documented = form("twilio_voice.create_call.request.form.json")
    webhook = "https://crm.example.com/webhooks/voice_twilio/ch1"
    result = await adapter.originate(account(simulator, webhook_url=webhook),
                                     AGENT, CUSTOMER_PHONE)
    sent = only(simulator.state.calls)
    assert result == CallPlaced(call_id=sent.sid) and sent.sid.startswith("CA")
    assert set(sent.params) == set(documented)
    assert sent.params["StatusCallbackEvent"] == documented["StatusCallbackEvent"]
    for name in ("From", "StatusCallbackMethod", "Record", "Timeout"):
        assert sent.params[name] == documented[name], name
    # Twilio rings the agent first (their browser here), then asks our webhook for the TwiML
    # that rings the customer; statuses and the recording come back with the customer.
    assert sent.params["To"] == f"client:{client_identity(AGENT.user_id)}"
    assert sent.params["To"] == "client:agent_01940000000070008000000000000042"
    for name, event in (("Url", "bridge"), ("StatusCallback", "status"),
                        ("RecordingStatusCallback", "recording")):
        assert without_query(sent.params[name]) == webhook
        assert query_of(sent.params[name])["event"] == event
        assert query_of(sent.params[name])["customer"] == CUSTOMER_PHONE
        assert query_of(sent.params[name])["agent"] == "Bora"
    assert (sent.authorization, sent.content_type) == (BASIC,
                                                       "application/x-www-form-urlencoded")
    request = simulator.state.requests[-1]
    assert (request.method, request.path) == ("POST",
                                              f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")


async def test_an_agent_with_a_phone_is_rung_on_it(adapter, simulator):
    with_phone = CallingAgent(AGENT.user_id, "bora", "Bora", phone=AGENT_PHONE)
    await adapter.originate(account(simulator), with_phone, CUSTOMER_PHONE)
    assert only(simulator.state.calls).params["To"] == AGENT_PHONE


async def test_the_simulator_answers_the_documented_call_resource(simulator):
    documented = fixture("twilio_voice.create_call.response.json")
    request = form("twilio_voice.create_call.request.form.json")
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        answer = await http.post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
                                 data=request, auth=(ACCOUNT_SID, AUTH_TOKEN))
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == set(documented)
    for name in ("account_sid", "direction", "from", "to", "status", "api_version",
                 "parent_call_sid", "price"):
        assert body[name] == documented[name], name
    assert body["uri"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{body['sid']}.json"


async def test_the_simulator_refuses_wrong_credentials_and_bad_calls(simulator):
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    good = {"To": CUSTOMER_PHONE, "From": NUMBER, "Url": "https://x.example/twiml"}
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        answer = await http.post(path, data=good, auth=(ACCOUNT_SID, "wrong"))
        assert (answer.status_code, answer.json()["code"]) == (401, 20003)
        for bad, code in (({**good, "To": "05321234567"}, 21211),
                          ({"To": CUSTOMER_PHONE, "Url": good["Url"]}, 21213),
                          ({"To": CUSTOMER_PHONE, "From": NUMBER}, 21205)):
            answer = await http.post(path, data=bad, auth=(ACCOUNT_SID, AUTH_TOKEN))
            assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert simulator.state.calls == []


@pytest.mark.parametrize(("failure", "expected"), [
    ({"code": 20429}, TemporaryFailure("20429: Too Many Requests")),
    ({"code": 20500}, TemporaryFailure("20500: An internal server error has occurred")),
    ({"code": 21211}, PermanentFailure("invalid_number", explain("invalid_number", "en"))),
    ({"code": 21215, "message": "Geo permission not enabled", "status": 400},
     PermanentFailure("twilio_21215", "21215: Geo permission not enabled")),
])
async def test_provider_errors_map_to_temporary_or_permanent(adapter, simulator, failure,
                                                             expected):
    simulator.fail_next(**failure)
    assert await adapter.originate(account(simulator), AGENT, CUSTOMER_PHONE) == expected


async def test_wrong_credentials_and_missing_settings_fail_clearly(adapter, simulator):
    assert await adapter.originate(account(simulator, token="wrong"), AGENT,
                                   CUSTOMER_PHONE) == PermanentFailure(
        "invalid_credentials", explain("invalid_credentials", "en"))
    assert (await adapter.originate(account(simulator, external_id=None), AGENT,
                                    CUSTOMER_PHONE)).code == "missing_number"
    assert (await adapter.originate(account(simulator, webhook_url=None), AGENT,
                                    CUSTOMER_PHONE)).code == "no_webhook_url"
    assert simulator.state.calls == []


async def test_twilio_unreachable_is_temporary():
    def refuse(request):
        raise httpx.ConnectError("no")

    adapter = TwilioVoiceAdapter(transport=httpx.MockTransport(refuse))
    result = await adapter.originate(ChannelAccount(
        "voice_twilio", NUMBER, {}, {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        webhook_url="https://crm.example.com/w"), AGENT, CUSTOMER_PHONE)
    assert isinstance(result, TemporaryFailure) and AUTH_TOKEN not in repr(result)
    await adapter.aclose()


async def test_recordings_download_with_basic_auth_and_connection_check(adapter, simulator):
    sid, url = simulator.add_recording(b"ID3 recording")
    media = await adapter.fetch_media(account(simulator), MediaRef(url=f"{url}.mp3",
                                                                   mime_type="audio/mpeg"))
    assert (media.data, media.mime_type) == (b"ID3 recording", "audio/mpeg")
    request = simulator.state.requests[-1]
    assert (request.path, request.headers["authorization"]) == (
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.mp3", BASIC)
    assert await adapter.check_connection(account(simulator)) == ConnectionCheck(
        ok=True, detail="Ornek Destek · active")


# ---- end to end: our webhook, the ingest job ----------------------------------------------------

@pytest.fixture
async def voice(world, app, simulator):
    """A Twilio Voice channel of the home company, ringing the Resepsiyon group (Bora)."""
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="voice_twilio", name="Telefon", external_id=NUMBER,
            settings={"api_base_url": simulator.base_url, "group": "resepsiyon"},
            credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}))
    simulator.webhook_url = f"http://testserver/webhooks/voice_twilio/{channel.id}"
    simulator.webhook_transport = httpx.ASGITransport(app=app)
    return ChannelWorld(home, channel.id, simulator, "voice_twilio")


async def online(company, *people) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for person in people:
            await users.touch_presence(session, company.tenant_id, person.user_id)


async def set_channel(voice, **settings) -> None:
    home = voice.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.get_channel(session, home.system, voice.channel_id)
        channel.settings = {**channel.settings, **settings}


async def post(voice, request: TwilioRequest, *, expect: int = 200) -> ET.Element | None:
    """Twilio posts; we answer TwiML (read as XML)."""
    response = await voice.simulator.deliver(request)
    assert response.status_code == expect, response.text
    if expect != 200:
        return None
    assert response.headers["content-type"].startswith("text/xml")
    return xml(response.text)


async def entries(voice) -> list[Message]:
    await voice.ingest_all()
    return await voice.rows(select(Message).where(Message.channel_id == voice.channel_id)
                            .order_by(Message.created_at))


async def count(voice, model) -> int:
    return await voice.scalar(select(func.count()).select_from(model).where(
        model.channel_id == voice.channel_id))


async def incoming(voice, **options) -> tuple[TwilioRequest, ET.Element, str]:
    request = voice.simulator.incoming_call(**options)
    response = await voice.simulator.deliver(request)
    assert response.status_code == 200, response.text
    return request, xml(response.text), response.text


@pytest.mark.parametrize("signature", ["good", None, "wrong"])
async def test_requests_are_verified_like_twilio_sms(voice, signature):
    request = voice.simulator.incoming_call()
    headers = dict(request.headers)
    if signature is None:
        del headers["X-Twilio-Signature"]
    elif signature == "wrong":
        headers["X-Twilio-Signature"] = base64.b64encode(b"0" * 20).decode()
    response = await voice.simulator.deliver(TwilioRequest(request.url, request.params,
                                                           request.body, headers))
    assert response.status_code == (200 if signature == "good" else 401)
    assert await count(voice, WebhookEvent) == (1 if signature == "good" else 0)
    # The query is signed with the URL: a callback whose query was changed is refused.
    forged = f"{voice.simulator.webhook_url}?event=dial&direction=inbound"
    tampered = voice.simulator.signed(forged, {**request.params, "DialCallStatus": "completed"})
    response = await voice.simulator.deliver(TwilioRequest(
        forged.replace("inbound", "outbound"), tampered.params, tampered.body,
        tampered.headers))
    assert response.status_code == 401


async def test_an_incoming_call_rings_the_groups_online_agents_recording_from_the_answer(
        world, voice):
    home = world.home
    await online(home, home.bora, home.deniz)  # Deniz is online but not in Resepsiyon
    request, twiml, text = await incoming(voice)
    (dial,) = twiml
    webhook = voice.simulator.webhook_url
    assert dial.tag == "Dial"
    assert (dial.get("record"), dial.get("timeout"), dial.get("method")) == (
        "record-from-answer-dual", "20", "POST")
    assert without_query(dial.get("action")) == webhook
    assert query_of(dial.get("action")) == {"event": "dial", "direction": "inbound",
                                            "customer": CUSTOMER_PHONE}
    assert without_query(dial.get("recordingStatusCallback")) == webhook
    assert query_of(dial.get("recordingStatusCallback"))["call"] == request.params["CallSid"]
    (client,) = dial
    assert (client.tag, client.text) == ("Client", client_identity(home.bora.user_id))
    assert query_of(client.get("statusCallback")) == {
        "event": "leg", "direction": "inbound", "customer": CUSTOMER_PHONE, "agent": "Bora"}
    assert client.get("statusCallbackEvent") == "initiated ringing answered completed"
    # The XML is well formed and escaped (& between the query's parameters).
    assert "&amp;" in text and "&direction" not in text
    # Kept like every delivery; nothing in the thread until the call ends.
    assert await count(voice, WebhookEvent) == 1
    assert await entries(voice) == []


async def test_with_nobody_online_the_call_is_forwarded(world, voice):
    await set_channel(voice, forward_to=FORWARD)
    _, twiml, _ = await incoming(voice)
    (dial,) = twiml
    (number,) = dial
    assert (number.tag, number.text) == ("Number", FORWARD)
    assert dial.get("record") == "record-from-answer-dual"
    assert query_of(number.get("statusCallback"))["agent"] == FORWARD
    # So is it when the channel's group does not exist (or has nobody online).
    await online(world.home, world.home.bora)
    await set_channel(voice, group="Muhasebe")
    _, twiml, _ = await incoming(voice)
    assert [e.tag for e in twiml.iter()] == ["Response", "Dial", "Number"]


async def test_with_nobody_online_and_no_forward_number_the_caller_leaves_a_voicemail(voice):
    _, twiml, _ = await incoming(voice)
    assert [e.tag for e in twiml] == ["Say", "Say", "Record"]
    turkish, english, record = twiml
    assert turkish.get("language") == "tr-TR" and "mesajınızı" in turkish.text
    assert english.get("language") == "en-US" and "leave a message" in english.text
    assert query_of(record.get("action"))["event"] == "voicemail"
    assert query_of(record.get("recordingStatusCallback"))["event"] == "recording"
    assert record.get("maxLength") == "120"


async def test_an_answered_call_becomes_one_entry_with_its_agent_talk_time_and_recording(
        world, voice):
    home = world.home
    await online(home, home.bora)
    request, _, text = await incoming(voice)
    call_sid = request.params["CallSid"]
    urls = callbacks_in(text)
    sim = voice.simulator
    leg = sim.status(urls["legs"][client_identity(home.bora.user_id)], "CAleg1", "completed",
                     direction="outbound-dial", to=f"client:{client_identity(home.bora.user_id)}",
                     duration=95, parent=call_sid, at=ENDED)
    hang_up = await post(voice, sim.dial_action(urls["action"], call_sid, "completed",
                                                duration=95))
    assert [e.tag for e in hang_up] == ["Hangup"]
    for posted in (leg, sim.recording_status(urls["recordingStatusCallback"], call_sid),
                   sim.status(None, call_sid, "completed", duration=110, at=ENDED)):
        assert [e.tag for e in await post(voice, posted)] == []  # an empty <Response/>
    (entry,) = await entries(voice)
    assert (entry.direction, entry.content_kind, entry.provider_message_id) == (
        "inbound", "call", f"call:{call_sid}")
    call = entry.payload["call"]
    assert {k: call[k] for k in ("direction", "outcome", "from", "to", "duration_seconds",
                                 "agent")} == {
        "direction": "inbound", "outcome": "answered", "from": CUSTOMER_PHONE, "to": NUMBER,
        "duration_seconds": 95, "agent": "Bora"}
    assert call["started_at"] == (ENDED - timedelta(seconds=110)).isoformat()
    attachment = await voice.scalar(select(Attachment).where(
        Attachment.id == entry.attachment_id))
    assert (attachment.content_type, attachment.filename.endswith(".mp3")) == ("audio/mpeg",
                                                                               True)
    assert await home.rt.storage.get(attachment.storage_key) == MP3
    download = only([r for r in sim.state.requests if "/Recordings/" in r.path])
    assert download.path.endswith(".mp3") and download.headers["authorization"] == BASIC
    preview = await voice.scalar(select(Conversation.last_message_preview).where(
        Conversation.id == entry.conversation_id))
    assert preview == "📞"
    contact = await voice.scalar(select(Contact).where(Contact.id == entry.contact_id))
    assert contact.phone == CUSTOMER_PHONE


async def _answered_call(world, voice) -> list[TwilioRequest]:
    """An answered incoming call's final requests, in Twilio's usual order."""
    home = world.home
    await online(home, home.bora)
    request, _, text = await incoming(voice)
    call_sid, urls, sim = request.params["CallSid"], callbacks_in(text), voice.simulator
    identity = client_identity(home.bora.user_id)
    return [sim.status(urls["legs"][identity], "CAleg2", "completed", direction="outbound-dial",
                       to=f"client:{identity}", duration=40, parent=call_sid, at=ENDED),
            sim.dial_action(urls["action"], call_sid, "completed", duration=40),
            sim.status(None, call_sid, "completed", duration=52, at=ENDED),
            sim.recording_status(urls["recordingStatusCallback"], call_sid)]


async def test_every_request_delivered_again_changes_nothing(world, voice):
    requests = await _answered_call(world, voice)
    for request in requests:
        await post(voice, request)
    first = only(await entries(voice))
    for request in [*requests, *requests, requests[-1]]:
        await post(voice, request)
    # Sent again with another body (a retry Twilio built anew): the same call, the same
    # recording (by its RecordingSid), nothing downloaded twice.
    for request in requests:
        await post(voice, voice.simulator.signed(request.url, {**request.params, "Retry": "1"}))
    again = only(await entries(voice))
    assert (again.id, again.payload, again.attachment_id) == (first.id, first.payload,
                                                              first.attachment_id)
    assert await count(voice, CallRecordingRow) == 1
    assert len([r for r in voice.simulator.state.requests if "/Recordings/" in r.path]) == 1
    assert await voice.scalar(select(func.count()).select_from(Attachment).where(
        Attachment.tenant_id == world.home.tenant_id)) == 1


@pytest.mark.parametrize(("order", "one_by_one"), [
    ("recording_first", True), ("recording_last", True), ("reversed", True),
    ("recording_first", False), ("reversed", False)])
async def test_any_order_gives_the_same_entry_and_the_recording_is_attached(world, voice, order,
                                                                           one_by_one):
    leg, dial, parent, recording = await _answered_call(world, voice)
    sequence = {"recording_first": [recording, leg, dial, parent],
                "recording_last": [leg, dial, parent, recording],
                "reversed": [recording, parent, dial, leg]}[order]
    for request in sequence:
        await post(voice, request)
        if one_by_one:
            await voice.ingest_all()  # each in a batch of its own
            if request is recording and order == "recording_first":
                # Kept and downloaded, waiting for its call's entry.
                assert await count(voice, CallRecordingRow) == 1
                assert await entries(voice) == []
    entry = only(await entries(voice))
    call = entry.payload["call"]
    assert (call["outcome"], call["duration_seconds"], call["agent"]) == ("answered", 40,
                                                                          "Bora")
    assert call["started_at"] == (ENDED - timedelta(seconds=52)).isoformat()
    assert (call["from"], call["to"]) == (CUSTOMER_PHONE, NUMBER)
    assert entry.attachment_id is not None
    # A late state before the last one (reordered delivery) takes nothing back.
    await post(voice, voice.simulator.status(None, dial.params["CallSid"], "ringing",
                                             sequence=1))
    assert only(await entries(voice)).payload == entry.payload


async def test_a_missed_call_opens_the_conversation_with_its_voicemail(world, voice):
    request, _, text = await incoming(voice)  # nobody online, no forward number
    call_sid, urls, sim = request.params["CallSid"], callbacks_in(text), voice.simulator
    assert [e.tag for e in await post(voice, sim.record_action(urls["action"], call_sid))] == [
        "Hangup"]
    await post(voice, sim.recording_status(urls["recordingStatusCallback"], call_sid,
                                           source="RecordVerb", duration=12))
    await post(voice, sim.status(None, call_sid, "completed", duration=30, at=ENDED))
    (entry,) = await entries(voice)
    assert (entry.direction, entry.payload["call"]["outcome"],
            entry.payload["call"]["voicemail"], entry.payload["call"]["duration_seconds"]) == (
        "inbound", "missed", True, 0)
    assert "agent" not in entry.payload["call"] and entry.attachment_id is not None
    conversation = await voice.scalar(select(Conversation).where(
        Conversation.id == entry.conversation_id))
    assert (conversation.status, conversation.unread_count) == ("open", 1)
    assert conversation.waiting_since is not None


async def test_nobody_answering_the_dial_sends_the_caller_to_voicemail_and_is_missed(world,
                                                                                    voice):
    await online(world.home, world.home.bora)
    request, _, text = await incoming(voice)
    urls = callbacks_in(text)
    twiml = await post(voice, voice.simulator.dial_action(urls["action"],
                                                          request.params["CallSid"],
                                                          "no-answer"))
    assert [e.tag for e in twiml] == ["Say", "Say", "Record"]
    (entry,) = await entries(voice)
    assert entry.payload["call"]["outcome"] == "missed"


async def test_a_busy_forward_number_is_a_busy_call_that_waits_for_a_call_back(voice):
    await set_channel(voice, forward_to=FORWARD)
    request, _, text = await incoming(voice)
    await post(voice, voice.simulator.dial_action(callbacks_in(text)["action"],
                                                  request.params["CallSid"], "busy"))
    (entry,) = await entries(voice)
    assert entry.payload["call"]["outcome"] == "busy"
    conversation = await voice.scalar(select(Conversation).where(
        Conversation.id == entry.conversation_id))
    assert (conversation.status, conversation.unread_count) == ("open", 1)


async def test_a_reply_on_the_twilio_phone_line_fails_visibly(voice):
    request, _, _ = await incoming(voice)
    await post(voice, voice.simulator.status(None, request.params["CallSid"], "completed",
                                             duration=5))
    (entry,) = await entries(voice)
    reply_id = await voice.reply(entry.conversation_id, "Sizi arayacağız")
    await voice.deliver_reply(reply_id)
    reply = await voice.scalar(select(Message).where(Message.id == reply_id))
    assert (reply.status, reply.error_code) == ("failed", "channel_cannot_send")


# ---- click-to-call through the service and the JSON API -----------------------------------------

async def customer(company, phone: str | None = CUSTOMER_PHONE):
    """A contact with a conversation in the shared queue (every agent sees it)."""
    message = await company.inbound("Beni arayın", phone=phone, name="Ayşe")
    return message.contact_id


async def call_as(company, person, contact_id, actor: Actor | None = None):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        if actor is None:
            actor = Actor(tenant_id=company.tenant_id, role=person.role, user_id=person.user_id,
                          language="en")
        return await calls.call_contact(session, actor, contact_id,
                                        base_url="http://testserver/")


async def test_click_to_call_rings_the_agent_then_the_customer_and_ends_as_an_entry(world,
                                                                                   voice):
    home = world.home
    await set_channel(voice, agent_phones=f"deniz=+905551112299 bora={AGENT_PHONE}")
    contact_id = await customer(home)
    placed = await call_as(home, home.bora, contact_id)
    sent = only(voice.simulator.state.calls)
    assert (placed.channel_id, placed.call_id, placed.to) == (voice.channel_id, sent.sid,
                                                              CUSTOMER_PHONE)
    assert (sent.params["To"], sent.params["From"]) == (AGENT_PHONE, NUMBER)
    assert without_query(sent.params["Url"]) == voice.simulator.webhook_url
    # The agent answers: Twilio asks the Url, which rings the customer from our number.
    twiml = await post(voice, voice.simulator.bridge(sent.params["Url"], sent.sid,
                                                     agent=AGENT_PHONE))
    (dial,) = twiml
    (number,) = dial
    assert (dial.get("callerId"), number.tag, number.text) == (NUMBER, "Number", CUSTOMER_PHONE)
    sim = voice.simulator
    for request in (
            sim.status(number.get("statusCallback"), "CAchild", "completed",
                       direction="outbound-dial", sender=NUMBER, to=CUSTOMER_PHONE, duration=75,
                       parent=sent.sid, at=ENDED),
            sim.dial_action(dial.get("action"), sent.sid, "completed", duration=75,
                            direction="outbound-api", sender=NUMBER, to=AGENT_PHONE),
            sim.recording_status(sent.params["RecordingStatusCallback"], sent.sid,
                                 source="OutboundAPI"),
            sim.status(sent.params["StatusCallback"], sent.sid, "completed",
                       direction="outbound-api", sender=NUMBER, to=AGENT_PHONE, duration=90,
                       at=ENDED)):
        await post(voice, request)
    (entry,) = await entries(voice)
    assert (entry.direction, entry.status, entry.sender_kind, entry.contact_id) == (
        "outbound", "sent", "agent", contact_id)
    call = entry.payload["call"]
    assert {k: call[k] for k in ("direction", "outcome", "from", "to", "duration_seconds",
                                 "agent")} == {
        "direction": "outbound", "outcome": "answered", "from": NUMBER, "to": CUSTOMER_PHONE,
        "duration_seconds": 75, "agent": "Bora"}
    assert entry.attachment_id is not None
    audit = await voice.scalar(select(AuditEvent).where(
        AuditEvent.tenant_id == home.tenant_id, AuditEvent.action == "contact.called"))
    assert (audit.actor_id, audit.target_id, audit.data["call_id"]) == (
        home.bora.user_id, contact_id, sent.sid)


async def test_the_customer_not_answering_a_click_to_call_is_kept_as_no_answer(world, voice):
    contact_id = await customer(world.home)
    await call_as(world.home, world.home.bora, contact_id)
    sent = only(voice.simulator.state.calls)
    sim = voice.simulator
    dial = only(xml((await sim.deliver(sim.bridge(sent.params["Url"], sent.sid,
                                                  agent="client:x"))).text))
    await post(voice, sim.status(sent.params["StatusCallback"], sent.sid, "completed",
                                 direction="outbound-api", sender=NUMBER, to="client:x",
                                 duration=31))
    await post(voice, sim.dial_action(dial.get("action"), sent.sid, "no-answer",
                                      direction="outbound-api", sender=NUMBER, to="client:x"))
    (entry,) = await entries(voice)
    assert (entry.direction, entry.payload["call"]["outcome"],
            entry.payload["call"]["duration_seconds"]) == ("outbound", "no_answer", 0)


@pytest.mark.parametrize(("failure", "error", "field"), [
    ({"code": 20429}, UpstreamUnavailable, "channel_id"),
    ({"code": 21211}, ValidationFailed, "phone"),
    ({"code": 20003, "status": 401}, UpstreamUnavailable, "channel_id"),
])
async def test_the_providers_refusal_is_a_clear_error(world, voice, failure, error, field):
    contact_id = await customer(world.home)
    voice.simulator.fail_next(**failure)
    with pytest.raises(error) as caught:
        await call_as(world.home, world.home.bora, contact_id)
    assert caught.value.field == field
    if failure["code"] == 20003:
        assert caught.value.params["reason"] == explain("invalid_credentials", "en")


async def test_click_to_call_needs_a_phone_a_voice_channel_a_person_and_a_visible_contact(
        world, voice):
    home = world.home
    with pytest.raises(ValidationFailed) as caught:
        await call_as(home, home.bora, await customer(home, phone=None))
    assert (caught.value.field, caught.value.template) == (
        "phone", "this contact has no phone number to call")
    contact_id = await customer(home)
    with pytest.raises(PermissionDenied):
        await call_as(home, home.bora, contact_id, actor=Actor(tenant_id=home.tenant_id,
                                                               role="admin", kind="api_key"))
    # A contact Bora cannot see (only in another group's queue) is not found, as ever.
    other = await customer(home, phone="+905321234599")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        conversation = await session.scalar(select(Conversation).where(
            Conversation.contact_id == other))
        conversation.assignee_id = home.deniz.user_id
    with pytest.raises(NotFound):
        await call_as(home, home.bora, other)
    # Charlie's company has no voice channel.
    charlie = world.charlie
    contact_id = await customer(charlie)
    with pytest.raises(ValidationFailed) as caught:
        await call_as(charlie, charlie.ayla, contact_id)
    assert caught.value.field == "channel_id"
    # A switched-off channel places no calls either.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        (await channels.get_channel(session, home.system, voice.channel_id)).is_active = False
    with pytest.raises(ValidationFailed):
        await call_as(home, home.bora, contact_id=await customer(home))
    assert voice.simulator.state.calls == []


async def test_the_json_api_places_the_call_and_answers_errors_with_their_field(world, voice):
    home = world.home
    contact_id = await customer(home)
    response = await home.bora.client.post(f"/api/v1/contacts/{contact_id}/call")
    assert response.status_code == 201, response.text
    sent = only(voice.simulator.state.calls)
    assert response.json() == {"channel_id": str(voice.channel_id), "call_id": sent.sid,
                               "to": CUSTOMER_PHONE}
    assert without_query(sent.params["StatusCallback"]) == (
        f"http://testserver/webhooks/voice_twilio/{voice.channel_id}")
    voice.simulator.fail_next(code=20429)
    response = await home.bora.client.post(f"/api/v1/contacts/{contact_id}/call")
    assert response.status_code == 502
    assert response.json()["error"]["field"] == "channel_id"
    nobody = await customer(home, phone=None)
    response = await home.bora.client.post(f"/api/v1/contacts/{nobody}/call")
    assert (response.status_code, response.json()["error"]["field"]) == (422, "phone")


# ---- click-to-call through a PBX -----------------------------------------------------------------

class PbxStub:
    """A PBX's click-to-call endpoint: records what it is asked, answers as told."""

    def __init__(self):
        self.received: list[tuple[dict, dict]] = []
        self.answers: list[Response] = []
        self.app = Starlette(routes=[Route("/originate", self.originate, methods=["POST"])])

    async def originate(self, request: Request) -> Response:
        self.received.append((await request.json(), dict(request.headers)))
        return self.answers.pop(0) if self.answers else JSONResponse({"ok": True})


@pytest.fixture(scope="module")
async def pbx_server() -> AsyncIterator[tuple[PbxStub, str]]:
    stub = PbxStub()
    async with serving(stub.app) as base_url:
        yield stub, base_url


@pytest.fixture
async def pbx(world, pbx_server):
    stub, base_url = pbx_server
    stub.received.clear()
    stub.answers.clear()
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="voice", name="Santral", settings={
                "originate_url": f"{base_url}/originate",
                "agent_extensions": "bora=101 sevgi=102"}))
        token = channels.webhook_secret(channel)
    return stub, channel, token


async def test_a_pbx_is_asked_exactly_as_documented(world, pbx):
    stub, channel, token = pbx
    home = world.home
    contact_id = await customer(home)
    placed = await call_as(home, home.bora, contact_id)
    body, headers = only(stub.received)
    assert body == {"agent": "bora", "extension": "101", "to": CUSTOMER_PHONE,
                    "call_id": placed.call_id}
    assert str(uuid.UUID(placed.call_id)) == placed.call_id
    assert headers["x-invekto-webhook-token"] == token
    assert headers["content-type"] == "application/json"
    assert placed.channel_id == channel.id
    # An agent without an extension: the PBX finds them by username.
    await call_as(home, home.deniz, contact_id)
    assert stub.received[-1][0] == {"agent": "deniz", "to": CUSTOMER_PHONE,
                                    "call_id": stub.received[-1][0]["call_id"]}


async def test_a_pbxs_refusal_or_trouble_is_a_clear_error(world, pbx):
    stub, _, _ = pbx
    contact_id = await customer(world.home)
    stub.answers.append(JSONResponse({"error": "extension 101 is busy"}, status_code=409))
    with pytest.raises(UpstreamUnavailable) as caught:
        await call_as(world.home, world.home.bora, contact_id)
    assert (caught.value.field, caught.value.params) == ("channel_id",
                                                         {"reason": "extension 101 is busy"})
    stub.answers.append(Response("down", status_code=503))
    with pytest.raises(UpstreamUnavailable) as caught:
        await call_as(world.home, world.home.bora, contact_id)
    assert caught.value.template.startswith("the voice provider cannot place the call")


async def test_a_pbx_without_a_click_to_call_address_places_no_calls(world, pbx):
    _, channel, _ = pbx
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        found = await channels.get_channel(session, home.system, channel.id)
        assert calls.can_place_calls(found)
        found.settings = {}
        assert not calls.can_place_calls(found)
    assert not PbxAdapter().can_originate(ChannelAccount("voice", None, {"originate_url": "x"},
                                                         {}))
    with pytest.raises(ValidationFailed):
        await call_as(home, home.bora, await customer(home))


def test_agent_numbers_read_username_pairs():
    assert calls.agent_numbers("bora=+905551112233, Deniz=102;x") == {
        "bora": "+905551112233", "deniz": "102"}
    assert calls.agent_numbers(None) == {}


def test_the_signature_helper_is_the_sms_channels():
    request_url = "https://crm.example.com/webhooks/voice_twilio/ch1?event=dial&customer=%2B90"
    simulator = TwilioVoiceSimulator()
    signed = simulator.signed(request_url, {"CallSid": "CA1", "DialCallStatus": "completed"})
    assert signature_matches(AUTH_TOKEN, request_url, signed.params,
                             signed.headers["X-Twilio-Signature"])

"""Twilio Programmable Voice (``voice_twilio``): calls to and from a Twilio number become call
entries in the customers' threads, and agents start calls from the contact card.

Channel setup (as for ``sms_twilio``): ``credentials["account_sid"]`` and
``credentials["auth_token"]`` (REST basic auth, and the key of ``X-Twilio-Signature``);
``external_id`` is the Twilio number in E.164. Settings: ``group`` (the agent group, by name,
whose online agents are rung), ``forward_to`` (E.164: where calls go when nobody of the group is
online), ``agent_phones`` (``username=+90…`` pairs: click-to-call rings these phones instead of
the agent's browser), ``api_base_url`` (the simulator in tests).

Everything Twilio sends comes to the channel's one webhook, ``/webhooks/voice_twilio/{id}``:
the number's "A call comes in" (and, if set in its console, "Call status changes") and every
callback URL our TwiML or our Calls API request names. Those carry a query of ours, which the
intake keeps under ``QUERY`` beside the form (Twilio signs the URL with it, so it cannot be
forged): ``event`` (which callback it is), ``direction``, ``customer`` (the customer's number),
``agent`` (who was rung) and ``call`` (the parent call's sid, for recordings).

Each request is answered with TwiML at once (`answer`), and stored through the intake. The
ingest parses it (`parse_webhook`):

* only final states count: a parent call's final status (``completed``, ``busy``,
  ``no-answer``, ``failed``, ``canceled``), ``<Dial>``'s action (``DialCallStatus``), an agent's
  leg that ended ``completed`` (it was answered: who and for how long) and the end of a
  voicemail (``<Record>``'s action). Each is an `InboundEvent` of kind ``call`` keyed
  ``call:{parent CallSid}``: the first makes the call's entry, like a PBX's call (inbound calls
  as the customer's, a missed one opening the conversation; outbound ones as the business's),
  and the others complete it. Merging is monotonic (``answered`` beats every other outcome, talk
  time only grows, start and end keep their earliest report; a request without ``Timestamp``
  counts as now), so callbacks in any order, repeated or late, end in the same entry and never
  take it back; ``ringing``/``in-progress`` are ignored (SequenceNumber need not be compared).
* a recording callback with ``RecordingStatus=completed`` is a `CallRecording`:
  ``{RecordingUrl}.mp3`` is downloaded with basic auth during ingest into our storage and
  attached to the call's entry, whichever comes first (``inbox.calls``), once per RecordingSid.

TwiML is written here with ``xml.etree`` (decision 0012: no provider SDK for a few elements).
Wire format: /work/shared/reference/providers/twilio_voice.md.
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from invekto.channels.adapters import twilio_sms
from invekto.channels.adapters.base import (
    CallingAgent,
    CallPlaced,
    CallRecording,
    CallResult,
    ChannelAccount,
    InboundEvent,
    MediaRef,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
    WebhookEvent,
)
from invekto.channels.adapters.twilio_sms import TwilioSmsAdapter, error_code
from invekto.core.errors import ValidationFailed
from invekto.core.phone import to_e164

__all__ = [
    "QUERY",
    "TwilioVoiceAdapter",
    "answer",
    "callback_url",
    "client_identity",
    "explain",
    "is_incoming_call",
    "parse_webhook",
]

# Where the intake keeps the query of the URL Twilio posted to (ours: see the docstring).
QUERY = "_query"
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
# How long agents (or the forward number) ring, and the customer on a click-to-call.
RING_SECONDS = 20
# Twilio takes at most ten nouns in one <Dial>: the first ten online agents are rung.
MAX_RUNG = 10
CALL_TIMEOUT_SECONDS = 30
VOICEMAIL_SECONDS = 120
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
VOICEMAIL_PROMPTS = (  # (language, voice, text)
    ("tr-TR", "Polly.Filiz", "Şu anda çağrınızı yanıtlayamıyoruz. Lütfen sinyal sesinden sonra "
                             "mesajınızı bırakın."),
    ("en-US", "Polly.Joanna", "We cannot take your call right now. Please leave a message "
                              "after the tone."),
)


def client_identity(user_id: uuid.UUID) -> str:
    """The Twilio Client identity an agent's browser registers with (``<Client>``,
    ``client:…``): letters, digits and underscores only."""
    return f"agent_{user_id.hex}"


# How long a browser's Voice SDK token lasts; the softphone asks for a new one before the end.
TOKEN_SECONDS = 3600


def access_token(account: ChannelAccount, identity: str, *, issued_at: int | None = None
                 ) -> str | None:
    """A Voice SDK access token letting the browser of ``identity`` receive this number's
    calls (``<Client>``): Twilio's JWT (``cty: twilio-fpa;v=1``), signed with the channel's
    API key. None when the channel has no API key."""
    key_sid = str(account.settings.get("api_key_sid") or "")
    secret = str(account.credentials.get("api_key_secret") or "")
    account_sid = str(account.credentials.get("account_sid") or "")
    if not (key_sid and secret and account_sid):
        return None
    issued = int(time.time()) if issued_at is None else issued_at
    return jwt.encode({
        "jti": f"{key_sid}-{issued}", "iss": key_sid, "sub": account_sid, "nbf": issued,
        "exp": issued + TOKEN_SECONDS,
        "grants": {"identity": identity, "voice": {"incoming": {"allow": True}}},
    }, secret, algorithm="HS256", headers={"cty": "twilio-fpa;v=1"})


def callback_url(webhook_url: str, **params: str | None) -> str:
    """The channel's webhook with our query (empty values left out)."""
    query = urlencode({name: value for name, value in params.items() if value})
    return f"{webhook_url}?{query}" if query else webhook_url


# ---- reading a form ------------------------------------------------------------------------------

def _one(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return "" if value is None else str(value).strip()


def _query(payload: Mapping[str, Any]) -> dict[str, str]:
    query = payload.get(QUERY)
    return {str(k): _one(query, k) for k in query} if isinstance(query, Mapping) else {}


def _seconds(value: str) -> int:
    return int(value) if value.isdigit() else 0


def _phone(value: str) -> str:
    try:
        return to_e164(value)
    except ValidationFailed as exc:
        raise ValueError(f"the customer's number {value!r} is not a phone number") from exc


def _is_client(address: str) -> bool:
    return address.startswith("client:")


def _moment(value: str, default: datetime) -> datetime:
    if not value:
        return default
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _kind(payload: Mapping[str, Any], query: Mapping[str, str]) -> str:
    """Which request this is: recording, dial, voicemail, bridge, leg, status or incoming."""
    event = query.get("event", "")
    if _one(payload, "RecordingSid") and _one(payload, "RecordingStatus"):
        return "recording"
    if _one(payload, "DialCallStatus"):
        return "dial"
    if event in ("voicemail", "bridge", "leg"):
        return event
    if event == "status" or _one(payload, "CallbackSource") or _one(payload, "SequenceNumber"):
        return "leg" if _one(payload, "ParentCallSid") and event != "status" else "status"
    return "incoming"


def is_incoming_call(payload: Mapping[str, Any]) -> bool:
    """Whether this is the number's "A call comes in" request, which asks who to ring."""
    return (_kind(payload, _query(payload)) == "incoming"
            and _one(payload, "Direction") in ("", "inbound"))


# ---- TwiML ---------------------------------------------------------------------------------------

def _document(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def _response() -> ET.Element:
    return ET.Element("Response")


def _hang_up() -> str:
    root = _response()
    ET.SubElement(root, "Hangup")
    return _document(root)


def _empty() -> str:
    return _document(_response())


def _status_callback(element: ET.Element, url: str) -> None:
    element.set("statusCallback", url)
    element.set("statusCallbackEvent", " ".join(STATUS_EVENTS))
    element.set("statusCallbackMethod", "POST")


@dataclass(frozen=True)
class RingAgent:
    """An online agent an incoming call rings in their browser."""

    identity: str
    name: str


def _dial_in(webhook_url: str, payload: Mapping[str, Any], *,
             agents: Sequence[RingAgent], forward_to: str | None) -> str:
    """An incoming call: ring ``agents`` (their browsers), else ``forward_to``, recording from
    the answer; ``<Dial>``'s action comes back to us (a voicemail if nobody answered)."""
    call_sid, customer = _one(payload, "CallSid"), _one(payload, "From")
    context = {"direction": "inbound", "customer": customer}
    root = _response()
    dial = ET.SubElement(root, "Dial", {
        "timeout": str(RING_SECONDS), "answerOnBridge": "true",
        "record": "record-from-answer-dual",
        "recordingStatusCallback": callback_url(webhook_url, event="recording", call=call_sid,
                                                **context),
        "recordingStatusCallbackEvent": "completed", "recordingStatusCallbackMethod": "POST",
        "action": callback_url(webhook_url, event="dial", **context), "method": "POST"})
    if agents:
        for agent in agents[:MAX_RUNG]:
            client = ET.SubElement(dial, "Client")
            client.text = agent.identity
            _status_callback(client, callback_url(webhook_url, event="leg", agent=agent.name,
                                                  **context))
    else:
        number = ET.SubElement(dial, "Number")
        number.text = forward_to
        _status_callback(number, callback_url(webhook_url, event="leg", agent=forward_to,
                                              **context))
    return _document(root)


def _voicemail(webhook_url: str, payload: Mapping[str, Any]) -> str:
    """A short greeting in Turkish and English, then a recorded message."""
    context = {"direction": "inbound", "customer": _one(payload, "From")}
    root = _response()
    for language, voice, text in VOICEMAIL_PROMPTS:
        say = ET.SubElement(root, "Say", {"language": language, "voice": voice})
        say.text = text
    ET.SubElement(root, "Record", {
        "maxLength": str(VOICEMAIL_SECONDS), "playBeep": "true",
        "action": callback_url(webhook_url, event="voicemail", **context), "method": "POST",
        "recordingStatusCallback": callback_url(webhook_url, event="recording",
                                                call=_one(payload, "CallSid"), **context),
        "recordingStatusCallbackEvent": "completed", "recordingStatusCallbackMethod": "POST"})
    return _document(root)


def _bridge(webhook_url: str, payload: Mapping[str, Any], query: Mapping[str, str]) -> str:
    """A click-to-call's agent answered: ring the customer, showing the channel's number."""
    customer = query.get("customer", "")
    if not customer:
        return _hang_up()
    context = {"direction": "outbound", "customer": customer, "agent": query.get("agent")}
    root = _response()
    dial = ET.SubElement(root, "Dial", {
        "callerId": _one(payload, "From"), "timeout": str(CALL_TIMEOUT_SECONDS),
        "action": callback_url(webhook_url, event="dial", **context), "method": "POST"})
    number = ET.SubElement(dial, "Number")
    number.text = customer
    _status_callback(number, callback_url(webhook_url, event="leg", **context))
    return _document(root)


def answer(payload: Mapping[str, Any], webhook_url: str, *,
           agents: Sequence[RingAgent] = (), forward_to: str | None = None) -> str:
    """The TwiML Twilio gets back for this request. An incoming call rings ``agents``, else
    ``forward_to``, else goes to voicemail; a click-to-call whose agent answered rings the
    customer; a ``<Dial>`` nobody answered on an incoming call goes to voicemail; anything else
    (status and recording callbacks) gets an empty answer. ``webhook_url``: the channel's webhook
    as Twilio reaches it, without a query."""
    query = _query(payload)
    kind = _kind(payload, query)
    if kind == "incoming" and is_incoming_call(payload):
        if agents or forward_to:
            return _dial_in(webhook_url, payload, agents=agents, forward_to=forward_to)
        return _voicemail(webhook_url, payload)
    if kind == "bridge":
        return _bridge(webhook_url, payload, query)
    if kind == "dial":
        answered = _one(payload, "DialCallStatus") in ("completed", "answered")
        if not answered and query.get("direction", "inbound") == "inbound" and (
                _one(payload, "Direction") in ("", "inbound")):
            return _voicemail(webhook_url, payload)
        return _hang_up()
    if kind == "voicemail":
        return _hang_up()
    return _empty()


# ---- parsing what Twilio posted ------------------------------------------------------------------

# Our outcome for a final status: (inbound, outbound).
_OUTCOMES = {"completed": ("answered", "answered"), "answered": ("answered", "answered"),
             "busy": ("busy", "busy"), "failed": ("failed", "failed"),
             "no-answer": ("missed", "no_answer"), "canceled": ("missed", "no_answer")}


def _direction(payload: Mapping[str, Any], query: Mapping[str, str]) -> str:
    if query.get("direction") in ("inbound", "outbound"):
        return query["direction"]
    return "inbound" if _one(payload, "Direction") in ("", "inbound") else "outbound"


def _outcome(status: str, direction: str) -> str:
    inbound, outbound = _OUTCOMES.get(status, ("failed", "failed"))
    return inbound if direction == "inbound" else outbound


def parse_webhook(payload: Mapping[str, Any], *, now: datetime | None = None
                  ) -> list[WebhookEvent]:
    """The call entry (or recording) a Twilio Voice request makes, or nothing for one that does
    not (see the module's docstring). ValueError for a form that is not a call's."""
    if not isinstance(payload, Mapping):
        raise ValueError("a Twilio webhook is a form")
    sid = _one(payload, "CallSid")
    if not sid:
        raise ValueError("no CallSid: not a Twilio Voice webhook")
    now = now or datetime.now(UTC)
    query = _query(payload)
    kind = _kind(payload, query)
    if kind == "recording":
        return _recording(payload, query)
    if kind in ("incoming", "bridge"):
        return []  # the call has only begun: its answer was TwiML
    direction = _direction(payload, query)
    status = _one(payload, "CallStatus")
    call_id = sid
    talk = 0
    agent = query.get("agent") or None
    if kind == "dial":
        status = _one(payload, "DialCallStatus")
        talk = _seconds(_one(payload, "DialCallDuration"))
    elif kind == "voicemail":
        status = "no-answer"
    elif kind == "leg":
        call_id = _one(payload, "ParentCallSid") or query.get("call") or sid
        if status != "completed":
            return []  # an agent who did not answer says nothing about the call
        if not query.get("direction"):
            direction = "inbound" if _is_client(_one(payload, "To")) else "outbound"
        talk = _seconds(_one(payload, "CallDuration"))
    else:  # the parent call's own status
        if status not in FINAL_STATUSES:
            return []
        if direction == "inbound" and status == "completed":
            # Twilio answered it (our TwiML ran); whether a person did, <Dial> and the
            # agents' legs say.
            status = "no-answer"
        elif direction == "outbound" and query.get("customer"):
            # Click-to-call: this leg is the agent's. Unless they answered, nobody rang the
            # customer; if they did, the customer's side comes with <Dial>'s action.
            if status != "completed":
                return []
            status = "no-answer"
        elif direction == "outbound":
            talk = _seconds(_one(payload, "CallDuration"))
    if status not in _OUTCOMES:
        raise ValueError(f"unknown call status {status!r}")
    outcome = _outcome(status, direction)
    if outcome != "answered":
        talk = 0
    sender, receiver = _one(payload, "From"), _one(payload, "To")
    if kind == "leg" and direction == "inbound":
        receiver = ""  # the agent's leg (client:…, or the forward number): not our number
    customer = _phone(query.get("customer") or (sender if direction == "inbound" else receiver))
    ours = receiver if direction == "inbound" else sender
    ours = "" if _is_client(ours) or kind == "leg" else ours
    ended = _moment(_one(payload, "Timestamp"), now)
    if kind == "status":
        started = ended - timedelta(seconds=_seconds(_one(payload, "CallDuration")))
    else:
        started = ended - timedelta(seconds=talk)
    call: dict[str, Any] = {
        "direction": direction, "outcome": outcome,
        "from": customer if direction == "inbound" else ours,
        "to": ours if direction == "inbound" else customer,
        "started_at": started.isoformat(), "ended_at": ended.isoformat(),
        "duration_seconds": talk}
    if agent and outcome == "answered":
        call["agent"] = agent[:100]
    if kind == "voicemail":
        call["voicemail"] = True
    return [InboundEvent(
        account_id=ours, provider_message_id=f"call:{call_id}", handle=customer, phone=customer,
        sent_at=started, content_kind="call", body="", payload={"call": call},
        contact_name=(_one(payload, "CallerName") or None) if direction == "inbound" else None,
        echo=direction == "outbound")]


def _recording(payload: Mapping[str, Any], query: Mapping[str, str]) -> list[WebhookEvent]:
    if _one(payload, "RecordingStatus") != "completed":
        return []  # in-progress, absent or failed: nothing to keep
    url, recording_sid = _one(payload, "RecordingUrl"), _one(payload, "RecordingSid")
    if not url.startswith(("https://", "http://")):
        raise ValueError("a completed recording without a RecordingUrl")
    call_sid = query.get("call") or _one(payload, "CallSid")
    duration = _one(payload, "RecordingDuration")
    return [CallRecording(
        account_id="", call_id=f"call:{call_sid}", recording_id=recording_sid,
        media=MediaRef(url=f"{url}.mp3", mime_type="audio/mpeg",
                       filename=f"{recording_sid}.mp3"),
        duration_seconds=int(duration) if duration.isdigit() else None)]


# ---- explanations --------------------------------------------------------------------------------

_EXPLANATIONS: dict[str, tuple[str, str]] = {  # code → (English, Turkish)
    "channel_cannot_send": ("A phone line carries calls, not written messages: call the "
                            "customer back, or write on one of their other channels.",
                            "Telefon hattı yazılı mesaj taşımaz: müşteriyi geri arayın ya da "
                            "diğer kanallarından birinden yazın."),
    "missing_number": ("The channel has no Twilio number to call from; an admin must enter "
                       "one.",
                       "Kanalda arama yapılacak bir Twilio numarası yok; bir yöneticinin "
                       "girmesi gerekiyor."),
    "no_webhook_url": ("Invekto does not know its own public address, so Twilio could not "
                       "report the call.",
                       "Invekto kendi herkese açık adresini bilmediği için Twilio aramayı "
                       "bildiremezdi."),
    "call_unknown": ("The connection broke after the call was requested, so it may or may not "
                     "have been placed.",
                     "Arama istendikten sonra bağlantı koptu; arama başlamış olabilir."),
}


def explain(code: str, language: str) -> str:
    """A short sentence about one of this module's codes or the SMS adapter's (shared Twilio
    codes: credentials, rate limit, invalid number...), in Turkish or English."""
    found = _EXPLANATIONS.get(str(code).strip())
    if found is None:
        return twilio_sms.explain(code, language)
    english, turkish = found
    return turkish if language.lower().replace("_", "-").split("-")[0] == "tr" else english


# ---- the adapter ---------------------------------------------------------------------------------

class TwilioVoiceAdapter(TwilioSmsAdapter):
    """Twilio's REST addressing, credentials check and authenticated downloads are the SMS
    adapter's; what differs is the webhook, the missing ``send`` and ``originate``."""

    kind = "voice_twilio"
    # Several final events complete one call entry (the intake merges them; see inbox.calls).
    updates_calls = True

    def explain(self, code: str, language: str) -> str:
        return explain(code, language)

    def parse_webhook(self, payload: dict[str, Any]) -> list[WebhookEvent]:
        return parse_webhook(payload)

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        """A phone line carries calls, not messages: a reply fails visibly, nothing is lost."""
        return PermanentFailure(code="channel_cannot_send",
                                message=explain("channel_cannot_send", "en"))

    def can_originate(self, account: ChannelAccount) -> bool:
        return bool(account.external_id) and self._auth(account) is not None

    def originate_form(self, account: ChannelAccount, agent: CallingAgent,
                       customer_phone: str) -> dict[str, Any]:
        """The ``Calls.json`` form of a click-to-call: Twilio rings the agent (their phone, or
        their browser as ``client:…``); when they answer it asks ``Url`` (our webhook, the
        bridge) for the TwiML that rings the customer. Statuses and the recording come back to
        the webhook with the customer and the agent in the query."""
        webhook = account.webhook_url or ""
        context = {"direction": "outbound", "customer": customer_phone, "agent": agent.name}
        return {
            "To": agent.phone or f"client:{client_identity(agent.user_id)}",
            "From": str(account.external_id or ""),
            "Url": callback_url(webhook, event="bridge", customer=customer_phone,
                                agent=agent.name),
            "StatusCallback": callback_url(webhook, event="status", **context),
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": list(STATUS_EVENTS),
            "Record": "true",
            "RecordingStatusCallback": callback_url(webhook, event="recording", **context),
            "Timeout": str(CALL_TIMEOUT_SECONDS)}

    async def originate(self, account: ChannelAccount, agent: CallingAgent,
                        customer_phone: str) -> CallResult:
        """POST ``Calls.json``: CallPlaced(the call's sid), or why not."""
        if not account.external_id:
            return PermanentFailure("missing_number", explain("missing_number", "en"))
        if not account.webhook_url:
            return PermanentFailure("no_webhook_url", explain("no_webhook_url", "en"))
        where = self._account_url(account, "/Calls.json")
        if isinstance(where, str):
            return PermanentFailure(where, explain(where, "en"))
        url, auth = where
        try:
            response = await self._http().post(
                url, data=self.originate_form(account, agent, customer_phone), auth=auth)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.WriteError, httpx.WriteTimeout, httpx.UnsupportedProtocol) as exc:
            return TemporaryFailure(reason=f"Twilio unreachable: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return PermanentFailure("call_unknown", explain("call_unknown", "en")
                                    + f" ({type(exc).__name__})")
        return _call_result(response)


def _call_result(response: httpx.Response) -> CallResult:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_success:
        if isinstance(data, dict) and data.get("sid"):
            return CallPlaced(call_id=str(data["sid"]))
        return PermanentFailure("call_unknown", explain("call_unknown", "en"))
    error = data if isinstance(data, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    text = str(error.get("message") or "")
    key = error_code(code, response.status_code)
    if key == "rate_limited" or response.status_code >= 500:
        return TemporaryFailure(reason=f"{code or response.status_code}: "
                                       f"{text or f'HTTP {response.status_code}'}")
    if key == "refused":
        detail = f"{code}: {text}" if code and text else text or f"HTTP {response.status_code}"
        return PermanentFailure(f"twilio_{code}" if code else f"http_{response.status_code}",
                                detail)
    return PermanentFailure(key, explain(key, "en"))

"""A Twilio Programmable Voice simulator: the REST calls Invekto makes for one account, and the
signed requests Twilio would post to the channel's webhook, kept in memory.

Provider side (what ``TwilioVoiceAdapter`` calls), HTTP basic auth (Account SID, Auth Token)
checked on each, Twilio's 401 error JSON (code 20003) otherwise:

* ``POST /2010-04-01/Accounts/{sid}/Calls.json`` (form): ``To`` a number in E.164 or
  ``client:…`` (else 21211), ``From`` (else 21213), ``Url`` or ``Twiml`` (else 21205); records
  it in ``state.calls`` and answers 201 with the Call resource (``status: queued``), unless told
  to fail (``fail_next``: 429 with 20429, or any error);
* ``GET /2010-04-01/Accounts/{sid}.json``: the Account resource;
* ``GET /2010-04-01/Accounts/{sid}/Recordings/{RE}.mp3`` (or ``.wav``): a recording held here
  (``add_recording``), basic auth required unless ``recordings_need_auth`` is off.

Twilio's side: each builder returns a `TwilioRequest` (the URL, the form and its headers,
``X-Twilio-Signature`` signed with ``twilio_signature`` over that exact URL) that ``deliver``
posts, as Twilio would; ``deliver`` returns the answer (TwiML). ``incoming_call`` goes to the
number's own webhook (``webhook_url``); ``status``, ``dial_action``, ``record_action``,
``recording_status`` and ``bridge`` go to the callback URLs our TwiML or our Calls API request
gave (read them with ``callbacks_in``). The forms' fields are the documented ones
(/work/shared/reference/providers/twilio_voice.md).

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))``. As a server:
``python -m invekto.channels.simulator.twilio_voice --port 8029``.
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from invekto.channels.adapters.twilio_sms import API_VERSION, SIGNATURE_HEADER, twilio_signature
from invekto.channels.simulator.twilio_sms import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BASE_URL,
    CUSTOMER_PHONE,
    NUMBER,
    TwilioAccountSimulator,
    new_sid,
    serve_from_command_line,
    twilio_error,
)
from invekto.channels.simulator.whatsapp import Failure, RecordedRequest, StoredMedia

__all__ = ["ACCOUNT_SID", "AUTH_TOKEN", "CUSTOMER_PHONE", "MP3", "NUMBER", "TwilioRequest",
           "TwilioVoiceSimulator", "callbacks_in", "create_simulator"]

# The start of an MP3 file (an ID3 tag), enough for a stored recording.
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 32
_ADDRESS = re.compile(r"^(\+[1-9]\d{6,14}|client:[A-Za-z0-9_]{1,120})$")
_ERRORS = {21205: (400, "Url parameter is required."),
           21213: (400, "Caller phone number is required."),
           21211: (400, "Invalid 'To' Phone Number")}


def _error(code: int, message: str | None = None) -> dict[str, Any]:
    status, default = _ERRORS.get(code, (None, None))
    return twilio_error(code, message or default, status)


@dataclass(frozen=True)
class TwilioRequest:
    """What Twilio would post: to ``url``, the form ``params`` encoded as ``body``."""

    url: str
    params: dict[str, Any]
    body: bytes
    headers: dict[str, str]


@dataclass
class CallRequest:
    """A Calls API request the simulator accepted."""

    params: dict[str, Any]  # the form: a repeated name (StatusCallbackEvent) as its values
    sid: str
    authorization: str
    content_type: str


@dataclass
class SimulatorState:
    calls: list[CallRequest] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    recordings: dict[str, StoredMedia] = field(default_factory=dict)  # RE sid: file
    posted: list[TwilioRequest] = field(default_factory=list)  # webhooks built
    failures: deque[Failure] = field(default_factory=deque)


def callbacks_in(twiml: str) -> dict[str, Any]:
    """The URLs a TwiML answer gives Twilio: ``action`` (of ``<Dial>`` or ``<Record>``),
    ``recordingStatusCallback``, and per ``<Client>``/``<Number>`` its ``statusCallback`` (in
    ``legs``, by the element's text)."""
    root = ET.fromstring(twiml)  # noqa: S314 - our own TwiML, read in tests
    found: dict[str, Any] = {"legs": {}}
    for element in root.iter():
        for name in ("action", "recordingStatusCallback"):
            if element.get(name):
                found[name] = element.get(name)
        if element.tag in ("Client", "Number") and element.get("statusCallback"):
            found["legs"][(element.text or "").strip()] = element.get("statusCallback")
    return found


class TwilioVoiceSimulator(TwilioAccountSimulator):
    """An ASGI app speaking Twilio's Calls API, with the requests Twilio makes to our webhook."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, *,
                 number: str = NUMBER, webhook_url: str | None = None,
                 base_url: str = BASE_URL, recordings_need_auth: bool = True,
                 webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        prefix = f"/{API_VERSION}/Accounts"
        super().__init__(account_sid, auth_token, number=number, webhook_url=webhook_url,
                         base_url=base_url, webhook_transport=webhook_transport, routes=[
            Route(prefix + "/{sid}/Calls.json", self._calls, methods=["POST"]),
            Route(prefix + "/{sid}/Recordings/{name}", self._recording, methods=["GET"])])
        self.recordings_need_auth = recordings_need_auth
        self.state = SimulatorState()

    _error_body = staticmethod(_error)

    # ---- controls ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, code: int = 20429, message: str | None = None,
                  status: int | None = None, body: dict[str, Any] | None = None,
                  retry_after: int | None = None) -> None:
        """The next ``count`` Calls API requests answer Twilio's error ``code`` (by default
        20429, too many requests) or ``body`` with HTTP ``status``."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        for _ in range(count):
            answer = body if body is not None else twilio_error(code, message, status)
            self.state.failures.append(Failure(status or int(answer.get("status") or 400),
                                               answer, headers))

    def add_recording(self, data: bytes = MP3, *, recording_sid: str | None = None
                      ) -> tuple[str, str]:
        """Hold a recording; returns its sid and its RecordingUrl (without an extension)."""
        sid = recording_sid or new_sid("RE")
        self.state.recordings[sid] = StoredMedia(data, "audio/mpeg", f"{sid}.mp3")
        return sid, f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- Twilio's side: requests to our webhook ------------------------------------------------

    def signed(self, url: str, params: dict[str, Any]) -> TwilioRequest:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "I-Twilio-Idempotency-Token": secrets.token_hex(16),
                   "User-Agent": "TwilioProxy/1.1",
                   SIGNATURE_HEADER: twilio_signature(self.auth_token, url, params)}
        request = TwilioRequest(url, params, urlencode(params, doseq=True).encode(), headers)
        self.state.posted.append(request)
        return request

    def _call(self, call_sid: str, status: str, *, direction: str, sender: str, to: str
              ) -> dict[str, Any]:
        return {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": call_sid,
                "CallStatus": status, "Direction": direction, "From": sender, "To": to,
                "Caller": sender, "Called": to}

    def incoming_call(self, *, sender: str = CUSTOMER_PHONE, call_sid: str | None = None,
                      caller_name: str | None = None) -> TwilioRequest:
        """A customer calls the number: Twilio asks the number's webhook what to do."""
        if not self.webhook_url:
            raise RuntimeError("the simulator has no webhook_url")
        params = {**self._call(call_sid or new_sid("CA"), "ringing", direction="inbound",
                               sender=sender, to=self.number),
                  "FromCountry": "TR", "ToCountry": "TR",
                  "CallToken": "%7B%22parentCallInfoToken%22%3A%22example%22%7D"}
        if caller_name:
            params["CallerName"] = caller_name
        return self.signed(self.webhook_url, params)

    def status(self, url: str | None, call_sid: str, status: str, *,
               direction: str = "inbound", sender: str = CUSTOMER_PHONE,
               to: str | None = None, duration: int | None = None, sequence: int = 3,
               parent: str | None = None, at: datetime | None = None) -> TwilioRequest:
        """A call status callback (``url``: the one given, or the number's webhook)."""
        params = {**self._call(call_sid, status, direction=direction, sender=sender,
                               to=to or self.number),
                  "Timestamp": format_datetime(at or datetime.now(UTC)),
                  "CallbackSource": "call-progress-events", "SequenceNumber": str(sequence)}
        if parent:
            params["ParentCallSid"] = parent
        if status == "completed":
            params["CallDuration"] = str(duration or 0)
            params["Duration"] = str(max(1, -(-(duration or 0) // 60)))
            params["SipResponseCode"] = "200"
        return self.signed(url or self.webhook_url or "", params)

    def dial_action(self, url: str, call_sid: str, dial_status: str, *,
                    duration: int = 0, direction: str = "inbound",
                    sender: str = CUSTOMER_PHONE, to: str | None = None) -> TwilioRequest:
        """``<Dial>`` ended: Twilio posts its outcome to the ``action`` URL."""
        params = {**self._call(call_sid, "in-progress" if dial_status != "canceled"
                               else "canceled", direction=direction, sender=sender,
                               to=to or self.number),
                  "DialCallSid": new_sid("CA"), "DialCallStatus": dial_status,
                  "DialBridged": "true" if dial_status == "completed" else "false"}
        if dial_status == "completed":
            params["DialCallDuration"] = str(duration)
        return self.signed(url, params)

    def bridge(self, url: str, call_sid: str, *, agent: str) -> TwilioRequest:
        """A click-to-call's agent answered: Twilio asks the request's ``Url`` for TwiML."""
        return self.signed(url, self._call(call_sid, "in-progress", direction="outbound-api",
                                           sender=self.number, to=agent))

    def recording_status(self, url: str, call_sid: str, *, data: bytes = MP3,
                         duration: int = 138, status: str = "completed",
                         recording_sid: str | None = None, source: str = "DialVerb"
                         ) -> TwilioRequest:
        """A recording's status callback; a completed one's file is held here."""
        sid, recording_url = self.add_recording(data, recording_sid=recording_sid)
        params = {"AccountSid": self.account_sid, "CallSid": call_sid, "RecordingSid": sid,
                  "RecordingUrl": recording_url, "RecordingStatus": status,
                  "RecordingDuration": str(duration), "RecordingChannels": "2",
                  "RecordingStartTime": format_datetime(datetime.now(UTC)),
                  "RecordingSource": source, "RecordingTrack": "both", "ErrorCode": "0"}
        return self.signed(url, params)

    def record_action(self, url: str, call_sid: str, *, sender: str = CUSTOMER_PHONE,
                      duration: int = 12) -> TwilioRequest:
        """``<Record>`` ended (a voicemail): Twilio posts to its ``action`` URL."""
        sid, recording_url = self.add_recording()
        params = {**self._call(call_sid, "completed", direction="inbound", sender=sender,
                               to=self.number),
                  "RecordingSid": sid, "RecordingUrl": recording_url,
                  "RecordingDuration": str(duration), "Digits": "hangup"}
        return self.signed(url, params)

    async def deliver(self, request: TwilioRequest) -> httpx.Response:
        """Post a request built above, as Twilio would; the answer is our TwiML."""
        async with httpx.AsyncClient(transport=self.webhook_transport, timeout=10) as http:
            return await http.post(request.url, content=request.body, headers=request.headers)

    # ---- the provider's side: REST API ---------------------------------------------------------

    async def _calls(self, request: Request) -> Response:
        self._record(request)
        if not self._authorized(request):
            return self._refuse(20003)
        params = await self._form(request)
        if self.state.failures:
            failure = self.state.failures.popleft()
            return JSONResponse(failure.body, status_code=failure.status,
                                headers=failure.headers)
        to, sender = str(params.get("To") or ""), str(params.get("From") or "")
        if not _ADDRESS.fullmatch(to):
            return self._refuse(21211, f"Invalid 'To' Phone Number: {to}")
        if not sender:
            return self._refuse(21213)
        if not params.get("Url") and not params.get("Twiml"):
            return self._refuse(21205)
        sid = new_sid("CA")
        self.state.calls.append(CallRequest(
            params, sid, request.headers.get("authorization", ""),
            request.headers.get("content-type", "").split(";")[0]))
        return JSONResponse({
            "account_sid": self.account_sid, "answered_by": None, "api_version": API_VERSION,
            "caller_name": None, "date_created": None, "date_updated": None,
            "direction": "outbound-api", "duration": None, "end_time": None,
            "forwarded_from": None, "from": sender, "from_formatted": sender,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + self.account_sid[2:], "price": None,
            "price_unit": "USD", "sid": sid, "start_time": None, "status": "queued",
            "to": to, "to_formatted": to,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json"},
            status_code=201)

    async def _recording(self, request: Request) -> Response:
        self._record(request)
        if self.recordings_need_auth and not self._authorized(request):
            return self._refuse(20003)
        name = request.path_params["name"]
        sid, _, extension = name.partition(".")
        held = self.state.recordings.get(sid)
        if held is None or extension not in ("mp3", "wav"):
            return self._refuse(20404)
        return Response(held.data, media_type="audio/mpeg" if extension == "mp3"
                        else "audio/x-wav")


def create_simulator(account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                     **options: Any) -> TwilioVoiceSimulator:
    """A new simulator; ``options`` are ``TwilioVoiceSimulator``'s keyword arguments."""
    return TwilioVoiceSimulator(account_sid, auth_token, **options)


def main() -> None:  # pragma: no cover - manual use
    serve_from_command_line("Twilio Voice API simulator", 8029, create_simulator)


if __name__ == "__main__":  # pragma: no cover
    main()

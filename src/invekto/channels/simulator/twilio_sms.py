"""A Twilio Programmable Messaging simulator (SMS/MMS): the REST calls Invekto makes, for one
account, kept in memory.

Provider side (what ``TwilioSmsAdapter`` calls), HTTP basic auth (Account SID, Auth Token)
checked on each, Twilio's 401 error JSON (code 20003) otherwise:

* ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form): checks the shape minimally (``To``
  in E.164 else 21211, ``From`` or ``MessagingServiceSid``, ``Body`` or ``MediaUrl``, at most
  1,600 characters), records it in ``state.sent`` and answers 201 with the Message resource as
  Twilio does (``status: queued``), unless told to fail (``fail_next``);
* ``GET /2010-04-01/Accounts/{sid}.json``: the Account resource (``friendly_name``,
  ``status``);
* ``GET /2010-04-01/Accounts/{sid}/Messages/{MM}/Media/{ME}``: a customer's MMS file, which
  redirects (as Twilio does) to an unauthenticated ``/storage/{ME}``.

Customer side (what Twilio would post to our webhook): ``customer_message`` (SMS, or MMS with
``media``) and ``status`` (a status callback for a message sent here) build the form and its
headers, ``X-Twilio-Signature`` signed with ``twilio_signature`` over ``webhook_url``;
``deliver(body, headers)`` posts one to ``webhook_url`` (the body is the urlencoded form).

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))``. As a server:
``python -m invekto.channels.simulator.twilio_sms --port 8028``.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from invekto.channels.adapters.twilio_sms import API_VERSION, SIGNATURE_HEADER, twilio_signature
from invekto.channels.simulator.whatsapp import Failure, RecordedRequest, StoredMedia

ACCOUNT_SID = "AC00000000000000000000000000000001"
AUTH_TOKEN = "simulator-twilio-auth-token-0001"
NUMBER = "+908501234567"
CUSTOMER_PHONE = "+905321234567"
FRIENDLY_NAME = "Ornek Destek"
BASE_URL = "http://twilio.simulator"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# Twilio's errors: code → (HTTP status, message).
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    21211: (400, "Invalid 'To' Phone Number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
}


def twilio_error(code: int, message: str | None = None, status: int | None = None
                 ) -> dict[str, Any]:
    default_status, default_message = ERRORS.get(code, (400, "Bad Request"))
    return {"code": code, "message": message or default_message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status or default_status}


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class SentRequest:
    """A send the simulator accepted."""

    params: dict[str, Any]  # the form: a repeated name (MediaUrl) as the list of its values
    sid: str
    authorization: str  # the request's Authorization header
    content_type: str


@dataclass
class SimulatorState:
    sent: list[SentRequest] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    media: dict[str, StoredMedia] = field(default_factory=dict)  # ME sid: file
    inbound: list[dict[str, Any]] = field(default_factory=list)  # webhook forms built
    failures: deque[Failure] = field(default_factory=deque)


def _form_body(params: dict[str, Any]) -> bytes:
    return urlencode(params, doseq=True).encode()


class TwilioAccountSimulator:
    """What the simulators of Twilio's products share: one account (Basic auth with its SID and
    Auth Token, its ``/Accounts/{sid}.json`` resource), the requests it got, forms read as
    Twilio reads them, and the ASGI app over ``routes`` plus the account's."""

    def __init__(self, account_sid: str, auth_token: str, *, number: str,
                 webhook_url: str | None, base_url: str,
                 webhook_transport: httpx.AsyncBaseTransport | None, routes: list[Route]
                 ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.number = number
        self.webhook_url = webhook_url
        self.base_url = base_url.rstrip("/")
        self.account_status = "active"
        self.webhook_transport = webhook_transport
        self._app = Starlette(routes=[
            *routes, Route(f"/{API_VERSION}/Accounts/{{sid}}.json", self._account,
                           methods=["GET"])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    @staticmethod
    def _error_body(code: int, message: str | None = None) -> dict[str, Any]:
        return twilio_error(code, message)

    def _refuse(self, code: int, message: str | None = None) -> JSONResponse:
        body = self._error_body(code, message)
        return JSONResponse(body, status_code=body["status"])

    def _record(self, request: Request) -> None:
        self.state.requests.append(RecordedRequest(
            request.method, request.url.path, request.url.query,
            request.headers.get("host", ""),
            {k.lower(): v for k, v in request.headers.items()}))

    def _authorized(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()).decode()
        given = request.headers.get("authorization", "")
        return (secrets.compare_digest(given.encode(), expected.encode())
                and request.path_params.get("sid") == self.account_sid)

    @staticmethod
    async def _form(request: Request) -> dict[str, Any]:
        """The posted form, a repeated name (MediaUrl, StatusCallbackEvent) as its values."""
        params: dict[str, Any] = {}
        async with request.form() as form:
            for key, value in form.multi_items():
                if not isinstance(value, str):
                    continue
                if key in params:
                    previous = params[key]
                    params[key] = [*previous, value] if isinstance(previous, list) else [
                        previous, value]
                else:
                    params[key] = value
        return params

    async def _account(self, request: Request) -> Response:
        self._record(request)
        if not self._authorized(request):
            return self._refuse(20003)
        sid = self.account_sid
        return JSONResponse({
            "sid": sid, "owner_account_sid": sid, "friendly_name": FRIENDLY_NAME,
            "status": self.account_status, "type": "Full",
            "date_created": "Thu, 01 Jan 2026 09:00:00 +0000",
            "date_updated": "Thu, 01 Jan 2026 09:00:00 +0000", "auth_token": "[redacted]",
            "uri": f"/{API_VERSION}/Accounts/{sid}.json"})


class TwilioSmsSimulator(TwilioAccountSimulator):
    """An ASGI app speaking Twilio's Messages API, with helpers for the customer's side."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, *,
                 number: str = NUMBER, webhook_url: str | None = None,
                 base_url: str = BASE_URL, media_needs_auth: bool = True,
                 webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        prefix = f"/{API_VERSION}/Accounts"
        super().__init__(account_sid, auth_token, number=number, webhook_url=webhook_url,
                         base_url=base_url, webhook_transport=webhook_transport, routes=[
            Route(prefix + "/{sid}/Messages.json", self._messages, methods=["POST"]),
            Route(prefix + "/{sid}/Messages/{message_sid}/Media/{media_sid}", self._media,
                  methods=["GET"]),
            Route("/storage/{media_sid}", self._storage, methods=["GET"])])
        self.media_needs_auth = media_needs_auth
        self.state = SimulatorState()

    # ---- controls ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, code: int = 21610, message: str | None = None,
                  status: int | None = None, body: dict[str, Any] | None = None,
                  retry_after: int | None = None) -> None:
        """The next ``count`` sends answer Twilio's error ``code`` (by default 21610, the
        recipient replied STOP), or ``body`` with HTTP ``status``; ``retry_after`` adds the
        header."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        for _ in range(count):
            answer = body if body is not None else twilio_error(code, message, status)
            self.state.failures.append(Failure(status or int(answer.get("status") or 400),
                                               answer, headers))

    def add_media(self, data: bytes, mime_type: str, *, message_sid: str,
                  filename: str | None = None) -> str:
        """Hold a customer's file; returns its MediaUrl."""
        media_sid = new_sid("ME")
        self.state.media[media_sid] = StoredMedia(data, mime_type, filename)
        return (f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages/"
                f"{message_sid}/Media/{media_sid}")

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- the customer's side: webhooks ---------------------------------------------------------

    def signed(self, params: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """A webhook form and its headers, signed over ``webhook_url``."""
        self.state.inbound.append(params)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "I-Twilio-Idempotency-Token": secrets.token_hex(16),
                   "User-Agent": "TwilioProxy/1.1"}
        if self.webhook_url:
            headers[SIGNATURE_HEADER] = twilio_signature(self.auth_token, self.webhook_url,
                                                         params)
        return _form_body(params), headers

    def customer_message(self, text: str = "", *, sender: str = CUSTOMER_PHONE,
                         media: list[tuple[bytes, str]] | tuple[bytes, str] | None = None,
                         message_sid: str | None = None, to: str | None = None
                         ) -> tuple[bytes, dict[str, str]]:
        """An inbound SMS from ``sender``, or an MMS with ``media`` (one or a list of
        (bytes, mime type), held here and downloadable from their MediaUrl)."""
        files = [media] if isinstance(media, tuple) else list(media or [])
        sid = message_sid or new_sid("MM" if files else "SM")
        params: dict[str, Any] = {
            "ToCountry": "TR", "ToState": "", "SmsMessageSid": sid, "NumMedia": str(len(files)),
            "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received",
            "FromCity": "", "Body": text, "FromCountry": "TR", "To": to or self.number,
            "ToZip": "", "NumSegments": "1", "MessageSid": sid,
            "AccountSid": self.account_sid, "From": sender, "ApiVersion": API_VERSION}
        for index, (data, mime_type) in enumerate(files):
            params[f"MediaContentType{index}"] = mime_type
            params[f"MediaUrl{index}"] = self.add_media(data, mime_type, message_sid=sid)
        return self.signed(params)

    def status(self, sid: str, status: str, error_code: int | str | None = None
               ) -> tuple[bytes, dict[str, str]]:
        """A status callback for the message ``sid`` (sent here or not)."""
        sent = next((s for s in self.state.sent if s.sid == sid), None)
        params: dict[str, Any] = {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION,
            "From": str(sent.params.get("From") or self.number) if sent else self.number,
            "To": str(sent.params.get("To")) if sent else CUSTOMER_PHONE,
            "MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status}
        if sent and sent.params.get("MessagingServiceSid"):
            params["MessagingServiceSid"] = sent.params["MessagingServiceSid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self.signed(params)

    async def deliver(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """Post a webhook built above to ``webhook_url``, as Twilio would."""
        if not self.webhook_url:
            raise RuntimeError("the simulator has no webhook_url")
        async with httpx.AsyncClient(transport=self.webhook_transport, timeout=10) as http:
            return await http.post(self.webhook_url, content=body, headers=headers)

    # ---- the provider's side: REST API ---------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        self._record(request)
        if not self._authorized(request):
            return self._refuse(20003)
        params = await self._form(request)
        if self.state.failures:
            failure = self.state.failures.popleft()
            return JSONResponse(failure.body, status_code=failure.status,
                                headers=failure.headers)
        to, body = str(params.get("To") or ""), str(params.get("Body") or "")
        if not _E164.fullmatch(to):
            return self._refuse(21211, f"Invalid 'To' Phone Number: {to}")
        if not params.get("From") and not params.get("MessagingServiceSid"):
            return self._refuse(21603)
        if not body and not params.get("MediaUrl"):
            return self._refuse(21602)
        if len(body) > 1600:
            return self._refuse(21617)
        sid = new_sid("MM" if params.get("MediaUrl") else "SM")
        self.state.sent.append(SentRequest(
            params, sid, request.headers.get("authorization", ""),
            request.headers.get("content-type", "").split(";")[0]))
        now = format_datetime(datetime.now(UTC), usegmt=False)
        media_count = len(params["MediaUrl"]) if isinstance(params.get("MediaUrl"), list) else (
            1 if params.get("MediaUrl") else 0)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return JSONResponse({
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": params.get("From"), "messaging_service_sid": params.get("MessagingServiceSid"),
            "num_media": str(media_count), "num_segments": "1", "price": None,
            "price_unit": "USD", "sid": sid,
            "status": "accepted" if params.get("MessagingServiceSid") else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"}, "to": to,
            "uri": f"{uri}.json"}, status_code=201)

    async def _media(self, request: Request) -> Response:
        self._record(request)
        if self.media_needs_auth and not self._authorized(request):
            return self._refuse(20003)
        media_sid = request.path_params["media_sid"]
        if media_sid not in self.state.media:
            return self._refuse(20404)
        return RedirectResponse(f"{self.base_url}/storage/{media_sid}", status_code=307)

    async def _storage(self, request: Request) -> Response:
        self._record(request)
        held = self.state.media.get(request.path_params["media_sid"])
        if held is None:
            return Response(status_code=404)
        return Response(held.data, media_type=held.mime_type)


def create_simulator(account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                     **options: Any) -> TwilioSmsSimulator:
    """A new simulator; ``options`` are ``TwilioSmsSimulator``'s keyword arguments."""
    return TwilioSmsSimulator(account_sid, auth_token, **options)


def serve_from_command_line(description: str, port: int, create) -> None:
    """``python -m`` a Twilio product's simulator under uvicorn (manual use)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args()
    uvicorn.run(create(webhook_url=args.webhook_url, base_url=f"http://{args.host}:{args.port}"),
                host=args.host, port=args.port)


def main() -> None:  # pragma: no cover - manual use
    serve_from_command_line("Twilio Messaging API simulator", 8028, create_simulator)


if __name__ == "__main__":  # pragma: no cover
    main()

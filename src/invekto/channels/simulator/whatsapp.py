"""A WhatsApp provider simulator: the parts of Meta's Cloud API (and of 360dialog's proxy of it)
that Invekto uses, kept in memory.

Provider side (what our adapters call):

* ``POST /{version}/{phone_number_id}/messages`` (Bearer token) and ``POST /messages``
  (``D360-API-KEY``): checks the credentials and the body's shape, records the request in
  ``state.sent`` and answers like Meta with a new wamid, unless told to fail (``fail_next``).
* ``GET /{version}/{media_id}`` and ``GET /{media_id}``: the media URL lookup for files it holds
  (``add_media``; files sent in ``customer_message`` are held too). Meta's answer points at
  ``/media-download/{media_id}`` here; 360dialog's at Meta's lookaside host, which the client must
  rewrite to its own base URL, served here as ``/whatsapp_business/attachments/?mid=...``.
* ``GET /{version}/{phone_number_id}`` (its ``verified_name`` and ``display_phone_number``) and
  ``GET /health_status`` (360dialog): what a connection check reads, with the same credential
  checks as sends.
* ``GET|POST|DELETE /{version}/{waba_id}/message_templates`` (and 360dialog's
  ``/v1/configs/templates``, list and create): the account's templates, paged (``limit`` and the
  ``after`` cursor, ``paging.next``); a created one is PENDING after Meta's required fields are
  checked (a name+language already there is Meta's error 100/2388024). ``decide_template(...)``
  approves or rejects one and posts the signed ``message_template_status_update`` webhook.

Customer side (what Meta would post to our webhook): ``customer_message(...)`` and
``status(...)`` build signed webhook bodies (``X-Hub-Signature-256`` with the app secret), and
``deliver(body, headers)`` posts one to ``webhook_url``.

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))``. As a server:
``python -m invekto.channels.simulator.whatsapp --port 8025 --app-secret s3cret``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from invekto.channels.adapters.whatsapp import sign

PHONE_NUMBER_ID = "109876543210987"
DISPLAY_PHONE_NUMBER = "908501234567"
WABA_ID = "214365870912345"
CUSTOMER_WA_ID = "905321234567"
LOOKASIDE = "https://lookaside.fbsbx.com"
VERIFIED_NAME = "Gülüş Diş Kliniği"
DISPLAY_PHONE_FORMATTED = "+90 850 123 45 67"  # the phone number node's display_phone_number

_TITLES = {
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Error validating access token",
    131000: "Something went wrong",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131051: "Unsupported message type",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    130429: "Rate limit hit",
}
_SEND_TYPES = ("text", "image", "audio", "video", "document", "sticker", "location", "contacts",
               "interactive", "reaction", "template")


@dataclass
class SentRequest:
    """A send the simulator accepted."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    wamid: str
    at: float = field(default_factory=time.time)  # when it arrived (measuring a send rate)


@dataclass
class RecordedRequest:
    """Any request the simulator received, accepted or not."""

    method: str
    path: str
    query: str
    host: str
    headers: dict[str, str]


@dataclass
class StoredMedia:
    data: bytes
    mime_type: str
    filename: str | None = None


@dataclass
class Failure:
    """An answer a simulator gives instead of accepting the next request (``fail_next``)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _template(name: str, language: str, body: str, buttons: tuple[str, ...] = (), *,
              status: str = "APPROVED", category: str = "UTILITY") -> dict[str, Any]:
    components: list[dict[str, Any]] = [{"type": "BODY", "text": body}]
    if buttons:
        components.append({"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": text} for text in buttons]})
    return {"name": name, "language": language, "status": status, "category": category,
            "parameter_format": "POSITIONAL", "id": str(abs(hash((name, language)))),
            "components": components}


# The account's templates, as Meta lists them (one not approved, which must not be offered).
TEMPLATES = (
    _template("randevu_hatirlatma", "tr", "Merhaba {{1}}, {{2}} tarihindeki randevunuzu "
              "hatırlatırız. Gelebilecek misiniz?", ("Evet, geleceğim", "Başka bir gün")),
    _template("appointment_reminder", "en", "Hello {{1}}, this is a reminder of your "
              "appointment on {{2}}. Will you be able to come?", ("Yes, I'll come", "Another day")),
    _template("kargo_bilgilendirme", "tr", "Merhaba {{1}}, {{2}} numaralı siparişiniz {{3}} ile "
              "kargoya verildi."),
    _template("kis_kampanyasi", "tr", "Kış indirimi başladı!", status="REJECTED",
              category="MARKETING"),
)


@dataclass
class SimulatorState:
    sent: list[SentRequest] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    media: dict[str, StoredMedia] = field(default_factory=dict)
    inbound: list[dict[str, Any]] = field(default_factory=list)  # customer messages built
    failures: deque[Failure] = field(default_factory=deque)
    templates: list[dict[str, Any]] = field(default_factory=lambda: [dict(t) for t in TEMPLATES])


def new_wamid() -> str:
    return "wamid.HBgM" + base64.b64encode(secrets.token_bytes(24)).decode()


def meta_error(code: int, details: str | None = None, message: str | None = None
               ) -> dict[str, Any]:
    """Meta's error object for ``code``."""
    title = _TITLES.get(code, "Error")
    return {"error": {
        "message": message or f"(#{code}) {title}", "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or title},
        "fbtrace_id": "Sim" + secrets.token_hex(8),
    }}


class WhatsAppSimulator:
    """An ASGI app speaking the Cloud API, with helpers for the customer's side."""

    def __init__(self, app_secret: str, webhook_url: str | None = None, *,
                 access_token: str | None = None, api_key: str | None = None,
                 phone_number_id: str = PHONE_NUMBER_ID,
                 webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.app_secret = app_secret
        self.webhook_url = webhook_url
        self.access_token = access_token  # None: any Bearer token is accepted
        self.api_key = api_key  # None: any D360-API-KEY is accepted
        self.phone_number_id = phone_number_id
        self.webhook_transport = webhook_transport
        self.state = SimulatorState()
        self._app = Starlette(routes=[
            Route("/messages", self._send_bsp, methods=["POST"]),
            Route("/media", self._upload_bsp, methods=["POST"]),
            Route("/{version}/{phone_number_id}/media", self._upload_cloud, methods=["POST"]),
            Route("/media-download/{media_id}", self._download, methods=["GET"]),
            Route("/whatsapp_business/attachments/", self._download_lookaside, methods=["GET"]),
            Route("/{version}/{phone_number_id}/messages", self._send_cloud, methods=["POST"]),
            Route("/{version}/{media_id}", self._media_cloud, methods=["GET"]),
            Route("/health_status", self._health_status, methods=["GET"]),
            Route("/v1/configs/templates", self._templates_bsp, methods=["GET"]),
            Route("/v1/configs/templates", self._create_template_bsp, methods=["POST"]),
            Route("/{version}/{waba_id}/message_templates", self._templates_cloud,
                  methods=["GET"]),
            Route("/{version}/{waba_id}/message_templates", self._create_template_cloud,
                  methods=["POST"]),
            Route("/{version}/{waba_id}/message_templates", self._delete_template_cloud,
                  methods=["DELETE"]),
            Route("/{media_id}", self._media_bsp, methods=["GET"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- controls ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 400, code: int = 131047,
                  details: str | None = None, retry_after: float | None = None,
                  body: dict[str, Any] | None = None) -> None:
        """The next ``count`` sends answer ``status`` with Meta's error ``code`` (or ``body``)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        for _ in range(count):
            self.state.failures.append(
                Failure(status, body if body is not None else meta_error(code, details), headers))

    def add_media(self, data: bytes, mime_type: str, filename: str | None = None,
                  media_id: str | None = None) -> str:
        media_id = media_id or str(10**15 + secrets.randbelow(9 * 10**15))
        self.state.media[media_id] = StoredMedia(data, mime_type, filename)
        return media_id

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- the customer's side: webhooks ---------------------------------------------------------

    def customer_message(self, text: str = "", *, wa_id: str | None = CUSTOMER_WA_ID,
                         name: str | None = "Ayşe Yılmaz", user_id: str | None = None,
                         media_kind: str | None = None, data: bytes = b"",
                         mime_type: str = "image/jpeg", filename: str | None = None,
                         voice: bool = False, reply_to: str | None = None,
                         referral: dict[str, Any] | None = None,
                         message: dict[str, Any] | None = None, timestamp: int | None = None,
                         wamid: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed webhook carrying one customer message: text, or a file (``media_kind`` image,
        audio, video, document, sticker; ``text`` is the caption), or any other Meta message
        object merged in from ``message`` (``{"type": "location", "location": {...}}``)."""
        msg: dict[str, Any] = {"id": wamid or new_wamid(),
                               "timestamp": str(timestamp or int(time.time()))}
        if wa_id:
            msg["from"] = wa_id
        if user_id:
            msg["from_user_id"] = user_id
        if media_kind:
            media_id = self.add_media(data, mime_type, filename)
            obj: dict[str, Any] = {"id": media_id, "mime_type": mime_type,
                                   "sha256": base64.b64encode(hashlib.sha256(data).digest())
                                   .decode()}
            if text and media_kind in ("image", "video", "document"):
                obj["caption"] = text
            if filename:
                obj["filename"] = filename
            if voice:
                obj["voice"] = True
            msg.update({"type": media_kind, media_kind: obj})
        elif message:
            msg.update(message)
        else:
            msg.update({"type": "text", "text": {"body": text}})
        if reply_to:
            msg["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": reply_to}
        if referral:
            msg["referral"] = referral
        contact: dict[str, Any] = {"profile": {"name": name}} if name else {}
        if wa_id:
            contact["wa_id"] = wa_id
        if user_id:
            contact["user_id"] = user_id
        self.state.inbound.append(msg)
        return self._signed({"contacts": [contact], "messages": [msg]})

    def status(self, wamid: str, status: str, *, recipient_id: str = CUSTOMER_WA_ID,
               error_code: int | None = None, error_title: str | None = None,
               timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed status webhook for a message we sent: sent, delivered, read or failed (by
        default with 131047, the closed 24-hour window)."""
        item: dict[str, Any] = {"id": wamid, "status": status,
                                "timestamp": str(timestamp or int(time.time())),
                                "recipient_id": recipient_id}
        if status == "failed":
            code = error_code or 131047
            title = error_title or _TITLES.get(code, "Error")
            item["errors"] = [{"code": code, "title": title, "message": title,
                               "error_data": {"details": title}}]
        else:
            item["pricing"] = {"billable": False, "pricing_model": "PMP",
                               "type": "free_customer_service", "category": "service"}
        return self._signed({"statuses": [item]})

    def statuses_of(self, sent: list[SentRequest], status: str = "sent"
                    ) -> tuple[bytes, dict[str, str]]:
        """One signed webhook with a status for each of these sends, echoing the
        ``biz_opaque_callback_data`` each was sent with, as Meta does."""
        items = []
        for request in sent:
            item: dict[str, Any] = {"id": request.wamid, "status": status,
                                    "timestamp": str(int(request.at)),
                                    "recipient_id": str(request.body.get("to") or "")}
            if request.body.get("biz_opaque_callback_data"):
                item["biz_opaque_callback_data"] = request.body["biz_opaque_callback_data"]
            items.append(item)
        return self._signed({"statuses": items})

    def template_status(self, name: str, language: str, event: str, *,
                        reason: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed ``message_template_status_update`` webhook for one of the account's
        templates (``event``: APPROVED, REJECTED, PAUSED, DISABLED...), as Meta sends it to the
        business account's subscription."""
        template = self._find_template(name, language)
        value: dict[str, Any] = {
            "event": event, "message_template_id": int(template["id"]) if template else 0,
            "message_template_name": name, "message_template_language": language,
            "reason": reason or "NONE"}
        if template:
            value["message_template_category"] = template.get("category")
        envelope = {"object": "whatsapp_business_account", "entry": [{
            "id": WABA_ID, "time": int(time.time()),
            "changes": [{"value": value, "field": "message_template_status_update"}]}]}
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return body, {"Content-Type": "application/json",
                      "X-Hub-Signature-256": sign(self.app_secret, body)}

    async def decide_template(self, name: str, language: str, event: str = "APPROVED", *,
                              reason: str | None = None) -> httpx.Response:
        """Meta's review of a submitted template: its status becomes ``event`` here and the
        signed status webhook is posted to ``webhook_url``."""
        template = self._find_template(name, language)
        if template is None:
            raise KeyError(f"no template {name} ({language})")
        template["status"] = event
        if event == "REJECTED":
            template["rejected_reason"] = reason or "INVALID_FORMAT"
        return await self.deliver(*self.template_status(name, language, event, reason=reason))

    def _find_template(self, name: str, language: str) -> dict[str, Any] | None:
        return next((t for t in self.state.templates
                     if (t["name"], t["language"]) == (name, language)), None)

    async def deliver(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """Post a webhook built above to ``webhook_url``, as Meta would."""
        if not self.webhook_url:
            raise RuntimeError("the simulator has no webhook_url")
        async with httpx.AsyncClient(transport=self.webhook_transport, timeout=10) as http:
            return await http.post(self.webhook_url, content=body, headers=headers)

    def _signed(self, value: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        envelope = {"object": "whatsapp_business_account", "entry": [{
            "id": WABA_ID,
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": DISPLAY_PHONE_NUMBER,
                             "phone_number_id": self.phone_number_id},
                **value}}],
        }]}
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return body, {"Content-Type": "application/json",
                      "X-Hub-Signature-256": sign(self.app_secret, body)}

    # ---- the provider's side: HTTP API ---------------------------------------------------------

    def _record(self, request: Request) -> None:
        self.state.requests.append(RecordedRequest(
            request.method, request.url.path, request.url.query, request.headers.get("host", ""),
            {k.lower(): v for k, v in request.headers.items()}))

    def _bearer_ok(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip()) and (
            self.access_token is None or secrets.compare_digest(token.strip(), self.access_token))

    def _key_ok(self, request: Request) -> bool:
        key = request.headers.get("d360-api-key", "")
        return bool(key) and (self.api_key is None or secrets.compare_digest(key, self.api_key))

    @staticmethod
    def _no_bearer() -> JSONResponse:
        return JSONResponse(meta_error(190, message="Invalid OAuth access token."),
                            status_code=401)

    @staticmethod
    def _no_key() -> JSONResponse:
        return JSONResponse({"meta": {"success": False, "http_code": 401,
                                      "developer_message": "Invalid api_key",
                                      "360dialog_trace_id": "sim-" + secrets.token_hex(6)}},
                            status_code=401)

    async def _send_cloud(self, request: Request) -> Response:
        self._record(request)
        if not self._bearer_ok(request):
            return self._no_bearer()
        return await self._accept(request)

    async def _send_bsp(self, request: Request) -> Response:
        self._record(request)
        if not self._key_ok(request):
            return self._no_key()
        return await self._accept(request)

    async def _accept(self, request: Request) -> Response:
        if self.state.failures:
            failure = self.state.failures.popleft()
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse(meta_error(100, "The request body is not JSON."), status_code=400)
        problem = _invalid(body)
        if problem:
            return JSONResponse(meta_error(100, problem), status_code=400)
        wamid = new_wamid()
        self.state.sent.append(SentRequest(
            request.url.path, {k.lower(): v for k, v in request.headers.items()}, body, wamid))
        recipient = body.get("to") or body.get("recipient")
        contact = ({"input": recipient, "wa_id": "".join(c for c in recipient if c.isdigit())}
                   if body.get("to") else {"input": recipient, "user_id": recipient})
        return JSONResponse({"messaging_product": "whatsapp", "contacts": [contact],
                             "messages": [{"id": wamid, "message_status": "accepted"}]})

    # ---- uploads (an agent's file, sent by id afterwards) -----------------------------------

    async def _upload_cloud(self, request: Request) -> Response:
        self._record(request)
        if not self._bearer_ok(request):
            return self._no_bearer()
        return await self._upload(request)

    async def _upload_bsp(self, request: Request) -> Response:
        self._record(request)
        if not self._key_ok(request):
            return self._no_key()
        return await self._upload(request)

    async def _upload(self, request: Request) -> Response:
        """``POST .../media``, multipart: ``messaging_product=whatsapp``, ``type`` and ``file``."""
        async with request.form() as form:  # closes the spooled upload afterwards
            upload = form.get("file")
            if form.get("messaging_product") != "whatsapp" or not hasattr(upload, "read"):
                return JSONResponse(meta_error(100, "messaging_product=whatsapp and a file "
                                                    "are required."), status_code=400)
            mime_type = str(form.get("type") or upload.content_type or "")
            if not mime_type:
                return JSONResponse(meta_error(100, "The file's type is required."),
                                    status_code=400)
            media_id = self.add_media(await upload.read(), mime_type, upload.filename)
        return JSONResponse({"id": media_id})

    def _media_info(self, request: Request, url: str) -> Response:
        media_id = request.path_params["media_id"]
        media = self.state.media.get(media_id)
        if media is None:
            return JSONResponse(meta_error(100, f"Unknown media id {media_id}."), status_code=404)
        return JSONResponse({"messaging_product": "whatsapp", "url": url,
                             "mime_type": media.mime_type,
                             "sha256": hashlib.sha256(media.data).hexdigest(),
                             "file_size": len(media.data), "id": media_id})

    async def _media_cloud(self, request: Request) -> Response:
        self._record(request)
        if not self._bearer_ok(request):
            return self._no_bearer()
        media_id = request.path_params["media_id"]
        if media_id == self.phone_number_id:  # not a file: the number itself (connection checks)
            return self._phone_number()
        return self._media_info(request, f"{request.base_url}media-download/{media_id}")

    async def _media_bsp(self, request: Request) -> Response:
        self._record(request)
        if not self._key_ok(request):
            return self._no_key()
        media_id = request.path_params["media_id"]
        return self._media_info(request, f"{LOOKASIDE}/whatsapp_business/attachments/"
                                         f"?mid={media_id}&ext={int(time.time()) + 300}&hash=sim")

    def _file(self, media_id: str) -> Response:
        media = self.state.media.get(media_id)
        if media is None:
            return Response(status_code=404)
        return Response(media.data, media_type=media.mime_type)

    async def _download(self, request: Request) -> Response:
        self._record(request)
        if not self._bearer_ok(request):
            return self._no_bearer()
        return self._file(request.path_params["media_id"])

    async def _download_lookaside(self, request: Request) -> Response:
        self._record(request)
        if not self._key_ok(request):
            return self._no_key()
        return self._file(request.query_params.get("mid", ""))

    # ---- connection checks: the phone number node, 360dialog's health status ------------------

    def _phone_number(self) -> Response:
        """``GET /{version}/{phone_number_id}?fields=display_phone_number,verified_name``."""
        return JSONResponse({"verified_name": VERIFIED_NAME,
                             "display_phone_number": DISPLAY_PHONE_FORMATTED,
                             "id": self.phone_number_id})

    # ---- templates -------------------------------------------------------------------------

    async def _templates_cloud(self, request: Request) -> Response:
        """One page of the account's templates: ``limit`` of them (25 by default, as Meta)
        after the ``after`` cursor, with ``paging.next`` while more are left."""
        self._record(request)
        if not self._bearer_ok(request):
            return self._no_bearer()
        try:
            limit = max(1, min(int(request.query_params.get("limit") or 25), 1000))
            start = int(base64.urlsafe_b64decode(request.query_params.get("after") or "MA=="))
        except ValueError:
            return JSONResponse(meta_error(100, "Invalid limit or cursor."), status_code=400)
        page = self.state.templates[start:start + limit]
        paging: dict[str, Any] = {"cursors": {
            "before": base64.urlsafe_b64encode(str(start).encode()).decode(),
            "after": base64.urlsafe_b64encode(str(start + len(page)).encode()).decode()}}
        if start + len(page) < len(self.state.templates):
            paging["next"] = str(request.url.include_query_params(
                limit=limit, after=paging["cursors"]["after"]))
        return JSONResponse({"data": page, "paging": paging})

    async def _create_template_cloud(self, request: Request) -> Response:
        self._record(request)
        if not self._bearer_ok(request):
            return self._no_bearer()
        return await self._create_template(request)

    async def _create_template_bsp(self, request: Request) -> Response:
        self._record(request)
        if not self._key_ok(request):
            return self._no_key()
        return await self._create_template(request)

    async def _create_template(self, request: Request) -> Response:
        """A new template, PENDING review, after the checks Meta makes on its required
        fields."""
        if self.state.failures:
            failure = self.state.failures.popleft()
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse(meta_error(100, "The request body is not JSON."), status_code=400)
        problem = _invalid_template(body)
        if problem:
            return JSONResponse(meta_error(100, problem), status_code=400)
        if self._find_template(body["name"], body["language"]):
            error = meta_error(100, message="Invalid parameter")
            error["error"].update({
                "error_subcode": 2388024, "is_transient": False,
                "error_user_title": "Message template already exists",
                "error_user_msg": "There is already content for this template in "
                                  f"{body['language']}. Edit the existing template or "
                                  "choose another name."})
            return JSONResponse(error, status_code=400)
        template = {"id": str(10**14 + secrets.randbelow(9 * 10**14)), "name": body["name"],
                    "language": body["language"], "status": "PENDING",
                    "category": body["category"],
                    "parameter_format": body.get("parameter_format") or "POSITIONAL",
                    "components": body["components"]}
        self.state.templates.append(template)
        return JSONResponse({"id": template["id"], "status": "PENDING",
                             "category": template["category"]})

    async def _delete_template_cloud(self, request: Request) -> Response:
        """``DELETE …/message_templates?name=…`` (every language) ``&hsm_id=…`` (one)."""
        self._record(request)
        if not self._bearer_ok(request):
            return self._no_bearer()
        name, hsm_id = request.query_params.get("name"), request.query_params.get("hsm_id")
        gone = [t for t in self.state.templates
                if t["name"] == name and (not hsm_id or t["id"] == hsm_id)]
        if not name or not gone:
            return JSONResponse(meta_error(100, f"Template {name!r} was not found."),
                                status_code=400)
        self.state.templates = [t for t in self.state.templates if t not in gone]
        return JSONResponse({"success": True})

    async def _templates_bsp(self, request: Request) -> Response:
        self._record(request)
        if not self._key_ok(request):
            return self._no_key()
        return JSONResponse({"waba_templates": self.state.templates})

    async def _health_status(self, request: Request) -> Response:
        self._record(request)
        if not self._key_ok(request):
            return self._no_key()
        return JSONResponse({"health_status": {"can_send_message": "AVAILABLE", "entities": [
            {"entity_type": "PHONE_NUMBER", "id": self.phone_number_id,
             "can_send_message": "AVAILABLE"},
            {"entity_type": "WABA", "id": WABA_ID, "can_send_message": "AVAILABLE"}]}})


def _invalid(body: Any) -> str | None:
    """What is wrong with a send request's shape, minimally checked."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be 'whatsapp'."
    if not (body.get("to") or body.get("recipient")):
        return "The parameter 'to' is required."
    kind = body.get("type", "text")
    if kind not in _SEND_TYPES:
        return f"Unsupported message type {kind!r}."
    if not isinstance(body.get(kind), list if kind == "contacts" else dict):
        return f"The parameter {kind!r} is required."
    return None


_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")


def _invalid_template(body: Any) -> str | None:
    """What Meta would refuse in a template create request's required fields."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    for key in ("name", "language", "category", "components"):
        if not body.get(key):
            return f"The parameter {key} is required."
    if not isinstance(body["name"], str) or not _TEMPLATE_NAME.fullmatch(body["name"]):
        return "name can only contain lowercase alphanumeric characters and underscores."
    if body["category"] not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
        return "Invalid category."
    components = body["components"]
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        return "components must be a list of objects."
    body_component = next((c for c in components if c.get("type") == "BODY"), None)
    if body_component is None or not body_component.get("text"):
        return "A BODY component with text is required."
    placeholders = re.findall(r"\{\{\s*(\w+)\s*\}\}", body_component["text"])
    if placeholders and not (body_component.get("example") or {}):
        return "Variables in the body need example values."
    return None


def create_simulator(app_secret: str, webhook_url: str | None = None,
                     **options: Any) -> WhatsAppSimulator:
    """A new simulator; ``options`` are ``WhatsAppSimulator``'s keyword arguments."""
    return WhatsAppSimulator(app_secret, webhook_url, **options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="WhatsApp Cloud API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--app-secret", default="simulator-app-secret")
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args()
    uvicorn.run(create_simulator(args.app_secret, args.webhook_url), host=args.host,
                port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

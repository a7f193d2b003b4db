"""A Messenger / Instagram provider simulator: the parts of Meta's Messenger Platform that Invekto
uses, kept in memory. One instance plays one product (``product="messenger"`` or
``"instagram"``) for one Page or Instagram account.

Provider side (what our adapters call):

* ``POST /{version}/{account}/messages`` (``Authorization: Bearer`` or ``?access_token=``):
  checks the token, the account (its id or ``me``) and the body's shape (Messenger requires
  ``messaging_type``; tags must be the product's; text limits: 2,000 characters, Instagram 1,000
  bytes), records the request in ``state.sent`` and answers ``{"recipient_id", "message_id"}``
  like Meta, unless told to fail (``fail_next``).
* ``GET /{version}/me`` (same token check): the token's owner, ``{"id", "name"}``, which a
  connection check reads.
* Attachment files (``add_media``; files sent in ``customer_message`` are held too) at signed-CDN
  style URLs on ``media_base_url``: ``/v/t1.15752-9/{id}`` (Messenger, fbcdn.net) or
  ``/ig_messaging_cdn/?asset_id={id}`` (Instagram, lookaside). No token is needed, as at Meta.

Customer side (what Meta would post to our webhook): ``customer_message``, ``postback``,
``delivery``, ``read`` and, for anything else (echoes, reactions, referrals), ``webhook(*events)``
build signed webhook bodies (``X-Hub-Signature-256`` with the app secret); ``deliver(body,
headers)`` posts one to ``webhook_url``.

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))``. As a server:
``python -m invekto.channels.simulator.meta_messaging --product instagram --port 8026``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from invekto.channels.adapters.meta_messaging import INSTAGRAM, MESSENGER, Product
from invekto.channels.adapters.whatsapp import sign
from invekto.channels.simulator.whatsapp import Failure, RecordedRequest, StoredMedia

PAGE_ID = "104857600123456"
CUSTOMER_PSID = "7712345678901234"
IG_ACCOUNT_ID = "17841400000000001"
CUSTOMER_IGSID = "1128000000000042"
MESSENGER_CDN = "https://scontent.xx.fbcdn.net"
INSTAGRAM_CDN = "https://lookaside.fbsbx.com"
_PRODUCTS = {"messenger": MESSENGER, "instagram": INSTAGRAM}
_DEFAULTS = {  # product kind: (account id, customer id, media host)
    "messenger": (PAGE_ID, CUSTOMER_PSID, MESSENGER_CDN),
    "instagram": (IG_ACCOUNT_ID, CUSTOMER_IGSID, INSTAGRAM_CDN),
}
_MESSAGES = {
    10: "(#10) This message is sent outside of allowed window.",
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    551: "(#551) This person isn't available right now.",
    613: "(#613) Calls to this api have exceeded the rate limit.",
}
_SUBCODES = {551: 1545041}
_OUTSIDE_WINDOW = {"messenger": 2018278, "instagram": 2534022}
_ATTACHMENT_TYPES = ("image", "video", "audio", "file", "template")
_MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
ACCOUNT_NAMES = {"messenger": "Gülüş Diş Kliniği", "instagram": "gulusdis"}  # what /me answers


@dataclass
class SentMessage:
    """A send the simulator accepted."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    mid: str


@dataclass
class SimulatorState:
    sent: list[SentMessage] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    media: dict[str, StoredMedia] = field(default_factory=dict)
    inbound: list[dict[str, Any]] = field(default_factory=list)  # customer events built
    failures: deque[Failure] = field(default_factory=deque)


def new_mid(product: str = "messenger") -> str:
    if product == "instagram":
        return "aWdfZAG1faXRlbToxOklHTWVzc2FnZA" + base64.b64encode(
            secrets.token_bytes(36)).decode()
    return "m_" + secrets.token_urlsafe(33)


def meta_error(code: int, subcode: int | None = None, message: str | None = None
               ) -> dict[str, Any]:
    """Meta's Messenger Platform error object for ``code`` (and ``subcode``)."""
    error: dict[str, Any] = {"message": message or _MESSAGES.get(code, f"(#{code}) Error"),
                             "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "Sim" + secrets.token_hex(8)
    return {"error": error}


def _now_ms() -> int:
    return int(time.time() * 1000)


class MetaMessagingSimulator:
    """An ASGI app speaking the Messenger Platform Send API, with helpers for the customer's
    side."""

    def __init__(self, app_secret: str, webhook_url: str | None = None, *,
                 product: str = "messenger", access_token: str | None = None,
                 account_id: str | None = None, customer_id: str | None = None,
                 media_base_url: str | None = None,
                 webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        if product not in _PRODUCTS:
            raise ValueError(f"unknown product {product!r}")
        default_account, default_customer, default_media = _DEFAULTS[product]
        self.product: Product = _PRODUCTS[product]
        self.app_secret = app_secret
        self.webhook_url = webhook_url
        self.access_token = access_token  # None: any token is accepted
        self.account_id = account_id or default_account
        self.customer_id = customer_id or default_customer
        self.media_base_url = (media_base_url or default_media).rstrip("/")
        self.webhook_transport = webhook_transport
        self.state = SimulatorState()
        self._app = Starlette(routes=[
            Route("/ig_messaging_cdn/", self._download_lookaside, methods=["GET"]),
            Route("/v/{folder}/{media_id}", self._download, methods=["GET"]),
            Route("/v/{folder}/{media_id}/{filename}", self._download, methods=["GET"]),
            Route("/{version}/{account}/messages", self._send, methods=["POST"]),
            Route("/{version}/me", self._me, methods=["GET"]),
            Route("/{version}/{account}/message_attachments", self._upload, methods=["POST"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- controls ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 400, code: int = 10,
                  subcode: int | None = None, message: str | None = None,
                  retry_after: float | None = None, body: dict[str, Any] | None = None) -> None:
        """The next ``count`` sends answer ``status`` with Meta's error ``code`` (by default the
        closed 24-hour window, with this product's subcode), or with ``body``."""
        if subcode is None:
            subcode = _OUTSIDE_WINDOW[self.product.kind] if code == 10 else _SUBCODES.get(code)
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        for _ in range(count):
            self.state.failures.append(Failure(
                status, body if body is not None else meta_error(code, subcode, message),
                headers))

    def add_media(self, data: bytes, mime_type: str, filename: str | None = None,
                  media_id: str | None = None) -> str:
        """Hold a file; returns its (CDN-style) URL."""
        media_id = media_id or str(10**15 + secrets.randbelow(9 * 10**15))
        self.state.media[media_id] = StoredMedia(data, mime_type, filename)
        if self.product is INSTAGRAM:
            return (f"{self.media_base_url}/ig_messaging_cdn/?asset_id={media_id}"
                    f"&signature=sim{secrets.token_hex(6)}")
        folder = "t59.2708-21" if filename else "t1.15752-9"
        name = f"/{quote(filename)}" if filename else ""
        return (f"{self.media_base_url}/v/{folder}/{media_id}{name}"
                f"?_nc_cat=1&oh=sim&oe={int(time.time()) + 3600:X}")

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- the customer's side: webhooks ---------------------------------------------------------

    def customer_message(self, text: str = "", *, sender: str | None = None,
                         media_kind: str | None = None, data: bytes = b"",
                         mime_type: str = "image/jpeg", filename: str | None = None,
                         quick_reply: str | None = None, reply_to: str | None = None,
                         referral: dict[str, Any] | None = None, timestamp: int | None = None,
                         mid: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed webhook carrying one customer message: text (with the ``quick_reply``
        payload of the button tapped), or a file (``media_kind`` image, video, audio, file)."""
        message: dict[str, Any] = {"mid": mid or new_mid(self.product.kind)}
        if text:
            message["text"] = text
        if media_kind:
            url = self.add_media(data, mime_type, filename)
            message["attachments"] = [{"type": media_kind, "payload": {"url": url}}]
        if quick_reply:
            message["quick_reply"] = {"payload": quick_reply}
        if reply_to:
            message["reply_to"] = {"mid": reply_to}
        if referral:
            message["referral"] = referral
        return self.webhook(self._event(sender, timestamp, message=message))

    def postback(self, title: str, payload: str, *, sender: str | None = None,
                 referral: dict[str, Any] | None = None, timestamp: int | None = None,
                 mid: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed webhook: the customer tapped a postback button (or "Get Started")."""
        postback: dict[str, Any] = {"mid": mid or new_mid(self.product.kind), "title": title,
                                    "payload": payload}
        if referral:
            postback["referral"] = referral
        return self.webhook(self._event(sender, timestamp, postback=postback))

    def delivery(self, mids: list[str], *, sender: str | None = None,
                 watermark: int | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed delivery receipt for messages we sent (Messenger only; Instagram has
        none)."""
        if self.product is INSTAGRAM:
            raise ValueError("Instagram sends no delivery receipts")
        event = self._event(sender, None, delivery={"mids": list(mids),
                                                    "watermark": watermark or _now_ms()})
        del event["timestamp"]  # delivery events come without one
        return self.webhook(event)

    def read(self, *, mid: str | None = None, watermark: int | None = None,
             sender: str | None = None, timestamp: int | None = None
             ) -> tuple[bytes, dict[str, str]]:
        """A signed read receipt: a ``watermark`` (Messenger) or the ``mid`` read (Instagram's
        ``messaging_seen``)."""
        read: dict[str, Any] = {"mid": mid} if mid else {"watermark": watermark or _now_ms()}
        return self.webhook(self._event(sender, timestamp, read=read))

    def echo(self, text: str, *, mid: str | None = None, recipient: str | None = None,
             timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed echo: the account's own message to a customer (sent from Meta Business
        Suite, say, or one of ours coming back)."""
        return self.webhook({
            "sender": {"id": self.account_id}, "recipient": {"id": recipient or self.customer_id},
            "timestamp": timestamp or _now_ms(),
            "message": {"mid": mid or new_mid(self.product.kind), "text": text,
                        "is_echo": True}})

    def webhook(self, *events: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """A signed webhook carrying ``events`` (``entry[].messaging[]`` items) as given."""
        self.state.inbound.extend(events)
        envelope = {"object": self.product.webhook_object, "entry": [{
            "id": self.account_id, "time": _now_ms(), "messaging": list(events)}]}
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return body, {"Content-Type": "application/json",
                      "X-Hub-Signature-256": sign(self.app_secret, body)}

    async def deliver(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """Post a webhook built above to ``webhook_url``, as Meta would."""
        if not self.webhook_url:
            raise RuntimeError("the simulator has no webhook_url")
        async with httpx.AsyncClient(transport=self.webhook_transport, timeout=10) as http:
            return await http.post(self.webhook_url, content=body, headers=headers)

    def _event(self, sender: str | None, timestamp: int | None, **content: Any
               ) -> dict[str, Any]:
        return {"sender": {"id": sender or self.customer_id},
                "recipient": {"id": self.account_id},
                "timestamp": timestamp or _now_ms(), **content}

    # ---- the provider's side: HTTP API ---------------------------------------------------------

    def _record(self, request: Request) -> None:
        self.state.requests.append(RecordedRequest(
            request.method, request.url.path, request.url.query, request.headers.get("host", ""),
            {k.lower(): v for k, v in request.headers.items()}))

    def _token_ok(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or request.query_params.get("access_token", "")
        return bool(token) and (self.access_token is None
                                or secrets.compare_digest(token, self.access_token))

    async def _send(self, request: Request) -> Response:
        self._record(request)
        if not self._token_ok(request):
            return JSONResponse(meta_error(190), status_code=401)
        account = request.path_params["account"]
        if account not in (self.account_id, "me"):
            return JSONResponse(meta_error(100, 33, (
                f"Unsupported post request. Object with ID '{account}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation.")),
                status_code=400)
        if self.state.failures:
            failure = self.state.failures.popleft()
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse(meta_error(100, message="(#100) The body is not JSON."),
                                status_code=400)
        problem = _invalid(body, self.product)
        if problem:
            return JSONResponse(meta_error(100, message=f"(#100) {problem}"), status_code=400)
        mid = new_mid(self.product.kind)
        self.state.sent.append(SentMessage(
            request.url.path, {k.lower(): v for k, v in request.headers.items()}, body, mid))
        return JSONResponse({"recipient_id": body["recipient"]["id"], "message_id": mid})

    async def _upload(self, request: Request) -> Response:
        """The Attachment Upload API: multipart ``message`` (the attachment's type, reusable)
        and ``filedata``; answers the ``attachment_id`` a send can then use."""
        self._record(request)
        if not self._token_ok(request):
            return JSONResponse(meta_error(190), status_code=401)
        async with request.form() as form:  # closes the spooled upload afterwards
            upload = form.get("filedata")
            try:
                kind = json.loads(str(form.get("message") or ""))["attachment"]["type"]
            except (ValueError, KeyError, TypeError):
                kind = None
            if kind not in ("image", "audio", "video", "file") or not hasattr(upload, "read"):
                return JSONResponse(meta_error(100, message="(#100) message.attachment.type "
                                                            "and filedata are required."),
                                    status_code=400)
            attachment_id = str(10**15 + secrets.randbelow(9 * 10**15))
            self.add_media(await upload.read(), upload.content_type or "", upload.filename,
                           media_id=attachment_id)
        return JSONResponse({"attachment_id": attachment_id})

    # ---- connection checks ---------------------------------------------------------------------

    async def _me(self, request: Request) -> Response:
        """``GET /{version}/me?fields=id,name``: the Page (or Instagram account) of the token."""
        self._record(request)
        if not self._token_ok(request):
            return JSONResponse(meta_error(190), status_code=401)
        return JSONResponse({"id": self.account_id, "name": ACCOUNT_NAMES[self.product.kind]})

    def _file(self, media_id: str) -> Response:
        media = self.state.media.get(media_id)
        if media is None:  # an expired or unknown CDN URL
            return Response("URL signature expired", status_code=403)
        return Response(media.data, media_type=media.mime_type)

    async def _download(self, request: Request) -> Response:
        self._record(request)
        return self._file(request.path_params["media_id"])

    async def _download_lookaside(self, request: Request) -> Response:
        self._record(request)
        return self._file(request.query_params.get("asset_id", ""))


def _invalid(body: Any, product: Product) -> str | None:
    """What is wrong with a send request's shape, minimally checked."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not recipient.get("id"):
        return "param recipient[id] must be non-empty."
    messaging_type = body.get("messaging_type")
    if messaging_type is None and product is MESSENGER:
        return "param messaging_type is required."
    if messaging_type is not None and messaging_type not in _MESSAGING_TYPES:
        return f"param messaging_type {messaging_type!r} is not valid."
    if (messaging_type == "MESSAGE_TAG") != bool(body.get("tag")) or (
            body.get("tag") and body["tag"] not in product.tags):
        return "param tag must be a valid message tag, with messaging_type MESSAGE_TAG."
    message = body.get("message")
    if not isinstance(message, dict):
        return None if body.get("sender_action") else "param message must be non-empty."
    if ("text" in message) == ("attachment" in message):
        return "message must have exactly one of text or attachment."
    if "text" in message:
        text = str(message["text"])
        size = len(text.encode()) if product.text_in_bytes else len(text)
        if not text or size > product.max_text:
            return (f"Length of param message[text] must be between 1 and {product.max_text}"
                    + (" bytes." if product.text_in_bytes else "."))
    else:
        attachment = message["attachment"]
        if not isinstance(attachment, dict) or attachment.get("type") not in _ATTACHMENT_TYPES:
            return "param message[attachment][type] is not valid."
        payload = attachment.get("payload")
        if not isinstance(payload, dict) or not (
                payload.get("url") or payload.get("attachment_id")
                or payload.get("template_type")):
            return "param message[attachment][payload] is not valid."
    if len(message.get("quick_replies") or []) > 13:
        return "param message[quick_replies] must have at most 13 elements."
    return None


def create_simulator(app_secret: str, webhook_url: str | None = None,
                     **options: Any) -> MetaMessagingSimulator:
    """A new simulator; ``options`` are ``MetaMessagingSimulator``'s keyword arguments."""
    return MetaMessagingSimulator(app_secret, webhook_url, **options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Messenger / Instagram Send API simulator")
    parser.add_argument("--product", choices=sorted(_PRODUCTS), default="messenger")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--app-secret", default="simulator-app-secret")
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args()
    uvicorn.run(create_simulator(args.app_secret, args.webhook_url, product=args.product),
                host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The demo's customer phone: a WhatsApp user, played in a browser at ``/demo/phone``, writing to
the demo company's WhatsApp number. Demo mode only (``settings.demo``).

The web process hosts that number's provider, the WhatsApp simulator, under
``demo.PROVIDER_PATH``: the worker's sends reach it over HTTP like Meta's Cloud API. What the
customer types goes to our webhook intake the way Meta would send it, signed, over HTTP
(``simulator.deliver``), and nowhere else: the intake, the ingest job and the inbox treat it as
they would a real customer's message. The phone keeps each customer number's chat in memory; a
restart of the web process forgets the phone's side (the inbox keeps its own). Demo mode runs one
web process: each one wires the number to itself when it starts.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from invekto import demo
from invekto.channels.simulator.whatsapp import TEMPLATES as SIMULATED_TEMPLATES
from invekto.channels.simulator.whatsapp import (
    SentRequest,
    StoredMedia,
    WhatsAppSimulator,
    create_simulator,
    new_wamid,
)
from invekto.core.errors import AppError, NotFound, ValidationFailed
from invekto.core.i18n import N_
from invekto.core.phone import to_e164
from invekto.core.text import clean_text
from invekto.runtime import Runtime

log = structlog.get_logger(__name__)

MAX_TEXT = 4096  # WhatsApp's own limit for a text message
MAX_NAME = 60
MAX_NUMBER = 32
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # WhatsApp's limit for an image
# The images WhatsApp takes, told by their first bytes rather than by what the browser claims.
IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
MAX_BUBBLES = 200  # kept per chat
MAX_CHATS = 500
MAX_MEDIA = 300  # files the simulator keeps, oldest forgotten first
MAX_RECEIPTS = 100  # messages marked in one call
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
# Characters no chat app would send (and PostgreSQL's JSON cannot store NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# The demo company's templates as WhatsApp would show them: the simulator's list (what the inbox
# offers), (name, language) -> (body with {{1}}-style variables, quick-reply button titles).
TEMPLATES: dict[tuple[str, str], tuple[str, list[str]]] = {
    (t["name"], t["language"]): (
        next(c["text"] for c in t["components"] if c["type"] == "BODY"),
        [b["text"] for c in t["components"] if c["type"] == "BUTTONS" for b in c["buttons"]])
    for t in SIMULATED_TEMPLATES}


class DemoUnavailable(AppError):
    status_code = 503
    code = "demo_unavailable"


@dataclass
class Option:
    """A reply button, a list row or a template's quick reply."""

    id: str
    title: str
    description: str = ""


@dataclass
class Media:
    kind: str  # image, video, audio, document, sticker
    url: str | None  # where the phone shows it from; None: not available to show
    filename: str | None = None


@dataclass
class Bubble:
    """One message on the phone's screen."""

    wamid: str
    mine: bool  # written on this phone (the customer), else by the business
    at: datetime
    kind: str  # Meta's message type: text, image, interactive, template...
    text: str = ""
    # Mine: pending, delivered (our intake took it), read (the business has answered since),
    # failed. The business's: received, delivered, read (receipts this phone sent back).
    status: str = "pending"
    error: str = ""
    media: Media | None = None
    header: str = ""
    footer: str = ""
    template: str = ""  # a template's name
    options: list[Option] = field(default_factory=list)  # buttons, or a template's quick replies
    list_label: str = ""  # an interactive list's button
    sections: list[tuple[str, list[Option]]] = field(default_factory=list)
    link: tuple[str, str] | None = None  # a call-to-action button: (title, url)
    quote: str = ""  # what the message answers

    def option(self, option_id: str) -> tuple[str, Option] | None:
        """(the reply's kind, the option) this message offers under ``option_id``."""
        for option in self.options:
            if option.id == option_id:
                return ("button" if self.kind == "template" else "button_reply"), option
        for _title, rows in self.sections:
            for row in rows:
                if row.id == option_id:
                    return "list_reply", row
        return None


@dataclass
class Chat:
    """One customer number's conversation with the business."""

    wa_id: str
    name: str = ""
    bubbles: list[Bubble] = field(default_factory=list)
    version: int = 0  # changes with anything on screen; unique over the process's chats

    def find(self, wamid: str) -> Bubble | None:
        return next((b for b in self.bubbles if b.wamid == wamid), None)


@dataclass(frozen=True)
class Image:
    data: bytes
    mime_type: str
    filename: str | None = None


# ---- the customer's input, checked --------------------------------------------------------------

def customer_number(raw: str) -> str:
    """The WhatsApp id (digits of the E.164 number) of a number typed in any usual form."""
    raw = (raw or "").strip()
    if not raw:
        raise ValidationFailed("enter the customer's phone number", field="number")
    if len(raw) > MAX_NUMBER:
        raise ValidationFailed("'%(raw)s' is not a phone number", field="number",
                               params={"raw": raw[:MAX_NUMBER] + "…"})
    return to_e164(raw, field="number").lstrip("+")


def customer_name(raw: str) -> str:
    name = _CONTROL.sub("", " ".join((raw or "").split()))
    if not name:
        raise ValidationFailed("enter the customer's name", field="name")
    if len(name) > MAX_NAME:
        raise ValidationFailed("the name is longer than %(max)s characters", field="name",
                               params={"max": MAX_NAME})
    return name


def message_text(raw: str, *, required: bool = True) -> str:
    text = _CONTROL.sub("", clean_text(raw or ""))
    if required and not text:
        raise ValidationFailed("message is empty", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed("the message is longer than %(max)s characters", field="text",
                               params={"max": MAX_TEXT})
    return text


def image(data: bytes, filename: str | None) -> Image:
    """An image the customer picked: JPEG or PNG (by content), at most 5 MB."""
    if not data:
        raise ValidationFailed("the file is empty", field="image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValidationFailed("this file is too large: %(kind)s files can be at most "
                               "%(megabytes)s MB", field="image",
                               params={"kind": N_("image"),
                                       "megabytes": MAX_IMAGE_BYTES // (1024 * 1024)})
    mime_type = next((mime for signature, mime in IMAGE_SIGNATURES.items()
                      if data.startswith(signature)), None)
    if mime_type is None:
        raise ValidationFailed("only JPEG and PNG images can be sent", field="image")
    name = _CONTROL.sub("", (filename or "").strip())[-100:] or None
    return Image(data, mime_type, name)


# ---- the phone ----------------------------------------------------------------------------------

class Phone:
    """The simulator of the demo number and the chats of the customers using it."""

    def __init__(self, rt: Runtime, *,
                 webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.rt = rt
        # Tests post in-process; a real run posts over the network to its own address.
        self.webhook_transport = webhook_transport
        self.line: demo.PhoneLine | None = None
        self.simulator: WhatsAppSimulator | None = None
        self.chats: OrderedDict[str, Chat] = OrderedDict()
        self._versions = itertools.count(1)
        self._lock = asyncio.Lock()

    async def connect(self) -> demo.PhoneLine | None:
        """Wire the demo number to this process's simulator, once (at start-up, or at the first
        request if the demo company came later). None while there is no demo company."""
        if self.simulator is not None:
            return self.line
        async with self._lock:
            if self.simulator is None:
                line = await demo.wire_phone(self.rt.db, self.rt.settings)
                if line is None:
                    log.warning("demo.no_demo_company", hint="run `invekto demo`")
                    return None
                self.line = line
                self.simulator = create_simulator(
                    line.app_secret, webhook_url=(f"{demo.app_base_url(self.rt.settings)}"
                                                  f"/webhooks/whatsapp_cloud/{line.channel_id}"),
                    access_token=line.access_token, phone_number_id=line.phone_number_id,
                    webhook_transport=self.webhook_transport)
                log.info("demo.phone_connected", channel_id=str(line.channel_id),
                         provider=demo.app_base_url(self.rt.settings) + demo.PROVIDER_PATH)
        return self.line

    async def ready(self) -> WhatsAppSimulator:
        await self.connect()
        if self.simulator is None:
            raise DemoUnavailable(N_("the demo company is not set up yet: run `invekto demo`"))
        return self.simulator

    async def provider(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app mounted at ``demo.PROVIDER_PATH``: the simulator's Cloud API."""
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        await self.connect()
        if self.simulator is None:
            await JSONResponse({"error": {"message": "the demo number is not set up",
                                          "code": 131000}}, status_code=503)(scope, receive, send)
            return
        # The simulator builds its media URLs on ``request.base_url``: make that the mount's own.
        await self.simulator({**scope, "app_root_path": scope.get("root_path", "")},
                             receive, send)

    # ---- reading ----------------------------------------------------------------------------

    def chat(self, wa_id: str) -> Chat:
        """The number's chat, with everything the business has sent so far."""
        self._sync()
        return self._chat(wa_id)

    def media(self, media_id: str) -> StoredMedia | None:
        return self.simulator.state.media.get(media_id) if self.simulator else None

    # ---- the customer's actions -----------------------------------------------------------

    async def write(self, wa_id: str, name: str, text: str, picture: Image | None = None
                    ) -> Bubble:
        """The customer sends ``text`` (the caption, with ``picture``)."""
        simulator = await self.ready()
        wamid = new_wamid()
        if picture:
            body, headers = simulator.customer_message(
                text, wa_id=wa_id, name=name, media_kind="image", data=picture.data,
                mime_type=picture.mime_type, filename=picture.filename, wamid=wamid)
            media_id = simulator.state.inbound[-1]["image"]["id"]
            bubble = Bubble(wamid, True, _now(), "image", text=text,
                            media=Media("image", media_url(media_id), picture.filename))
        else:
            body, headers = simulator.customer_message(text, wa_id=wa_id, name=name,
                                                       wamid=wamid)
            bubble = Bubble(wamid, True, _now(), "text", text=text)
        return await self._post(wa_id, name, bubble, body, headers)

    async def tap(self, wa_id: str, name: str, wamid: str, option_id: str) -> Bubble:
        """The customer taps a reply button or list row of the business's message ``wamid``."""
        simulator = await self.ready()
        chat = self.chat(wa_id)
        asked = chat.find(wamid)
        chosen = asked.option(option_id) if asked and not asked.mine else None
        if asked is None or chosen is None:
            raise NotFound("%(what)s not found", params={"what": N_("message")})
        kind, option = chosen
        if kind == "button":  # a template's quick reply
            message: dict[str, Any] = {"type": "button", "button": {
                "payload": option.id, "text": option.title}}
        else:
            reply = {"id": option.id, "title": option.title}
            if option.description:
                reply["description"] = option.description
            message = {"type": "interactive", "interactive": {"type": kind, kind: reply}}
        reply_wamid = new_wamid()
        body, headers = simulator.customer_message(wa_id=wa_id, name=name, message=message,
                                                   reply_to=wamid, wamid=reply_wamid)
        bubble = Bubble(reply_wamid, True, _now(), message["type"], text=option.title,
                        quote=_snippet(asked))
        return await self._post(wa_id, name, bubble, body, headers)

    async def seen(self, wa_id: str, wamids: list[str], status: str) -> int:
        """The phone got (``delivered``) or showed (``read``) the business's messages: send
        those receipts, each status once and in order. Returns how many changed."""
        if status not in ("delivered", "read"):
            raise ValidationFailed("unknown receipt", field="status")
        simulator = await self.ready()
        chat = self.chat(wa_id)
        receipts: list[tuple[str, str]] = []
        for wamid in dict.fromkeys(wamids[:MAX_RECEIPTS]):
            bubble = chat.find(wamid)
            if bubble is None or bubble.mine or _RANK[bubble.status] >= _RANK[status]:
                continue
            if bubble.status == "received" and status == "read":
                receipts.append((wamid, "delivered"))
            receipts.append((wamid, status))
            bubble.status = status  # at once: a second poll must not send them again
        if receipts:
            self._touch(chat)
        for wamid, value in receipts:
            try:
                response = await simulator.deliver(*simulator.status(wamid, value,
                                                                     recipient_id=wa_id))
                if response.status_code != 200:
                    log.warning("demo.receipt_refused", status_code=response.status_code)
            except httpx.HTTPError as exc:
                log.warning("demo.receipt_failed", error=type(exc).__name__)
        return len({wamid for wamid, _ in receipts})

    # ---- inside -------------------------------------------------------------------------------

    async def _post(self, wa_id: str, name: str, bubble: Bubble, body: bytes,
                    headers: dict[str, str]) -> Bubble:
        assert self.simulator is not None
        chat = self._chat(wa_id)
        chat.name = name
        self._add(chat, bubble)
        try:
            response = await self.simulator.deliver(body, headers)
        except httpx.HTTPError as exc:
            bubble.status, bubble.error = "failed", type(exc).__name__
        else:
            if response.status_code == 200:
                bubble.status = "delivered"
            else:
                bubble.status, bubble.error = "failed", f"HTTP {response.status_code}"
        if bubble.status == "failed":
            log.warning("demo.webhook_refused", error=bubble.error)
        self._touch(chat)
        self._trim()
        return bubble

    def _chat(self, wa_id: str) -> Chat:
        chat = self.chats.get(wa_id)
        if chat is None:
            chat = self.chats[wa_id] = Chat(wa_id, version=next(self._versions))
            while len(self.chats) > MAX_CHATS:
                self.chats.popitem(last=False)
        self.chats.move_to_end(wa_id)
        return chat

    def _add(self, chat: Chat, bubble: Bubble) -> None:
        chat.bubbles.append(bubble)
        del chat.bubbles[:-MAX_BUBBLES]
        self._touch(chat)

    def _touch(self, chat: Chat) -> None:
        chat.version = next(self._versions)

    def _sync(self) -> None:
        """Put the sends the simulator accepted since last time into their chats."""
        if self.simulator is None:
            return
        sent = self.simulator.state.sent
        for request in sent:
            wa_id = re.sub(r"\D", "", str(request.body.get("to") or ""))
            if not wa_id:
                continue  # to a business-scoped user id: no phone number to show it on
            chat = self._chat(wa_id)
            bubble = business_bubble(request)
            context = request.body.get("context") or {}
            quoted = chat.find(str(context.get("message_id") or ""))
            bubble.quote = _snippet(quoted) if quoted else ""
            for earlier in chat.bubbles:  # answering them, the business has read them
                if earlier.mine and earlier.status == "delivered":
                    earlier.status = "read"
            self._add(chat, bubble)
        # The phone is the only reader of these lists in a demo process: keep them short.
        sent.clear()
        del self.simulator.state.requests[:-50]

    def _trim(self) -> None:
        assert self.simulator is not None
        state = self.simulator.state
        del state.inbound[:-50]
        for media_id in list(state.media)[:-MAX_MEDIA]:
            del state.media[media_id]


_RANK = {"received": 0, "delivered": 1, "read": 2}


def _now() -> datetime:
    return datetime.now(UTC)


def media_url(media_id: str) -> str:
    return f"/demo/phone/media/{media_id}"


def _http_link(value: Any) -> str | None:
    """A link the phone may show: http(s) only (never ``javascript:``)."""
    link = str(value or "")
    return link if link.startswith(("https://", "http://")) else None


def _snippet(bubble: Bubble) -> str:
    text = bubble.text or bubble.header or (bubble.media.filename if bubble.media else "") or ""
    return text if len(text) <= 80 else text[:79] + "…"


# ---- what the business sent, as the phone shows it ---------------------------------------------

def business_bubble(request: SentRequest) -> Bubble:
    """A send the simulator accepted (Meta's request body), as a bubble."""
    body = request.body
    kind = str(body.get("type") or "text")
    value = body.get(kind)
    obj: dict[str, Any] = value if isinstance(value, dict) else {}
    bubble = Bubble(request.wamid, False, _now(), kind, status="received")
    if kind == "text":
        bubble.text = str(obj.get("body") or "")
    elif kind in MEDIA_KINDS:
        bubble.media = _media(kind, obj)
        bubble.text = str(obj.get("caption") or "")
    elif kind == "interactive":
        _interactive(bubble, obj)
    elif kind == "template":
        _template(bubble, obj)
    elif kind == "location":
        place = " — ".join(str(obj[k]) for k in ("name", "address") if obj.get(k))
        bubble.text = f"📍 {place or ''} ({obj.get('latitude')}, {obj.get('longitude')})".strip()
    elif kind == "contacts":
        cards = value if isinstance(value, list) else []
        bubble.text = "👤 " + ", ".join(str((c.get("name") or {}).get("formatted_name") or "")
                                       for c in cards if isinstance(c, dict))
    elif kind == "reaction":
        bubble.text = str(obj.get("emoji") or "")
    return bubble


def _media(kind: str, obj: dict[str, Any]) -> Media:
    url = media_url(str(obj["id"])) if obj.get("id") else _http_link(obj.get("link"))
    return Media(kind, url, str(obj["filename"]) if obj.get("filename") else None)


def _interactive(bubble: Bubble, obj: dict[str, Any]) -> None:
    header = obj.get("header") or {}
    if header.get("type") == "text":
        bubble.header = str(header.get("text") or "")
    elif header.get("type") in MEDIA_KINDS and isinstance(header.get(header["type"]), dict):
        bubble.media = _media(header["type"], header[header["type"]])
    bubble.text = str((obj.get("body") or {}).get("text") or "")
    bubble.footer = str((obj.get("footer") or {}).get("text") or "")
    action = obj.get("action") or {}
    if obj.get("type") == "button":
        for button in action.get("buttons") or []:
            reply = (button or {}).get("reply") or {}
            if reply.get("id") and reply.get("title"):
                bubble.options.append(Option(str(reply["id"]), str(reply["title"])))
    elif obj.get("type") == "list":
        bubble.list_label = str(action.get("button") or "")
        for section in action.get("sections") or []:
            rows = [Option(str(row["id"]), str(row["title"]), str(row.get("description") or ""))
                    for row in (section or {}).get("rows") or []
                    if isinstance(row, dict) and row.get("id") and row.get("title")]
            bubble.sections.append((str((section or {}).get("title") or ""), rows))
    elif obj.get("type") == "cta_url":
        parameters = action.get("parameters") or {}
        url = _http_link(parameters.get("url"))
        if url:
            bubble.link = (str(parameters.get("display_text") or url), url)


def _parameter_text(parameter: dict[str, Any]) -> str:
    kind = parameter.get("type")
    if kind == "text":
        return str(parameter.get("text") or "")
    if kind in ("currency", "date_time"):
        return str((parameter.get(kind) or {}).get("fallback_value") or "")
    return ""


def _template(bubble: Bubble, obj: dict[str, Any]) -> None:
    name = str(obj.get("name") or "")
    language = obj.get("language")
    code = str(language.get("code") if isinstance(language, dict) else language or "")
    bubble.template = name
    known = TEMPLATES.get((name, code))
    values: list[str] = []
    named: dict[str, str] = {}
    for component in obj.get("components") or []:
        kind = (component or {}).get("type")
        parameters = [p for p in component.get("parameters") or [] if isinstance(p, dict)]
        if kind == "header":
            for parameter in parameters:
                if parameter.get("type") in MEDIA_KINDS and isinstance(
                        parameter.get(parameter["type"]), dict):
                    bubble.media = _media(parameter["type"], parameter[parameter["type"]])
                elif parameter.get("type") == "text":
                    bubble.header = _parameter_text(parameter)
        elif kind == "body":
            for parameter in parameters:
                values.append(_parameter_text(parameter))
                if parameter.get("parameter_name"):
                    named[str(parameter["parameter_name"])] = values[-1]
        elif kind == "button" and component.get("sub_type") == "quick_reply":
            position = str(component.get("index") or "0")
            index = int(position) if position.isdigit() else 0
            payload = next((str(p.get("payload")) for p in parameters if p.get("payload")), "")
            title = known[1][index] if known and index < len(known[1]) else payload
            if payload and title:
                bubble.options.append(Option(payload, title))
    if known:
        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key.isdigit() and 0 < int(key) <= len(values):
                return values[int(key) - 1]
            return named.get(key, match.group(0))
        bubble.text = re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, known[0])
    else:
        bubble.text = " · ".join(v for v in values if v)

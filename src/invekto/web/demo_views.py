"""``/demo/phone``: the customer's phone of the demo (see ``invekto.demo_phone``). Installed only
in demo mode; without it nothing under ``/demo`` exists.

No sign-in: the visitor plays a customer. Everything they do goes to our webhook intake as
signed provider webhooks of the demo number, and nowhere else.

Also here: iyzico for the demo company's payment links (``DemoPayments``), the simulator's
API and hosted payment page under ``demo.IYZICO_PATH``.
"""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, FastAPI, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from invekto import demo, runtime
from invekto.demo import IYZICO_PATH, PROVIDER_PATH
from invekto.demo_phone import MAX_IMAGE_BYTES, MAX_NAME, MAX_TEXT, Chat, Phone
from invekto.demo_phone import customer_name as check_name
from invekto.demo_phone import customer_number as check_number
from invekto.demo_phone import image as check_image
from invekto.demo_phone import message_text as check_text
from invekto.integrations.iyzico.simulator import IyzicoSimulator, create_simulator
from invekto.runtime import Runtime
from invekto.web.rendering import language_of, render

router = APIRouter(prefix="/demo", include_in_schema=False)

DEFAULT_NAMES = ("Deniz Yılmaz", "Selin Kara", "Burak Demir", "Ece Aksoy", "Mert Koç")


class DemoPayments:
    """The iyzico the demo company's payment links go to: a simulator in this process, whose
    hosted page lets the visitor pay."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.simulator: IyzicoSimulator = create_simulator()
        self.wired = False
        self._lock = asyncio.Lock()

    async def connect(self) -> bool:
        """Connect the demo company to the simulator, once (at start-up, or at the first
        request if the demo company came later). False while that cannot be done."""
        if not self.wired:
            async with self._lock:
                if not self.wired:
                    notification_url = await demo.wire_iyzico(self.rt.db, self.rt.settings)
                    self.simulator.notification_url = notification_url
                    self.wired = notification_url is not None
        return self.wired

    async def provider(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app mounted at ``demo.IYZICO_PATH``."""
        if scope["type"] == "http":
            await self.connect()
        # The simulator builds its page's URL on ``request.base_url``: make that the mount's own.
        await self.simulator({**scope, "app_root_path": scope.get("root_path", "")},
                             receive, send)


def install(app: FastAPI, rt: Runtime) -> Phone:
    """The phone's pages, the demo number's provider and the demo's iyzico, on ``app``."""
    phone = Phone(rt)
    app.state.demo_phone = phone
    app.state.demo_payments = DemoPayments(rt)
    app.include_router(router)
    app.mount(PROVIDER_PATH, phone.provider)
    app.mount(IYZICO_PATH, app.state.demo_payments.provider)
    return phone


def _phone(request: Request) -> Phone:
    return request.app.state.demo_phone


def _chat_fragment(request: Request, chat: Chat) -> Response:
    return render(request, "demo/_chat.html", lang=language_of(request), chat=chat,
                  headers={"X-Phone-Version": str(chat.version)})


@router.get("/site")
async def site_page(request: Request) -> Response:
    """The demo company's website, with its chat widget: the visitor side of the web chat."""
    base = str(request.base_url).rstrip("/")
    channel_id = await demo.wire_web_chat(runtime.current().db, base)
    return render(request, "demo/site.html", lang=language_of(request), base=base,
                  channel_id=channel_id, status_code=200 if channel_id else 503)


@router.get("/phone")
async def phone_page(request: Request) -> Response:
    lang = language_of(request)
    line = await _phone(request).connect()
    # A fresh customer for each new visitor; the page keeps the one chosen in the browser.
    number = f"+90 532 {secrets.randbelow(900) + 100} {secrets.randbelow(90) + 10} " \
             f"{secrets.randbelow(90) + 10}"
    response = render(request, "demo/phone.html", lang=lang, line=line,
                      default_name=DEFAULT_NAMES[secrets.randbelow(len(DEFAULT_NAMES))],
                      default_number=number, max_text=MAX_TEXT, max_name=MAX_NAME,
                      max_image_mb=MAX_IMAGE_BYTES // (1024 * 1024),
                      status_code=200 if line else 503)
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/phone/chat")
async def chat(request: Request, number: str = "", v: str = "") -> Response:
    """The chat of ``number`` as HTML, or 204 when version ``v`` is still current (polled)."""
    phone = _phone(request)
    await phone.ready()
    found = phone.chat(check_number(number))
    if v == str(found.version):
        return Response(status_code=204)
    return _chat_fragment(request, found)


@router.post("/phone/messages")
async def write(request: Request, number: str = Form(""), name: str = Form(""),
                text: str = Form(""), image: UploadFile | None = None) -> Response:
    phone = _phone(request)
    await phone.ready()
    wa_id, customer = check_number(number), check_name(name)
    picture = None
    if image is not None and image.filename:
        picture = check_image(await image.read(MAX_IMAGE_BYTES + 1), image.filename)
    body = check_text(text, required=picture is None)
    await phone.write(wa_id, customer, body, picture)
    return _chat_fragment(request, phone.chat(wa_id))


@router.post("/phone/replies")
async def tap(request: Request, number: str = Form(""), name: str = Form(""),
              message_id: str = Form(""), option_id: str = Form("")) -> Response:
    """A reply button, list row or template quick reply tapped."""
    phone = _phone(request)
    await phone.ready()
    wa_id, customer = check_number(number), check_name(name)
    await phone.tap(wa_id, customer, message_id[:200], option_id[:256])
    return _chat_fragment(request, phone.chat(wa_id))


@router.post("/phone/receipts")
async def receipts(request: Request, number: str = Form(""), status: str = Form(""),
                   message_ids: list[str] = Form(default=[])) -> Response:
    """The business's messages arrived on the phone (``delivered``) or were seen (``read``)."""
    phone = _phone(request)
    await phone.ready()
    await phone.seen(check_number(number), message_ids, status)
    return Response(status_code=204)


@router.get("/phone/media/{media_id}")
async def media(request: Request, media_id: str) -> Response:
    """A file of the chat (the customer's picture, a file the business uploaded)."""
    phone = _phone(request)
    await phone.ready()
    found = phone.media(media_id)
    if found is None:
        return Response(status_code=404)
    inline = found.mime_type in ("image/jpeg", "image/png", "image/webp", "audio/ogg",
                                 "audio/mpeg", "audio/aac", "video/mp4")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
               "Content-Security-Policy": "sandbox"}
    if not inline:
        headers["Content-Disposition"] = "attachment"
    return Response(found.data, media_type=found.mime_type if inline
                    else "application/octet-stream", headers=headers)

"""The chat widget's routes: its script (``/widget.js``), a small JSON API under
``/widget/api/{channel_id}/`` and a WebSocket. Called from the company's website (another
origin), so every answer carries CORS headers for the channel's allowed origins only
(``WidgetCors``), errors included; the visitor is known by the token in ``Authorization``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, WebSocket, status
from fastapi.responses import FileResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from invekto import runtime
from invekto.core.errors import AppError, NotFound
from invekto.core.realtime import Event, Hub
from invekto.http.deps import client_ip
from invekto.http.ws import serve_until_closed
from invekto.widget import service
from invekto.widget.schemas import (
    AgentOut,
    FileOut,
    ReadIn,
    VisitorMessageIn,
    VisitorOut,
    VisitorStart,
    WidgetConfigOut,
    WidgetMessageOut,
)

router = APIRouter(include_in_schema=False)
SCRIPT = Path(__file__).resolve().parent.parent / "web" / "static" / "widget.js"
_API_PATH = re.compile(r"^/widget/api/([0-9a-fA-F-]{36})(/|$)")
_STATE_KEY = "widget_channel"


def _origin(headers: dict[str, str]) -> str | None:
    """Where the calling page is: browsers send Origin with cross-origin requests; a same-origin
    GET carries only the Referer."""
    if origin := headers.get("origin"):
        return origin
    referer = urlsplit(headers.get("referer") or "")
    return f"{referer.scheme}://{referer.netloc}" if referer.scheme and referer.netloc else None


class WidgetCors:
    """CORS for the widget's API (pure ASGI): the channel named in the path allows the page's
    origin or not. Allowed answers (errors too, so the widget can show them) name the origin;
    refused preflights are 403. The channel found is handed to the route (one lookup)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _API_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            channel = await service.widget_channel(runtime.current().db,
                                                   uuid.UUID(match.group(1)))
        except (NotFound, ValueError):
            channel = None
        origin = _origin(headers)
        allowed = channel is not None and origin is not None and (
            origin.rstrip("/").lower() in channel.allowed_origins)
        cors = [(b"vary", b"Origin")]
        if allowed:
            cors.append((b"access-control-allow-origin", origin.encode("latin-1")))
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response = Response(status_code=204 if allowed else 403, headers={
                "access-control-allow-methods": "GET, POST",
                "access-control-allow-headers": "Authorization, Content-Type",
                "access-control-max-age": "600"} if allowed else {})
            response.raw_headers.extend(cors)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[_STATE_KEY] = channel

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].extend(cors)
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _channel(request: Request) -> service.WidgetChannel:
    channel = getattr(request.state, _STATE_KEY, None)
    if channel is None:
        raise NotFound("no such chat widget")
    service.check_origin(channel, _origin(dict(request.headers)))
    return channel


async def _visitor(request: Request,
                   channel: Annotated[service.WidgetChannel, Depends(_channel)]
                   ) -> service.Visitor:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return service.visitor_of(channel, token if scheme.lower() == "bearer" else None)


WidgetChannel = Annotated[service.WidgetChannel, Depends(_channel)]
Visitor = Annotated[service.Visitor, Depends(_visitor)]


@router.get("/widget.js")
async def script() -> FileResponse:
    """The widget itself: one file, no dependencies, cached briefly (a fix reaches every site
    within minutes)."""
    return FileResponse(SCRIPT, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})


@router.get("/widget/api/{channel_id}/config", response_model=WidgetConfigOut)
async def config(channel: WidgetChannel):
    rt = runtime.current()
    async with rt.db.tenant_session(channel.tenant_id) as session:
        return await service.config(session, channel,
                                    max_file_bytes=rt.settings.max_attachment_bytes)


@router.post("/widget/api/{channel_id}/visitors", response_model=VisitorOut,
             status_code=status.HTTP_201_CREATED)
async def start(request: Request, body: VisitorStart, channel: WidgetChannel):
    async with runtime.current().db.tenant_session(channel.tenant_id) as session:
        visitor, contact = await service.start_visitor(
            session, channel, body, origin=_origin(dict(request.headers)) or "",
            ip=client_ip(request))
    return VisitorOut(token=service.visitor_token(visitor), name=contact.name)


@router.get("/widget/api/{channel_id}/messages", response_model=list[WidgetMessageOut])
async def messages(visitor: Visitor):
    async with runtime.current().db.tenant_session(visitor.tenant_id) as session:
        return [_out(shown) for shown in await service.visible_messages(session, visitor)]


@router.post("/widget/api/{channel_id}/messages", response_model=WidgetMessageOut,
             status_code=status.HTTP_201_CREATED)
async def write(body: VisitorMessageIn, visitor: Visitor):
    async with runtime.current().db.tenant_session(visitor.tenant_id) as session:
        message = await service.visitor_writes(session, visitor, client_id=body.client_id,
                                               body=body.body)
    return _out(service.VisibleMessage(message, None, None))


@router.post("/widget/api/{channel_id}/files", response_model=WidgetMessageOut,
             status_code=status.HTTP_201_CREATED)
async def upload(visitor: Visitor, file: Annotated[UploadFile, File()],
                 client_id: Annotated[uuid.UUID, Form()], caption: Annotated[str, Form()] = ""):
    rt = runtime.current()
    data = await file.read(rt.settings.max_attachment_bytes + 1)
    async with rt.db.tenant_session(visitor.tenant_id) as session:
        message = await service.visitor_uploads(
            session, rt.storage, visitor, client_id=client_id, filename=file.filename or "file",
            content_type=file.content_type or "application/octet-stream", data=data,
            caption=caption, max_bytes=rt.settings.max_attachment_bytes)
        attachment = await service.visitor_attachment(session, visitor,
                                                      message.attachment_id)
    return _out(service.VisibleMessage(message, attachment, None))


@router.get("/widget/api/{channel_id}/files/{attachment_id}")
async def download(attachment_id: uuid.UUID, visitor: Visitor) -> Response:
    rt = runtime.current()
    async with rt.db.tenant_session(visitor.tenant_id) as session:
        attachment = await service.visitor_attachment(session, visitor, attachment_id)
    data = await rt.storage.get(attachment.storage_key)
    # A download with a fixed type, never rendered on our origin (see inbox's attachments).
    return Response(data, media_type=attachment.content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.filename)}",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})


@router.post("/widget/api/{channel_id}/read", status_code=status.HTTP_204_NO_CONTENT)
async def read(body: ReadIn, visitor: Visitor) -> None:
    async with runtime.current().db.tenant_session(visitor.tenant_id) as session:
        await service.visitor_read(session, visitor, body.up_to)


def _out(shown: service.VisibleMessage) -> WidgetMessageOut:
    message, attachment, agent = shown.message, shown.attachment, shown.agent
    return WidgetMessageOut(
        id=message.id, author="visitor" if message.direction == "inbound" else "agent",
        kind=message.content_kind, body=message.body, at=message.created_at,
        status=message.status,
        agent=AgentOut(name=agent.display_name, initials=_initials(agent.display_name))
        if agent else None,
        file=FileOut(id=attachment.id, name=attachment.filename,
                     content_type=attachment.content_type, size=attachment.size_bytes)
        if attachment else None)


def _initials(name: str) -> str:
    return "".join(word[0] for word in name.split()[:2]).upper() or "?"


# ---- live: "something changed, fetch the messages" -------------------------------------------

_POLICY_VIOLATION = 1008


@router.websocket("/widget/ws/{channel_id}")
async def live(websocket: WebSocket, channel_id: uuid.UUID) -> None:
    """Tells the visitor's widget when a message of theirs is stored or changes (an agent's
    reply went out); the widget then fetches the messages. The token comes as the first
    message (not in the URL, which logs keep)."""
    try:
        channel = await service.widget_channel(runtime.current().db, channel_id)
        service.check_origin(channel, websocket.headers.get("origin"))
    except AppError:
        await websocket.close(code=_POLICY_VIOLATION)
        return
    await websocket.accept()
    try:
        hello = json.loads(await asyncio.wait_for(websocket.receive_text(), timeout=10))
        visitor = service.visitor_of(channel, str(hello.get("token") or ""))
        async with runtime.current().db.tenant_session(visitor.tenant_id) as session:
            contact_id = str((await service.visitor_contact(session, visitor)).id)
    except (AppError, ValueError, AttributeError, TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=_POLICY_VIOLATION)
        return

    hub: Hub = websocket.app.state.hub

    def concerns_visitor(event: Event) -> bool:
        return (event.type in service.WIDGET_EVENTS
                and event.data.get("contact_id") == contact_id)

    subscription = hub.subscribe_to(visitor.tenant_id, concerns_visitor)
    await websocket.send_json({"type": "ready"})

    async def pump_events() -> None:
        while True:
            event = await subscription.queue.get()
            await websocket.send_json({"type": "changed", "message_id":
                                       event.data.get("message_id")})

    async def read_client() -> None:
        while True:  # pings keep proxies from closing an idle socket
            if (await websocket.receive_text()) == "ping":
                await websocket.send_text("pong")

    await serve_until_closed(websocket, hub, subscription, pump_events(), read_client())

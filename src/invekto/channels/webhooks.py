"""``/webhooks/{kind}/{channel_id}``: where providers deliver events (see ``intake``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from invekto import runtime
from invekto.channels import calls, intake
from invekto.channels import service as channels
from invekto.core.errors import NotFound

router = APIRouter(prefix="/webhooks", include_in_schema=False)


async def _channel(kind: str, channel_id: uuid.UUID) -> channels.WebhookChannel:
    channel = await channels.webhook_channel(runtime.current().db, kind, channel_id)
    if channel is None:
        raise NotFound("no such webhook")
    return channel


@router.get("/{kind}/{channel_id}")
async def verify(request: Request, kind: str, channel_id: uuid.UUID) -> Response:
    """Meta's subscription handshake: echo ``hub.challenge`` for the right verify token."""
    channel = await _channel(kind, channel_id)
    params = request.query_params
    if not intake.handshake(channel, params.get("hub.mode"), params.get("hub.verify_token")):
        return PlainTextResponse("verify token mismatch", status_code=403)
    return PlainTextResponse(params.get("hub.challenge", ""))


@router.post("/{kind}/{channel_id}")
async def receive(request: Request, kind: str, channel_id: uuid.UUID) -> Response:
    channel = await _channel(kind, channel_id)
    body = await request.body()
    intake.check_signature(channel, body, dict(request.headers), str(request.url))
    payload = intake.parse_body(channel, body, request.url.query)
    await intake.store(runtime.current().db, channel, body, payload)
    if channel.kind == "voice_twilio":
        # Twilio waits for what to do with the call; callbacks come back to this same URL.
        twiml = await calls.answer_twilio(runtime.current().db, channel, payload,
                                          str(request.url.replace(query="")))
        return Response(twiml, media_type="text/xml")
    return PlainTextResponse("EVENT_RECEIVED")

"""``/hooks/integrations/{kind}/{integration_id}[/{topic}]``: where connected providers post
their events (Shopify's order webhooks, payment callbacks). The adapter verifies and handles
each; this route only finds the connection and turns the adapter's answer into HTTP."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from invekto import runtime
from invekto.integrations import service
from invekto.integrations.base import Capability, IncomingWebhook, WebhookRefused

router = APIRouter(prefix=service.WEBHOOK_PATH, include_in_schema=False)


@router.api_route("/{kind}/{integration_id}", methods=["GET", "POST"])
@router.api_route("/{kind}/{integration_id}/{topic}", methods=["GET", "POST"])
async def receive(request: Request, kind: str, integration_id: uuid.UUID,
                  topic: str = "") -> Response:
    db = runtime.current().db
    conn = await service.webhook_connection(db, kind, integration_id)
    adapter = service.registry.adapter_for(kind)
    if conn is None or adapter is None or Capability.EVENT_SINK not in adapter.capabilities:
        return PlainTextResponse("no such webhook", status_code=404)
    body = await request.body()
    form: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif request.method == "GET":
        form = dict(request.query_params)
    hook = IncomingWebhook(topic=topic, body=body,
                           headers={k.lower(): v for k, v in request.headers.items()},
                           url=str(request.url), form=form,
                           client_ip=request.client.host if request.client else None)
    try:
        reply = await adapter.receive_webhook(db, conn, hook)
    except WebhookRefused as exc:
        return PlainTextResponse(exc.message, status_code=401)
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type,
                    headers=reply.headers)

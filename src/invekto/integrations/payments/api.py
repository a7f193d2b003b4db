"""``/api/v1/conversations/{id}/payment-links`` and ``/api/v1/payment-links/{id}``: make a
payment link in a conversation (it is sent there as the agent's message) and follow it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from invekto import runtime
from invekto.http.deps import Scoped
from invekto.integrations.payments import service as payments
from invekto.integrations.payments.schemas import PaymentLinkIn, PaymentLinkOut

router = APIRouter(tags=["payments"])


def public_url(request: Request) -> str:
    """Where providers reach us: the configured public address, else the one asked."""
    return (runtime.current().settings.public_url or str(request.base_url)).rstrip("/")


@router.post("/conversations/{conversation_id}/payment-links", response_model=PaymentLinkOut,
             status_code=status.HTTP_201_CREATED)
async def create_payment_link(conversation_id: uuid.UUID, body: PaymentLinkIn, ctx: Scoped,
                              request: Request, response: Response):
    link, created = await payments.create_link(ctx.session, ctx.actor, conversation_id, body,
                                               public_url=public_url(request))
    if not created:
        response.status_code = status.HTTP_200_OK  # a retry: the first request's link
    return link


@router.get("/conversations/{conversation_id}/payment-links",
            response_model=list[PaymentLinkOut])
async def list_payment_links(conversation_id: uuid.UUID, ctx: Scoped):
    return await payments.list_links(ctx.session, ctx.actor, conversation_id)


@router.get("/payment-links/{link_id}", response_model=PaymentLinkOut)
async def get_payment_link(link_id: uuid.UUID, ctx: Scoped):
    return await payments.get_link(ctx.session, ctx.actor, link_id)

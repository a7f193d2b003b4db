"""The contact card's Zoho CRM part: a link to the contact's Zoho record and how its sync
stands, loaded by the card once it is shown (``integrations/_zoho_card.html``), and "sync now"
(the contact's push, deferred)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from invekto.contacts import service as contacts
from invekto.inbox import service as inbox
from invekto.integrations.zoho import sync
from invekto.web.rendering import WebPage, render_page

router = APIRouter(include_in_schema=False)


async def _part(request: Request, page: WebPage, contact_id: uuid.UUID, **extra: Any
                ) -> Response:
    session, actor = page.ctx.session, page.ctx.actor
    await inbox.require_history_visible(session, actor, contact_id)
    contact = await contacts.get_contact(session, actor, contact_id)
    return render_page(request, page, "integrations/_zoho_card.html", contact=contact,
                       zoho=await sync.card(session, actor.tenant_id, contact_id), **extra)


@router.get("/inbox/contacts/{contact_id}/zoho")
async def zoho_part(request: Request, contact_id: uuid.UUID, page: WebPage) -> Response:
    return await _part(request, page, contact_id)


@router.post("/inbox/contacts/{contact_id}/zoho/sync")
async def sync_now(request: Request, contact_id: uuid.UUID, page: WebPage) -> Response:
    """Send the contact to Zoho now (the push job, as a change would defer it)."""
    session, actor = page.ctx.session, page.ctx.actor
    await inbox.require_history_visible(session, actor, contact_id)
    await contacts.get_contact(session, actor, contact_id)
    if await sync.card(session, actor.tenant_id, contact_id) is not None:
        await sync.defer_push(session, actor.tenant_id, contact_id)
    return await _part(request, page, contact_id, queued=True)

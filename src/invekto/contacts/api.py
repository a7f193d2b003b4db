from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from invekto.consent import service as consent
from invekto.consent import sync as iys_sync
from invekto.consent.schemas import ConsentEventOut, IysCheckOut, IysPushOut
from invekto.contacts import service
from invekto.contacts.models import Contact
from invekto.contacts.schemas import (
    ConsentIn,
    ConsentOut,
    ContactCreate,
    ContactOut,
    ContactUpdate,
    CustomFieldCreate,
    CustomFieldOut,
    CustomFieldUpdate,
    TagCreate,
    TagOut,
    TagUpdate,
)
from invekto.core import masking
from invekto.core.errors import ValidationFailed
from invekto.http.deps import Scoped
from invekto.inbox import service as inbox

router = APIRouter(tags=["contacts"])


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


@router.get("/contacts", response_model=ContactPage)
async def search_contacts(
    ctx: Scoped, q: Annotated[str | None, Query(max_length=200)] = None, tag: str | None = None,
    custom_field: Annotated[str | None, Query(description="key=value")] = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    field_filter = None
    if custom_field:
        key, sep, value = custom_field.partition("=")
        if not sep or not key:
            raise ValidationFailed("custom_field must look like key=value", field="custom_field")
        field_filter = (key, value)
    items, next_cursor = await service.search_contacts(
        ctx.session, ctx.actor, q=q, tag=tag, custom_field=field_filter, cursor=cursor,
        limit=limit)
    masker = await service.masker_for(ctx.session, ctx.actor)
    return ContactPage(items=[ContactOut.shown(c, masker) for c in items],
                       next_cursor=next_cursor)


async def contact_out(ctx: Scoped, contact: Contact) -> ContactOut:
    """A contact as the caller may see it (personal data masked without the permission)."""
    return ContactOut.shown(contact, await service.masker_for(ctx.session, ctx.actor))


@router.post("/contacts", response_model=ContactOut, status_code=status.HTTP_201_CREATED)
async def create_contact(body: ContactCreate, ctx: Scoped):
    return await contact_out(ctx, await service.create_contact(ctx.session, ctx.actor, body))


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: uuid.UUID, ctx: Scoped):
    return await contact_out(ctx, await service.get_contact(ctx.session, ctx.actor, contact_id))


@router.post("/contacts/{contact_id}/reveal", response_model=ContactOut)
async def reveal_contact(contact_id: uuid.UUID, ctx: Scoped):
    """The contact's personal data in clear, for someone who sees it masked; recorded in the
    audit log."""
    return ContactOut.model_validate(await service.reveal(ctx.session, ctx.actor, contact_id))


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
async def update_contact(contact_id: uuid.UUID, body: ContactUpdate, ctx: Scoped):
    return await contact_out(ctx, await service.update_contact(ctx.session, ctx.actor,
                                                               contact_id, body))


@router.delete("/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_contact(contact_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_contact(ctx.session, ctx.actor, contact_id)


@router.get("/tags", response_model=list[TagOut])
async def list_tags(ctx: Scoped):
    return await service.list_tags(ctx.session, ctx.actor)


@router.post("/tags", response_model=TagOut, status_code=status.HTTP_201_CREATED)
async def create_tag(body: TagCreate, ctx: Scoped):
    return await service.create_tag(ctx.session, ctx.actor, body)


@router.patch("/tags/{tag_id}", response_model=TagOut)
async def update_tag(tag_id: uuid.UUID, body: TagUpdate, ctx: Scoped):
    return await service.update_tag(ctx.session, ctx.actor, tag_id, body)


@router.delete("/tags/{tag_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tag(tag_id: uuid.UUID, ctx: Scoped) -> None:
    tag = await service.delete_tag(ctx.session, ctx.actor, tag_id)
    await inbox.remove_tag_everywhere(ctx.session, ctx.actor, tag.name)


@router.get("/custom-fields", response_model=list[CustomFieldOut])
async def list_custom_fields(ctx: Scoped):
    return await service.list_custom_fields(ctx.session, ctx.actor)


@router.post("/custom-fields", response_model=CustomFieldOut,
             status_code=status.HTTP_201_CREATED)
async def create_custom_field(body: CustomFieldCreate, ctx: Scoped):
    return await service.create_custom_field(ctx.session, ctx.actor, body)


@router.patch("/custom-fields/{field_id}", response_model=CustomFieldOut)
async def update_custom_field(field_id: uuid.UUID, body: CustomFieldUpdate, ctx: Scoped):
    return await service.update_custom_field(ctx.session, ctx.actor, field_id, body)


@router.delete("/custom-fields/{field_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_custom_field(field_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_custom_field(ctx.session, ctx.actor, field_id)


@router.get("/contacts/{contact_id}/consents", response_model=list[ConsentOut])
async def list_consents(contact_id: uuid.UUID, ctx: Scoped):
    """The contact's current consent of each kind recorded so far."""
    return await consent.current(ctx.session, ctx.actor, contact_id)


@router.get("/contacts/{contact_id}/consents/history", response_model=list[ConsentEventOut])
async def consent_history(contact_id: uuid.UUID, ctx: Scoped,
                          limit: Annotated[int, Query(ge=1, le=500)] = 200):
    """Every change of the contact's consents, newest first: given or withdrawn, through what
    (widget, keyword, import, manual, iys), when, by whom, its evidence, and how telling İYS
    of it went."""
    found = await consent.history(ctx.session, ctx.actor, contact_id, limit=limit)
    masker = masking.Masker(ctx.actor)
    return [ConsentEventOut.model_validate(event).model_copy(update={
        **consent.shown(event, masker),
        "iys_push": IysPushOut.model_validate(push) if push else None})
        for event, push in found]


@router.put("/contacts/{contact_id}/consents/{consent_type}", response_model=ConsentOut)
async def set_consent(contact_id: uuid.UUID, consent_type: Literal["message", "call", "email"],
                      body: ConsentIn, ctx: Scoped):
    """Marketing consent as the contact gave or withdrew it; campaigns obey it. Recording a
    withdrawal is for anyone who handles conversations, a consent given for those who manage
    contacts. Sent on to İYS when the company has it on."""
    return await consent.set_manual(ctx.session, ctx.actor, contact_id, consent_type, body)


@router.post("/contacts/{contact_id}/consents/{consent_type}/iys-check",
             response_model=IysCheckOut)
async def check_consent_at_iys(contact_id: uuid.UUID,
                               consent_type: Literal["message", "call", "email"], ctx: Scoped):
    """Ask İYS now what it holds for the contact's number (or address); what differs is
    recorded as a change from İYS."""
    held = await iys_sync.check_contact(ctx.session, ctx.actor, contact_id, consent_type)
    current = {c.consent_type: c for c in await consent.current(ctx.session, ctx.actor,
                                                                contact_id)}
    return IysCheckOut(
        iys_status=held.status if held else None,
        iys_consent_date=held.consent_date if held else None,
        iys_source=held.source if held else None,
        consent=ConsentOut.model_validate(current[consent_type])
        if consent_type in current else None)

"""Data protection (``/api/v1/privacy``): a contact's personal data exported (a ZIP) or
erased, the list of such requests, and the retention policy with a preview of what it would
remove. Everything needs the "Manage security" permission; the service checks it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from invekto import runtime
from invekto.contacts import service as contacts
from invekto.core.actor import Actor
from invekto.http.deps import Scoped
from invekto.privacy import archive, service
from invekto.privacy.export import PersonalData
from invekto.privacy.models import PrivacyRequest
from invekto.privacy.schemas import (
    EraseIn,
    PrivacyRequestOut,
    RetentionOut,
    RetentionPolicyIn,
    RetentionPolicyOut,
    RetentionPreviewOut,
    RetentionRunOut,
)

router = APIRouter(prefix="/privacy", tags=["privacy"])


def zip_response(gathered: PersonalData) -> StreamingResponse:
    """The archive, streamed after the request's transaction has committed."""
    return StreamingResponse(
        archive.stream(gathered.documents, gathered.files, runtime.current().storage,
                       when=gathered.exported_at),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{gathered.filename}"',
                 "Cache-Control": "no-store"})


async def requests_out(session: AsyncSession, actor: Actor, found: list[PrivacyRequest]
                       ) -> list[PrivacyRequestOut]:
    names = {c.id: c.name for c in (await contacts.get_contacts(
        session, actor, {r.contact_id for r in found})).values()}
    return [PrivacyRequestOut.model_validate(r).model_copy(
        update={"contact_name": names.get(r.contact_id)}) for r in found]


@router.post("/contacts/{contact_id}/export", response_class=StreamingResponse,
             responses={200: {"content": {"application/zip": {}}}})
async def export_contact(contact_id: uuid.UUID, ctx: Scoped):
    """A ZIP of everything held about the contact (README.txt says what each file holds)."""
    return zip_response(await service.export_contact(ctx.session, ctx.actor, contact_id))


@router.post("/contacts/{contact_id}/erase", response_model=PrivacyRequestOut)
async def erase_contact(contact_id: uuid.UUID, body: EraseIn, ctx: Scoped):
    """Anonymise the contact; ``confirm`` repeats the contact's id (else 422 on ``confirm``).
    Their conversations must be closed (else 409)."""
    request = await service.erase_contact(ctx.session, ctx.actor, contact_id,
                                          confirm=body.confirm)
    return (await requests_out(ctx.session, ctx.actor, [request]))[0]


@router.get("/requests", response_model=list[PrivacyRequestOut])
async def list_requests(ctx: Scoped, contact_id: uuid.UUID | None = None):
    found = await service.list_requests(ctx.session, ctx.actor, contact_id=contact_id)
    return await requests_out(ctx.session, ctx.actor, found)


@router.get("/retention", response_model=RetentionOut)
async def get_retention(ctx: Scoped):
    """The policy (null limits: kept for ever) and the latest runs, newest first."""
    policy, updated_at = await service.get_policy(ctx.session, ctx.actor)
    runs = await service.recent_runs(ctx.session, ctx.actor)
    return RetentionOut(policy=RetentionPolicyOut(**policy.as_dict(), updated_at=updated_at),
                        runs=[RetentionRunOut.model_validate(run) for run in runs])


@router.put("/retention", response_model=RetentionPolicyOut)
async def put_retention(body: RetentionPolicyIn, ctx: Scoped):
    policy = await service.save_policy(ctx.session, ctx.actor, body)
    _, updated_at = await service.get_policy(ctx.session, ctx.actor)
    return RetentionPolicyOut(**policy.as_dict(), updated_at=updated_at)


@router.post("/retention/preview", response_model=RetentionPreviewOut)
async def preview_retention(body: RetentionPolicyIn, ctx: Scoped):
    """What ``body`` (saved or not) would remove if it were applied now."""
    return await service.preview(ctx.session, ctx.actor, body)

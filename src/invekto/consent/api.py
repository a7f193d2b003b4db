"""The company's İYS settings (``/api/v1/settings/iys``: the password is write-only,
``has_password``; the synchronisation's state and failures; a login test; failed changes sent
again) and the consent import (``/api/v1/consents/import``). The services check who may."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status

from invekto.campaigns.lists import MAX_BYTES
from invekto.consent import service, sync
from invekto.consent.schemas import (
    ConsentImportOut,
    IysFailureOut,
    IysRetryOut,
    IysSettingsIn,
    IysSettingsOut,
    IysTestOut,
)
from invekto.core import masking
from invekto.core.errors import ValidationFailed
from invekto.http.deps import Scoped

router = APIRouter(tags=["consent"])


async def settings_out(ctx) -> IysSettingsOut:
    """The settings and the synchronisation's state as the API and the settings page give
    them."""
    found = await sync.get_settings(ctx.session, ctx.actor)
    state = await sync.sync_status(ctx.session, ctx.actor)
    masker = masking.Masker(ctx.actor)
    return IysSettingsOut(
        configured=found is not None, enabled=bool(found and found.enabled),
        base_url=found.base_url if found else IysSettingsIn().base_url,
        iys_code=found.iys_code if found else "", brand_code=found.brand_code if found else "",
        username=found.username if found else "",
        has_password=bool(found and sync.has_password(found)),
        recipient_type=found.recipient_type if found else "BIREYSEL",
        pushes=state.pushes,
        failures=[IysFailureOut(
            event_id=f.event_id, contact_id=f.contact_id,
            recipient=masker.phone(str(f.payload.get("recipient", ""))) or "",
            type=str(f.payload.get("type", "")),
            status=str(f.payload.get("status", "")), attempts=f.attempts,
            error_code=f.error_code, error=f.error, failed_at=f.failed_at)
            for f in state.failures],
        pulled_at=found.pulled_at if found else None,
        pull_error=found.pull_error if found else None)


@router.get("/settings/iys", response_model=IysSettingsOut)
async def get_iys_settings(ctx: Scoped):
    return await settings_out(ctx)


@router.put("/settings/iys", response_model=IysSettingsOut)
async def put_iys_settings(body: IysSettingsIn, ctx: Scoped):
    await sync.save_settings(ctx.session, ctx.actor, body)
    return await settings_out(ctx)


@router.post("/settings/iys/test", response_model=IysTestOut)
async def test_iys_login(ctx: Scoped):
    """Whether İYS took the saved user name and password is the answer (``ok``), not the
    status code."""
    return await sync.test_connection(ctx.session, ctx.actor)


@router.post("/settings/iys/retry", response_model=IysRetryOut)
async def retry_iys_failures(ctx: Scoped):
    """Every change İYS refused (or that kept failing) is sent again."""
    return IysRetryOut(retried=await sync.retry_failed(ctx.session, ctx.actor))


async def read_upload(file: UploadFile) -> bytes:
    try:
        data = await file.read(MAX_BYTES + 1)
    finally:
        await file.close()
    if len(data) > MAX_BYTES:
        raise ValidationFailed("the file is larger than 20 MB", field="file")
    return data


@router.post("/consents/import", response_model=ConsentImportOut,
             status_code=status.HTTP_201_CREATED)
async def import_consents(
    ctx: Scoped, file: Annotated[UploadFile, File()],
    consent_type: Annotated[str, Form()] = "message",
    phone_column: Annotated[str | None, Form(max_length=100)] = None,
    consent_column: Annotated[str | None, Form(max_length=100)] = None,
    date_column: Annotated[str | None, Form(max_length=100)] = None,
    iys_source: Annotated[str, Form(max_length=40)] = "HS_FIZIKSEL_ORTAM",
):
    """Consents from a CSV or XLSX (a phone column and a yes/no column, optionally the date
    each was given); every change keeps the file's name and row as its evidence."""
    return await service.import_consents(
        ctx.session, ctx.actor, filename=file.filename or "upload", data=await read_upload(file),
        consent_type=consent_type, phone_column=phone_column or None,
        consent_column=consent_column or None, date_column=date_column or None,
        iys_source=iys_source)

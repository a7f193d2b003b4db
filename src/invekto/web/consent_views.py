"""Consent in the pages: the contact card's consent part (its current state, a change recorded
by a person, the history, a look at İYS) and the settings' "Consent and İYS" section (the İYS
account, how the synchronisation goes, a consent import). Every change goes through the consent
domain's services, which check who may; the settings' page itself is drawn by
``settings_views`` with ``settings_context``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from invekto.campaigns.lists import MAX_BYTES
from invekto.consent import iys, service, sync
from invekto.consent.schemas import IysSettingsIn
from invekto.contacts import service as contacts
from invekto.contacts.models import CONSENT_TYPES
from invekto.contacts.schemas import ConsentIn
from invekto.core import masking
from invekto.core.actor import Permission
from invekto.core.errors import AppError, ValidationFailed
from invekto.inbox import service as inbox
from invekto.users import service as users
from invekto.web.rendering import Page, WebPage, error_message, parse_form, render_page

router = APIRouter(include_in_schema=False)

HISTORY_SHOWN = 30
# How a person says a consent was given, in İYS's words, in the order the form offers them.
MANUAL_SOURCES = ("HS_MESAJ", "HS_CAGRI_MERKEZI", "HS_FIZIKSEL_ORTAM", "HS_ISLAK_IMZA",
                  "HS_WEB", "HS_EPOSTA", "HS_SOSYAL_MEDYA", "HS_ETKINLIK")


# ---- the contact card ----------------------------------------------------------------------

async def _card_part(request: Request, page: Page, contact_id: uuid.UUID, *,
                     status_code: int = 200, **extra: Any) -> HTMLResponse:
    session, actor = page.ctx.session, page.ctx.actor
    await inbox.require_history_visible(session, actor, contact_id)
    contact = await contacts.get_contact(session, actor, contact_id)
    settings = await service.iys_settings_of(session, actor.tenant_id)
    events = await service.history(session, actor, contact_id, limit=HISTORY_SHOWN)
    people = {u.id: u.display_name for u in await users.list_users(session, actor,
                                                                     include_inactive=True)}
    return render_page(
        request, page, "inbox/_consents.html", contact=contact,
        current={c.consent_type: c for c in await service.current(session, actor, contact_id)},
        history=events, people=people, consent_types=CONSENT_TYPES,
        manual_sources=MANUAL_SOURCES, iys_on=bool(settings and settings.enabled),
        can_grant=service.may_record(actor, granted=True),
        can_withdraw=service.may_record(actor, granted=False),
        status_code=status_code, **extra)


@router.get("/inbox/contacts/{contact_id}/consents")
async def consents_part(request: Request, contact_id: uuid.UUID, page: WebPage) -> Response:
    return await _card_part(request, page, contact_id)


@router.post("/inbox/contacts/{contact_id}/consents")
async def record_consent(request: Request, contact_id: uuid.UUID, page: WebPage) -> Response:
    """A person writes down a consent given or withdrawn (``consent_type``, ``granted`` true or
    false, ``iys_source``, ``note``); the part is drawn again."""
    session, actor = page.ctx.session, page.ctx.actor
    await inbox.require_history_visible(session, actor, contact_id)
    form = await request.form()
    consent_type = _text(form, "consent_type")
    if consent_type not in CONSENT_TYPES:
        raise ValidationFailed("choose the kind of consent", field="consent_type")
    data = parse_form(ConsentIn, {
        "granted": _text(form, "granted") == "true", "source": "manual",
        "iys_source": _text(form, "iys_source") or None, "note": _text(form, "note") or None})
    await service.set_manual(session, actor, contact_id, consent_type, data)
    return await _card_part(request, page, contact_id, saved=consent_type)


@router.post("/inbox/contacts/{contact_id}/consents/{consent_type}/iys-check")
async def check_at_iys(request: Request, contact_id: uuid.UUID, consent_type: str,
                       page: WebPage) -> Response:
    """İYS's word on the contact now, beside the kind it is about."""
    await inbox.require_history_visible(page.ctx.session, page.ctx.actor, contact_id)
    held = await sync.check_contact(page.ctx.session, page.ctx.actor, contact_id, consent_type)
    return await _card_part(request, page, contact_id, checked=consent_type,
                            checked_status=held.status if held else "none")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed("expected text, not a file", field=name)
    return (value or "").strip()


# ---- the settings' section -----------------------------------------------------------------

async def settings_context(page: Page, _params: Any = None) -> dict[str, Any]:
    """The İYS form as saved (the password only as "set"), the changes by state, the latest
    failures in words, and the last pull."""
    session, actor = page.ctx.session, page.ctx.actor
    found = await sync.get_settings(session, actor)
    state = await sync.sync_status(session, actor)
    masker = masking.Masker(actor)
    return {
        "iys_saved": {
            "enabled": bool(found and found.enabled),
            "base_url": found.base_url if found else IysSettingsIn().base_url,
            "iys_code": found.iys_code if found else "",
            "brand_code": found.brand_code if found else "",
            "username": found.username if found else "",
            "recipient_type": found.recipient_type if found else "BIREYSEL"},
        "has_password": bool(found and sync.has_password(found)),
        "pushes": state.pushes,
        "failures": [{
            "contact_id": f.contact_id,
            "recipient": masker.phone(f.payload.get("recipient", "")) or "",
            "type": f.payload.get("type", ""), "status": f.payload.get("status", ""),
            "attempts": f.attempts, "at": f.failed_at, "code": f.error_code,
            "error": sync.describe(f.error_code, f.error, page.lang)} for f in state.failures],
        "pulled_at": found.pulled_at if found else None,
        "pull_error": found.pull_error if found else None,
        "iys_sources": iys.SOURCES,
        "max_attempts": sync.MAX_ATTEMPTS,
    }


async def _section(request: Request, page: Page, *, status_code: int = 200, **extra: Any
                   ) -> HTMLResponse:
    page.ctx.actor.require(Permission.MANAGE_SETTINGS)
    return render_page(request, page, "settings/_iys.html", status_code=status_code,
                       **await settings_context(page), **extra)


async def _refused(request: Request, page: Page, exc: AppError, **extra: Any) -> HTMLResponse:
    """The section again with the reason beside the field (what was typed kept, never the
    password); a refusal naming no field goes the usual way (a toast)."""
    if exc.field is None or not page.ctx.session.is_active:
        raise exc
    return await _section(request, page, status_code=exc.status_code,
                          form_errors={exc.field: error_message(exc, page.lang)}, **extra)


_SETTINGS_FIELDS = ("base_url", "iys_code", "brand_code", "username", "recipient_type")


@router.post("/settings/iys")
async def save_iys_settings(request: Request, page: WebPage) -> Response:
    form = await request.form()
    typed: dict[str, Any] = {name: _text(form, name) for name in _SETTINGS_FIELDS}
    typed["enabled"] = form.get("enabled") == "on"
    typed["recipient_type"] = typed["recipient_type"] or "BIREYSEL"
    try:
        data = parse_form(IysSettingsIn, {**typed, "password": _text(form, "password") or None})
        await sync.save_settings(page.ctx.session, page.ctx.actor, data)
    except AppError as exc:
        return await _refused(request, page, exc, iys_typed=typed)
    return await _section(request, page, saved=True)


@router.post("/settings/iys/test")
async def test_iys_login(request: Request, page: WebPage) -> Response:
    try:
        result = await sync.test_connection(page.ctx.session, page.ctx.actor)
    except ValidationFailed as exc:
        result = sync.TestResult(False, exc.code, error_message(exc, page.lang))
    return await _section(request, page, tested=result)


@router.post("/settings/iys/retry")
async def retry_iys(request: Request, page: WebPage) -> Response:
    retried = await sync.retry_failed(page.ctx.session, page.ctx.actor)
    return await _section(request, page, retried=retried)


@router.post("/settings/iys/import")
async def import_consents(request: Request, page: WebPage) -> Response:
    """A consent file (the API's import); the section again with what it changed."""
    form = await request.form()
    upload = form.get("file")
    typed = {name: _text(form, name) for name in ("consent_type", "iys_source")}
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed("choose a file", field="file")
        page.ctx.actor.require(Permission.MANAGE_CONTACTS)  # before the file is read
        data = await upload.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ValidationFailed("the file is larger than 20 MB", field="file")
        result = await service.import_consents(
            page.ctx.session, page.ctx.actor, filename=upload.filename, data=data,
            consent_type=typed["consent_type"] or "message",
            iys_source=typed["iys_source"] or "HS_FIZIKSEL_ORTAM")
    except AppError as exc:
        return await _refused(request, page, exc, import_typed=typed)
    finally:
        if isinstance(upload, UploadFile):
            await upload.close()
    return await _section(request, page, imported=result, import_typed=typed)


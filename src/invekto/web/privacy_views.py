"""The data protection pages: the contact card's "Personal data" panel (export, and erasure
behind a dialog that asks for a typed word) and the settings section "Privacy" (the retention
policy with its preview, the retention runs and the data requests). Everything goes through
``privacy.service``, which checks the "Manage security" permission."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from invekto.contacts import service as contacts
from invekto.core import i18n
from invekto.core.actor import Permission
from invekto.core.errors import AppError, ValidationFailed
from invekto.core.i18n import N_
from invekto.privacy import service
from invekto.privacy.api import zip_response
from invekto.privacy.models import ATTACHMENT_DAYS, AUDIT_DAYS, CONVERSATION_MONTHS
from invekto.privacy.schemas import RetentionPolicyIn
from invekto.users import service as users
from invekto.web import inbox_views
from invekto.web.rendering import Page, WebPage, error_message, render_page

router = APIRouter(include_in_schema=False)

# What the erasure dialog asks the person to type, in their language.
CONFIRM_WORD = N_("ERASE")
POLICY_FIELDS = ("attachment_days", "conversation_months", "audit_days")
BOUNDS = {"attachment_days": ATTACHMENT_DAYS, "conversation_months": CONVERSATION_MONTHS,
          "audit_days": AUDIT_DAYS}


def folded(word: str) -> str:
    """A typed word compared without case, Turkish dotted and dotless i alike ("sil", "SİL"
    and "SIL" are one word)."""
    return (word.strip().casefold().replace("i\u0307", "i").replace("ı", "i"))


# ---- the contact card's panel ----------------------------------------------------------------

@router.get("/privacy/contacts/{contact_id}/panel")
async def contact_panel(request: Request, contact_id: uuid.UUID, page: WebPage,
                        c: uuid.UUID | None = None) -> Response:
    session, actor = page.ctx.session, page.ctx.actor
    actor.require(Permission.MANAGE_SECURITY)
    contact = await contacts.get_contact(session, actor, contact_id)
    return render_page(request, page, "privacy/_contact_panel.html", contact=contact,
                       conversation_id=c, confirm_word=i18n.text(page.lang, CONFIRM_WORD),
                       erased_at=await service.erased_at(session, actor.tenant_id, contact.id))


@router.post("/privacy/contacts/{contact_id}/export")
async def export_contact(contact_id: uuid.UUID, page: WebPage) -> Response:
    """The archive, downloaded by the browser (a plain form post, not HTMX)."""
    return zip_response(await service.export_contact(page.ctx.session, page.ctx.actor,
                                                     contact_id))


@router.post("/privacy/contacts/{contact_id}/erase")
async def erase_contact(request: Request, contact_id: uuid.UUID, page: WebPage,
                        confirm_word: str = Form(""), c: uuid.UUID | None = None) -> Response:
    """Erase once the dialog's word was typed; the contact card is drawn again, anonymised."""
    page.ctx.actor.require(Permission.MANAGE_SECURITY)
    expected = i18n.text(page.lang, CONFIRM_WORD)
    if folded(confirm_word) not in {folded(expected), folded(CONFIRM_WORD)}:
        raise ValidationFailed("type %(word)s to confirm", field="confirm_word",
                               params={"word": expected})
    await service.erase_contact(page.ctx.session, page.ctx.actor, contact_id,
                                confirm=str(contact_id))
    return await inbox_views.card(request, contact_id, page, c)


# ---- settings → Privacy ----------------------------------------------------------------------

async def privacy_section(page: Page, _params: Any) -> dict[str, Any]:
    """The settings section's context: the saved policy, its bounds, the latest runs and the
    data requests with the names of the contacts (as they are now) and of who made them."""
    session, actor = page.ctx.session, page.ctx.actor
    policy, updated_at = await service.get_policy(session, actor)
    requests = await service.list_requests(session, actor)
    names = {c.id: c.name for c in (await contacts.get_contacts(
        session, actor, {r.contact_id for r in requests})).values()}
    people = {u.id: u.display_name for u in await users.list_users(session, actor,
                                                                   include_inactive=True)}
    return {
        "policy_saved": {name: "" if value is None else str(value)
                         for name, value in policy.as_dict().items()},
        "policy_updated_at": updated_at, "bounds": BOUNDS,
        "runs": await service.recent_runs(session, actor),
        "requests": requests, "contact_names": names, "people": people,
    }


def _policy_typed(form: FormData) -> dict[str, str]:
    return {name: str(form.get(name) or "").strip() for name in POLICY_FIELDS}


def _policy_from(typed: dict[str, str]) -> RetentionPolicyIn:
    """Empty: kept for ever; otherwise a whole number (the service checks its bounds)."""
    values: dict[str, int | None] = {}
    for name, value in typed.items():
        if value and not value.isdecimal():
            raise ValidationFailed("give a whole number, or leave it empty to keep for ever",
                                   field=name)
        values[name] = int(value) if value else None
    return RetentionPolicyIn(**values)


async def _section_body(request: Request, page: Page, **extra: Any) -> HTMLResponse:
    context = await privacy_section(page, {})
    return render_page(request, page, "settings/_privacy.html", **context, **extra)


@router.post("/settings/privacy/retention")
async def save_retention(request: Request, page: WebPage) -> Response:
    """Saved, the section drawn again; refused, drawn again with the reason beside the field
    and what was typed."""
    typed = _policy_typed(await request.form())
    try:
        await service.save_policy(page.ctx.session, page.ctx.actor, _policy_from(typed))
    except AppError as exc:
        if exc.field is None:
            raise
        response = await _section_body(request, page, policy_typed=typed,
                                       form_errors={exc.field: error_message(exc, page.lang)})
        response.status_code = exc.status_code
        return response
    return await _section_body(request, page, saved=True)


@router.post("/settings/privacy/preview")
async def preview_retention(request: Request, page: WebPage) -> Response:
    """What the policy as typed (saved or not) would remove now."""
    typed = _policy_typed(await request.form())
    try:
        found = await service.preview(page.ctx.session, page.ctx.actor, _policy_from(typed))
    except ValidationFailed as exc:
        return render_page(request, page, "settings/_privacy_preview.html", preview=None,
                           error=error_message(exc, page.lang), status_code=exc.status_code)
    return render_page(request, page, "settings/_privacy_preview.html", preview=found,
                       error=None)

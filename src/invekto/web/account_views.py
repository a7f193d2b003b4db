"""The personal account page ("My account", from the user menu): one's password, two-step
verification (set up with a QR code, recovery codes shown once, turned off or the codes made
again with a current code) and one's sessions, each ended from here.

Every form posts the whole page back (CSRF token in the form). A refused form draws the page
again with the reason beside its field; a wrong code is not an exception, so the failed attempt
it recorded (it counts toward the lockout) is committed with the answer."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from invekto.auth import policy as security_policy
from invekto.auth import service as auth
from invekto.auth import sessions, two_factor
from invekto.auth.lockout import LoginPolicy
from invekto.core.errors import AppError, PermissionDenied, ValidationFailed
from invekto.http.deps import SESSION_COOKIE
from invekto.web.rendering import Page, WebPage, error_message, render_page

router = APIRouter(prefix="/account", include_in_schema=False)

PATH = "/account"
# What a redirect back to the page says was done (``?done=``).
NOTICES = ("password", "disabled", "session_ended", "others_ended")


async def _page(request: Request, page: Page, *, errors: dict[str, str] | None = None,
                status_code: int = 200, **extra: Any) -> HTMLResponse:
    """``extra``: ``setup`` (the app being set up), ``recovery_codes`` (shown once),
    ``done`` (what was just done)."""
    session, actor = page.ctx.session, page.ctx.actor
    found = await two_factor.status(session, actor)
    done = request.query_params.get("done")
    context: dict[str, Any] = {
        "two_factor": found, "setup": None, "recovery_codes": None,
        "required": (await security_policy.policy_of(session, actor.tenant_id))
        .require_two_factor,
        "sessions": await sessions.list_own(session, actor, page.ctx.session_secret),
        "errors": errors or {}, "done": done if done in NOTICES else None,
        **extra,
    }
    if context["setup"] is None and found.setting_up:
        context["setup"] = await two_factor.enrolment_in_progress(session, actor)
    response = render_page(request, page, "account/page.html", section="account", **context)
    response.status_code = status_code
    return response


async def _refused(request: Request, page: Page, exc: AppError, **extra: Any) -> HTMLResponse:
    """A form refused: the page again with the reason beside the field it names (an error
    naming none goes the usual way, as a JSON error)."""
    if exc.field is None or isinstance(exc, PermissionDenied):
        raise exc
    return await _page(request, page, errors={exc.field: error_message(exc, page.lang)},
                       status_code=exc.status_code, **extra)


def _done(what: str) -> RedirectResponse:
    return RedirectResponse(f"{PATH}?done={what}", status_code=303)


@router.get("")
async def account_page(request: Request, page: WebPage) -> Response:
    return await _page(request, page)


@router.post("/password")
async def change_password(request: Request, page: WebPage, current_password: str = Form(""),
                          new_password: str = Form(""), new_password_again: str = Form("")
                          ) -> Response:
    """Other sessions end (a stolen cookie with them); this one stays."""
    try:
        if new_password != new_password_again:
            raise ValidationFailed("the two new passwords differ", field="new_password_again")
        await auth.change_password(page.ctx.session, page.ctx.actor,
                                   current_password=current_password,
                                   new_password=new_password,
                                   keep_session_secret=page.ctx.session_secret)
    except AppError as exc:
        return await _refused(request, page, exc)
    return _done("password")


# ---- two-step verification ---------------------------------------------------------------------

@router.post("/2fa/setup")
async def start_two_factor(request: Request, page: WebPage) -> Response:
    try:
        setup = await two_factor.start_enrolment(page.ctx.session, page.ctx.actor)
    except AppError as exc:
        return await _refused(request, page, exc)
    return await _page(request, page, setup=setup)


@router.post("/2fa/enable")
async def enable_two_factor(request: Request, page: WebPage, code: str = Form("")
                            ) -> Response:
    try:
        codes = await two_factor.confirm_enrolment(page.ctx.session, page.ctx.actor, code)
    except AppError as exc:
        return await _refused(request, page, exc)
    # Shown once: this answer, not a page to come back to.
    return await _page(request, page, recovery_codes=codes, done="enabled")


@router.post("/2fa/disable")
async def disable_two_factor(request: Request, page: WebPage, code: str = Form("")
                             ) -> Response:
    try:
        check = await two_factor.disable(page.ctx.session, page.ctx.actor, code,
                                         policy=LoginPolicy.configured())
    except AppError as exc:
        return await _refused(request, page, exc)
    if not check.ok:
        return await _refused(request, page, _on_code_field(check.error()))
    return _done("disabled")


@router.post("/2fa/recovery-codes")
async def regenerate_recovery_codes(request: Request, page: WebPage, code: str = Form("")
                                    ) -> Response:
    try:
        check, codes = await two_factor.regenerate_recovery_codes(
            page.ctx.session, page.ctx.actor, code, policy=LoginPolicy.configured())
    except AppError as exc:
        return await _refused(request, page, exc)
    if codes is None:
        return await _refused(request, page, _on_code_field(check.error()))
    return await _page(request, page, recovery_codes=codes, done="regenerated")


def _on_code_field(error: AppError) -> AppError:
    """A lockout names no field; on this page it is shown beside the code all the same."""
    error.field = error.field or "code"
    return error


# ---- sessions ----------------------------------------------------------------------------------

@router.post("/sessions/{session_id}/end")
async def end_session(request: Request, session_id: uuid.UUID, page: WebPage) -> Response:
    own = {view.id: view for view in await sessions.list_own(
        page.ctx.session, page.ctx.actor, page.ctx.session_secret)}
    await sessions.end_own(page.ctx.session, page.ctx.actor, session_id)
    if session_id in own and own[session_id].current:
        response = RedirectResponse("/login", status_code=303)  # this very session: logged out
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    return _done("session_ended")


@router.post("/sessions/end-others")
async def end_other_sessions(page: WebPage) -> Response:
    await sessions.end_own_others(page.ctx.session, page.ctx.actor, page.ctx.session_secret)
    return _done("others_ended")

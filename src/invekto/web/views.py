"""Pages outside the inbox: login, logout, the landing redirect and the user's own preferences
(language, presence)."""

from __future__ import annotations

import hmac
import math
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from invekto import runtime
from invekto.auth import service as auth
from invekto.auth.api import attempt_login, set_session_cookie
from invekto.core import i18n
from invekto.core.errors import AppError, TooManyRequests
from invekto.http.deps import CSRF_COOKIE, SESSION_COOKIE, Scoped, csrf_token_for
from invekto.users import service as users
from invekto.web.rendering import language_of, render

router = APIRouter(include_in_schema=False)


def _login_page(request: Request, lang: str, *, error: str | None = None, company: str = "",
                username: str = "", status_code: int = 200) -> HTMLResponse:
    # Double-submit token: the login form has no session yet to bind a token to.
    form_csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", lang=lang, status_code=status_code, error=error,
                      company=company, username=username, form_csrf=form_csrf)
    response.set_cookie(CSRF_COOKIE, form_csrf, httponly=True, samesite="strict",
                        secure=runtime.current().settings.cookie_secure)
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request, language_of(request))


@router.post("/login")
async def login_submit(request: Request, company: str = Form(""), username: str = Form(""),
                       password: str = Form(""), csrf_token: str = Form(""),
                       lang: str = Form("")) -> Response:
    language = language_of(request, lang)
    expected = request.cookies.get(CSRF_COOKIE, "")
    # As bytes: compare_digest raises TypeError for a str with non-ASCII characters.
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_page(request, language, error=i18n.text(
                               language, "The form expired; reload the page and try again."),
                           company=company, username=username, status_code=403)
    try:
        result = await attempt_login(request, company, username, password)
    except TooManyRequests as exc:
        minutes = math.ceil(int(exc.headers["Retry-After"]) / 60)
        return _login_page(request, language, error=i18n.text(
            language, "Too many failed attempts. Try again in %(minutes)s minutes.",
            minutes=minutes),
                           company=company, username=username, status_code=429)
    except AppError:
        return _login_page(request, language, error=i18n.text(
                               language, "Company code, username or password is wrong."),
                           company=company, username=username, status_code=401)
    response = RedirectResponse("/inbox", status_code=303)
    assert result.session_token is not None
    set_session_cookie(response, result.session_token)
    return response


@router.post("/logout")
async def logout_submit(request: Request, csrf_token: str = Form("")) -> Response:
    response = RedirectResponse("/login", status_code=303)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            tenant_id, secret = auth.split_credential(cookie)
        except AppError:
            secret = None
        if secret and hmac.compare_digest(csrf_token.encode(), csrf_token_for(secret).encode()):
            try:
                async with runtime.current().db.tenant_session(tenant_id) as session:
                    actor = await auth.authenticate_session(session, tenant_id, secret)
                    await auth.logout(session, actor, secret)
            except AppError:
                pass  # the session had already ended: logging out is done either way
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home(request: Request) -> Response:
    target = "/inbox" if request.cookies.get(SESSION_COOKIE) else "/login"
    return RedirectResponse(target, status_code=303)


@router.post("/me/language")
async def choose_language(ctx: Scoped, language: str = Form(...), back: str = Form("/inbox")
                          ) -> Response:
    """Saved on the user: every device and every e-mail speaks it from now on."""
    await users.set_language(ctx.session, ctx.actor, language)
    response = RedirectResponse(_local_path(back), status_code=303)
    response.set_cookie("lang", language, max_age=365 * 86400, samesite="lax")
    return response


@router.post("/me/presence")
async def choose_presence(ctx: Scoped, presence: str = Form(...)) -> Response:
    await users.set_presence(ctx.session, ctx.actor, presence)
    return Response(status_code=204, headers={"HX-Trigger": "presence-changed"})


def _local_path(path: str) -> str:
    """Only a path on this site: never an open redirect to another host."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/inbox"

"""Server-rendered pages. For now: login, logout and a landing page; the inbox UI builds here."""

from __future__ import annotations

import hmac
import math
import secrets
from pathlib import Path

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from invekto import runtime
from invekto.auth import service as auth
from invekto.auth.api import attempt_login, set_session_cookie
from invekto.core.errors import AppError, TooManyRequests
from invekto.core.i18n import pick_language, translate
from invekto.http.deps import CSRF_COOKIE, SESSION_COOKIE, csrf_token_for
from invekto.inbox import service as inbox
from invekto.inbox.schemas import ConversationFilters
from invekto.users import service as users

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _language(request: Request, explicit: str | None = None) -> str:
    return pick_language(explicit=explicit or request.query_params.get("lang"),
                         cookie=request.cookies.get("lang"),
                         accept_language=request.headers.get("accept-language"))


def _render(request: Request, name: str, lang: str, status_code: int = 200, **context
            ) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, {"lang": lang, "t": lambda key, **v: translate(key, lang, **v),
                        "csrf_token": None, **context}, status_code=status_code)
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


def _login_page(request: Request, lang: str, *, error: str | None = None, company: str = "",
                username: str = "", status_code: int = 200) -> HTMLResponse:
    # Double-submit token: the login form has no session yet to bind a token to.
    form_csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _render(request, "login.html", lang, status_code, error=error, company=company,
                       username=username, form_csrf=form_csrf)
    response.set_cookie(CSRF_COOKIE, form_csrf, httponly=True, samesite="strict",
                        secure=runtime.current().settings.cookie_secure)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request, _language(request))


@router.post("/login")
async def login_submit(request: Request, company: str = Form(""), username: str = Form(""),
                       password: str = Form(""), csrf_token: str = Form(""),
                       lang: str = Form("")) -> Response:
    language = _language(request, lang)
    expected = request.cookies.get(CSRF_COOKIE, "")
    # As bytes: compare_digest raises TypeError for a str with non-ASCII characters.
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_page(request, language, error=translate("login.csrf", language),
                           company=company, username=username, status_code=403)
    try:
        result = await attempt_login(request, company, username, password)
    except TooManyRequests as exc:
        minutes = math.ceil(int(exc.headers["Retry-After"]) / 60)
        return _login_page(request, language, error=translate("login.locked", language,
                                                               minutes=minutes),
                           company=company, username=username, status_code=429)
    except AppError:
        return _login_page(request, language, error=translate("login.failed", language),
                           company=company, username=username, status_code=401)
    response = RedirectResponse("/", status_code=303)
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
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return RedirectResponse("/login", status_code=303)
    try:
        tenant_id, secret = auth.split_credential(cookie)
        async with runtime.current().db.tenant_session(tenant_id) as session:
            actor = await auth.authenticate_session(session, tenant_id, secret)
            user = await users.get_user(session, actor, actor.user_id)
            open_count = await inbox.count_conversations(session, actor,
                                                         ConversationFilters(status="open"))
    except AppError:
        return RedirectResponse("/login", status_code=303)
    return _render(request, "home.html", user.language, user=user,
                   open_count=open_count, csrf_token=csrf_token_for(secret))

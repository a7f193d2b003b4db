"""Pages outside the inbox: login (with its second step for two-factor authentication, and
single sign-on), logout, the landing redirect and the user's own preferences (language,
presence)."""

from __future__ import annotations

import hmac
import math
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from invekto import runtime
from invekto.auth import oidc, two_factor
from invekto.auth import service as auth
from invekto.auth.api import attempt_login, attempt_second_step, set_session_cookie
from invekto.core import i18n
from invekto.core.errors import AppError, TooManyRequests
from invekto.http.deps import CSRF_COOKIE, SESSION_COOKIE, Scoped, client_ip, csrf_token_for
from invekto.tenants import service as tenants
from invekto.users import service as users
from invekto.users.models import User
from invekto.web.rendering import language_of, render

router = APIRouter(include_in_schema=False)

# The token of a login waiting for its code (``two_factor.Pending``): only /login/... sees it.
PENDING_COOKIE = "invekto_pending"
# The single sign-on this browser started (``oidc.Begun.flow_cookie``), for its callback.
SSO_FLOW_COOKIE = "invekto_sso"
_LOGIN_PATH = "/login"
_SSO_PATH = "/login/sso"


def _form_csrf(request: Request) -> str:
    # Double-submit token: the login forms have no session yet to bind a token to.
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def _form_csrf_ok(request: Request, sent: str) -> bool:
    expected = request.cookies.get(CSRF_COOKIE, "")
    # As bytes: compare_digest raises TypeError for a str with non-ASCII characters.
    return bool(expected) and hmac.compare_digest(expected.encode(), sent.encode())


def _login_page(request: Request, lang: str, *, error: str | None = None, company: str = "",
                username: str = "", status_code: int = 200, step: str = "password",
                **context) -> HTMLResponse:
    """The login card: ``step`` "password" (with the company's single sign-on button when the
    company is known and has one), "sso" (the company code for single sign-on), "code" (the
    authenticator's code), "enrol" (setting one up) or "recovery_codes" (shown once)."""
    form_csrf = _form_csrf(request)
    response = render(request, "login.html", lang=lang, status_code=status_code, error=error,
                      company=company, username=username, form_csrf=form_csrf, step=step,
                      **context)
    response.set_cookie(CSRF_COOKIE, form_csrf, httponly=True, samesite="strict",
                        secure=runtime.current().settings.cookie_secure)
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


async def _sso_of(company: str) -> str | None:
    """The name on the company's single sign-on button, if it has one."""
    if not company or "\x00" in company:
        return None
    async with runtime.current().db.system_session() as session:
        tenant = await tenants.find_by_slug(session, company)
        if tenant is None or tenant.status != "active":
            return None
        row = await oidc.enabled_for(session, tenant.id)
    return row.display_name if row is not None else None


@router.get("/login")
async def login_form(request: Request) -> Response:
    """``company``: filled in, with the company's single sign-on button if it has one;
    ``sso``: the visitor asked for single sign-on (from the "sso" step's form)."""
    language = language_of(request)
    company = request.query_params.get("company", "").strip()[:40]
    sso_name = await _sso_of(company)
    if request.query_params.get("sso") and sso_name is None:
        return _login_page(request, language, step="sso" if not company else "password",
                           company=company, status_code=404 if company else 200,
                           error=i18n.text(language, oidc.REFUSALS["sso_disabled"])
                           if company else None)
    return _login_page(request, language, company=company, sso_name=sso_name)


@router.post("/login")
async def login_submit(request: Request, company: str = Form(""), username: str = Form(""),
                       password: str = Form(""), csrf_token: str = Form(""),
                       lang: str = Form("")) -> Response:
    language = language_of(request, lang)
    if not _form_csrf_ok(request, csrf_token):
        return _login_page(request, language, error=i18n.text(
                               language, "The form expired; reload the page and try again."),
                           company=company, username=username, status_code=403)
    try:
        result = await attempt_login(request, company, username, password)
    except TooManyRequests as exc:
        return _login_page(request, language, error=_locked_text(language, exc),
                           company=company, username=username, status_code=429)
    except AppError as exc:
        if exc.code == "sso_required":
            sso_name = await _sso_of(company)
            return _login_page(request, language, error=i18n.text(
                language, "Your company signs in with %(provider)s.",
                provider=sso_name or "SSO"), company=company, username=username,
                status_code=401, sso_name=sso_name)
        return _login_page(request, language, error=i18n.text(
                               language, "Company code, username or password is wrong."),
                           company=company, username=username, status_code=401)
    if result.pending is not None:
        response = RedirectResponse("/login/2fa", status_code=303)
        response.set_cookie(PENDING_COOKIE, result.pending.token, httponly=True,
                            samesite="strict", path=_LOGIN_PATH,
                            max_age=int(two_factor.PENDING_LIFETIME.total_seconds()),
                            secure=runtime.current().settings.cookie_secure)
        return response
    response = RedirectResponse("/inbox", status_code=303)
    assert result.session_token is not None
    set_session_cookie(response, result.session_token, result.session_lifetime)
    return response


def _locked_text(language: str, exc: TooManyRequests) -> str:
    minutes = math.ceil(int((exc.headers or {}).get("Retry-After", "60")) / 60)
    return i18n.text(language, "Too many failed attempts. Try again in %(minutes)s minutes.",
                     minutes=minutes)


def _expired_page(request: Request, language: str) -> HTMLResponse:
    response = _login_page(request, language, status_code=401, error=i18n.text(
        language, "The login has expired; log in with your password again."))
    response.delete_cookie(PENDING_COOKIE, path=_LOGIN_PATH)
    return response


async def _code_page(request: Request, language: str, *, error: str | None = None,
                     status_code: int = 200) -> HTMLResponse:
    """The second step of the pending login in this browser: its code form, or, when the
    company requires two-factor authentication, the app to set up with its QR code."""
    token = request.cookies.get(PENDING_COOKIE, "")
    try:
        tenant_id, secret = auth.split_credential(token)
    except AppError:
        return _expired_page(request, language)
    async with runtime.current().db.tenant_session(tenant_id) as session:
        pending = await two_factor.find_pending(session, tenant_id, secret)
        user = await session.get(User, pending.user_id) if pending is not None else None
        setup = (await two_factor.pending_setup(session, pending, user)
                 if pending is not None and user is not None else None)
    if pending is None or user is None:
        return _expired_page(request, language)
    return _login_page(request, language, step="enrol" if setup is not None else "code",
                       error=error, status_code=status_code, setup=setup,
                       display_name=user.display_name)


@router.get("/login/2fa")
async def login_code_form(request: Request) -> Response:
    if PENDING_COOKIE not in request.cookies:
        return RedirectResponse("/login", status_code=303)  # no login waits here
    return await _code_page(request, language_of(request))


@router.post("/login/2fa")
async def login_code_submit(request: Request, code: str = Form(""), csrf_token: str = Form(""),
                            lang: str = Form("")) -> Response:
    language = language_of(request, lang)
    if not _form_csrf_ok(request, csrf_token):
        return await _code_page(request, language, status_code=403, error=i18n.text(
            language, "The form expired; reload the page and try again."))
    try:
        result = await attempt_second_step(request, request.cookies.get(PENDING_COOKIE, ""),
                                           code.strip()[:40])
    except TooManyRequests as exc:
        response = _login_page(request, language, error=_locked_text(language, exc),
                               status_code=429)
        response.delete_cookie(PENDING_COOKIE, path=_LOGIN_PATH)
        return response
    except AppError as exc:
        if exc.code == "code_invalid":
            return await _code_page(request, language, status_code=401, error=i18n.text(
                language, "The code is wrong or has expired; type the one your app shows now."))
        return _expired_page(request, language)
    assert result.session_token is not None
    if result.recovery_codes:
        # Two-factor authentication was set up at this login: its recovery codes, once.
        response: Response = _login_page(request, language, step="recovery_codes",
                                          recovery_codes=result.recovery_codes)
    else:
        response = RedirectResponse("/inbox", status_code=303)
    set_session_cookie(response, result.session_token, result.session_lifetime)
    response.delete_cookie(PENDING_COOKIE, path=_LOGIN_PATH)
    return response


# ---- single sign-on ----------------------------------------------------------------------------

def _sso_refused(request: Request, language: str, reason: str, *, company: str = "",
                 status_code: int = 401) -> HTMLResponse:
    response = _login_page(request, language, company=company, status_code=status_code,
                           error=i18n.text(language, oidc.REFUSALS[reason]))
    response.delete_cookie(SSO_FLOW_COOKIE, path=_SSO_PATH)
    return response


@router.get("/login/sso")
async def sso_start(request: Request) -> Response:
    """With ``company``: off to the company's identity provider. Without: the form asking for
    the company code."""
    language = language_of(request)
    company = request.query_params.get("company", "").strip().lower()[:40]
    if not company:
        return _login_page(request, language, step="sso")
    tenant = None
    if "\x00" not in company:
        async with runtime.current().db.system_session() as session:
            tenant = await tenants.find_by_slug(session, company)
    if tenant is None or tenant.status != "active":
        return _sso_refused(request, language, "sso_disabled", company=company,
                            status_code=404)
    try:
        async with runtime.current().db.tenant_session(tenant.id) as session:
            begun = await oidc.begin(session, tenant,
                                     redirect_uri=oidc.callback_url(str(request.base_url)))
    except AppError:
        return _sso_refused(request, language, "sso_disabled", company=company,
                            status_code=404)
    except oidc.ProviderError:
        return _sso_refused(request, language, "sso_unreachable", company=company,
                            status_code=502)
    response = RedirectResponse(begun.authorization_url, status_code=303)
    # Lax, not strict: the provider sends the browser back from its own site.
    response.set_cookie(SSO_FLOW_COOKIE, begun.flow_cookie, httponly=True, samesite="lax",
                        path=_SSO_PATH, max_age=oidc.FLOW_LIFETIME_SECONDS,
                        secure=runtime.current().settings.cookie_secure)
    return response


@router.get("/login/sso/callback")
async def sso_callback(request: Request) -> Response:
    language = language_of(request)
    query = request.query_params
    flow = oidc.read_flow(request.cookies.get(SSO_FLOW_COOKIE))
    if flow is None and not query:
        return RedirectResponse("/login", status_code=303)  # no sign-in comes back here
    if flow is None:
        return _sso_refused(request, language, "sso_state", status_code=400)
    async with runtime.current().db.tenant_session(flow.tenant_id) as session:
        result = await oidc.complete(
            session, flow, state=query.get("state", ""), code=query.get("code", ""),
            error=query.get("error", ""), ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""))
    if not result.ok:
        return _sso_refused(request, language, result.refusal or "sso_invalid")
    assert result.session_token is not None
    response = RedirectResponse("/inbox", status_code=303)
    set_session_cookie(response, result.session_token, result.session_lifetime)
    response.delete_cookie(SSO_FLOW_COOKIE, path=_SSO_PATH)
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

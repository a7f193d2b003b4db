from __future__ import annotations

import math
import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from invekto import runtime
from invekto.auth import oidc, service, sessions, two_factor
from invekto.auth import policy as security_policy
from invekto.auth.lockout import LoginPolicy
from invekto.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyPatch,
    CodeIn,
    LoggedIn,
    LoginChallenge,
    LoginIn,
    Me,
    PasswordChange,
    RecoveryCodes,
    SecurityOut,
    SecuritySettingsIn,
    SecuritySettingsOut,
    SessionOut,
    SessionsEnded,
    SsoSettingsIn,
    SsoSettingsOut,
    TwoFactorLoginIn,
    TwoFactorSetup,
    TwoFactorStatus,
)
from invekto.core.errors import AppError, TooManyRequests, Unauthenticated
from invekto.http.deps import SESSION_COOKIE, Scoped, client_ip, csrf_token_for
from invekto.tenants import service as tenants
from invekto.tenants.models import Tenant
from invekto.users import service as users
from invekto.users.schemas import UserOut

router = APIRouter(tags=["auth"])

LOGIN_FAILED = "company, username or password is wrong"


async def _active_tenant(company: str) -> Tenant | None:
    async with runtime.current().db.system_session() as session:
        tenant = await tenants.find_by_slug(session, company)
    return tenant if tenant is not None and tenant.status == "active" else None


def _locked(locked_for: timedelta) -> TooManyRequests:
    seconds = max(1, math.ceil(locked_for.total_seconds()))
    return TooManyRequests(
        f"too many failed logins; try again in {math.ceil(seconds / 60)} minutes",
        code="login_locked", headers={"Retry-After": str(seconds)})


async def attempt_login(request: Request, company: str, username: str, password: str
                        ) -> service.LoginResult:
    """Shared by the JSON endpoint and the HTML form. Raises after the attempt is committed.
    Returns a session, or (``pending``) the second step the login still needs."""
    if "\x00" in company or "\x00" in username:
        # No company or user can have one, and PostgreSQL refuses NUL in a text parameter.
        raise Unauthenticated(LOGIN_FAILED, code="login_failed")
    tenant = await _active_tenant(company)
    if tenant is None:
        raise Unauthenticated(LOGIN_FAILED, code="login_failed")
    async with runtime.current().db.tenant_session(tenant.id) as session:
        result = await service.login(
            session, tenant_id=tenant.id, username=username, password=password,
            ip=client_ip(request), user_agent=request.headers.get("user-agent", ""),
            policy=LoginPolicy.configured())
    if result.locked_for is not None:
        raise _locked(result.locked_for)
    if result.refusal == "sso_required":
        raise Unauthenticated("this company signs in through its identity provider; use "
                              "single sign-on", code="sso_required")
    if not result.ok and result.pending is None:
        raise Unauthenticated(LOGIN_FAILED, code="login_failed")
    return result


async def attempt_second_step(request: Request, pending_token: str, code: str
                              ) -> service.LoginResult:
    """The code of a pending login (JSON endpoint and HTML form). Raises after the attempt is
    committed."""
    expired = Unauthenticated("the login has expired; log in with your password again",
                              code="login_expired")
    try:
        tenant_id, secret = service.split_credential(pending_token)
    except AppError:
        raise expired from None
    async with runtime.current().db.system_session() as session:
        tenant = await session.get(Tenant, tenant_id)
    if tenant is None or tenant.status != "active":
        raise expired
    async with runtime.current().db.tenant_session(tenant_id) as session:
        result = await service.complete_login(
            session, tenant_id=tenant_id, pending_secret=secret, code=code,
            ip=client_ip(request), user_agent=request.headers.get("user-agent", ""),
            policy=LoginPolicy.configured())
    if result.locked_for is not None:
        raise _locked(result.locked_for)
    if result.refusal == "code_invalid":
        raise Unauthenticated(two_factor.WRONG_CODE, code="code_invalid", field="code")
    if not result.ok:
        raise expired
    return result


def set_session_cookie(response: Response, token: str, lifetime: timedelta | None = None
                       ) -> None:
    """``lifetime``: the session's longest life (the company's absolute limit)."""
    settings = runtime.current().settings
    max_age = int((lifetime or timedelta(days=settings.session_days)).total_seconds())
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True,
                        secure=settings.cookie_secure, samesite="lax", path="/")


def _logged_in(response: Response, result: service.LoginResult) -> LoggedIn:
    assert result.user is not None and result.session_token is not None
    set_session_cookie(response, result.session_token, result.session_lifetime)
    secret = result.session_token.partition(".")[2]
    return LoggedIn(user=UserOut.model_validate(result.user), tenant_id=result.user.tenant_id,
                    csrf_token=csrf_token_for(secret), recovery_codes=result.recovery_codes)


@router.post("/auth/login", response_model=Me | LoginChallenge)
async def login(body: LoginIn, request: Request, response: Response) -> Me | LoginChallenge:
    """A session (cookie and CSRF token), or, for two-factor authentication, the second step
    to send to ``/auth/login/2fa``."""
    result = await attempt_login(request, body.company, body.username, body.password)
    if result.pending is not None:
        pending = result.pending
        return LoginChallenge(two_factor=pending.purpose, pending_token=pending.token,
                              expires_at=pending.expires_at,
                              secret=pending.setup.secret if pending.setup else None,
                              otpauth_uri=pending.setup.uri if pending.setup else None)
    return _logged_in(response, result)


@router.post("/auth/login/2fa", response_model=LoggedIn)
async def login_second_step(body: TwoFactorLoginIn, request: Request, response: Response
                            ) -> LoggedIn:
    """A code from the authenticator (or a recovery code); when the login was setting one up,
    the answer carries the new recovery codes, shown once."""
    return _logged_in(response, await attempt_second_step(request, body.pending_token,
                                                          body.code))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(ctx: Scoped, response: Response) -> None:
    if ctx.session_secret:
        await service.logout(ctx.session, ctx.actor, ctx.session_secret)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/auth/me", response_model=Me)
async def me(ctx: Scoped) -> Me:
    if ctx.actor.user_id is None:
        raise Unauthenticated("an API key has no user; use /users instead")
    user = await users.get_user(ctx.session, ctx.actor, ctx.actor.user_id)
    return Me(user=UserOut.model_validate(user).model_copy(
        update={"group_ids": sorted(ctx.actor.group_ids)}), tenant_id=ctx.actor.tenant_id,
        csrf_token=csrf_token_for(ctx.session_secret or ""))


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(body: PasswordChange, ctx: Scoped) -> None:
    await service.change_password(ctx.session, ctx.actor, current_password=body.current_password,
                                  new_password=body.new_password,
                                  keep_session_secret=ctx.session_secret)


# ---- two-factor authentication -----------------------------------------------------------------

def _refused(error: AppError) -> JSONResponse:
    """A refusal answered without raising, so that the transaction (with the failed attempt
    it recorded) is committed."""
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=error.headers)


@router.get("/auth/2fa", response_model=TwoFactorStatus)
async def two_factor_status(ctx: Scoped) -> TwoFactorStatus:
    found = await two_factor.status(ctx.session, ctx.actor)
    limits = await security_policy.policy_of(ctx.session, ctx.actor.tenant_id)
    return TwoFactorStatus(enabled=found.enabled, enabled_at=found.enabled_at,
                           recovery_codes_left=found.recovery_codes_left,
                           required_by_company=limits.require_two_factor)


@router.post("/auth/2fa/setup", response_model=TwoFactorSetup)
async def start_two_factor(ctx: Scoped) -> TwoFactorSetup:
    """A new secret for the authenticator app; ``/auth/2fa/enable`` with a code turns it on."""
    setup = await two_factor.start_enrolment(ctx.session, ctx.actor)
    return TwoFactorSetup(secret=setup.secret, otpauth_uri=setup.uri, qr_svg=setup.qr_svg)


@router.post("/auth/2fa/enable", response_model=RecoveryCodes)
async def enable_two_factor(body: CodeIn, ctx: Scoped) -> RecoveryCodes:
    return RecoveryCodes(recovery_codes=await two_factor.confirm_enrolment(
        ctx.session, ctx.actor, body.code))


@router.post("/auth/2fa/disable", status_code=status.HTTP_204_NO_CONTENT)
async def disable_two_factor(body: CodeIn, ctx: Scoped) -> Response:
    check = await two_factor.disable(ctx.session, ctx.actor, body.code,
                                     policy=LoginPolicy.configured())
    return Response(status_code=204) if check.ok else _refused(check.error())


@router.post("/auth/2fa/recovery-codes", response_model=RecoveryCodes)
async def regenerate_recovery_codes(body: CodeIn, ctx: Scoped):
    """New recovery codes (the old ones stop working), with a current code."""
    check, codes = await two_factor.regenerate_recovery_codes(
        ctx.session, ctx.actor, body.code, policy=LoginPolicy.configured())
    return RecoveryCodes(recovery_codes=codes) if codes is not None else _refused(check.error())


@router.delete("/users/{user_id}/2fa", status_code=status.HTTP_204_NO_CONTENT)
async def reset_two_factor(user_id: uuid.UUID, ctx: Scoped) -> None:
    """For a user who lost their authenticator and their recovery codes."""
    await two_factor.reset_for_user(ctx.session, ctx.actor, user_id)


# ---- sessions ----------------------------------------------------------------------------------

def _session_out(view: sessions.SessionView) -> SessionOut:
    return SessionOut(**vars(view))


@router.get("/me/sessions", response_model=list[SessionOut])
async def my_sessions(ctx: Scoped) -> list[SessionOut]:
    return [_session_out(v) for v in await sessions.list_own(ctx.session, ctx.actor,
                                                              ctx.session_secret)]


@router.delete("/me/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def end_my_session(session_id: uuid.UUID, ctx: Scoped) -> None:
    await sessions.end_own(ctx.session, ctx.actor, session_id)


@router.post("/me/sessions/end-others", response_model=SessionsEnded)
async def end_my_other_sessions(ctx: Scoped) -> SessionsEnded:
    return SessionsEnded(ended=await sessions.end_own_others(ctx.session, ctx.actor,
                                                             ctx.session_secret))


@router.get("/users/{user_id}/sessions", response_model=list[SessionOut])
async def user_sessions(user_id: uuid.UUID, ctx: Scoped) -> list[SessionOut]:
    return [_session_out(v) for v in await sessions.list_for_user(ctx.session, ctx.actor,
                                                                   user_id)]


@router.delete("/users/{user_id}/sessions/{session_id}",
               status_code=status.HTTP_204_NO_CONTENT)
async def end_user_session(user_id: uuid.UUID, session_id: uuid.UUID, ctx: Scoped) -> None:
    await sessions.end_for_user(ctx.session, ctx.actor, user_id, session_id)


@router.delete("/users/{user_id}/sessions", response_model=SessionsEnded)
async def end_user_sessions(user_id: uuid.UUID, ctx: Scoped) -> SessionsEnded:
    return SessionsEnded(ended=await sessions.end_all_for_user(ctx.session, ctx.actor,
                                                               user_id))


# ---- the company's security settings -----------------------------------------------------------

def sso_out(row, request: Request) -> SsoSettingsOut:
    redirect_uri = oidc.callback_url(str(request.base_url))
    if row is None:
        return SsoSettingsOut(enabled=False, display_name="", issuer="", client_id="",
                              has_client_secret=False, create_users=False,
                              default_role="agent", sso_only=False, redirect_uri=redirect_uri)
    return SsoSettingsOut(enabled=row.enabled, display_name=row.display_name,
                          issuer=row.issuer, client_id=row.client_id,
                          has_client_secret=oidc.has_client_secret(row),
                          create_users=row.create_users, default_role=row.default_role,
                          sso_only=row.sso_only, redirect_uri=redirect_uri)


@router.get("/settings/security", response_model=SecurityOut)
async def get_security_settings(request: Request, ctx: Scoped) -> SecurityOut:
    found = await security_policy.get_policy(ctx.session, ctx.actor)
    return SecurityOut(policy=SecuritySettingsOut.model_validate(found),
                       sso=sso_out(await oidc.get_settings_of(ctx.session, ctx.actor), request))


@router.put("/settings/security", response_model=SecuritySettingsOut)
async def put_security_settings(body: SecuritySettingsIn, ctx: Scoped) -> SecuritySettingsOut:
    return SecuritySettingsOut.model_validate(
        await security_policy.save_policy(ctx.session, ctx.actor, body))


@router.put("/settings/security/sso", response_model=SsoSettingsOut)
async def put_sso_settings(body: SsoSettingsIn, request: Request, ctx: Scoped
                           ) -> SsoSettingsOut:
    """The client secret is write-only (``has_client_secret``)."""
    return sso_out(await oidc.save_settings(ctx.session, ctx.actor, body), request)


@router.get("/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(ctx: Scoped):
    return await service.list_api_keys(ctx.session, ctx.actor)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_api_key(body: ApiKeyCreate, ctx: Scoped) -> ApiKeyCreated:
    key, full_key = await service.create_api_key(
        ctx.session, ctx.actor, name=body.name, role=body.role, scopes=body.scopes,
        rate_limit_per_minute=body.rate_limit_per_minute)
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=full_key)


@router.patch("/api-keys/{key_id}", response_model=ApiKeyOut)
async def update_api_key(key_id: uuid.UUID, body: ApiKeyPatch, ctx: Scoped):
    """Name, scopes and requests a minute; the role and the secret stay."""
    return await service.update_api_key(ctx.session, ctx.actor, key_id, name=body.name,
                                        scopes=body.scopes,
                                        rate_limit_per_minute=body.rate_limit_per_minute)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: uuid.UUID, ctx: Scoped) -> None:
    await service.revoke_api_key(ctx.session, ctx.actor, key_id)

from __future__ import annotations

import math
import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, Response, status

from invekto import runtime
from invekto.auth import service
from invekto.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, LoginIn, Me, PasswordChange
from invekto.core.errors import TooManyRequests, Unauthenticated
from invekto.http.deps import SESSION_COOKIE, Scoped, client_ip, csrf_token_for
from invekto.tenants import service as tenants
from invekto.users import service as users
from invekto.users.schemas import UserOut

router = APIRouter(tags=["auth"])


async def attempt_login(request: Request, company: str, username: str, password: str
                        ) -> service.LoginResult:
    """Shared by the JSON endpoint and the HTML form. Raises after the attempt is committed."""
    rt = runtime.current()
    settings = rt.settings
    if "\x00" in company or "\x00" in username:
        # No company or user can have one, and PostgreSQL refuses NUL in a text parameter.
        raise Unauthenticated("company, username or password is wrong", code="login_failed")
    async with rt.db.system_session() as session:
        tenant = await tenants.find_by_slug(session, company)
    if tenant is None or tenant.status != "active":
        raise Unauthenticated("company, username or password is wrong", code="login_failed")
    policy = service.LoginPolicy(max_failures=settings.login_max_failures,
                                 lockout=timedelta(minutes=settings.login_lockout_minutes),
                                 session_lifetime=timedelta(days=settings.session_days))
    async with rt.db.tenant_session(tenant.id) as session:
        result = await service.login(
            session, tenant_id=tenant.id, username=username, password=password,
            ip=client_ip(request), user_agent=request.headers.get("user-agent", ""),
            policy=policy)
    if result.locked_for is not None:
        seconds = max(1, math.ceil(result.locked_for.total_seconds()))
        raise TooManyRequests(
            f"too many failed logins; try again in {math.ceil(seconds / 60)} minutes",
            code="login_locked", headers={"Retry-After": str(seconds)})
    if not result.ok:
        raise Unauthenticated("company, username or password is wrong", code="login_failed")
    return result


def set_session_cookie(response: Response, token: str) -> None:
    settings = runtime.current().settings
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_days * 86400,
                        httponly=True, secure=settings.cookie_secure, samesite="lax", path="/")


@router.post("/auth/login", response_model=Me)
async def login(body: LoginIn, request: Request, response: Response) -> Me:
    result = await attempt_login(request, body.company, body.username, body.password)
    assert result.user is not None and result.session_token is not None
    set_session_cookie(response, result.session_token)
    secret = result.session_token.partition(".")[2]
    return Me(user=UserOut.model_validate(result.user), tenant_id=result.user.tenant_id,
              csrf_token=csrf_token_for(secret))


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


@router.get("/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(ctx: Scoped):
    return await service.list_api_keys(ctx.session, ctx.actor)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_api_key(body: ApiKeyCreate, ctx: Scoped) -> ApiKeyCreated:
    key, full_key = await service.create_api_key(ctx.session, ctx.actor, name=body.name,
                                                 role=body.role)
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=full_key)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: uuid.UUID, ctx: Scoped) -> None:
    await service.revoke_api_key(ctx.session, ctx.actor, key_id)

"""The settings section "Security": the company's two-step verification requirement, session
limits, password rules and single sign-on (OpenID Connect), and, for who manages users, the
people with open sessions, each of whose sessions can be ended from here. Everything goes
through ``auth.policy``, ``auth.oidc`` and ``auth.sessions``, which check the permissions.

The section's page is drawn by ``settings_views`` (``security_section`` is its loader); the
forms here answer with the section's body (HTMX swaps it in), a refusal with the reason beside
its field and what was typed (never the client secret)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from invekto.auth import oidc, sessions
from invekto.auth import policy as security_policy
from invekto.auth.models import SSO_DEFAULT_ROLES
from invekto.auth.schemas import SecuritySettingsIn, SsoSettingsIn
from invekto.core.actor import Permission
from invekto.core.errors import AppError, PermissionDenied, ValidationFailed
from invekto.users import service as users
from invekto.web.rendering import Page, WebPage, error_message, parse_form, render_page

router = APIRouter(prefix="/settings/security", include_in_schema=False)

# Offered in the lists (the saved value is always offered too).
IDLE_CHOICES = (30, 60, 120, 240, 480, 720, 1440, 4320, 10080)  # minutes
ABSOLUTE_CHOICES = (8, 12, 24, 72, 168, 336, 720, 2160)  # hours
POLICY_NUMBERS = ("session_idle_minutes", "session_absolute_hours", "password_min_length")
POLICY_SWITCHES = ("require_two_factor", "password_needs_letters_and_digits")
SSO_TEXTS = ("display_name", "issuer", "client_id", "default_role")
SSO_SWITCHES = ("enabled", "create_users", "sso_only", "clear_client_secret")


def _choices(options: tuple[int, ...], saved: int) -> list[int]:
    return sorted({*options, saved})


async def security_section(page: Page, _params: Any) -> dict[str, Any]:
    """The section's context: the saved policy and single sign-on (the secret only as "set"),
    and who has sessions open."""
    session, actor = page.ctx.session, page.ctx.actor
    policy = await security_policy.get_policy(session, actor)
    sso = await oidc.get_settings_of(session, actor)
    open_sessions = None
    if actor.can(Permission.MANAGE_USERS):
        counts = await sessions.counts_by_user(session, actor)
        open_sessions = [(user, counts[user.id]) for user in await users.list_users(
            session, actor) if counts.get(user.id)]
    return {
        "policy_saved": {**{name: str(getattr(policy, name)) for name in POLICY_NUMBERS},
                         **{name: getattr(policy, name) for name in POLICY_SWITCHES}},
        "idle_choices": _choices(IDLE_CHOICES, policy.session_idle_minutes),
        "absolute_choices": _choices(ABSOLUTE_CHOICES, policy.session_absolute_hours),
        "sso_saved": {
            "enabled": bool(sso and sso.enabled), "display_name": sso.display_name if sso else "",
            "issuer": sso.issuer if sso else "", "client_id": sso.client_id if sso else "",
            "default_role": sso.default_role if sso else "agent",
            "create_users": bool(sso and sso.create_users), "sso_only": bool(sso and sso.sso_only),
            "clear_client_secret": False},
        "has_client_secret": oidc.has_client_secret(sso),
        "sso_roles": SSO_DEFAULT_ROLES,
        # Relative when the deployment has no public address: the page puts its own in front.
        "sso_redirect_uri": oidc.callback_url(""),
        "open_sessions": open_sessions,
        "min_password": security_policy.PASSWORD_MIN_LENGTH,
        "max_password": security_policy.PASSWORD_MAX_LENGTH,
    }


async def _body(request: Request, page: Page, *, errors: dict[str, str] | None = None,
                status_code: int = 200, **extra: Any) -> HTMLResponse:
    context = await security_section(page, {})
    response = render_page(request, page, "settings/_security.html", **context,
                           form_errors=errors or {}, **extra)
    response.status_code = status_code
    return response


async def _refused(request: Request, page: Page, exc: AppError, **extra: Any) -> HTMLResponse:
    if exc.field is None or isinstance(exc, PermissionDenied):
        raise exc
    return await _body(request, page, errors={exc.field: error_message(exc, page.lang)},
                       status_code=exc.status_code, **extra)


def _texts(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    return {name: value.strip() if isinstance(value := form.get(name), str) else ""
            for name in names}


def _switches(form: FormData, names: tuple[str, ...]) -> dict[str, bool]:
    return {name: form.get(name) == "on" for name in names}


def _whole_number(value: str, field: str) -> int:
    if not value.isdecimal():
        raise ValidationFailed("give a whole number", field=field)
    return int(value)


@router.post("/policy")
async def save_policy(request: Request, page: WebPage) -> Response:
    form = await request.form()
    typed = {**_texts(form, POLICY_NUMBERS), **_switches(form, POLICY_SWITCHES)}
    try:
        data = SecuritySettingsIn(
            **{name: _whole_number(typed[name], name) for name in POLICY_NUMBERS},
            **{name: typed[name] for name in POLICY_SWITCHES})
        await security_policy.save_policy(page.ctx.session, page.ctx.actor, data)
    except AppError as exc:
        return await _refused(request, page, exc, policy_typed=typed)
    return await _body(request, page, saved="policy")


@router.post("/sso")
async def save_sso(request: Request, page: WebPage) -> Response:
    """The client secret is never drawn again: left empty, the saved one stays."""
    form = await request.form()
    typed = {**_texts(form, SSO_TEXTS), **_switches(form, SSO_SWITCHES)}
    secret = form.get("client_secret")
    try:
        data = parse_form(SsoSettingsIn, {
            **typed, "client_secret": secret if isinstance(secret, str) and secret else None})
        await oidc.save_settings(page.ctx.session, page.ctx.actor, data)
    except AppError as exc:
        return await _refused(request, page, exc, sso_typed=typed)
    return await _body(request, page, saved="sso")


@router.post("/users/{user_id}/end-sessions")
async def end_user_sessions(request: Request, user_id: uuid.UUID, page: WebPage) -> Response:
    """Everywhere this user is logged in: out, from their next request on."""
    ended = await sessions.end_all_for_user(page.ctx.session, page.ctx.actor, user_id)
    user = await users.get_user(page.ctx.session, page.ctx.actor, user_id)
    return await _body(request, page, sessions_ended=(user.display_name, ended))

"""Settings → Webhooks (a company's outgoing webhooks: subscriptions, the delivery log,
redeliver, a test event) and Settings → API keys (keys with their scopes and rate limits).
Everything goes through ``invekto.outgoing_webhooks.service`` and ``invekto.auth.service``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from invekto.auth import service as auth
from invekto.core.actor import PERMISSION_NAMES, ROLE_PERMISSIONS, Permission
from invekto.core.errors import AppError, ValidationFailed
from invekto.outgoing_webhooks import service
from invekto.outgoing_webhooks.schemas import SubscriptionIn, SubscriptionPatch
from invekto.web.rendering import Page, WebPage, error_message, render_page

router = APIRouter(include_in_schema=False)

LOG_PAGE = 20


# ---- Settings → Webhooks -----------------------------------------------------------------------

async def webhooks_section(page: Page, params: Any = None) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    subscriptions = await service.list_subscriptions(session, actor)
    selected = None
    wanted = (params or {}).get("s")
    for subscription in subscriptions:
        if wanted and str(subscription.id) == wanted:
            selected = subscription
    if selected is None and subscriptions:
        selected = subscriptions[0]
    deliveries, attempts = [], {}
    if selected is not None:
        deliveries, _ = await service.list_deliveries(session, actor, selected.id,
                                                      limit=LOG_PAGE)
        attempts = await service.attempts_of(session, actor, [d.id for d in deliveries])
    return {"subscriptions": subscriptions, "selected": selected, "deliveries": deliveries,
            "attempts": attempts, "event_types": service.catalogue(),
            "all_events": service.ALL_EVENTS}


async def _webhooks(request: Request, page: Page, *, params: Any = None,
                    status_code: int = 200, **extra: Any) -> HTMLResponse:
    page.ctx.actor.require(Permission.MANAGE_SETTINGS)
    return render_page(request, page, "settings/_webhooks.html", status_code=status_code,
                       **await webhooks_section(page, params), **extra)


def _typed(form) -> dict[str, Any]:
    return {"url": str(form.get("url") or "").strip(),
            "description": str(form.get("description") or ""),
            "events": [str(v) for v in form.getlist("events") if str(v).strip()],
            "enabled": form.get("enabled") == "on"}


async def _refused(request: Request, page: Page, exc: AppError, *, form_id: str,
                   typed: dict[str, Any], params: Any = None) -> HTMLResponse:
    if exc.field is None or not page.ctx.session.is_active:
        raise exc
    return await _webhooks(request, page, params=params, status_code=exc.status_code,
                           refused_form=form_id, typed=typed,
                           form_errors={exc.field: error_message(exc, page.lang)})


@router.post("/settings/webhooks")
async def create(request: Request, page: WebPage) -> Response:
    typed = _typed(await request.form())
    try:
        subscription, secret = await service.create_subscription(
            page.ctx.session, page.ctx.actor, SubscriptionIn(**typed))
    except AppError as exc:
        return await _refused(request, page, exc, form_id="new", typed=typed)
    # The secret is drawn this once, for the admin to copy.
    return await _webhooks(request, page, params={"s": str(subscription.id)},
                           new_secret=secret, secret_for=subscription.id)


@router.post("/settings/webhooks/{subscription_id}")
async def update(request: Request, subscription_id: uuid.UUID, page: WebPage) -> Response:
    typed = _typed(await request.form())
    params = {"s": str(subscription_id)}
    try:
        await service.update_subscription(page.ctx.session, page.ctx.actor, subscription_id,
                                          SubscriptionPatch(**typed))
    except AppError as exc:
        return await _refused(request, page, exc, form_id=str(subscription_id), typed=typed,
                              params=params)
    return await _webhooks(request, page, params=params, saved=subscription_id)


@router.post("/settings/webhooks/{subscription_id}/test")
async def send_test(request: Request, subscription_id: uuid.UUID, page: WebPage) -> Response:
    await service.send_test(page.ctx.session, page.ctx.actor, subscription_id)
    return await _webhooks(request, page, params={"s": str(subscription_id)},
                           test_sent=subscription_id)


@router.post("/settings/webhooks/{subscription_id}/rotate")
async def rotate(request: Request, subscription_id: uuid.UUID, page: WebPage) -> Response:
    _, secret = await service.rotate_secret(page.ctx.session, page.ctx.actor, subscription_id)
    return await _webhooks(request, page, params={"s": str(subscription_id)},
                           new_secret=secret, secret_for=subscription_id)


@router.post("/settings/webhooks/{subscription_id}/delete")
async def delete(request: Request, subscription_id: uuid.UUID, page: WebPage) -> Response:
    await service.delete_subscription(page.ctx.session, page.ctx.actor, subscription_id)
    return await _webhooks(request, page, deleted=True)


@router.post("/settings/webhook-deliveries/{delivery_id}/redeliver")
async def redeliver(request: Request, delivery_id: uuid.UUID, page: WebPage) -> Response:
    delivery = await service.redeliver(page.ctx.session, page.ctx.actor, delivery_id)
    return await _webhooks(request, page, params={"s": str(delivery.subscription_id)},
                           redelivered=delivery.id)


# ---- Settings → API keys -----------------------------------------------------------------------

async def api_keys_section(page: Page, _params: Any = None) -> dict[str, Any]:
    keys = await auth.list_api_keys(page.ctx.session, page.ctx.actor)
    return {"api_keys": keys, "permission_names": PERMISSION_NAMES,
            "role_scopes": {role: sorted(p.value for p in granted)
                            for role, granted in ROLE_PERMISSIONS.items()},
            "default_rate_limit": auth.DEFAULT_RATE_LIMIT}


async def _api_keys(request: Request, page: Page, *, status_code: int = 200, **extra: Any
                    ) -> HTMLResponse:
    page.ctx.actor.require(Permission.MANAGE_SECURITY)
    return render_page(request, page, "settings/_api_keys.html", status_code=status_code,
                       **await api_keys_section(page), **extra)


def _rate_limit(value: Any) -> int:
    try:
        return int(str(value or "").strip())
    except ValueError as exc:
        raise ValidationFailed("give a whole number of requests a minute",
                               field="rate_limit_per_minute") from exc


@router.post("/settings/api-keys")
async def create_key(request: Request, page: WebPage) -> Response:
    form = await request.form()
    typed = {"name": str(form.get("name") or ""), "role": str(form.get("role") or "admin"),
             "scopes": [str(v) for v in form.getlist("scopes") if str(v).strip()],
             "rate_limit_per_minute": str(form.get("rate_limit_per_minute") or "")}
    try:
        key, full_key = await auth.create_api_key(
            page.ctx.session, page.ctx.actor, name=typed["name"], role=typed["role"],
            scopes=typed["scopes"],
            rate_limit_per_minute=_rate_limit(typed["rate_limit_per_minute"]))
    except AppError as exc:
        if exc.field is None or not page.ctx.session.is_active:
            raise
        return await _api_keys(request, page, status_code=exc.status_code, typed=typed,
                               refused_form="new",
                               form_errors={exc.field: error_message(exc, page.lang)})
    return await _api_keys(request, page, new_key=full_key, new_key_id=key.id)


@router.post("/settings/api-keys/{key_id}")
async def update_key(request: Request, key_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    try:
        await auth.update_api_key(
            page.ctx.session, page.ctx.actor, key_id,
            scopes=[str(v) for v in form.getlist("scopes") if str(v).strip()],
            rate_limit_per_minute=_rate_limit(form.get("rate_limit_per_minute")))
    except AppError as exc:
        if exc.field is None or not page.ctx.session.is_active:
            raise
        return await _api_keys(request, page, status_code=exc.status_code,
                               refused_form=str(key_id),
                               form_errors={exc.field: error_message(exc, page.lang)})
    return await _api_keys(request, page, saved=key_id)


@router.post("/settings/api-keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: uuid.UUID, page: WebPage) -> Response:
    await auth.revoke_api_key(page.ctx.session, page.ctx.actor, key_id)
    return await _api_keys(request, page, revoked=key_id)

"""The AI settings page (settings → AI): what writes the reply suggestions agents see — the
builtin provider, which works offline, Anthropic, or an OpenAI-compatible server (Ollama,
vLLM, …) — with its model, address, key, timeout and monthly token limit; whether suggestions
are on; the auto-answer and tagging choices, kept for when those arrive; and this month's usage
under the form. Admins only; the service checks it again.

The key is write-only: the form never shows it, only whether one is saved (with a box to remove
it); left empty, the saved key stays.

Under /settings/ like the settings sections, but a router of its own: it is registered before
``settings_views``, whose ``/settings/{slug}`` would otherwise take ``/settings/ai``."""

from __future__ import annotations

import uuid
from typing import Any

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from invekto.ai import service
from invekto.ai.models import PROVIDERS, TAGGING_MODES
from invekto.ai.schemas import AISettingsIn
from invekto.channels import service as channels
from invekto.core.actor import Permission
from invekto.core.errors import AppError, PermissionDenied, ValidationFailed
from invekto.web.automation_views import forbidden_unless, settings_sections
from invekto.web.rendering import Page, WebPage, error_message, parse_form, render_page

router = APIRouter(prefix="/settings/ai", include_in_schema=False)

PATH = "/settings/ai"
MAX_TIMEOUT_SECONDS = 120


def _number(page: Page, value: int) -> str:
    return babel_numbers.format_decimal(value, locale=page.fmt.locale)


# ---- the form ----------------------------------------------------------------------------------

def _values_of(settings: Any) -> dict[str, Any]:
    """The form as saved (the key is never among them)."""
    return {"provider": settings.provider, "model": settings.model or "",
            "base_url": settings.base_url or "", "clear_api_key": False,
            "request_timeout_seconds": str(settings.request_timeout_seconds),
            "monthly_token_limit": ("" if settings.monthly_token_limit is None
                                    else str(settings.monthly_token_limit)),
            "suggestions_enabled": settings.suggestions_enabled,
            # What a number input shows and sends back: a dot, whatever the language.
            "answer_threshold": f"{settings.answer_threshold:g}",
            "tagging_mode": settings.tagging_mode,
            "tag_threshold": f"{settings.tag_threshold:g}",
            "auto_answer_channel_ids": [str(c) for c in settings.auto_answer_channel_ids]}


def _typed(form: FormData) -> dict[str, Any]:
    """The form as typed, to read and to draw again after a refusal (without the key)."""
    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    return {"provider": text("provider"), "model": text("model"), "base_url": text("base_url"),
            "clear_api_key": form.get("clear_api_key") == "on",
            "request_timeout_seconds": text("request_timeout_seconds"),
            "monthly_token_limit": text("monthly_token_limit"),
            "suggestions_enabled": form.get("suggestions_enabled") == "on",
            "answer_threshold": text("answer_threshold"), "tagging_mode": text("tagging_mode"),
            "tag_threshold": text("tag_threshold"),
            "auto_answer_channel_ids": [v for v in form.getlist("auto_answer_channel_ids")
                                        if isinstance(v, str) and v.strip()]}


def _fraction(value: str, field: str) -> float | ValidationFailed:
    """A threshold: 0 to 1, typed with a dot or (as Turkish writes it) a comma."""
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError:
        number = -1.0
    if not 0 <= number <= 1:  # also NaN
        return ValidationFailed("give a number from 0 to 1, such as 0.76", field=field)
    return number


def _settings_input(values: dict[str, Any], api_key: str) -> tuple[AISettingsIn | None,
                                                                    list[AppError]]:
    """What the service takes, or every field the form itself can tell is wrong (each message
    a catalogue entry: the schema's own are pydantic's English)."""
    problems: list[AppError] = []
    data: dict[str, Any] = {"model": values["model"], "base_url": values["base_url"],
                            "api_key": api_key or None,
                            "clear_api_key": values["clear_api_key"],
                            "suggestions_enabled": values["suggestions_enabled"]}
    for name, choices in (("provider", PROVIDERS), ("tagging_mode", TAGGING_MODES)):
        if values[name] in choices:
            data[name] = values[name]
        else:
            problems.append(ValidationFailed("choose one", field=name))
    timeout = values["request_timeout_seconds"].strip()
    if timeout.isdecimal() and 1 <= int(timeout) <= MAX_TIMEOUT_SECONDS:
        data["request_timeout_seconds"] = int(timeout)
    else:
        problems.append(ValidationFailed("give a whole number of seconds from 1 to 120",
                                         field="request_timeout_seconds"))
    limit = values["monthly_token_limit"].strip().replace(" ", "")
    if not limit or limit.isdecimal():
        data["monthly_token_limit"] = int(limit) if limit else None
    else:
        problems.append(ValidationFailed(
            "give a whole number of tokens, or leave it empty for no limit",
            field="monthly_token_limit"))
    for name in ("answer_threshold", "tag_threshold"):
        number = _fraction(values[name], name)
        if isinstance(number, ValidationFailed):
            problems.append(number)
        else:
            data[name] = number
    try:
        data["auto_answer_channel_ids"] = [uuid.UUID(v)
                                           for v in values["auto_answer_channel_ids"]]
    except ValueError:
        problems.append(ValidationFailed("choose one", field="auto_answer_channel_ids"))
    if problems:
        return None, problems
    try:
        return parse_form(AISettingsIn, data), []
    except ValidationFailed as exc:  # a text longer than its field takes
        return None, [exc]


# ---- the page ----------------------------------------------------------------------------------

async def _usage_this_month(page: Page) -> list[dict[str, Any]]:
    """This month's counts per provider, numbers as the user's locale writes them (and raw, for
    the page's data attributes)."""
    month = service.this_month()
    rows = [row for row in await service.usage(page.ctx.session, page.ctx.actor)
            if row.month == month]
    return [{"provider": row.provider, "raw": {
                "requests": row.requests, "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens, "failures": row.failures,
                "fallbacks": row.fallbacks},
             **{name: _number(page, getattr(row, name)) for name in (
                 "requests", "input_tokens", "output_tokens", "failures", "fallbacks")}}
            for row in rows]


async def _page(request: Request, page: Page, *, values: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, status_code: int = 200,
                saved: bool = False) -> HTMLResponse:
    session, actor = page.ctx.session, page.ctx.actor
    settings = await service.get_settings(session, actor.tenant_id)
    usage = await _usage_this_month(page)
    tokens = sum(row["raw"]["input_tokens"] + row["raw"]["output_tokens"] for row in usage)
    limit = settings.monthly_token_limit
    response = render_page(
        request, page, "settings/ai.html", sections=settings_sections(page),
        values=values if values is not None else _values_of(settings), errors=errors or {},
        saved=saved, has_api_key=service.has_api_key(settings),
        channels=await channels.list_channels(session, actor), usage=usage,
        month=babel_dates.format_date(service.this_month(), "LLLL y", locale=page.fmt.locale),
        tokens_used=_number(page, tokens),
        token_limit=None if limit is None else _number(page, limit),
        over_limit=limit is not None and tokens >= limit)
    response.status_code = status_code
    return response


@router.get("")
async def ai_settings_page(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_SETTINGS):
        return refused
    return await _page(request, page, saved=request.query_params.get("saved") == "1")


@router.post("")
async def save_ai_settings(request: Request, page: WebPage) -> Response:
    """Saved: back to the page. Refused: the form again with each reason beside its field and
    what was typed (never the key), nothing of the attempt kept (a savepoint)."""
    if refused := forbidden_unless(request, page, Permission.MANAGE_SETTINGS):
        return refused
    session, actor = page.ctx.session, page.ctx.actor
    form = await request.form()
    values = _typed(form)
    api_key = form.get("api_key")
    data, problems = _settings_input(values, api_key if isinstance(api_key, str) else "")
    if data is not None:
        try:
            async with session.begin_nested():
                await service.save_settings(session, actor, data)
        except AppError as exc:
            if exc.field is None or isinstance(exc, PermissionDenied):
                raise
            problems = [exc]
    if problems:
        status = max(problem.status_code for problem in problems)
        return await _page(request, page, values=values, status_code=status, errors={
            problem.field: error_message(problem, page.lang)
            for problem in problems if problem.field})
    return RedirectResponse(f"{PATH}?saved=1", status_code=303)

"""What every server-rendered page shares: the Jinja environment, the signed-in user's page
context (language, time zone, CSRF token) and one way to render."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import jinja2
import pydantic
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context as JinjaContext
from markupsafe import Markup, escape

from invekto.core import i18n, masking
from invekto.core.actor import Permission
from invekto.core.errors import AppError, ValidationFailed
from invekto.http.deps import Context, Scoped, csrf_token_for
from invekto.inbox.service import MENTION
from invekto.tenants import service as tenants
from invekto.tenants.models import Tenant
from invekto.users import service as users
from invekto.users.models import User

Model = TypeVar("Model", bound=pydantic.BaseModel)
templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True))


def _mentions(text: str) -> Markup:
    """A note's text, escaped, with each @username highlighted. Safe: the text is escaped
    first, and a username is only letters, digits, '.', '_' and '-'."""
    return Markup(MENTION.sub(  # noqa: S704
        lambda m: f'<span class="mention">{m.group(0)}</span>', str(escape(text))))


templates.env.filters["mentions"] = _mentions
templates.env.filters["uuid"] = lambda value: uuid.UUID(str(value))
templates.env.filters["datetime"] = lambda value: datetime.fromisoformat(str(value))


def language_of(request: Request, explicit: str | None = None) -> str:
    """For visitors not signed in; a signed-in user's saved language wins (see ``Page``)."""
    return i18n.pick_language(explicit=explicit or request.query_params.get("lang"),
                              cookie=request.cookies.get("lang"),
                              accept_language=request.headers.get("accept-language"))


# The language of the page being rendered. Templates (and the macros they import, which do not
# see the render context) translate through globals that read it.
_rendering_language: ContextVar[str] = ContextVar("rendering_language", default="tr")


def _gettext(message: str, **values: object) -> str | Markup:
    translated = i18n.text(_rendering_language.get(), message)
    # Filled as markup: values are escaped once here (and the output of macros, already
    # markup, not again), and the result is not escaped a second time on output.
    return escape(translated) % values if values else translated


def _ngettext(singular: str, plural: str, n: int, **values: object) -> Markup:
    translated = i18n.translations(_rendering_language.get()).ngettext(singular, plural, n)
    return escape(translated) % {"num": n, **values}


@pass_context
def _shows_personal_data(context: JinjaContext) -> bool:
    """Whether this render shows contacts' personal data in clear: the viewer has the
    permission, or revealed this contact (an audited action). No viewer: masked."""
    actor = context.get("actor")
    return bool(context.get("revealed")) or (
        actor is not None and actor.can(Permission.SEE_PERSONAL_DATA))


@pass_context
def _personal(context: JinjaContext, value: Any, kind: str = "text") -> Any:
    """``{{ pii(contact.phone, "phone") }}``: the value, masked unless the viewer may see it."""
    return value if _shows_personal_data(context) else masking.KINDS[kind](value)


templates.env.globals.update({"_": _gettext, "gettext": _gettext, "ngettext": _ngettext,
                              "P": Permission, "pii": _personal,
                              "shows_pii": _shows_personal_data})


@dataclass
class Page:
    """A signed-in browser request: its transaction, who it is, and how to speak to them."""

    ctx: Context
    user: User
    tenant: Tenant
    csrf_token: str

    @property
    def lang(self) -> str:
        return self.user.language

    @property
    def fmt(self) -> i18n.Formatter:
        return i18n.Formatter(self.user.language, self.tenant.timezone)


async def page_context(ctx: Scoped) -> Page:
    user = await users.get_user(ctx.session, ctx.actor, ctx.actor.user_id)
    tenant = await tenants.get(ctx.session, ctx.actor.tenant_id)
    return Page(ctx=ctx, user=user, tenant=tenant,
                csrf_token=csrf_token_for(ctx.session_secret or ""))


WebPage = Annotated[Page, Depends(page_context)]


def parse_form(model: type[Model], values: dict[str, Any]) -> Model:
    """A form's values checked by the API's schema; a bad one is a 422 naming its field, like
    the API's own validation."""
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        message = first["msg"]  # pydantic's English; not a catalogue entry
        raise ValidationFailed(message, field=field) from exc


def error_message(exc: AppError, language: str) -> str:
    """As ``http.errors`` words an error for the UI, for a form that shows it beside its field:
    parameters that are catalogue entries (labels marked with N_) are translated too, anything
    typed stays as it is."""
    params = {key: i18n.text(language, value) if isinstance(value, str) else value
              for key, value in exc.params.items()}
    return i18n.text(language, exc.template, **params)


def render(request: Request, name: str, *, lang: str, page: Page | None = None,
           status_code: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    values: dict[str, Any] = {
        "lang": lang, "page": page, "csrf_token": page.csrf_token if page else None,
        "me": page.user if page else None, "actor": page.ctx.actor if page else None,
        "fmt": page.fmt if page else i18n.Formatter(lang),
        "is_htmx": request.headers.get("hx-request") == "true",
        **context,
    }
    # Starlette renders the template while building the response: the language is set for it.
    token = _rendering_language.set(lang)
    try:
        response = templates.TemplateResponse(request, name, values, status_code=status_code,
                                              headers=headers)
    finally:
        _rendering_language.reset(token)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def render_to_text(name: str, *, lang: str, **context: Any) -> str:
    """A template rendered outside a request (a document to download, an e-mail body), in
    ``lang``."""
    token = _rendering_language.set(lang)
    try:
        return templates.get_template(name).render(
            {"lang": lang, "fmt": i18n.Formatter(lang), **context})
    finally:
        _rendering_language.reset(token)


def render_page(request: Request, page: Page, name: str, **context: Any) -> HTMLResponse:
    return render(request, name, lang=page.lang, page=page, **context)

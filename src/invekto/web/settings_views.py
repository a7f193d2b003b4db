"""The settings pages: users, groups, tags, quick replies, custom fields, channels, e-mail and the
company profile. Each section is one page with inline forms; every change goes through the domain's
service, which checks the role, and answers with the section's re-rendered body (HTMX swaps it in;
a refusal is a JSON error the page shows as a toast, except on the channel forms, which are drawn
again with each reason beside its field: see `_refused`)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.datastructures import FormData, UploadFile

from invekto import runtime
from invekto.channels import chat_links
from invekto.channels import service as channels
from invekto.channels.intake import TOKEN_HEADER
from invekto.channels.schemas import ChannelUpdate
from invekto.contacts import service as contacts
from invekto.contacts.models import CUSTOM_FIELD_TYPES, MAX_CUSTOM_FIELDS
from invekto.contacts.schemas import CustomFieldCreate, CustomFieldUpdate, TagCreate, TagUpdate
from invekto.core import i18n, uploads
from invekto.core.actor import PERMISSION_NAMES, Permission
from invekto.core.errors import AppError, Conflict, NotFound, PermissionDenied, ValidationFailed
from invekto.follow_ups import service as follow_ups
from invekto.follow_ups.schemas import CsatSurveyIn, SequenceIn
from invekto.inbox import service as inbox
from invekto.inbox import timeline
from invekto.mail import service as mail
from invekto.mail import summary as mail_summary
from invekto.mail.models import DEFAULT_PORTS, SECURITY_MODES
from invekto.mail.schemas import SmtpSettingsIn, SummarySettingsIn
from invekto.replies import service as replies
from invekto.routing import service as routing
from invekto.routing import sla
from invekto.routing.schemas import (
    BusinessHoursIn,
    HolidayIn,
    OperationsIn,
    RoutingIn,
    ShiftExceptionIn,
    ShiftPlanIn,
    SlaPolicyIn,
)
from invekto.templates import service as templates
from invekto.templates.schemas import TemplateIn
from invekto.tenants import service as tenants
from invekto.users import roles
from invekto.users import service as users
from invekto.users.schemas import GroupCreate, GroupUpdate, RoleIn, UserCreate, UserUpdate
from invekto.web import (
    audit_views,
    channel_forms,
    consent_views,
    integration_views,
    privacy_views,
    security_views,
    webhook_views,
)
from invekto.web.rendering import (
    Page,
    WebPage,
    error_message,
    parse_form,
    render,
    render_page,
)

router = APIRouter(prefix="/settings", include_in_schema=False)

# Offered in the company's time zone list (any IANA zone is accepted; the current one is always
# listed). Turkey first, then the zones customers' teams most often work from.
COMMON_TIMEZONES = (
    "Europe/Istanbul", "UTC", "Europe/London", "Europe/Berlin", "Europe/Amsterdam",
    "Europe/Paris", "Europe/Athens", "Europe/Kyiv", "Europe/Moscow", "Asia/Nicosia",
    "Asia/Baku", "Asia/Tbilisi", "Asia/Dubai", "Asia/Riyadh", "Asia/Tashkent", "Asia/Almaty",
    "Africa/Cairo", "America/New_York", "America/Chicago", "America/Los_Angeles",
)
QUICK_REPLY_LIMIT = 500


@dataclass(frozen=True)
class Section:
    slug: str  # its path under /settings
    permission: Permission  # needed to open it (the services decide what it may change)
    icon: str

    @property
    def stem(self) -> str:
        return self.slug.replace("-", "_")


SECTIONS = (
    Section("users", Permission.MANAGE_USERS, "ti-users"),
    Section("groups", Permission.MANAGE_USERS, "ti-users-group"),
    Section("roles", Permission.MANAGE_USERS, "ti-shield-lock"),
    Section("tags", Permission.MANAGE_CONTACTS, "ti-tags"),
    Section("quick-replies", Permission.MANAGE_CONTENT, "ti-message-bolt"),
    Section("custom-fields", Permission.MANAGE_SETTINGS, "ti-forms"),
    Section("channels", Permission.MANAGE_SETTINGS, "ti-plug-connected"),
    Section("routing", Permission.MANAGE_ROUTING, "ti-route"),
    Section("business-hours", Permission.MANAGE_ROUTING, "ti-clock"),
    Section("shifts", Permission.MANAGE_ROUTING, "ti-calendar-time"),
    Section("sla", Permission.MANAGE_ROUTING, "ti-alarm"),
    Section("blocked", Permission.MANAGE_CONTACTS, "ti-ban"),
    Section("click-to-chat", Permission.MANAGE_CONTENT, "ti-qrcode"),
    Section("templates", Permission.MANAGE_CONTENT, "ti-template"),
    Section("follow-ups", Permission.MANAGE_CAMPAIGNS, "ti-repeat"),
    Section("csat", Permission.MANAGE_CAMPAIGNS, "ti-mood-smile"),
    Section("email", Permission.MANAGE_SETTINGS, "ti-mail"),
    Section("integrations", Permission.MANAGE_SETTINGS, "ti-puzzle"),
    Section("webhooks", Permission.MANAGE_SETTINGS, "ti-webhook"),
    Section("iys", Permission.MANAGE_SETTINGS, "ti-shield-check"),
    Section("company", Permission.MANAGE_SETTINGS, "ti-building"),
    Section("privacy", Permission.MANAGE_SECURITY, "ti-shield-lock"),
    Section("security", Permission.MANAGE_SECURITY, "ti-lock"),
    Section("api-keys", Permission.MANAGE_SECURITY, "ti-key"),
    Section("audit", Permission.MANAGE_SECURITY, "ti-list-search"),
)
_BY_SLUG = {section.slug: section for section in SECTIONS}


class QuickReplyForm(BaseModel):
    shortcut: str = ""
    body: str = ""


class CompanyForm(BaseModel):
    name: str = ""
    timezone: str = ""
    default_language: str = ""


# ---- what each section shows -------------------------------------------------------------------

Params = Mapping[str, Any]


async def _users(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    people = await users.list_users(session, actor, include_inactive=True)
    groups = await users.list_groups(session, actor)
    return {"users": people, "group_names": {g.id: g.name for g in groups},
            "group_options": [(g.id, g.name, False) for g in groups],
            "groups_of": await users.groups_by_user(session, actor, [u.id for u in people]),
            "custom_roles": {r.id: r.name for r in await roles.list_roles(session, actor)}}


async def _roles(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    return {"roles": await roles.list_roles(session, actor),
            "user_counts": await roles.users_per_role(session, actor),
            # (value, label, not grantable by this person) for the permission checkboxes
            "permission_options": [(p.value, i18n.text(page.lang, label), not actor.can(p))
                                   for p, label in PERMISSION_NAMES.items()],
            "permission_labels": {p.value: i18n.text(page.lang, label)
                                  for p, label in PERMISSION_NAMES.items()}}


async def _groups(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    groups = await users.list_groups(session, actor)
    people = await users.list_users(session, actor, include_inactive=True)
    return {"groups": groups, "user_names": {u.id: u.display_name for u in people},
            "members": await users.members_by_group(session, actor, [g.id for g in groups]),
            # (id, name, inactive?) for the members' checkboxes
            "user_options": [(u.id, u.display_name, not u.is_active) for u in people]}


async def _tags(page: Page, _params: Params) -> dict[str, Any]:
    return {"tags": await contacts.list_tags(page.ctx.session, page.ctx.actor)}


async def _quick_replies(page: Page, params: Params) -> dict[str, Any]:
    q = str(params.get("q") or "").strip()
    if len(q) > 200:
        raise ValidationFailed("the search text is longer than 200 characters", field="q")
    found = await replies.search(page.ctx.session, page.ctx.actor, q, limit=QUICK_REPLY_LIMIT)
    return {"q": q, "limit": QUICK_REPLY_LIMIT, "replies": found,
            "files": await timeline.attachments_by_id(
                page.ctx.session, page.ctx.actor, [r.attachment_id for r in found
                                                   if r.attachment_id])}


async def _custom_fields(page: Page, _params: Params) -> dict[str, Any]:
    return {"fields": await contacts.list_custom_fields(page.ctx.session, page.ctx.actor),
            "max_fields": MAX_CUSTOM_FIELDS, "field_types": CUSTOM_FIELD_TYPES}


async def _channels(page: Page, _params: Params) -> dict[str, Any]:
    listed = await channels.list_channels(page.ctx.session, page.ctx.actor)
    return {"channels": listed, "setups": channel_forms.SETUPS,
            # which secrets each channel has (names only: values are never shown again)
            "secrets_set": {c.id: channels.secrets_set(c) for c in listed
                            if c.kind in channel_forms.SETUPS},
            "testable": {c.id for c in listed if channels.can_test(c.kind)},
            "connectable": {c.id for c in listed if channels.can_connect(c.kind)},
            "webhook_paths": {c.id: channels.webhook_path(c) for c in listed},
            "token_header": TOKEN_HEADER.title()}


async def _click_to_chat(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    links = await chat_links.list_links(session, actor)
    return {"links": [{"link": link, "url": chat_links.wa_me_url(link),
                       "prefilled": chat_links.prefilled(link), "qr": chat_links.qr_svg(link),
                       "button": chat_links.website_button(link)} for link in links],
            "whatsapp_channels": [c for c in await channels.list_channels(session, actor)
                                  if c.kind in chat_links.WHATSAPP_KINDS]}


async def _routing(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    listed = [c for c in await channels.list_channels(session, actor) if c.is_active]
    return {"channels": listed, "groups": await users.list_groups(session, actor),
            "routing_of": {c.id: await routing.get_routing(session, actor, c.id)
                           for c in listed},
            "operations_of": {c.id: await routing.get_operations(session, actor, c.id)
                              for c in listed}}


async def _business_hours(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    found = await routing.get_business_hours(session, actor)
    return {"hours": found, "schedule": found.schedule if found else {},
            "groups": await users.list_groups(session, actor),
            "holidays": await routing.list_holidays(session, actor),
            "this_year": datetime.now(ZoneInfo(page.tenant.timezone)).year}


async def _shifts(page: Page, params: Params) -> dict[str, Any]:
    """The week's shift calendar (``week``: any day of it; this week by default) and each
    agent's plan."""
    session, actor = page.ctx.session, page.ctx.actor
    today = datetime.now(ZoneInfo(page.tenant.timezone)).date()
    try:
        chosen = date.fromisoformat(str(params.get("week") or today.isoformat()))
    except ValueError as exc:
        raise ValidationFailed("give the week as a date, such as 2026-11-23",
                               field="week") from exc
    monday = chosen - timedelta(days=chosen.weekday())
    people = [u for u in await users.list_users(session, actor) if u.is_active]
    return {"monday": monday, "days": [monday + timedelta(days=n) for n in range(7)],
            "previous_week": monday - timedelta(days=7), "next_week": monday + timedelta(days=7),
            "people": people, "week": await routing.shift_week(session, actor, monday),
            "plans": {u.id: await routing.get_shift_plan(session, actor, u.id) for u in people},
            "today": today}


async def _sla(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    return {"policies": await sla.list_policies(session, actor),
            "channels": await channels.list_channels(session, actor),
            "tags": await contacts.list_tags(session, actor)}


async def _blocked(page: Page, _params: Params) -> dict[str, Any]:
    return {"blocked": await contacts.blocked_contacts(page.ctx.session, page.ctx.actor)}


async def _follow_ups(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    return {"sequences": await follow_ups.list_sequences(session, actor),
            "channels": await channels.list_channels(session, actor),
            "tags": await contacts.list_tags(session, actor)}


async def _csat(page: Page, _params: Params) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    listed = [c for c in await channels.list_channels(session, actor) if c.is_active]
    return {"channels": listed,
            "survey_of": {c.id: await follow_ups.get_survey(session, actor, c.id)
                          for c in listed}}


async def _templates(page: Page, _params: Params) -> dict[str, Any]:
    """Each WhatsApp channel's templates, with their placeholders (for the variable
    mapping), and the variables a placeholder can be mapped to."""
    session, actor = page.ctx.session, page.ctx.actor
    listed = [c for c in await channels.list_channels(session, actor)
              if c.kind in templates.WHATSAPP_KINDS]
    custom = [f.key for f in await contacts.list_custom_fields(session, actor)]
    by_channel = {c.id: await templates.list_templates(session, actor, c.id) for c in listed}
    return {"whatsapp_channels": listed, "templates_of": by_channel,
            "placeholders_of": {t.id: templates.placeholders(t.components)
                                for found in by_channel.values() for t in found},
            "variable_choices": [*TEMPLATE_VARIABLES,
                                 *(f"{{{{ contact.custom.{key} }}}}" for key in custom)]}


async def _company(page: Page, _params: Params) -> dict[str, Any]:
    current = page.tenant.timezone
    zones = list(COMMON_TIMEZONES) + ([current] if current not in COMMON_TIMEZONES else [])
    return {"company": page.tenant, "timezones": zones}


async def _email(page: Page, _params: Params) -> dict[str, Any]:
    """The mail server and weekly summary forms as saved (the password only as "set"), and the
    latest week's summary: sent, or why not."""
    found = await mail.settings_of(page.ctx.session, page.ctx.actor)
    smtp, chosen, last = found.smtp, found.summary, found.last_send
    day_names = babel_dates.get_day_names("wide", locale=page.fmt.locale)
    return {
        "smtp_saved": None if smtp is None else {
            "host": smtp.host, "port": str(smtp.port), "security": smtp.security,
            "username": smtp.username or "", "from_address": smtp.from_address,
            "from_name": smtp.from_name or "", "clear_password": False},
        "has_password": smtp is not None and mail.has_password(smtp),
        "summary_saved": {"enabled": chosen.enabled, "recipients": "\n".join(chosen.recipients),
                          "weekday": str(chosen.weekday), "hour": str(chosen.hour),
                          "language": chosen.language},
        "last_send": None if last is None else {
            "status": last.status, "week": mail_summary.week_label(last.week_start, page.lang),
            "attempts": last.attempts, "attempted_at": last.attempted_at,
            "sent_at": last.sent_at, "error_detail": last.error_detail or "",
            "error": mail.failure_message(last.error_code, page.lang)
                     if last.status == "failed" else ""},
        "security_modes": SECURITY_MODES, "default_ports": DEFAULT_PORTS,
        "weekdays": [(str(iso), day_names[iso - 1]) for iso in range(1, 8)],
        "hours": [str(hour) for hour in range(24)],
        "max_attempts": mail.MAX_SCHEDULED_ATTEMPTS,
    }


Loader = Callable[[Page, Params], Awaitable[dict[str, Any]]]
_LOADERS: dict[str, Loader] = {
    "users": _users, "groups": _groups, "roles": _roles, "tags": _tags,
    "quick-replies": _quick_replies,
    "custom-fields": _custom_fields, "channels": _channels, "company": _company,
    "click-to-chat": _click_to_chat, "routing": _routing, "business-hours": _business_hours,
    "shifts": _shifts, "sla": _sla, "blocked": _blocked, "follow-ups": _follow_ups,
    "csat": _csat, "templates": _templates, "email": _email,
    "iys": consent_views.settings_context,
    "integrations": integration_views.settings_section,
    "webhooks": webhook_views.webhooks_section,
    "api-keys": webhook_views.api_keys_section,
    "privacy": privacy_views.privacy_section,
    "security": security_views.security_section,
    "audit": audit_views.audit_section,
}


def _visible(page: Page) -> list[Section]:
    return [s for s in SECTIONS if page.ctx.actor.can(s.permission)]


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _forbidden(request: Request, page: Page) -> HTMLResponse:
    """A page the user may not open: a readable page (an HTMX request gets the JSON error)."""
    return render(request, "settings/forbidden.html", lang=page.lang, page=page,
                  status_code=403, sections=_visible(page))


async def _body(request: Request, page: Page, slug: str, params: Params, **extra: Any
                ) -> HTMLResponse:
    """A section's body (its forms and list) after a change, for HTMX to swap in."""
    section = _BY_SLUG[slug]
    page.ctx.actor.require(section.permission)  # drawn only for whom may open the section
    context = await _LOADERS[slug](page, params)
    return render_page(request, page, f"settings/_{section.stem}.html", current=section,
                       **context, **extra)


async def _refused(request: Request, page: Page, slug: str, exc: AppError, **extra: Any
                   ) -> HTMLResponse:
    """A form the service (or the form's own checks) refused, drawn again with each reason
    beside its field, in the user's language, and what was typed (``values``; never a secret).
    A refusal naming no field, or one that broke the transaction (the unique constraint deciding
    a race), goes the usual way: the JSON error, shown as a toast."""
    if exc.field is None or not page.ctx.session.is_active:
        raise exc
    errors = {e.field: error_message(e, page.lang)
              for e in getattr(exc, "errors", None) or [exc]}
    response = await _body(request, page, slug, {}, form_errors=errors, **extra)
    response.status_code = exc.status_code
    return response


def _values(form: FormData, names: tuple[str, ...], *, lists: tuple[str, ...] = (),
            optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The named fields the form sent (others are ignored). A list field is every non-empty
    value of its name (forms send an empty hidden one so that "none chosen" is sent too); an
    optional field left blank is ``None``."""
    values: dict[str, Any] = {}
    for name in names:
        if name not in form:
            continue
        if name in lists:
            values[name] = [v for v in form.getlist(name) if isinstance(v, str) and v.strip()]
            continue
        value = form[name]
        if not isinstance(value, str):
            raise ValidationFailed("expected text, not a file", field=name)
        values[name] = None if name in optional and not value.strip() else value
    return values


def _week_from_form(form: FormData) -> dict[str, list[list[str]]]:
    """The week table (``settings/_macros.html`` ``week_table``) as a schedule: the ticked days
    with their filled windows (a time input's "23:59" is the day's end)."""
    schedule: dict[str, list[list[str]]] = {}
    for day in range(7):
        if form.get(f"open_{day}") != "on":
            continue
        schedule[str(day)] = [
            [str(form.get(f"start_{day}_{n}") or ""),
             "24:00" if form.get(f"end_{day}_{n}") == "23:59"
             else str(form.get(f"end_{day}_{n}") or "")]
            for n in (1, 2) if form.get(f"start_{day}_{n}") or form.get(f"end_{day}_{n}")]
    return schedule


def _lines(value: Any) -> list[str]:
    """A textarea with one entry per line."""
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


# ---- pages -------------------------------------------------------------------------------------

@router.get("")
async def settings_home(request: Request, page: WebPage) -> Response:
    visible = _visible(page)
    if not visible:
        if _is_htmx(request):
            page.ctx.actor.require(Permission.MANAGE_CONTENT)
        return _forbidden(request, page)
    return RedirectResponse(f"/settings/{visible[0].slug}", status_code=303)


@router.get("/quick-replies/list")
async def quick_replies_list(request: Request, page: WebPage) -> Response:
    """The search box's results."""
    page.ctx.actor.require(Permission.MANAGE_CONTENT)
    return await _body(request, page, "quick-replies", request.query_params)


@router.get("/{slug}")
async def section_page(request: Request, slug: str, page: WebPage) -> Response:
    section = _BY_SLUG.get(slug)
    if section is None:
        raise NotFound("page not found")
    try:
        page.ctx.actor.require(section.permission)
        context = await _LOADERS[slug](page, request.query_params)
    except PermissionDenied:
        if _is_htmx(request):
            raise
        return _forbidden(request, page)
    return render_page(request, page, "settings/page.html", current=section,
                       sections=_visible(page), **context)


# ---- users -------------------------------------------------------------------------------------

_USER_FIELDS = ("display_name", "email", "role", "custom_role_id", "language", "group_ids")


@router.post("/users")
async def create_user(request: Request, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(UserCreate, _values(
        form, ("username", "password", *_USER_FIELDS), lists=("group_ids",),
        optional=("email", "password", "custom_role_id")))
    user, generated = await users.create_user(page.ctx.session, page.ctx.actor, data)
    return await _body(request, page, "users", form, created=user,
                       generated_password=generated)


@router.post("/users/{user_id}")
async def update_user(request: Request, user_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(UserUpdate, _values(
        form, (*_USER_FIELDS, "max_open_conversations"), lists=("group_ids",),
        optional=("email", "max_open_conversations", "custom_role_id")))
    user = await users.update_user(page.ctx.session, page.ctx.actor, user_id, data)
    return await _body(request, page, "users", form, updated=user)


@router.post("/users/{user_id}/active")
async def set_user_active(request: Request, user_id: uuid.UUID, page: WebPage) -> Response:
    """Deactivate (ends their sessions) or reactivate a user."""
    form = await request.form()
    data = parse_form(UserUpdate, _values(form, ("is_active",)))
    if data.is_active is None:
        raise ValidationFailed("choose active or inactive", field="is_active")
    user = await users.update_user(page.ctx.session, page.ctx.actor, user_id, data)
    return await _body(request, page, "users", form, updated=user)


# ---- roles -------------------------------------------------------------------------------------

_ROLE_FIELDS = ("name", "description", "permissions")


@router.post("/roles")
async def create_role(request: Request, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(RoleIn, _values(form, _ROLE_FIELDS, lists=("permissions",)))
    await roles.create_role(page.ctx.session, page.ctx.actor, data)
    return await _body(request, page, "roles", form)


@router.post("/roles/{role_id}")
async def update_role(request: Request, role_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(RoleIn, _values(form, _ROLE_FIELDS, lists=("permissions",)))
    await roles.update_role(page.ctx.session, page.ctx.actor, role_id, data)
    return await _body(request, page, "roles", form)


@router.post("/roles/{role_id}/delete")
async def delete_role(request: Request, role_id: uuid.UUID, page: WebPage) -> Response:
    await roles.delete_role(page.ctx.session, page.ctx.actor, role_id)
    return await _body(request, page, "roles", {})


# ---- groups ------------------------------------------------------------------------------------

_GROUP_FIELDS = ("name", "description", "member_ids")


@router.post("/groups")
async def create_group(request: Request, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(GroupCreate, _values(form, _GROUP_FIELDS, lists=("member_ids",)))
    await users.create_group(page.ctx.session, page.ctx.actor, data)
    return await _body(request, page, "groups", form)


@router.post("/groups/{group_id}")
async def update_group(request: Request, group_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(GroupUpdate, _values(form, _GROUP_FIELDS, lists=("member_ids",)))
    await users.update_group(page.ctx.session, page.ctx.actor, group_id, data)
    return await _body(request, page, "groups", form)


@router.post("/groups/{group_id}/delete")
async def delete_group(request: Request, group_id: uuid.UUID, page: WebPage) -> Response:
    await users.delete_group(page.ctx.session, page.ctx.actor, group_id)
    return await _body(request, page, "groups", {})


# ---- tags --------------------------------------------------------------------------------------

@router.post("/tags")
async def create_tag(request: Request, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(TagCreate, {**_values(form, ("name", "color")),
                                  "marks_conversion": "marks_conversion" in form})
    await contacts.create_tag(page.ctx.session, page.ctx.actor, data)
    return await _body(request, page, "tags", form)


@router.post("/tags/{tag_id}")
async def update_tag(request: Request, tag_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(TagUpdate, {**_values(form, ("color",)),
                                  "marks_conversion": "marks_conversion" in form})
    await contacts.update_tag(page.ctx.session, page.ctx.actor, tag_id, data)
    return await _body(request, page, "tags", form)


@router.post("/tags/{tag_id}/delete")
async def delete_tag(request: Request, tag_id: uuid.UUID, page: WebPage) -> Response:
    """Also takes the tag off every contact and conversation, like the API."""
    tag = await contacts.delete_tag(page.ctx.session, page.ctx.actor, tag_id)
    await inbox.remove_tag_everywhere(page.ctx.session, page.ctx.actor, tag.name)
    return await _body(request, page, "tags", {})


# ---- click-to-chat ------------------------------------------------------------------------------

# ---- routing -----------------------------------------------------------------------------------

@router.post("/routing/{channel_id}")
async def set_routing(request: Request, channel_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    values = _values(form, ("group_ids", "algorithm", "when_nobody", "away_message"),
                     lists=("group_ids",))
    data = parse_form(RoutingIn, {**values, "sticky": form.get("sticky") == "on"})
    await routing.set_routing(page.ctx.session, page.ctx.actor, channel_id, data)
    return await _body(request, page, "routing", form, saved=channel_id)


@router.post("/routing/{channel_id}/operations")
async def set_operations(request: Request, channel_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(OperationsIn, _values(
        form, ("welcome_new", "welcome_returning", "idle_minutes", "auto_close_hours",
               "auto_close_pending_hours", "closing_message"),
        optional=("idle_minutes", "auto_close_hours", "auto_close_pending_hours")))
    await routing.set_operations(page.ctx.session, page.ctx.actor, channel_id, data)
    return await _body(request, page, "routing", form, saved=channel_id)


# ---- business hours ----------------------------------------------------------------------------

@router.post("/business-hours")
async def set_business_hours(request: Request, page: WebPage) -> Response:
    """The weekly table: per weekday an "open" box and up to two from–to windows."""
    form = await request.form()
    data = parse_form(BusinessHoursIn, {
        "schedule": _week_from_form(form), "away_message": str(form.get("away_message") or ""),
        "after_hours_group_id": form.get("after_hours_group_id") or None})
    await routing.set_business_hours(page.ctx.session, page.ctx.actor, data)
    return await _body(request, page, "business-hours", form, saved=True)


@router.post("/business-hours/holidays")
async def add_holiday(request: Request, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(HolidayIn, _values(form, ("day", "name")))
    await routing.add_holiday(page.ctx.session, page.ctx.actor, data)
    return await _body(request, page, "business-hours", form)


@router.post("/business-hours/holidays/public")
async def load_public_holidays(request: Request, page: WebPage) -> Response:
    form = await request.form()
    year = str(form.get("year") or "")
    if not year.isdigit():
        raise ValidationFailed("choose a year between 2000 and 2100", field="year")
    added = await routing.load_public_holidays(page.ctx.session, page.ctx.actor, int(year),
                                               language=page.tenant.default_language)
    return await _body(request, page, "business-hours", form, loaded=added)


@router.post("/business-hours/holidays/{holiday_id}/delete")
async def delete_holiday(request: Request, holiday_id: uuid.UUID, page: WebPage) -> Response:
    await routing.delete_holiday(page.ctx.session, page.ctx.actor, holiday_id)
    return await _body(request, page, "business-hours", {})


# ---- shifts ------------------------------------------------------------------------------------

@router.post("/shifts/{user_id}")
async def set_shift_plan(request: Request, user_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    await routing.set_shift_plan(page.ctx.session, page.ctx.actor, user_id,
                                 ShiftPlanIn(schedule=_week_from_form(form)))
    return await _body(request, page, "shifts", form, saved=user_id)


@router.post("/shifts/{user_id}/clear")
async def clear_shift_plan(request: Request, user_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    await routing.clear_shift_plan(page.ctx.session, page.ctx.actor, user_id)
    return await _body(request, page, "shifts", form, saved=user_id)


@router.post("/shifts/{user_id}/exceptions")
async def set_shift_exception(request: Request, user_id: uuid.UUID, page: WebPage) -> Response:
    """A day off (no times), or that day's hours."""
    form = await request.form()
    start, end = str(form.get("start") or ""), str(form.get("end") or "")
    data = parse_form(ShiftExceptionIn, {
        "day": form.get("day") or None, "note": str(form.get("note") or ""),
        "windows": [[start, "24:00" if end == "23:59" else end]] if start or end else []})
    await routing.set_shift_exception(page.ctx.session, page.ctx.actor, user_id, data)
    return await _body(request, page, "shifts", form, saved=user_id)


@router.post("/shifts/exceptions/{exception_id}/delete")
async def delete_shift_exception(request: Request, exception_id: uuid.UUID, page: WebPage
                                 ) -> Response:
    form = await request.form()
    await routing.delete_shift_exception(page.ctx.session, page.ctx.actor, exception_id)
    return await _body(request, page, "shifts", form)


# ---- SLA policies ------------------------------------------------------------------------------

def _sla_input(form: FormData) -> SlaPolicyIn:
    values = _values(form, ("name", "channel_id", "tag", "first_response_minutes",
                            "resolution_minutes", "escalation", "escalation_tag"),
                     optional=("channel_id", "tag", "first_response_minutes",
                               "resolution_minutes"))
    return parse_form(SlaPolicyIn, {**values, "business_hours": form.get("business_hours") == "on"})


@router.post("/sla")
async def create_sla_policy(request: Request, page: WebPage) -> Response:
    form = await request.form()
    await sla.save_policy(page.ctx.session, page.ctx.actor, _sla_input(form))
    return await _body(request, page, "sla", form)


@router.post("/sla/{policy_id}")
async def update_sla_policy(request: Request, policy_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    await sla.save_policy(page.ctx.session, page.ctx.actor, _sla_input(form), policy_id)
    return await _body(request, page, "sla", form, saved=policy_id)


@router.post("/sla/{policy_id}/delete")
async def delete_sla_policy(request: Request, policy_id: uuid.UUID, page: WebPage) -> Response:
    await sla.delete_policy(page.ctx.session, page.ctx.actor, policy_id)
    return await _body(request, page, "sla", {})


# ---- the block list ----------------------------------------------------------------------------

@router.post("/blocked")
async def block_number(request: Request, page: WebPage) -> Response:
    """Block a phone number: its contact, made if there is none yet."""
    form = await request.form()
    await inbox.block_phone(page.ctx.session, page.ctx.actor, str(form.get("phone") or ""))
    return await _body(request, page, "blocked", form)


@router.post("/blocked/{contact_id}/unblock")
async def unblock(request: Request, contact_id: uuid.UUID, page: WebPage) -> Response:
    await inbox.set_blocked(page.ctx.session, page.ctx.actor, contact_id, False)
    return await _body(request, page, "blocked", {})


@router.post("/click-to-chat")
async def create_chat_link(request: Request, page: WebPage) -> Response:
    form = await request.form()
    values = _values(form, ("channel_id", "name", "phone", "message"))
    await chat_links.create_link(
        page.ctx.session, page.ctx.actor,
        channel_id=_form_uuid(values.get("channel_id"), "channel_id"),
        name=str(values.get("name") or ""), phone=str(values.get("phone") or ""),
        message=str(values.get("message") or ""))
    return await _body(request, page, "click-to-chat", {})


@router.post("/click-to-chat/{link_id}/delete")
async def delete_chat_link(request: Request, link_id: uuid.UUID, page: WebPage) -> Response:
    await chat_links.delete_link(page.ctx.session, page.ctx.actor, link_id)
    return await _body(request, page, "click-to-chat", {})


def _form_uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed("choose one", field=field) from exc


# ---- quick replies -----------------------------------------------------------------------------

@router.post("/quick-replies")
async def create_quick_reply(request: Request, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(QuickReplyForm, _values(form, ("shortcut", "body")))
    await replies.create(page.ctx.session, page.ctx.actor, shortcut=data.shortcut,
                         body=data.body, attachment_id=await _reply_file(page, form))
    return await _body(request, page, "quick-replies", form)


@router.post("/quick-replies/{reply_id}")
async def update_quick_reply(request: Request, reply_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(QuickReplyForm, _values(form, ("shortcut", "body")))
    await replies.update(page.ctx.session, page.ctx.actor, reply_id, shortcut=data.shortcut,
                         body=data.body, attachment_id=await _reply_file(page, form),
                         remove_file=form.get("remove_file") == "1")
    return await _body(request, page, "quick-replies", form)


async def _reply_file(page: Page, form: FormData) -> uuid.UUID | None:
    """The file chosen with a quick reply, stored (the composer's limits apply), if any."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return None
    try:
        if not upload.filename:
            return None
        page.ctx.actor.require(Permission.MANAGE_CONTENT)  # before anything is stored
        rt = runtime.current()
        data = await upload.read(rt.settings.max_attachment_bytes + 1)
    finally:
        await upload.close()
    uploads.check(upload.filename, upload.content_type or "", data)
    attachment = await inbox.store_attachment(
        page.ctx.session, page.ctx.actor, rt.storage, filename=upload.filename,
        content_type=upload.content_type or "application/octet-stream", data=data,
        max_bytes=rt.settings.max_attachment_bytes)
    return attachment.id


@router.post("/quick-replies/{reply_id}/delete")
async def delete_quick_reply(request: Request, reply_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    await replies.delete(page.ctx.session, page.ctx.actor, reply_id)
    return await _body(request, page, "quick-replies", form)


# ---- custom fields -----------------------------------------------------------------------------

def _custom_field_values(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    values = _values(form, names)
    if "is_personal" in form:  # a hidden "false" then the checkbox's "true": the last one counts
        values["is_personal"] = form.getlist("is_personal")[-1]
    if "options" in values:
        values["options"] = _lines(values["options"])
    if str(values.get("position", "x")).strip() == "":
        del values["position"]  # left blank: the default (create) or unchanged (edit)
    return values


@router.post("/custom-fields")
async def create_custom_field(request: Request, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(CustomFieldCreate, _custom_field_values(
        form, ("key", "label", "field_type", "options", "position", "is_personal")))
    await contacts.create_custom_field(page.ctx.session, page.ctx.actor, data)
    return await _body(request, page, "custom-fields", form)


@router.post("/custom-fields/{field_id}")
async def update_custom_field(request: Request, field_id: uuid.UUID, page: WebPage
                              ) -> Response:
    form = await request.form()
    data = parse_form(CustomFieldUpdate, _custom_field_values(
        form, ("label", "options", "position", "is_personal")))
    await contacts.update_custom_field(page.ctx.session, page.ctx.actor, field_id, data)
    return await _body(request, page, "custom-fields", form)


@router.post("/custom-fields/{field_id}/delete")
async def delete_custom_field(request: Request, field_id: uuid.UUID, page: WebPage
                              ) -> Response:
    await contacts.delete_custom_field(page.ctx.session, page.ctx.actor, field_id)
    return await _body(request, page, "custom-fields", {})


# ---- company profile ---------------------------------------------------------------------------

@router.post("/company")
async def update_company(request: Request, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(CompanyForm, _values(form, ("name", "timezone", "default_language")))
    await tenants.update_profile(page.ctx.session, page.ctx.actor, name=data.name,
                                 timezone=data.timezone, default_language=data.default_language)
    return await _body(request, page, "company", form, saved=True)


# ---- channels ----------------------------------------------------------------------------------

@router.post("/channels")
async def create_channel(request: Request, page: WebPage) -> Response:
    """Answers with the webhook URL and secret to paste into the provider's console, once."""
    form = await request.form()
    try:
        channel = await channels.create_channel(page.ctx.session, page.ctx.actor,
                                                channel_forms.create_input(form))
    except AppError as exc:
        return await _refused(request, page, "channels", exc, values=form, editing="new")
    return await _body(request, page, "channels", {}, revealed=channel, is_new=True,
                       webhook_secret=channels.webhook_secret(channel))


@router.post("/channels/{channel_id}")
async def update_channel(request: Request, channel_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    session, actor = page.ctx.session, page.ctx.actor
    try:
        channel = await channels.get_channel(session, actor, channel_id)
        await channels.update_channel(session, actor, channel_id,
                                      channel_forms.update_input(channel, form))
    except AppError as exc:
        return await _refused(request, page, "channels", exc, values=form, editing=channel_id)
    return await _body(request, page, "channels", {}, saved=channel_id)


@router.post("/channels/{channel_id}/active")
async def set_channel_active(request: Request, channel_id: uuid.UUID, page: WebPage
                             ) -> Response:
    """Switch a channel off (its webhooks are refused, its history stays) or on again."""
    form = await request.form()
    data = parse_form(ChannelUpdate, _values(form, ("is_active",)))
    if data.is_active is None:
        raise ValidationFailed("choose active or inactive", field="is_active")
    await channels.update_channel(page.ctx.session, page.ctx.actor, channel_id, data)
    return await _body(request, page, "channels", {})


@router.post("/channels/{channel_id}/delete")
async def delete_channel(request: Request, channel_id: uuid.UUID, page: WebPage) -> Response:
    try:
        await channels.delete_channel(page.ctx.session, page.ctx.actor, channel_id)
    except Conflict as exc:
        # A channel with conversations stays: said on its row, with the offer to switch it off.
        return await _refused(request, page, "channels", exc, refused_delete=channel_id)
    return await _body(request, page, "channels", {})


@router.post("/channels/{channel_id}/webhook-secret")
async def rotate_webhook_secret(request: Request, channel_id: uuid.UUID, page: WebPage
                                ) -> Response:
    channel, secret = await channels.rotate_webhook_secret(page.ctx.session, page.ctx.actor,
                                                           channel_id)
    return await _body(request, page, "channels", {}, revealed=channel, webhook_secret=secret)


@router.post("/channels/{channel_id}/connect")
async def connect_channel_webhook(request: Request, channel_id: uuid.UUID, page: WebPage
                                  ) -> Response:
    """Telegram: register the webhook with the provider; its answer on the channel's row."""
    result = await channels.connect_webhook(page.ctx.session, page.ctx.actor, channel_id,
                                            str(request.base_url))
    return render_page(request, page, "settings/_channel_test.html", result=result)


@router.post("/channels/{channel_id}/test")
async def check_channel_connection(request: Request, channel_id: uuid.UUID, page: WebPage
                                  ) -> Response:
    """The provider's answer, shown on the channel's row."""
    result = await channels.test_connection(page.ctx.session, page.ctx.actor, channel_id)
    return render_page(request, page, "settings/_channel_test.html", result=result)


# ---- follow-ups and satisfaction surveys ---------------------------------------------------------

def _sequence_input(form: FormData) -> SequenceIn:
    """The sequence form: its fields, and one table row per step (a row without a message or
    template is left out)."""
    values = _values(form, ("name", "trigger", "trigger_tag", "channel_id", "stop_tag"),
                     optional=("trigger_tag", "channel_id", "stop_tag"))
    columns = [form.getlist(name) for name in ("step_delay", "step_body", "step_template",
                                               "step_language")]
    steps = [{"delay_minutes": delay or "0", "body": body, "template_name": template or None,
              "template_language": language or None}
             for delay, body, template, language in itertools.zip_longest(*columns, fillvalue="")
             if str(body).strip() or str(template).strip()]
    return parse_form(SequenceIn, {**values, "enabled": form.get("enabled") == "on",
                                   "steps": steps})


@router.post("/follow-ups")
async def create_follow_up(request: Request, page: WebPage) -> Response:
    data = _sequence_input(await request.form())
    sequence = await follow_ups.save_sequence(page.ctx.session, page.ctx.actor, data)
    return await _body(request, page, "follow-ups", {}, saved=sequence.id)


@router.post("/follow-ups/{sequence_id}")
async def update_follow_up(request: Request, sequence_id: uuid.UUID, page: WebPage) -> Response:
    data = _sequence_input(await request.form())
    await follow_ups.save_sequence(page.ctx.session, page.ctx.actor, data, sequence_id)
    return await _body(request, page, "follow-ups", {}, saved=sequence_id)


@router.post("/follow-ups/{sequence_id}/delete")
async def delete_follow_up(request: Request, sequence_id: uuid.UUID, page: WebPage) -> Response:
    await follow_ups.delete_sequence(page.ctx.session, page.ctx.actor, sequence_id)
    return await _body(request, page, "follow-ups", {})


@router.post("/csat/{channel_id}")
async def set_csat(request: Request, channel_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    data = parse_form(CsatSurveyIn, {
        **_values(form, ("thank_you_text", "question_text", "delay_minutes")),
        "enabled": form.get("enabled") == "on"})
    await follow_ups.set_survey(page.ctx.session, page.ctx.actor, channel_id, data)
    return await _body(request, page, "csat", form, saved=channel_id)


# ---- WhatsApp templates --------------------------------------------------------------------------

# What a template's placeholder can be filled with (besides the company's custom fields).
TEMPLATE_VARIABLES = (
    "{{ contact.first_name }}", "{{ contact.name }}", "{{ contact.phone }}",
    "{{ contact.email }}", "{{ agent.first_name }}", "{{ agent.name }}", "{{ company.name }}",
    "{{ today }}",
)
_QUICK_REPLY_BUTTONS = 3


def _template_input(form: FormData) -> TemplateIn:
    """The create form as Meta's create format: a text header, the body with an example (and
    a variable) for each ``{{n}}``, a footer, up to three quick replies, then a website button
    (whose ``{{1}}`` suffix has an example and a variable too)."""
    text = {name: str(form.get(name) or "").strip() for name in (
        "name", "language", "category", "header", "body", "footer", "url_text", "url",
        "url_example")}
    components: list[dict[str, Any]] = []
    variables: dict[str, str] = {}
    if text["header"]:
        header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": text["header"]}
        if templates.placeholders([header]):
            header["example"] = {"header_text": [str(form.get("example_header_1") or "")]}
            variables["header.1"] = str(form.get("variable_header_1") or "")
        components.append(header)
    body: dict[str, Any] = {"type": "BODY", "text": text["body"]}
    numbers = [key.removeprefix("body.") for key in templates.placeholders([body])]
    if numbers:
        body["example"] = {"body_text": [[str(form.get(f"example_body_{n}") or "")
                                          for n in numbers]]}
        variables.update({f"body.{n}": str(form.get(f"variable_body_{n}") or "")
                          for n in numbers})
    components.append(body)
    if text["footer"]:
        components.append({"type": "FOOTER", "text": text["footer"]})
    buttons: list[dict[str, Any]] = [
        {"type": "QUICK_REPLY", "text": str(label).strip()}
        for label in form.getlist("quick_reply")[:_QUICK_REPLY_BUTTONS]
        if isinstance(label, str) and label.strip()]
    if text["url"] or text["url_text"]:
        url_button: dict[str, Any] = {"type": "URL", "text": text["url_text"], "url": text["url"]}
        if "{{" in text["url"]:
            url_button["example"] = [text["url_example"]]
            variables[f"button.{len(buttons)}"] = str(form.get("variable_url") or "")
        buttons.append(url_button)
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return parse_form(TemplateIn, {
        "name": text["name"], "language": text["language"], "category": text["category"],
        "components": components, "variables": variables})


@router.post("/templates/{channel_id}")
async def create_template(request: Request, channel_id: uuid.UUID, page: WebPage) -> Response:
    data = _template_input(await request.form())
    await templates.create_template(page.ctx.session, page.ctx.actor, channel_id, data)
    return await _body(request, page, "templates", {})


@router.post("/templates/{channel_id}/sync")
async def sync_templates(request: Request, channel_id: uuid.UUID, page: WebPage) -> Response:
    await templates.sync(page.ctx.session, page.ctx.actor, channel_id)
    return await _body(request, page, "templates", {})


@router.post("/templates/{channel_id}/{template_id}/submit")
async def submit_template(request: Request, channel_id: uuid.UUID, template_id: uuid.UUID,
                          page: WebPage) -> Response:
    await templates.submit(page.ctx.session, page.ctx.actor, channel_id, template_id)
    return await _body(request, page, "templates", {})


@router.post("/templates/{channel_id}/{template_id}/variables")
async def set_template_variables(request: Request, channel_id: uuid.UUID,
                                 template_id: uuid.UUID, page: WebPage) -> Response:
    """The mapping form: one ``variable:<placeholder>`` select per placeholder."""
    form = await request.form()
    mapping = {name.removeprefix("variable:"): str(value) for name, value in form.multi_items()
               if name.startswith("variable:") and isinstance(value, str)}
    await templates.set_variables(page.ctx.session, page.ctx.actor, channel_id, template_id,
                                  mapping)
    return await _body(request, page, "templates", {})


@router.post("/templates/{channel_id}/{template_id}/delete")
async def delete_template(request: Request, channel_id: uuid.UUID, template_id: uuid.UUID,
                          page: WebPage) -> Response:
    await templates.delete_template(page.ctx.session, page.ctx.actor, channel_id, template_id)
    return await _body(request, page, "templates", {})


# ---- e-mail: the mail server and the weekly summary ---------------------------------------------

_SMTP_FIELDS = ("host", "port", "security", "username", "from_address", "from_name")


def _smtp_typed(form: FormData) -> dict[str, Any]:
    """The mail server form as typed, to read and to draw again after a refusal: never the
    password."""
    typed: dict[str, Any] = {name: str(form.get(name) or "") for name in _SMTP_FIELDS}
    typed["clear_password"] = form.get("clear_password") == "on"
    return typed


def _whole_number(value: str, field: str, message: str) -> int:
    if not value.strip().isdecimal():
        raise ValidationFailed(message, field=field)
    return int(value)


@router.post("/email/smtp")
async def save_mail_server(request: Request, page: WebPage) -> Response:
    form = await request.form()
    typed = _smtp_typed(form)
    password = form.get("password")
    try:
        port = _whole_number(typed["port"], "port", "give a port from 1 to 65535")
        data = parse_form(SmtpSettingsIn, {
            **typed, "port": port, "password": password if isinstance(password, str) else None})
        await mail.save_smtp(page.ctx.session, page.ctx.actor, data)
    except AppError as exc:
        return await _refused(request, page, "email", exc, smtp_typed=typed)
    return await _body(request, page, "email", {}, saved="smtp")


@router.post("/email/summary")
async def save_weekly_summary(request: Request, page: WebPage) -> Response:
    form = await request.form()
    typed = {"enabled": form.get("enabled") == "on",
             **{name: str(form.get(name) or "") for name in ("recipients", "weekday", "hour",
                                                             "language")}}
    try:
        data = parse_form(SummarySettingsIn, {
            **typed, "recipients": mail.split_addresses(typed["recipients"]),
            "language": typed["language"] or None,
            "weekday": _whole_number(typed["weekday"], "weekday", "choose one"),
            "hour": _whole_number(typed["hour"], "hour", "choose one")})
        await mail.save_summary_settings(page.ctx.session, page.ctx.actor, data)
    except AppError as exc:
        return await _refused(request, page, "email", exc, summary_typed=typed)
    return await _body(request, page, "email", {}, saved="summary")


@router.post("/email/test")
async def send_test_email(request: Request, page: WebPage) -> Response:
    """The server's answer (or why nothing was sent) where the button is."""
    form = await request.form()
    status_code = 200
    try:
        result = await mail.send_test_email(page.ctx.session, page.ctx.actor,
                                            str(form.get("to") or ""))
    except ValidationFailed as exc:
        result = mail.SendResult(False, exc.code, error_message(exc, page.lang), "")
        status_code = exc.status_code
    return render_page(request, page, "settings/_email_result.html", result=result,
                       result_id="email-test-result", status_code=status_code)


@router.post("/email/summary/send")
async def send_summary_now(request: Request, page: WebPage) -> Response:
    """Last week's summary, now; the section again with the outcome and the week's record."""
    try:
        result = await mail.send_summary_now(page.ctx.session, page.ctx.actor)
    except ValidationFailed as exc:
        return await _refused(request, page, "email", exc)
    return await _body(request, page, "email", {}, sent_now=result)

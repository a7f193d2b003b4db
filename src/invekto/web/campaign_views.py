"""The campaigns (broadcast) pages: the list, the new-campaign form, and a campaign's page with
its plan before sending, a preview, the buttons that start, schedule, pause or stop it, and
its report, which refreshes itself while the campaign goes on."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from invekto.campaigns import lists
from invekto.campaigns import service as campaigns
from invekto.campaigns.models import EXCLUSIONS, Campaign
from invekto.campaigns.schemas import CampaignIn, ScheduleIn, Segment
from invekto.channels import service as channels
from invekto.channels.adapters.base import ProviderTemplate
from invekto.channels.models import Channel
from invekto.core.actor import Permission
from invekto.core.errors import AppError, NotFound, PermissionDenied, ValidationFailed
from invekto.inbox import service as inbox
from invekto.web.automation_views import forbidden_unless
from invekto.web.rendering import Page, WebPage, error_message, parse_form, render_page

router = APIRouter(prefix="/campaigns", include_in_schema=False)

# The report keeps refreshing this long after a campaign finished: providers report most
# deliveries and reads within minutes of the send.
LIVE_AFTER_FINISH = timedelta(hours=1)
# The steps of the report, in the order a message goes through them.
REPORT_STEPS = ("queued", "sending", "sent", "delivered", "read", "replied", "failed")
# Suggested to fill a template's placeholders (values may use any variable).
VARIABLE_HINTS = ("{{ contact.first_name }}", "{{ contact.name }}", "{{ company.name }}",
                  "{{ today }}", "{{ row.<column> }}")




# ---- the list ----------------------------------------------------------------------------------

@router.get("")
async def campaigns_page(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CAMPAIGNS, in_settings=False):
        return refused
    session, actor = page.ctx.session, page.ctx.actor
    listed = await campaigns.list_campaigns(session, actor)
    return render_page(request, page, "campaigns/list.html", campaigns=listed,
                       channel_names={c.id: c.name for c in await channels.list_channels(
                           session, actor)},
                       progress=await campaigns.progress(session, actor, [c.id for c in listed]))


# ---- the new-campaign form ---------------------------------------------------------------------

async def _broadcast_channels(page: Page) -> list[Channel]:
    return [c for c in await channels.list_channels(page.ctx.session, page.ctx.actor)
            if c.kind in campaigns.BROADCAST_KINDS and c.is_active]


async def _content_context(page: Page, channel: Channel | None) -> dict[str, Any]:
    """What the content part of the form needs for the chosen channel: WhatsApp's approved
    templates (or why they could not be read), else a text."""
    found: list[ProviderTemplate] = []
    unavailable = None
    if channel is not None and channel.kind in campaigns.WHATSAPP_KINDS:
        try:
            found = await inbox.channel_templates(channel)
        except AppError as exc:
            unavailable = error_message(exc, page.lang)
    return {"channel": channel, "templates": found, "templates_unavailable": unavailable,
            "is_whatsapp": channel is not None and channel.kind in campaigns.WHATSAPP_KINDS,
            "variable_hints": VARIABLE_HINTS}


def _chosen_channel(choices: list[Channel], wanted: Any) -> Channel | None:
    return next((c for c in choices if str(c.id) == str(wanted or "")),
                choices[0] if choices else None)


async def _form_page(request: Request, page: Page, *, values: FormData | dict | None = None,
                     errors: dict[str, str] | None = None, file_columns: Sequence[str] = (),
                     status_code: int = 200) -> HTMLResponse:
    values = values or {}
    choices = await _broadcast_channels(page)
    channel = _chosen_channel(choices, values.get("channel_id"))
    response = render_page(request, page, "campaigns/new.html", channels=choices,
                           values=values, errors=errors or {}, file_columns=file_columns,
                           is_new_form=not values,
                           **await _content_context(page, channel))
    response.status_code = status_code
    return response


@router.get("/new")
async def new_campaign_page(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CAMPAIGNS, in_settings=False):
        return refused
    return await _form_page(request, page)


@router.get("/new/content")
async def new_campaign_content(request: Request, page: WebPage) -> Response:
    """The content part of the form for another channel (HTMX, when the channel changes)."""
    page.ctx.actor.require(Permission.MANAGE_CAMPAIGNS)
    channel = _chosen_channel(await _broadcast_channels(page),
                              request.query_params.get("channel_id"))
    return render_page(request, page, "campaigns/_content.html", values={}, errors={},
                       **await _content_context(page, channel))


@dataclass
class _Upload:
    filename: str
    data: bytes


async def _upload_of(form: FormData) -> _Upload | None:
    file = form.get("file")
    if not isinstance(file, UploadFile):
        return None
    try:
        if not file.filename:
            return None  # no file chosen: the browser sends an empty part
        data = await file.read(lists.MAX_BYTES + 1)
    finally:
        await file.close()
    if len(data) > lists.MAX_BYTES:
        raise ValidationFailed("the file is larger than 20 MB", field="file")
    return _Upload(file.filename, data)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _campaign_input(form: FormData, channel: Channel | None, list_id: uuid.UUID | None
                    ) -> CampaignIn:
    """The form as the API's input. The channel decides the content: WhatsApp lets a business
    write first only with a template, the others take a text."""
    tags = [tag.strip() for tag in _text(form, "tags").split(",") if tag.strip()]
    consent = form.get("consent_required") == "on"
    if consent and list_id and not tags:
        # The consent filter narrows a segment; with a list alone it would add every contact.
        raise ValidationFailed("the consent filter works on tagged contacts: add tags, or "
                               "leave it off for an uploaded list", field="consent_required")
    segment = Segment(tags_any=tags, consent_required=consent) if tags or consent else None
    template_name, _, template_language = _text(form, "template").partition("|")
    is_template = channel is not None and channel.kind in campaigns.WHATSAPP_KINDS
    prefix = "template_parameters."
    return parse_form(CampaignIn, {
        "name": _text(form, "name"), "channel_id": _text(form, "channel_id") or None,
        "content_kind": "template" if is_template else "text",
        "body": _text(form, "body") if not is_template else "",
        "template_name": (template_name or None) if is_template else None,
        "template_language": (template_language or None) if is_template else None,
        "template_parameters": {key.removeprefix(prefix): value for key, value in form.items()
                                if is_template and key.startswith(prefix)
                                and isinstance(value, str)},
        "segment": segment, "list_id": list_id,
        "commercial": form.get("commercial") == "on",
        "quiet_start": _text(form, "quiet_start") or None,
        "quiet_end": _text(form, "quiet_end") or None,
    })


@router.post("")
async def create_campaign(request: Request, page: WebPage) -> Response:
    """Import the uploaded list (if any), create the campaign and plan it, then show it. A
    refusal draws the form again with the reason beside its field and what was typed; nothing
    of the attempt is kept (a savepoint), so the file is chosen again."""
    if refused := forbidden_unless(request, page, Permission.MANAGE_CAMPAIGNS, in_settings=False):
        return refused
    session, actor = page.ctx.session, page.ctx.actor
    form = await request.form()
    file_columns: list[str] = []
    try:
        async with session.begin_nested():
            upload = await _upload_of(form)
            recipient_list = None
            if upload is not None:
                try:
                    recipient_list = await campaigns.import_list(
                        session, actor, name=_text(form, "name"), filename=upload.filename,
                        data=upload.data, phone_column=_text(form, "phone_column") or None)
                except ValidationFailed as exc:
                    if exc.field == "phone_column":  # not guessed, or not in this file
                        file_columns = lists.read_table(upload.filename, upload.data).columns
                    raise
            channel = _chosen_channel(await _broadcast_channels(page), form.get("channel_id"))
            campaign = await campaigns.create(session, actor, _campaign_input(
                form, channel, recipient_list.id if recipient_list else None))
            await campaigns.plan(session, actor, campaign.id)
    except AppError as exc:
        if exc.field is None or isinstance(exc, PermissionDenied):
            raise
        errors = {e.field: error_message(e, page.lang)
                  for e in getattr(exc, "errors", None) or [exc]}
        return await _form_page(request, page, values=form, errors=errors,
                                file_columns=file_columns, status_code=exc.status_code)
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)


# ---- a campaign --------------------------------------------------------------------------------

def _is_live(campaign: Campaign) -> bool:
    """Whether its numbers still move: the report refreshes itself then."""
    if campaign.status in ("scheduled", "running"):
        return True
    return (campaign.status == "completed" and campaign.finished_at is not None
            and datetime.now(UTC) - campaign.finished_at < LIVE_AFTER_FINISH)


async def _report_context(page: Page, campaign: Campaign) -> dict[str, Any]:
    states, failures = await campaigns.report_counts(page.ctx.session, page.ctx.actor, campaign)
    steps = campaigns.reached(states)
    counts = {"queued": states.get("queued", 0), "sending": states.get("sending", 0), **steps}
    return {"campaign": campaign, "counts": counts, "rates": campaigns.rates(states),
            "to_send": sum(n for state, n in states.items() if state != "excluded"),
            "failures": sorted(failures.items(), key=lambda item: -item[1]),
            "live": _is_live(campaign), "steps": REPORT_STEPS}


async def _campaign_context(page: Page, campaign_id: uuid.UUID) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    campaign = await campaigns.get(session, actor, campaign_id)
    channel = await channels.get_channel(session, actor, campaign.channel_id)
    context: dict[str, Any] = {"channel": channel, "recipient_list": None, "bad_rows": [],
                               "plan": None, "preview": None, "exclusions": EXCLUSIONS,
                               "row_errors": lists.ROW_ERRORS,
                               "schedule_min": page.fmt.local(datetime.now(UTC)).strftime(
                                   "%Y-%m-%dT%H:%M")}
    if campaign.list_id:
        context["recipient_list"] = await campaigns.get_list(session, actor, campaign.list_id)
        context["bad_rows"] = await campaigns.list_errors(session, actor, campaign.list_id)
    if campaign.status in campaigns.EDITABLE and campaign.planned_at is not None:
        context["plan"] = await campaigns.plan_summary(session, campaign)
        context["preview"] = await campaigns.preview(session, actor, campaign.id)
    return context | await _report_context(page, campaign)


async def _campaign_body(request: Request, page: Page, campaign_id: uuid.UUID,
                         **extra: Any) -> HTMLResponse:
    return render_page(request, page, "campaigns/_campaign.html",
                       **await _campaign_context(page, campaign_id), **extra)


@router.get("/{campaign_id}")
async def campaign_page(request: Request, campaign_id: uuid.UUID, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CAMPAIGNS, in_settings=False):
        return refused
    return render_page(request, page, "campaigns/detail.html",
                       **await _campaign_context(page, campaign_id))


@router.get("/{campaign_id}/report")
async def campaign_report(request: Request, campaign_id: uuid.UUID, page: WebPage) -> Response:
    """The report fragment the page polls, with the status and buttons out of band (they
    change when the campaign starts or finishes)."""
    campaign = await campaigns.get(page.ctx.session, page.ctx.actor, campaign_id)
    return render_page(request, page, "campaigns/_report.html", oob=True,
                       **await _report_context(page, campaign))


@router.post("/{campaign_id}/plan")
async def plan_campaign(request: Request, campaign_id: uuid.UUID, page: WebPage) -> Response:
    plan = await campaigns.plan(page.ctx.session, page.ctx.actor, campaign_id)
    return await _campaign_body(request, page, campaign_id, fresh_plan=plan)


@router.post("/{campaign_id}/send")
async def send_campaign(request: Request, campaign_id: uuid.UUID, page: WebPage) -> Response:
    await campaigns.send_now(page.ctx.session, page.ctx.actor, campaign_id)
    return await _campaign_body(request, page, campaign_id)


@router.post("/{campaign_id}/schedule")
async def schedule_campaign(request: Request, campaign_id: uuid.UUID, page: WebPage
                            ) -> Response:
    """``at``: a datetime-local value, the company's wall clock (the service reads a naive
    time in its zone)."""
    form = await request.form()
    session, actor = page.ctx.session, page.ctx.actor
    try:
        async with session.begin_nested():
            at = parse_form(ScheduleIn, {"at": form.get("at") or None}).at
            await campaigns.schedule(session, actor, campaign_id, at)
    except ValidationFailed as exc:
        if exc.field != "at":
            raise
        response = await _campaign_body(request, page, campaign_id,
                                        schedule_error=error_message(exc, page.lang),
                                        typed_at=form.get("at") or "")
        response.status_code = exc.status_code
        return response
    return await _campaign_body(request, page, campaign_id)


_ACTIONS = {"unschedule": campaigns.unschedule, "pause": campaigns.pause,
            "resume": campaigns.resume, "cancel": campaigns.cancel}


@router.post("/{campaign_id}/{action}")
async def change_campaign(request: Request, campaign_id: uuid.UUID, action: str,
                          page: WebPage) -> Response:
    change = _ACTIONS.get(action)
    if change is None:
        raise NotFound("page not found")
    await change(page.ctx.session, page.ctx.actor, campaign_id)
    return await _campaign_body(request, page, campaign_id)

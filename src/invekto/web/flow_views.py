"""The chatbot pages (settings → Chatbot flows): the company's flows (published version,
on/off, conversations running through each), a new flow from a ready-made template, the escape
words that always reach a person, and the builder: a canvas of steps (flow_builder.js), saved as
the draft's graph, published, and tried in a test chat. Supervisors and admins only; the
service checks it again.

The builder speaks JSON with these routes (it holds the graph); errors come back as the usual
``{"error": {"message", "field"}}`` in the user's language, the field naming the step at fault
(``graph.nodes.n3.save_to``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from invekto.channels import service as channels
from invekto.contacts import service as contacts
from invekto.core import i18n
from invekto.core.actor import Permission
from invekto.core.errors import AppError, PermissionDenied, ValidationFailed
from invekto.core.i18n import N_
from invekto.flows import service as flows
from invekto.flows import steps
from invekto.flows.schemas import EscapeWordsIn, FlowCreate, FlowDraft, TestTurnIn
from invekto.users import service as users
from invekto.web.automation_views import (
    condition_catalogue,
    forbidden_unless,
    settings_sections,
)
from invekto.web.rendering import Page, WebPage, error_message, parse_form, render_page

router = APIRouter(prefix="/flows", include_in_schema=False)

TEMPLATES = (("", N_("Blank")), ("clinic", N_("Clinic")), ("hotel", N_("Hotel")),
             ("ecommerce", N_("E-commerce")))
# The canvas's own words (drawn by flow_builder.js).
EXIT_LABELS = {"next": "", "timeout_next": N_("timeout"), "error_next": N_("error"),
               "else_next": N_("else"), "not_found_next": N_("not found"),
               "unsure_next": N_("unsure")}


def _lines(value: Any) -> list[str]:
    """Words typed one per line or separated by commas."""
    return [w.strip() for w in str(value or "").replace("\n", ",").split(",") if w.strip()]


# ---- the list ----------------------------------------------------------------------------------

async def _list_context(page: Page) -> dict[str, Any]:
    listed = await flows.list_flows(page.ctx.session, page.ctx.actor)
    stats = await flows.flow_stats(page.ctx.session, page.ctx.actor, listed)
    return {"flows": listed, "stats": stats, "templates": TEMPLATES}


async def _list_page(request: Request, page: Page, *, values: dict[str, Any] | None = None,
                     errors: dict[str, str] | None = None, status_code: int = 200,
                     escape_saved: bool = False) -> HTMLResponse:
    session, actor = page.ctx.session, page.ctx.actor
    response = render_page(request, page, "flows/list.html", sections=settings_sections(page),
                           values=values or {}, errors=errors or {}, escape_saved=escape_saved,
                           escape_words=await flows.escape_words(session, actor.tenant_id),
                           **await _list_context(page))
    response.status_code = status_code
    return response


def _field_errors(exc: AppError, page: Page) -> dict[str, str]:
    return {e.field: error_message(e, page.lang) for e in getattr(exc, "errors", None) or [exc]}


@router.get("")
async def flows_page(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return await _list_page(request, page)


@router.post("")
async def create_flow(request: Request, page: WebPage) -> Response:
    """A new flow, blank or from a template, opened in the builder. A refusal (a name taken)
    draws the list again with the reason beside the name."""
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    session, actor = page.ctx.session, page.ctx.actor
    form = await request.form()
    values = {"name": str(form.get("name") or "").strip(),
              "template": str(form.get("template") or "")}
    try:
        async with session.begin_nested():
            flow = await flows.create_flow(session, actor, parse_form(FlowCreate, {
                "name": values["name"], "template": values["template"] or None}))
    except AppError as exc:
        if exc.field is None or isinstance(exc, PermissionDenied):
            raise
        return await _list_page(request, page, values=values, errors=_field_errors(exc, page),
                                status_code=exc.status_code)
    return RedirectResponse(f"/flows/{flow.id}", status_code=303)


@router.post("/escape-words")
async def set_escape_words(request: Request, page: WebPage) -> Response:
    """The words that always take a customer from the bot to a person."""
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    session, actor = page.ctx.session, page.ctx.actor
    form = await request.form()
    try:
        async with session.begin_nested():
            await flows.set_escape_words(session, actor, parse_form(
                EscapeWordsIn, {"escape_words": _lines(form.get("escape_words"))}).escape_words)
    except AppError as exc:
        if exc.field is None or isinstance(exc, PermissionDenied):
            raise
        # One box holds every word: a refusal naming one of them is shown beside it.
        errors = {"escape_words": error_message(exc, page.lang)}
        return await _list_page(request, page, errors=errors, status_code=exc.status_code,
                                values={"escape_words": str(form.get("escape_words") or "")})
    return await _list_page(request, page, escape_saved=True)


async def _flows_fragment(request: Request, page: Page) -> HTMLResponse:
    page.ctx.actor.require(Permission.MANAGE_CONTENT)
    return render_page(request, page, "flows/_flows.html", **await _list_context(page))


@router.post("/{flow_id}/enabled")
async def set_flow_enabled(request: Request, flow_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    await flows.set_enabled(page.ctx.session, page.ctx.actor, flow_id,
                            form.get("enabled") == "on")
    return await _flows_fragment(request, page)


@router.post("/{flow_id}/delete")
async def delete_flow(request: Request, flow_id: uuid.UUID, page: WebPage) -> Response:
    await flows.delete_flow(page.ctx.session, page.ctx.actor, flow_id)
    if request.headers.get("hx-request") == "true":
        return await _flows_fragment(request, page)
    return RedirectResponse("/flows", status_code=303)


# ---- the builder -------------------------------------------------------------------------------

async def _builder_data(page: Page, flow: Any) -> dict[str, Any]:
    """Everything the builder's script starts from: the draft as stored (its own graph
    format), the step kinds for the palette, the condition editor's catalogue, the lists the
    steps' inputs choose from, and the canvas's words in the user's language."""
    session, actor = page.ctx.session, page.ctx.actor
    stats = (await flows.flow_stats(session, actor, [flow])).get(flow.id)
    lang = page.lang
    return {
        "flow": {"id": str(flow.id), "name": flow.name,
                 "published_version": stats.version if stats else None},
        "graph": flow.draft or {"start": None, "nodes": {}},
        "triggers": flow.draft_triggers or {},
        "kinds": [{**kind, "label": i18n.text(lang, kind["label"]),
                   "fields": [{**f, "label": i18n.text(lang, f.get("label", ""))}
                              for f in kind.get("fields", [])]}
                  for kind in flows.step_kinds()],
        "catalogue": await condition_catalogue(page, for_flows=True),
        "choices": {
            "groups": [{"value": str(g.id), "label": g.name}
                       for g in await users.list_groups(session, actor)],
            "channels": [{"value": str(c.id), "label": c.name, "kind": c.kind}
                         for c in await channels.list_channels(session, actor)],
            "custom_fields": [{"value": f.key, "label": f.label, "type": f.field_type}
                              for f in await contacts.list_custom_fields(session, actor)],
            "tags": [t.name for t in await contacts.list_tags(session, actor)],
            "capabilities": [{"value": c["capability"], "label": i18n.text(lang, c["label"])}
                             for c in steps.capabilities()],
        },
        "labels": {
            "start": i18n.text(lang, "Start"), "timeout": i18n.text(lang, "timeout"),
            "else": i18n.text(lang, "else"), "branch": i18n.text(lang, "branch"),
            "any_group": i18n.text(lang, "the channel's routing"),
            "saved": i18n.text(lang, "Draft saved"),
            "version": i18n.text(lang, "version %(number)s"),
            "error": i18n.text(lang, "Something went wrong; please try again"),
            "exits": {key: i18n.text(lang, label) if label else ""
                      for key, label in EXIT_LABELS.items()},
        },
    }


@router.get("/{flow_id}")
async def builder_page(request: Request, flow_id: uuid.UUID, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    flow = await flows.get_flow(page.ctx.session, page.ctx.actor, flow_id)
    return render_page(request, page, "flows/builder.html", flow=flow,
                       data=await _builder_data(page, flow))


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ValidationFailed("this is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ValidationFailed("this is not valid JSON")
    return body


def _draft_of(body: dict[str, Any]) -> FlowDraft:
    return parse_form(FlowDraft, {"name": body.get("name"), "graph": body.get("graph"),
                                  "triggers": body.get("triggers")})


@router.post("/{flow_id}/draft")
async def save_draft(request: Request, flow_id: uuid.UUID, page: WebPage) -> Response:
    """The canvas as the draft (its shape is checked, not its completeness)."""
    flow = await flows.save_draft(page.ctx.session, page.ctx.actor, flow_id,
                                  _draft_of(await _json_body(request)))
    return JSONResponse({"saved": True, "updated_at": flow.updated_at.isoformat()})


@router.post("/{flow_id}/publish")
async def publish(request: Request, flow_id: uuid.UUID, page: WebPage) -> Response:
    """Save the canvas as the draft, then publish it. A graph that cannot be published keeps
    the saved draft (the publishing is undone alone) and names the step at fault."""
    session, actor = page.ctx.session, page.ctx.actor
    await flows.save_draft(session, actor, flow_id, _draft_of(await _json_body(request)))
    try:
        async with session.begin_nested():
            version = await flows.publish(session, actor, flow_id)
    except ValidationFailed as exc:
        body = exc.to_dict()
        body["error"]["message"] = error_message(exc, page.lang)
        body["saved"] = True
        return JSONResponse(body, status_code=exc.status_code)
    return JSONResponse({"version": version.number, "message": i18n.text(
        page.lang, "Published as version %(number)s", number=version.number)})


@router.post("/{flow_id}/test")
async def test_turn(request: Request, flow_id: uuid.UUID, page: WebPage) -> Response:
    """One turn of the test chat with the saved draft: nothing is sent or written."""
    body = await _json_body(request)
    data = parse_form(TestTurnIn, {"state": body.get("state"), "text": body.get("text") or "",
                                   "choice_id": body.get("choice_id"),
                                   "timeout": bool(body.get("timeout"))})
    out = await flows.test_turn(page.ctx.session, page.ctx.actor, flow_id, data)
    answer = out.model_dump(mode="json")
    if out.handoff is not None:
        groups = {str(g.id): g.name for g in await users.list_groups(page.ctx.session,
                                                                      page.ctx.actor)}
        group = groups.get(str(out.handoff.get("group_id") or ""))
        answer["handoff_text"] = (
            i18n.text(page.lang, "Handed off to a person in %(group)s", group=group) if group
            else i18n.text(page.lang, "Handed off to a person"))
    return JSONResponse(answer)

"""The automation pages (settings → Automation): the company's trigger rules in the order they
run (enable, move, delete), a rule's form (its event, conditions and actions, built in the
browser and sent as JSON), a dry run against a recent conversation, and each rule's execution
log. Supervisors and admins only; the service checks it again."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from invekto.automation import actions as rule_actions
from invekto.automation import conditions
from invekto.automation import service as automation
from invekto.automation.schemas import DryRunIn, RuleIn, RuleOut
from invekto.campaigns import service as campaigns
from invekto.channels import service as channels
from invekto.contacts import service as contacts
from invekto.core import i18n
from invekto.core.actor import Permission
from invekto.core.errors import AppError, NotFound, PermissionDenied, ValidationFailed
from invekto.core.i18n import N_
from invekto.flows import service as flows
from invekto.follow_ups import service as follow_ups
from invekto.inbox import service as inbox
from invekto.inbox.schemas import ConversationFilters
from invekto.users import service as users
from invekto.web.rendering import Page, WebPage, error_message, parse_form, render, render_page
from invekto.web.settings_views import SECTIONS

router = APIRouter(prefix="/automation", include_in_schema=False)

RUNS_PAGE = 50
RECENT_CONVERSATIONS = 30
# Names of the languages a message may be detected in (``conditions.LANGUAGES``).
LANGUAGE_NAMES = {
    "tr": N_("Turkish"), "en": N_("English"), "de": N_("German"), "ar": N_("Arabic"),
    "ru": N_("Russian"), "fr": N_("French"), "es": N_("Spanish"), "it": N_("Italian"),
    "nl": N_("Dutch"), "fa": N_("Persian"), "az": N_("Azerbaijani"), "uk": N_("Ukrainian"),
    "ku": N_("Kurdish"), "ka": N_("Georgian"),
}
STATUSES = (("open", N_("Open")), ("pending", N_("Pending")), ("closed", N_("Closed")))
# The operators' names in the form (the catalogue names fields, not operators).
OP_LABELS = {
    "in": N_("is one of"), "not_in": N_("is none of"), "is_open": N_("open"),
    "is_closed": N_("closed"), "contains_any": N_("contains any of"),
    "not_contains_any": N_("contains none of"), "matches": N_("matches the pattern"),
    "is": N_("is"), "is_not": N_("is not"), "has_any": N_("has any of"),
    "has_all": N_("has all of"), "has_none": N_("has none of"), "equals": N_("equals"),
    "not_equals": N_("does not equal"), "contains": N_("contains"), "is_set": N_("is set"),
    "is_empty": N_("is empty"), "gt": N_("is greater than"), "lt": N_("is less than"),
    "is_true": N_("yes"), "is_false": N_("no"), "code_in": N_("code is one of"),
    "source_in": N_("source is one of"),
}
# As the channel settings name them.
CHANNEL_KIND_NAMES = {
    "whatsapp_cloud": "WhatsApp Cloud API", "whatsapp_bsp": N_("WhatsApp (business partner)"),
    "instagram": "Instagram", "messenger": "Messenger", "telegram": "Telegram",
    "sms_twilio": N_("SMS (Twilio)"), "sms_netgsm": N_("SMS (Netgsm)"),
    "voice": N_("Voice calls"), "voice_twilio": N_("Voice calls (Twilio)"),
    "webchat": N_("Web chat"),
}
CUSTOM_PREFIX = "contact.custom."


# ---- permissions -------------------------------------------------------------------------------

def settings_sections(page: Page) -> list[Any]:
    """The settings menu shown beside these pages (they are reached from it)."""
    return [s for s in SECTIONS if page.ctx.actor.can(s.permission)]


def forbidden_unless(request: Request, page: Page, permission: Permission, *,
                     in_settings: bool = True) -> HTMLResponse | None:
    """A readable 403 page for a browser without the permission; an HTMX request gets the JSON
    error (a toast). ``in_settings``: drawn with the settings menu (else a page of its own:
    campaigns, reports)."""
    if page.ctx.actor.can(permission):
        return None
    if request.headers.get("hx-request") == "true":
        page.ctx.actor.require(permission)
    return render(request, "settings/forbidden.html", lang=page.lang, page=page,
                  status_code=403, sections=settings_sections(page) if in_settings else [])


# ---- the catalogue, as the form's editors read it ----------------------------------------------

def _ops(page: Page, ops: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each operator with its name and the kind of value it takes (the editor types it)."""
    return [{"op": op["op"], "value": op["value"],
             "label": i18n.text(page.lang, OP_LABELS.get(op["op"], op["op"]))} for op in ops]


async def condition_catalogue(page: Page, *, for_flows: bool = False) -> dict[str, Any]:
    """The condition fields with their operators, labelled in the user's language, and the
    lists a value is chosen from. A company's custom fields become fields of their own; flows
    add their variables."""
    session, actor = page.ctx.session, page.ctx.actor
    fields: list[dict[str, Any]] = []
    for entry in conditions.catalogue(for_flows=for_flows):
        name = entry["field"]
        ops = _ops(page, entry["ops"])
        if name.startswith(CUSTOM_PREFIX):  # "contact.custom.<key>": one per custom field
            for custom in await contacts.list_custom_fields(session, actor):
                fields.append({"field": CUSTOM_PREFIX + custom.key, "label": i18n.text(
                    page.lang, "Contact: %(field)s", field=custom.label), "ops": ops})
            continue
        fields.append({"field": name, "label": i18n.text(page.lang, entry["label"]),
                       "ops": ops})
    kinds = sorted({c.kind for c in await channels.list_channels(session, actor)})
    return {
        "fields": fields,
        "choices": {
            "channels": [{"value": str(c.id), "label": c.name}
                         for c in await channels.list_channels(session, actor)],
            "channel_kinds": [{"value": kind, "label": i18n.text(
                page.lang, CHANNEL_KIND_NAMES.get(kind, kind))} for kind in kinds],
            "statuses": [{"value": v, "label": i18n.text(page.lang, label)}
                         for v, label in STATUSES],
            "users": [{"value": str(u.id), "label": u.display_name}
                      for u in await users.list_users(session, actor) if u.is_active],
            "groups": [{"value": str(g.id), "label": g.name}
                       for g in await users.list_groups(session, actor)],
            "tags": [{"value": t.name, "label": t.name}
                     for t in await contacts.list_tags(session, actor)],
            "languages": [{"value": code, "label": i18n.text(page.lang,
                                                             LANGUAGE_NAMES.get(code, code))}
                          for code in conditions.LANGUAGES],
        },
    }


def _events(page: Page) -> list[dict[str, Any]]:
    """The events a rule may listen for, with the options each takes."""
    return [{"kind": e["kind"], "label": i18n.text(page.lang, e["label"]),
             "options": e["options"], "required": e["required"]}
            for e in automation.catalogue()["events"]]


def _action_types(page: Page) -> list[dict[str, str]]:
    return [{"type": a["type"], "label": i18n.text(page.lang, a["label"])}
            for a in automation.catalogue()["actions"]]


# ---- the list ----------------------------------------------------------------------------------

async def _list_context(page: Page) -> dict[str, Any]:
    rules = await automation.list_rules(page.ctx.session, page.ctx.actor)
    return {"rules": rules, "stats": await automation.rule_stats(page.ctx.session, page.ctx.actor,
                                                  [r.id for r in rules]),
            "event_labels": {e["kind"]: e["label"] for e in _events(page)}}


async def _rules_fragment(request: Request, page: Page) -> HTMLResponse:
    page.ctx.actor.require(Permission.MANAGE_CONTENT)
    return render_page(request, page, "automation/_rules.html", **await _list_context(page))


async def _recent_conversations(page: Page) -> list[dict[str, Any]]:
    """What a dry run can be tried on: the latest conversations, each with its contact."""
    session, actor = page.ctx.session, page.ctx.actor
    conversations, _ = await inbox.list_conversations(session, actor, ConversationFilters(),
                                                      limit=RECENT_CONVERSATIONS)
    people = await contacts.get_contacts(session, actor, [c.contact_id for c in conversations])
    return [{"conversation": c, "contact": people.get(c.contact_id)} for c in conversations]


@router.get("")
async def automation_page(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return render_page(request, page, "automation/list.html", sections=settings_sections(page),
                       events=_events(page), recent=await _recent_conversations(page),
                       **await _list_context(page))


@router.post("/rules/{rule_id}/enabled")
async def set_rule_enabled(request: Request, rule_id: uuid.UUID, page: WebPage) -> Response:
    form = await request.form()
    await automation.set_enabled(page.ctx.session, page.ctx.actor, rule_id,
                                 form.get("enabled") == "on")
    return await _rules_fragment(request, page)


@router.post("/rules/{rule_id}/move")
async def move_rule(request: Request, rule_id: uuid.UUID, page: WebPage) -> Response:
    """One place up or down the order (``direction``)."""
    form = await request.form()
    session, actor = page.ctx.session, page.ctx.actor
    await automation.get_rule(session, actor, rule_id)  # another company's is not found
    order = [r.id for r in await automation.list_rules(session, actor)]
    step = {"up": -1, "down": 1}.get(str(form.get("direction")))
    if step is None:
        raise ValidationFailed("move a rule up or down", field="direction")
    target = order.index(rule_id) + step
    if 0 <= target < len(order):
        await automation.move_rule(session, actor, rule_id, target)
    return await _rules_fragment(request, page)


@router.post("/rules/{rule_id}/delete")
async def delete_rule(request: Request, rule_id: uuid.UUID, page: WebPage) -> Response:
    await automation.delete_rule(page.ctx.session, page.ctx.actor, rule_id)
    if request.headers.get("hx-request") == "true":
        return await _rules_fragment(request, page)
    return RedirectResponse("/automation", status_code=303)


# ---- the dry run -------------------------------------------------------------------------------

@router.post("/dry-run")
async def dry_run(request: Request, page: WebPage) -> Response:
    """What the rules would do with a past conversation and an event: each rule fires or not
    (and why), and its actions. Nothing is changed."""
    page.ctx.actor.require(Permission.MANAGE_CONTENT)
    form = await request.form()
    data = parse_form(DryRunIn, {"conversation_id": form.get("conversation_id") or None,
                                 "event": form.get("event") or "message_received",
                                 "rule_id": form.get("rule_id") or None})
    session, actor = page.ctx.session, page.ctx.actor
    result = await automation.dry_run(session, actor, data)
    catalogue = await condition_catalogue(page)
    names = await _names(page)
    actions_of = {r.id: r.actions for r in await automation.list_rules(session, actor)}
    return render_page(request, page, "automation/_dry_run.html", result=result,
                       described={rule_id: [_describe(page, a, names) for a in actions]
                                  for rule_id, actions in actions_of.items()},
                       event_labels={e["kind"]: e["label"] for e in _events(page)},
                       field_labels={f["field"]: f["label"] for f in catalogue["fields"]},
                       op_labels=_all_op_labels(catalogue),
                       action_labels={a["type"]: a["label"] for a in _action_types(page)})


async def _names(page: Page) -> dict[str, str]:
    """Names of what actions point at by id: people, groups, flows, follow-up sequences."""
    session, actor = page.ctx.session, page.ctx.actor
    named = [*await users.list_users(session, actor), *await users.list_groups(session, actor),
             *await flows.list_flows(session, actor),
             *await follow_ups.list_sequences(session, actor)]
    return {str(x.id): getattr(x, "display_name", None) or x.name for x in named}


def _describe(page: Page, action: dict[str, Any], names: dict[str, str]) -> str:
    """An action's settings in words, what it points at by name (the service's summary
    otherwise)."""
    kind = action.get("type")
    if kind == "assign":
        if action.get("routing"):
            return i18n.text(page.lang, "the channel's routing")
        target = str(action.get("user_id") or action.get("group_id") or "")
        return names.get(target, target)
    if kind in ("start_flow", "start_follow_up"):
        target = str(action.get("flow_id") or action.get("sequence_id") or "")
        return names.get(target, target)
    if kind == "notify":
        target = str(action.get("user_id") or "")
        body = " ".join(str(action.get("body") or "").split())
        return f"{names.get(target, target)}: {body[:80]}"
    return rule_actions.summary(action)


def _all_op_labels(catalogue: dict[str, Any]) -> dict[str, str]:
    return {op["op"]: op["label"] for f in catalogue["fields"] for op in f["ops"]}


# ---- the rule form -----------------------------------------------------------------------------

async def _form_choices(page: Page) -> dict[str, Any]:
    """The lists the actions' inputs choose from."""
    session, actor = page.ctx.session, page.ctx.actor
    return {
        "users": [u for u in await users.list_users(session, actor) if u.is_active],
        "groups": await users.list_groups(session, actor),
        "tags": await contacts.list_tags(session, actor),
        "custom_fields": await contacts.list_custom_fields(session, actor),
        "flow_choices": await flows.list_flows(session, actor),
        "sequences": await follow_ups.list_sequences(session, actor),
        "campaign_choices": await campaigns.list_campaigns(session, actor),
    }


def _values_of(rule: Any) -> dict[str, Any]:
    if rule is None:
        return {"name": "", "description": "", "event": "message_received", "event_options": {},
                "enabled": True, "stop_after": False, "conditions": {}, "actions": []}
    return {"name": rule.name, "description": rule.description, "event": rule.event,
            "event_options": rule.event_options, "enabled": rule.enabled,
            "stop_after": rule.stop_after, "conditions": rule.conditions,
            # As the API shows them: a webhook's secret never reaches the page.
            "actions": RuleOut.model_validate(rule).actions}


async def _form_page(request: Request, page: Page, *, rule: Any = None,
                     values: dict[str, Any] | None = None,
                     errors: dict[str, str] | None = None, status_code: int = 200,
                     saved: bool = False) -> HTMLResponse:
    session, actor = page.ctx.session, page.ctx.actor
    values = values if values is not None else _values_of(rule)
    events = _events(page)
    context: dict[str, Any] = {
        "rule": rule, "values": values, "errors": errors or {}, "saved": saved,
        "events": events, "action_types": _action_types(page),
        "catalogue": {**await condition_catalogue(page), "events": events},
        "sections": settings_sections(page), **await _form_choices(page),
        "runs": [], "older": None, "recent": [],
    }
    if rule is not None:
        runs = await automation.list_runs(session, actor, rule.id, limit=RUNS_PAGE)
        context.update(runs=runs, older=_older_cursor(runs),
                       recent=await _recent_conversations(page),
                       event_labels={e["kind"]: e["label"] for e in events},
                       action_labels={a["type"]: a["label"] for a in context["action_types"]})
    response = render_page(request, page, "automation/rule.html", **context)
    response.status_code = status_code
    return response


def _older_cursor(runs: list[Any]) -> str | None:
    return runs[-1].created_at.isoformat() if len(runs) >= RUNS_PAGE else None


def _json_field(form: FormData, name: str, empty: Any) -> Any:
    raw = form.get(name)
    if not isinstance(raw, str) or not raw.strip():
        return empty
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed("this is not valid JSON", field=name) from exc


def _event_options(form: FormData, event: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The options of the chosen event only (the form has inputs for every event's)."""
    wanted = next((e["options"] for e in events if e["kind"] == event), [])
    options: dict[str, Any] = {}
    for name in wanted:
        value = form.get(f"event_options.{name}")
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        options[name] = int(value) if name == "minutes" and value.isdigit() else value
    return options


def _typed(form: FormData, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The form as it was typed, in the shape ``RuleIn`` reads (and the form is drawn from)."""
    event = str(form.get("event") or "")
    return {
        "name": str(form.get("name") or "").strip(),
        "description": str(form.get("description") or "").strip(),
        "event": event, "event_options": _event_options(form, event, events),
        "enabled": form.get("enabled") == "on", "stop_after": form.get("stop_after") == "on",
        "conditions": _json_field(form, "conditions", {}),
        "actions": _json_field(form, "actions", []),
    }


async def _save(request: Request, page: Page, rule_id: uuid.UUID | None) -> Response:
    """Create or update; a refusal draws the form again with each reason beside its field and
    what was typed, nothing of the attempt kept (a savepoint)."""
    session, actor = page.ctx.session, page.ctx.actor
    form = await request.form()
    values: dict[str, Any] = {}
    try:
        async with session.begin_nested():
            values = _typed(form, _events(page))
            data = parse_form(RuleIn, values)
            if rule_id is None:
                rule = await automation.create_rule(session, actor, data)
            else:
                rule = await automation.update_rule(session, actor, rule_id, data)
    except AppError as exc:
        if exc.field is None or isinstance(exc, PermissionDenied | NotFound):
            raise
        errors = {e.field: error_message(e, page.lang)
                  for e in getattr(exc, "errors", None) or [exc]}
        existing = (await automation.get_rule(session, actor, rule_id)
                    if rule_id is not None else None)
        return await _form_page(request, page, rule=existing,
                                values=values or _typed_loosely(form), errors=errors,
                                status_code=exc.status_code)
    return RedirectResponse(f"/automation/rules/{rule.id}?saved=1", status_code=303)


def _typed_loosely(form: FormData) -> dict[str, Any]:
    """What was typed when even reading it failed (bad JSON): the plain fields only."""
    return {"name": str(form.get("name") or ""), "description": str(form.get("description") or ""),
            "event": str(form.get("event") or ""), "event_options": {},
            "enabled": form.get("enabled") == "on", "stop_after": form.get("stop_after") == "on",
            "conditions": {}, "actions": []}


@router.get("/rules/new")
async def new_rule_page(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return await _form_page(request, page)


@router.post("/rules")
async def create_rule(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return await _save(request, page, None)


@router.get("/rules/{rule_id}")
async def rule_page(request: Request, rule_id: uuid.UUID, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    rule = await automation.get_rule(page.ctx.session, page.ctx.actor, rule_id)
    return await _form_page(request, page, rule=rule,
                            saved=request.query_params.get("saved") == "1")


@router.post("/rules/{rule_id}")
async def update_rule(request: Request, rule_id: uuid.UUID, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return await _save(request, page, rule_id)


@router.get("/rules/{rule_id}/runs")
async def rule_runs(request: Request, rule_id: uuid.UUID, page: WebPage,
                    before: str | None = None) -> Response:
    """The execution log's next (older) page."""
    page.ctx.actor.require(Permission.MANAGE_CONTENT)
    try:
        cursor = datetime.fromisoformat(before) if before else None
    except ValueError as exc:
        raise ValidationFailed("not a valid time", field="before") from exc
    runs = await automation.list_runs(page.ctx.session, page.ctx.actor, rule_id,
                                      limit=RUNS_PAGE, before=cursor)
    rule = await automation.get_rule(page.ctx.session, page.ctx.actor, rule_id)
    return render_page(request, page, "automation/_runs.html", rule=rule, runs=runs,
                       older=_older_cursor(runs), rows_only=True,
                       event_labels={e["kind"]: e["label"] for e in _events(page)},
                       action_labels={a["type"]: a["label"] for a in _action_types(page)})

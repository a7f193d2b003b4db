"""WhatsApp message templates, managed per WhatsApp channel: written here (checked against
Meta's rules when saved, each refusal naming its field), submitted for Meta's review, kept in step
with the provider (a sync, and the ``message_template_status_update`` webhook), deleted.

Each placeholder of a template (``{{1}}`` in the body, the header's one, a URL button's suffix)
can be mapped to one of our variables (``replies.variables``); ``render_parameters`` fills them
for one recipient, which is what sending to many people (broadcasts) needs.

Admins and supervisors manage templates; agents may list them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import ProviderTemplate, TemplateStatusEvent
from invekto.channels.adapters.whatsapp import TemplateRequestFailed, explain
from invekto.channels.models import Channel
from invekto.core.actor import Actor, Permission
from invekto.core.errors import Conflict, NotFound, UpstreamUnavailable, ValidationFailed
from invekto.core.i18n import N_
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.replies import service as replies
from invekto.replies import variables
from invekto.templates.models import CATEGORIES, DRAFT, PARAMETER_FORMATS, MessageTemplate
from invekto.templates.schemas import SyncOut, TemplateIn

log = structlog.get_logger(__name__)

WHATSAPP_KINDS = ("whatsapp_cloud", "whatsapp_bsp")

# Meta's rules for creating a template (the Cloud API's "message templates" reference).
NAME_PATTERN = re.compile(r"[a-z0-9_]{1,512}")
LANGUAGE_PATTERN = re.compile(r"[a-z]{2,3}(_[A-Z]{2,4})?")
MAX_BODY, MAX_HEADER, MAX_FOOTER, MAX_BUTTON_TEXT, MAX_URL = 1024, 60, 60, 25, 2000
MAX_BUTTONS, MAX_URL_BUTTONS, MAX_PHONE_BUTTONS = 10, 2, 1
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_NAMED_PARAMETER = re.compile(r"[a-z][a-z0-9_]*")
_ADJACENT = re.compile(r"\}\}\s*\{\{")


# ---- reading -----------------------------------------------------------------------------------

async def list_templates(session: AsyncSession, actor: Actor, channel_id: uuid.UUID
                         ) -> list[MessageTemplate]:
    await _whatsapp_channel(session, actor, channel_id)
    return list((await session.scalars(select(MessageTemplate).where(
        MessageTemplate.tenant_id == actor.tenant_id, MessageTemplate.channel_id == channel_id,
    ).order_by(MessageTemplate.name, MessageTemplate.language))).all())


async def get_template(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                       template_id: uuid.UUID) -> MessageTemplate:
    await _whatsapp_channel(session, actor, channel_id)
    template = await get_in_tenant(session, MessageTemplate, actor.tenant_id, template_id,
                                   what=N_("template"))
    if template.channel_id != channel_id:
        raise NotFound("%(what)s not found", params={"what": N_("template")})
    return template


async def approved_for_channel(session: AsyncSession, tenant_id: uuid.UUID,
                               channel_id: uuid.UUID) -> list[ProviderTemplate] | None:
    """The channel's approved templates as the composer offers them, from this table; None
    when the channel was never synced (the composer then asks the provider, as before)."""
    synced = await session.scalar(select(func.count()).where(
        MessageTemplate.tenant_id == tenant_id, MessageTemplate.channel_id == channel_id,
        MessageTemplate.synced_at.is_not(None)))
    if not synced:
        return None
    approved = (await session.scalars(select(MessageTemplate).where(
        MessageTemplate.tenant_id == tenant_id, MessageTemplate.channel_id == channel_id,
        MessageTemplate.status == "APPROVED",
    ).order_by(MessageTemplate.name, MessageTemplate.language))).all()
    return [as_provider_template(t) for t in approved]


def as_provider_template(template: MessageTemplate) -> ProviderTemplate:
    body = body_text(template.components)
    return ProviderTemplate(name=template.name, language=template.language,
                            category=template.category, body=body,
                            parameters=tuple(dict.fromkeys(_PLACEHOLDER.findall(body))))


def body_text(components: list[dict[str, Any]]) -> str:
    return str(_component(components, "BODY").get("text") or "")


def placeholders(components: list[dict[str, Any]]) -> list[str]:
    """The template's placeholders as ``variables`` keys, in the order the customer reads
    them: ``header.1``, ``body.1``, ``body.2``..., ``button.0`` (a URL button's suffix, by the
    button's position)."""
    keys = [f"header.{p}" for p in _found(str(_component(components, "HEADER").get("text")
                                               or ""))]
    keys += [f"body.{p}" for p in _found(body_text(components))]
    for index, button in enumerate(_component(components, "BUTTONS").get("buttons") or []):
        if isinstance(button, dict) and _found(str(button.get("url") or "")):
            keys.append(f"button.{index}")
    return keys


# ---- rendering for one recipient ---------------------------------------------------------------

def render_parameters(template: MessageTemplate, values: variables.Values) -> dict[str, str]:
    """Each placeholder's value for one recipient (``variables`` keys to text), rendered from
    the variable mapped to it. A variable with nothing to say (a contact without a name) gives
    what its ``default("…", true)`` says, else an empty text, which Meta refuses: the caller
    decides whether to skip that recipient (``missing_parameters``). A placeholder without a
    variable is left out: the sender must fill it."""
    return {key: variables.render(template.variables[key], values).strip()
            for key in placeholders(template.components) if template.variables.get(key)}


def missing_parameters(template: MessageTemplate, rendered: dict[str, str]) -> list[str]:
    """The placeholders ``rendered`` leaves without a value."""
    return [key for key in placeholders(template.components) if not rendered.get(key)]


# ---- changing ----------------------------------------------------------------------------------

async def create_template(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                          data: TemplateIn) -> MessageTemplate:
    """A draft template, checked against Meta's rules so that what is submitted later is not
    rejected for its form."""
    actor.require(Permission.MANAGE_CONTENT)
    await _whatsapp_channel(session, actor, channel_id)
    components = checked_template(data)
    mapping = await _checked_variables(session, actor, components, data.variables)
    template = MessageTemplate(
        tenant_id=actor.tenant_id, channel_id=channel_id, name=data.name,
        language=data.language, category=data.category, parameter_format=data.parameter_format,
        components=components, status=DRAFT, variables=mapping)
    session.add(template)
    await flush_unique(session, "there is already a template %(name)s in %(language)s",
                       field="name", params={"name": data.name, "language": data.language})
    await audit.record(session, actor, "template.created", target_type="message_template",
                       target_id=template.id, data={"name": data.name,
                                                    "language": data.language})
    return template


async def set_variables(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                        template_id: uuid.UUID, mapping: dict[str, str]) -> MessageTemplate:
    """Which of our variables fills each placeholder; our own setting, so any status may
    change it (an approved template's wording stays Meta's)."""
    actor.require(Permission.MANAGE_CONTENT)
    template = await get_template(session, actor, channel_id, template_id)
    template.variables = await _checked_variables(session, actor, template.components, mapping)
    await _saved(session, template)
    await audit.record(session, actor, "template.variables_changed",
                       target_type="message_template", target_id=template.id,
                       data={"variables": template.variables})
    return template


async def submit(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                 template_id: uuid.UUID) -> MessageTemplate:
    """Send a draft to Meta for review: it is PENDING (or decided at once) with Meta's id."""
    actor.require(Permission.MANAGE_CONTENT)
    channel = await _whatsapp_channel(session, actor, channel_id)
    template = await get_template(session, actor, channel_id, template_id)
    if template.status != DRAFT:
        raise Conflict("this template was already submitted (%(status)s)", field="status",
                       params={"status": template.status})
    adapter = adapter_for(channel.kind)
    try:
        created = await adapter.create_template(channels.account_of(channel), {
            "name": template.name, "language": template.language,
            "category": template.category, "parameter_format": template.parameter_format,
            "components": template.components})
    except TemplateRequestFailed as exc:
        raise _refusal(exc, actor) from exc
    template.provider_template_id = created.provider_template_id
    template.status = created.status
    template.rejected_reason = None
    if created.category in CATEGORIES:
        template.category = created.category
    await _saved(session, template)
    await audit.record(session, actor, "template.submitted", target_type="message_template",
                       target_id=template.id, data={"provider_template_id":
                                                    created.provider_template_id})
    return template


async def sync(session: AsyncSession, actor: Actor, channel_id: uuid.UUID) -> SyncOut:
    """Make the channel's templates what the provider lists: new ones added, statuses and
    wording updated (our variable mappings kept), ones it no longer has removed. Drafts never
    submitted are ours alone and stay."""
    actor.require(Permission.MANAGE_CONTENT)
    channel = await _whatsapp_channel(session, actor, channel_id)
    try:
        listed = await adapter_for(channel.kind).list_all_templates(channels.account_of(channel))
    except TemplateRequestFailed as exc:
        raise _refusal(exc, actor) from exc
    ours = {(t.name, t.language): t for t in await list_templates(session, actor, channel_id)}
    now = datetime.now(UTC)
    added = updated = 0
    seen: set[tuple[str, str]] = set()
    for item in listed:
        key = (str(item.get("name") or ""), str(item.get("language") or ""))
        category = str(item.get("category") or "").upper()
        if not all(key) or key in seen or category not in CATEGORIES:
            continue  # nothing to match it by, or a kind of template we do not know
        seen.add(key)
        template = ours.get(key)
        if template is None:
            template = MessageTemplate(tenant_id=actor.tenant_id, channel_id=channel_id,
                                       name=key[0], language=key[1], variables={})
            session.add(template)
            added += 1
        else:
            updated += 1
        template.category = category
        template.parameter_format = ("NAMED" if str(item.get("parameter_format")).upper()
                                     == "NAMED" else "POSITIONAL")
        template.components = [c for c in item.get("components") or [] if isinstance(c, dict)]
        template.status = str(item.get("status") or "").upper() or template.status
        template.provider_template_id = str(item["id"]) if item.get("id") else None
        reason = item.get("rejected_reason")
        template.rejected_reason = (str(reason)[:500] if reason and reason != "NONE"
                                    and template.status == "REJECTED" else None)
        template.synced_at = now
    removed = [t for key, t in ours.items() if key not in seen and t.status != DRAFT]
    for template in removed:
        await session.delete(template)
    await session.flush()
    result = SyncOut(added=added, updated=updated, removed=len(removed))
    await audit.record(session, actor, "template.synced", target_type="channel",
                       target_id=channel_id, data=result.model_dump())
    return result


async def delete_template(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                          template_id: uuid.UUID) -> None:
    """Delete at the provider first (this translation only), then here; a draft is only
    ours."""
    actor.require(Permission.MANAGE_CONTENT)
    channel = await _whatsapp_channel(session, actor, channel_id)
    template = await get_template(session, actor, channel_id, template_id)
    if template.status != DRAFT:
        try:
            await adapter_for(channel.kind).delete_template(
                channels.account_of(channel), template.name, template.provider_template_id)
        except TemplateRequestFailed as exc:
            raise _refusal(exc, actor) from exc
    await audit.record(session, actor, "template.deleted", target_type="message_template",
                       target_id=template.id, data={"name": template.name,
                                                    "language": template.language})
    await session.delete(template)
    await session.flush()


# ---- Meta's word on a template (the status webhook) ---------------------------------------------

async def apply_status(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                       event: TemplateStatusEvent) -> bool:
    """Record what Meta decided about a template (approved, rejected and why, paused...),
    found by Meta's id, else by name and language. A template we do not have is ignored with a
    log line: the webhook carries no wording, so the next sync brings it whole. Whether it was
    found."""
    template = None
    if event.template_id:
        template = await session.scalar(select(MessageTemplate).where(
            MessageTemplate.tenant_id == tenant_id, MessageTemplate.channel_id == channel_id,
            MessageTemplate.provider_template_id == event.template_id))
    if template is None and event.language:
        template = await session.scalar(select(MessageTemplate).where(
            MessageTemplate.tenant_id == tenant_id, MessageTemplate.channel_id == channel_id,
            MessageTemplate.name == event.name, MessageTemplate.language == event.language))
    if template is None:
        log.info("template.status_for_unknown_template", channel_id=str(channel_id),
                 name=event.name, language=event.language, status=event.status)
        return False
    template.status = event.status
    template.rejected_reason = event.reason if event.status != "APPROVED" else None
    if event.template_id:
        template.provider_template_id = event.template_id
    await session.flush()
    return True


async def _saved(session: AsyncSession, template: MessageTemplate) -> None:
    """Flush, and read back ``updated_at`` (set by the database), so the answer can show it."""
    await session.flush()
    await session.refresh(template)


# ---- checks ------------------------------------------------------------------------------------

async def _whatsapp_channel(session: AsyncSession, actor: Actor, channel_id: uuid.UUID
                            ) -> Channel:
    channel = await channels.get_channel(session, actor, channel_id)
    if channel.kind not in WHATSAPP_KINDS:
        raise ValidationFailed("only WhatsApp channels have message templates",
                               field="channel_id")
    return channel


def _refusal(exc: TemplateRequestFailed, actor: Actor) -> Exception:
    """A provider's refusal as our error: its content's fault (422, Meta's words), or the
    provider's or the channel's trouble (502)."""
    if exc.code == "template_exists":
        return Conflict("WhatsApp already has a template with this name in this language",
                        field="name")
    if exc.code in ("missing_waba_id", "not_supported", "invalid_settings",
                    "missing_credentials"):
        key = "template_delete_unsupported" if exc.code == "not_supported" else exc.code
        return ValidationFailed("%(reason)s", field="channel_id",
                                params={"reason": explain(key, actor.language)})
    if exc.temporary or exc.code in ("190", "unreachable", "unexpected_answer",
                                     "provider_error"):
        return UpstreamUnavailable("WhatsApp could not be asked about templates: %(reason)s",
                                   params={"reason": exc.detail})
    return ValidationFailed("WhatsApp refused the template: %(reason)s", field="components",
                            params={"reason": exc.detail})


def checked_template(data: TemplateIn) -> list[dict[str, Any]]:
    """The template's components as they will be submitted, or ValidationFailed naming the
    field at fault: ``name``, ``language``, ``category``, ``header.text``, ``body.text``,
    ``body.example.2``, ``footer.text``, ``buttons.1.url``..."""
    if not NAME_PATTERN.fullmatch(data.name):
        raise ValidationFailed("a template name is lowercase letters, digits and underscores "
                               "(up to 512)", field="name")
    if not LANGUAGE_PATTERN.fullmatch(data.language):
        raise ValidationFailed("give the language as WhatsApp writes it, such as tr or en_US",
                               field="language")
    if data.category not in CATEGORIES:
        raise ValidationFailed("choose MARKETING, UTILITY or AUTHENTICATION", field="category")
    if data.parameter_format not in PARAMETER_FORMATS:
        raise ValidationFailed("choose POSITIONAL or NAMED", field="parameter_format")
    named = data.parameter_format == "NAMED"
    kinds = [str(c.get("type") or "").upper() for c in data.components]
    for kind in kinds:
        if kind not in ("HEADER", "BODY", "FOOTER", "BUTTONS"):
            raise ValidationFailed("a template has a header, a body, a footer and buttons, "
                                   "not %(kind)s", field="components", params={"kind": kind})
        if kinds.count(kind) > 1:
            raise ValidationFailed("a template has one %(kind)s", field="components",
                                   params={"kind": kind})
    components: list[dict[str, Any]] = []
    for kind in ("HEADER", "BODY", "FOOTER", "BUTTONS"):  # Meta's order
        given = next((c for c in data.components if str(c.get("type")).upper() == kind), None)
        if given is not None:
            components.append(_CHECKS[kind](given, named))
    if "BODY" not in kinds:
        raise ValidationFailed("write the message text", field="body.text")
    return components


def _header(given: dict[str, Any], named: bool) -> dict[str, Any]:
    form = str(given.get("format") or "TEXT").upper()
    if form not in HEADER_FORMATS:
        raise ValidationFailed("a header is text, an image, a video, a document or a location",
                               field="header.format")
    if form == "LOCATION":
        return {"type": "HEADER", "format": form}
    example = given.get("example") if isinstance(given.get("example"), dict) else {}
    if form != "TEXT":
        handles = example.get("header_handle")
        if not isinstance(handles, list) or not handles or not all(
                isinstance(h, str) and h.strip() for h in handles):
            raise ValidationFailed("a media header needs an example file (its upload handle)",
                                   field="header.example")
        return {"type": "HEADER", "format": form, "example": {"header_handle": handles[:1]}}
    text = _text(given, "header.text", MAX_HEADER)
    found = _found(text)
    if len(found) > 1:
        raise ValidationFailed("a header may have one variable at most", field="header.text")
    header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": text}
    if found:
        _check_names(found, named, "header.text")
        if named:
            value = _named_examples(example.get("header_text_named_params"), found, "header")
            header["example"] = {"header_text_named_params": value}
        else:
            values = example.get("header_text")
            header["example"] = {"header_text": [_example(
                values[0] if isinstance(values, list) and values else None, "header.example.1")]}
    return header


def _body(given: dict[str, Any], named: bool) -> dict[str, Any]:
    text = _text(given, "body.text", MAX_BODY)
    found = _found(text)
    body: dict[str, Any] = {"type": "BODY", "text": text}
    if not found:
        return body
    _check_names(found, named, "body.text")
    stripped = text.strip()
    if _PLACEHOLDER.match(stripped) or re.search(r"\}\}$", stripped):
        raise ValidationFailed("the text may not begin or end with a variable: WhatsApp "
                               "rejects that", field="body.text")
    if _ADJACENT.search(text):
        raise ValidationFailed("put some words between two variables: WhatsApp rejects them "
                               "side by side", field="body.text")
    example = given.get("example") if isinstance(given.get("example"), dict) else {}
    if named:
        body["example"] = {"body_text_named_params": _named_examples(
            example.get("body_text_named_params"), found, "body")}
        return body
    rows = example.get("body_text")
    row = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], list) else []
    body["example"] = {"body_text": [[
        _example(row[n - 1] if n <= len(row) else None, f"body.example.{n}")
        for n in range(1, len(found) + 1)]]}
    return body


def _footer(given: dict[str, Any], named: bool) -> dict[str, Any]:
    text = _text(given, "footer.text", MAX_FOOTER)
    if _found(text):
        raise ValidationFailed("the footer cannot have variables", field="footer.text")
    return {"type": "FOOTER", "text": text}


def _buttons(given: dict[str, Any], named: bool) -> dict[str, Any]:
    buttons = given.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        raise ValidationFailed("add a button or leave the buttons out", field="buttons")
    if len(buttons) > MAX_BUTTONS:
        raise ValidationFailed("a template has at most %(count)s buttons", field="buttons",
                               params={"count": MAX_BUTTONS})
    kinds = [str((b or {}).get("type") or "").upper() if isinstance(b, dict) else ""
             for b in buttons]
    if kinds.count("URL") > MAX_URL_BUTTONS:
        raise ValidationFailed("a template has at most two website buttons", field="buttons")
    if kinds.count("PHONE_NUMBER") > MAX_PHONE_BUTTONS:
        raise ValidationFailed("a template has at most one call button", field="buttons")
    replies_at = [n for n, kind in enumerate(kinds) if kind == "QUICK_REPLY"]
    if replies_at and replies_at != list(range(replies_at[0], replies_at[-1] + 1)):
        raise ValidationFailed("keep the quick replies together, before or after the other "
                               "buttons: WhatsApp groups them", field="buttons")
    return {"type": "BUTTONS", "buttons": [
        _button(button, kind, n) for n, (button, kind) in enumerate(zip(buttons, kinds,
                                                                        strict=True))]}


def _button(given: Any, kind: str, index: int) -> dict[str, Any]:
    where = f"buttons.{index}"
    if kind not in BUTTON_TYPES:
        raise ValidationFailed("a button is a quick reply, a website or a phone number",
                               field=f"{where}.type")
    text = _text(given, f"{where}.text", MAX_BUTTON_TEXT)
    if _found(text):
        raise ValidationFailed("a button's label cannot have variables", field=f"{where}.text")
    button: dict[str, Any] = {"type": kind, "text": text}
    if kind == "PHONE_NUMBER":
        phone = str(given.get("phone_number") or "").strip()
        if not re.fullmatch(r"\+?[0-9]{6,20}", phone):
            raise ValidationFailed("give the phone number with its country code, such as "
                                   "+908501234567", field=f"{where}.phone_number")
        button["phone_number"] = phone
    elif kind == "URL":
        url = str(given.get("url") or "").strip()
        found = _found(url)
        if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", url) or len(url) > MAX_URL:
            raise ValidationFailed("give a web address starting with https://",
                                   field=f"{where}.url")
        if found and (found != ["1"] or not re.search(r"\{\{\s*1\s*\}\}$", url)):
            raise ValidationFailed("a web address may end with one variable, {{1}}, and have "
                                   "no other", field=f"{where}.url")
        button["url"] = url
        if found:
            examples = given.get("example")
            first = examples[0] if isinstance(examples, list) and examples else None
            button["example"] = [_example(first, f"{where}.example")]
    return button


_CHECKS = {"HEADER": _header, "BODY": _body, "FOOTER": _footer, "BUTTONS": _buttons}


def _text(given: Any, field: str, limit: int) -> str:
    text = str(given.get("text") or "").strip() if isinstance(given, dict) else ""
    if not text:
        raise ValidationFailed("this text is required", field=field)
    if len(text) > limit:
        raise ValidationFailed("at most %(limit)s characters", field=field,
                               params={"limit": limit})
    return text


def _found(text: str) -> list[str]:
    """A text's placeholders in order of first appearance."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(text)))


def _check_names(found: list[str], named: bool, field: str) -> None:
    """Positional placeholders are {{1}}…{{n}}, each number used; named ones are lowercase
    names."""
    if named:
        if bad := [p for p in found if not _NAMED_PARAMETER.fullmatch(p)]:
            raise ValidationFailed("a variable's name is lowercase letters, digits and "
                                   "underscores: {{%(name)s}}", field=field,
                                   params={"name": bad[0]})
        return
    if not all(p.isdigit() for p in found) or sorted(int(p) for p in found) != list(
            range(1, len(found) + 1)):
        raise ValidationFailed("number the variables {{1}}, {{2}}… without gaps",
                               field=field)


def _example(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("give an example value for each variable", field=field)
    return value.strip()


def _named_examples(given: Any, found: list[str], where: str) -> list[dict[str, str]]:
    by_name = {str(item.get("param_name")): item.get("example") for item in given or []
               if isinstance(item, dict)} if isinstance(given, list) else {}
    return [{"param_name": name, "example": _example(by_name.get(name),
                                                      f"{where}.example.{name}")}
            for name in found]


async def _checked_variables(session: AsyncSession, actor: Actor,
                             components: list[dict[str, Any]], mapping: dict[str, str]
                             ) -> dict[str, str]:
    """The mapping kept: only the template's placeholders, each a text of our variables that
    renders (``replies.variables.check``, the company's custom fields known); blank entries
    dropped."""
    known = placeholders(components)
    kept: dict[str, str] = {}
    for key, expression in mapping.items():
        if not expression.strip():
            continue
        if key not in known:
            raise ValidationFailed("the template has no placeholder %(key)s",
                                   field=f"variables.{key}", params={"key": key})
        await replies.check_text(session, actor, expression.strip(), field=f"variables.{key}")
        kept[key] = expression.strip()
    return kept


def _component(components: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((c for c in components or [] if isinstance(c, dict)
                 and str(c.get("type") or "").upper() == kind), {})

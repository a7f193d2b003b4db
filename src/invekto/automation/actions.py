"""What a rule does when it fires: its ``actions``, run in order as the system (never as a
person), each through the service that owns what it changes (the inbox, contacts, follow-ups,
flows), so every check and side effect of a person's action applies too.

``validate`` checks a rule's actions when it is saved, naming the field at fault
(``actions.2.user_id``); ``perform`` runs one and says what it did: ``done``, ``skipped``
(nothing to do: the tag was there already, the conversation is closed) or ``queued`` (a webhook,
sent by a job after the transaction commits). A failure raises: the service rolls the rule's
actions back together and logs the error.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.automation.conditions import Subject
from invekto.automation.events import KINDS
from invekto.contacts import service as contacts
from invekto.contacts.schemas import ContactUpdate
from invekto.core import jobs, outbound
from invekto.core.actor import Actor
from invekto.core.crypto import secret_box
from invekto.core.errors import Conflict, NotFound, ValidationFailed
from invekto.core.i18n import N_
from invekto.core.text import clean_text
from invekto.flows.models import Flow
from invekto.follow_ups import service as follow_ups
from invekto.inbox import service as inbox
from invekto.inbox.schemas import MessageSend, TemplateSend
from invekto.replies import service as replies
from invekto.replies import variables
from invekto.users import service as users

MAX_ACTIONS = 20
MAX_BODY = 4096
MAX_NOTIFY = 1000
MAX_SNOOZE_MINUTES = 60 * 24 * 30
MAX_URL = 2000
MAX_SECRET = 200
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)


@dataclass(frozen=True)
class ActionType:
    type: str
    label: str  # an English catalogue entry, shown translated
    fields: tuple[str, ...]
    # False: also for events without a conversation (contact events): it acts on the contact.
    needs_conversation: bool = True


ACTIONS: dict[str, ActionType] = {a.type: a for a in (
    ActionType("send_message", N_("Send a message"), ("body",)),
    ActionType("send_template", N_("Send a WhatsApp template"),
               ("template_name", "language", "parameters")),
    ActionType("assign", N_("Assign"), ("user_id", "group_id", "routing")),
    ActionType("add_tags", N_("Add tags"), ("tags",), needs_conversation=False),
    ActionType("remove_tags", N_("Remove tags"), ("tags",), needs_conversation=False),
    ActionType("set_field", N_("Set a contact field"), ("key", "value"),
               needs_conversation=False),
    ActionType("close", N_("Close the conversation"), ()),
    ActionType("snooze", N_("Snooze"), ("minutes",)),
    ActionType("set_pending", N_("Mark as pending"), ()),
    ActionType("add_note", N_("Add an internal note"), ("body",), needs_conversation=False),
    ActionType("start_flow", N_("Start a chatbot flow"), ("flow_id",)),
    ActionType("call_webhook", N_("Call a webhook"), ("url", "secret"),
               needs_conversation=False),
    ActionType("start_follow_up", N_("Start a follow-up sequence"), ("sequence_id",)),
    ActionType("notify", N_("Notify a user"), ("user_id", "body"), needs_conversation=False),
)}


# ---- validating ---------------------------------------------------------------------------------

async def validate(session: AsyncSession, actor: Actor, actions: Any, *, event: str,
                   previous: list[dict] | None = None) -> list[dict]:
    """The rule's actions as stored, or ValidationFailed naming the field at fault. Users,
    groups, tags, custom fields, flows and sequences must exist; texts' variables must render.
    A webhook's secret is stored encrypted; one left out on an update keeps the secret the same
    URL had (forms never get it back)."""
    if not isinstance(actions, list):
        raise ValidationFailed("actions are a list", field="actions")
    if len(actions) > MAX_ACTIONS:
        raise ValidationFailed("at most %(max)s actions", field="actions",
                               params={"max": MAX_ACTIONS})
    about_conversation = KINDS[event].about_conversation if event in KINDS else True
    event_fields = KINDS[event].text_fields if event in KINDS else {}
    kept_secrets = {a.get("url"): a["secret_sealed"] for a in previous or ()
                    if a.get("type") == "call_webhook" and a.get("secret_sealed")}
    checked = []
    for n, action in enumerate(actions):
        path = f"actions.{n}"
        if not isinstance(action, dict):
            raise ValidationFailed("an action is an object", field=path)
        kind = ACTIONS.get(action["type"]) if isinstance(action.get("type"), str) else None
        if kind is None:
            raise ValidationFailed("unknown action %(type)s", field=f"{path}.type",
                                   params={"type": str(action.get("type"))[:40]})
        if kind.needs_conversation and not about_conversation:
            raise ValidationFailed("this event has no conversation for this action to act on",
                                   field=f"{path}.type")
        given = {k: v for k, v in action.items() if k not in ("type", "has_secret")}
        if unknown := sorted(set(given) - set(kind.fields)):
            raise ValidationFailed("unknown key %(key)s", field=f"{path}.{unknown[0]}",
                                   params={"key": unknown[0]})
        checked.append({"type": kind.type, **await _validate_one(
            session, actor, kind.type, given, path, kept_secrets, event_fields)})
    return checked


async def _validate_one(session: AsyncSession, actor: Actor, kind: str, given: dict, path: str,
                        kept_secrets: dict, event_fields: Mapping[str, tuple[str, ...]]
                        ) -> dict:
    if kind == "send_message":
        return {"body": await _text(session, actor, given.get("body"), f"{path}.body",
                                    extra=event_fields)}
    if kind == "send_template":
        name = _string(given.get("template_name"), f"{path}.template_name", 512)
        language = _string(given.get("language"), f"{path}.language", 15)
        parameters = given.get("parameters") or {}
        if not isinstance(parameters, dict) or len(parameters) > 100:
            raise ValidationFailed("parameters map each placeholder to a text",
                                   field=f"{path}.parameters")
        for key, value in parameters.items():
            await _text(session, actor, value, f"{path}.parameters.{key}", limit=1024,
                        extra=event_fields)
        return {"template_name": name, "language": language,
                "parameters": {str(k): str(v).strip() for k, v in parameters.items()}}
    if kind == "assign":
        chosen = [k for k in ("user_id", "group_id", "routing") if given.get(k)]
        if len(chosen) != 1:
            raise ValidationFailed("assign to a user, a group, or by the channel's routing",
                                   field=f"{path}.user_id")
        if chosen == ["routing"]:
            if given["routing"] is not True:
                raise ValidationFailed("routing is true or left out", field=f"{path}.routing")
            return {"routing": True}
        if chosen == ["user_id"]:
            return {"user_id": await _active_user(session, actor, given["user_id"],
                                                  f"{path}.user_id")}
        group_id = _uuid(given["group_id"], f"{path}.group_id")
        try:
            await users.get_group(session, actor, group_id)
        except NotFound as exc:
            raise ValidationFailed("no such group", field=f"{path}.group_id") from exc
        return {"group_id": str(group_id)}
    if kind in ("add_tags", "remove_tags"):
        tags = given.get("tags")
        if not isinstance(tags, list) or not tags or not all(
                isinstance(t, str) and t.strip() for t in tags):
            raise ValidationFailed("name one tag or more", field=f"{path}.tags")
        try:
            return {"tags": await contacts.checked_tags(session, actor, tags)}
        except ValidationFailed as exc:
            raise ValidationFailed(exc.template, field=f"{path}.tags",
                                   params=exc.params) from exc
    if kind == "set_field":
        key = given.get("key")
        known = {f.key for f in await contacts.list_custom_fields(session, actor)}
        if not isinstance(key, str) or key not in known:
            raise ValidationFailed("no such contact field", field=f"{path}.key")
        value = given.get("value", "")
        return {"key": key, "value": await _text(session, actor, value, f"{path}.value",
                                                 required=False, limit=1000)}
    if kind in ("close", "set_pending"):
        return {}
    if kind == "snooze":
        minutes = given.get("minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not (
                1 <= minutes <= MAX_SNOOZE_MINUTES):
            raise ValidationFailed("snooze for 1 minute to 30 days", field=f"{path}.minutes")
        return {"minutes": minutes}
    if kind == "add_note":
        return {"body": await _text(session, actor, given.get("body"), f"{path}.body")}
    if kind == "start_flow":
        flow_id = _uuid(given.get("flow_id"), f"{path}.flow_id")
        if await session.scalar(select(Flow.id).where(
                Flow.tenant_id == actor.tenant_id, Flow.id == flow_id)) is None:
            raise ValidationFailed("no such flow", field=f"{path}.flow_id")
        return {"flow_id": str(flow_id)}
    if kind == "call_webhook":
        url = _string(given.get("url"), f"{path}.url", MAX_URL)
        if not _URL.fullmatch(url):
            raise ValidationFailed("give an http:// or https:// address", field=f"{path}.url")
        outbound.check_url(url, field=f"{path}.url")
        out = {"url": url}
        secret = given.get("secret")
        if secret is None:
            if url in kept_secrets:
                out["secret_sealed"] = kept_secrets[url]
        elif not isinstance(secret, str) or len(secret) > MAX_SECRET:
            raise ValidationFailed("a secret is at most %(max)s characters",
                                   field=f"{path}.secret", params={"max": MAX_SECRET})
        elif secret:
            out["secret_sealed"] = secret_box().encrypt_json({"secret": secret})
        return out
    if kind == "start_follow_up":
        sequence_id = _uuid(given.get("sequence_id"), f"{path}.sequence_id")
        try:
            await follow_ups.get_sequence(session, actor, sequence_id)
        except NotFound as exc:
            raise ValidationFailed("no such follow-up sequence",
                                   field=f"{path}.sequence_id") from exc
        return {"sequence_id": str(sequence_id)}
    if kind == "notify":
        return {"user_id": await _active_user(session, actor, given.get("user_id"),
                                              f"{path}.user_id"),
                "body": await _text(session, actor, given.get("body"), f"{path}.body",
                                    limit=MAX_NOTIFY)}
    raise AssertionError(kind)


async def _text(session: AsyncSession, actor: Actor, value: Any, field: str, *,
                required: bool = True, limit: int = MAX_BODY,
                extra: Mapping[str, tuple[str, ...]] | None = None) -> str:
    if not isinstance(value, str):
        if value is None and not required:
            return ""
        raise ValidationFailed("write a text here", field=field)
    text = clean_text(value)
    if required and not text:
        raise ValidationFailed("write a text here", field=field)
    if len(text) > limit:
        raise ValidationFailed("at most %(max)s characters here", field=field,
                               params={"max": limit})
    await replies.check_text(session, actor, text, field=field, extra=extra)
    return text


def _string(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise ValidationFailed("a text of 1 to %(max)s characters", field=field,
                               params={"max": limit})
    return value.strip()


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed("not an id", field=field) from exc


async def _active_user(session: AsyncSession, actor: Actor, value: Any, field: str) -> str:
    user_id = _uuid(value, field)
    await inbox.require_active_user(session, actor, user_id, field=field)
    return str(user_id)


def summary(action: dict) -> str:
    """A short account of an action's settings, for the thread and the dry run."""
    kind = action.get("type")
    if kind in ("send_message", "add_note"):
        return _short(action.get("body", ""))
    if kind == "notify":
        return f"{action.get('user_id')}: {_short(action.get('body', ''))}"
    if kind == "send_template":
        return f"{action.get('template_name')} ({action.get('language')})"
    if kind == "assign":
        return ("routing" if action.get("routing") else
                f"user {action['user_id']}" if action.get("user_id") else
                f"group {action.get('group_id')}")
    if kind in ("add_tags", "remove_tags"):
        return ", ".join(action.get("tags", []))
    if kind == "set_field":
        return f"{action.get('key')} = {_short(action.get('value', ''))}"
    if kind == "snooze":
        return f"{action.get('minutes')} min"
    if kind == "call_webhook":
        return str(action.get("url", ""))
    if kind == "start_flow":
        return str(action.get("flow_id", ""))
    if kind == "start_follow_up":
        return str(action.get("sequence_id", ""))
    return ""


def _short(text: str, length: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= length else text[:length - 1] + "…"


# ---- performing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Firing:
    """The rule firing that runs an action: which rule and run, and on what."""

    rule_id: uuid.UUID
    rule_name: str
    run_id: uuid.UUID
    subject: Subject


async def perform(session: AsyncSession, action: dict, index: int, firing: Firing
                  ) -> tuple[str, str]:
    """Run one action; (status, detail). Raises when it fails (the caller rolls back)."""
    subject = firing.subject
    system = Actor.system(subject.tenant_id)
    conversation = subject.conversation
    kind = action["type"]
    if ACTIONS[kind].needs_conversation and conversation is None:
        raise Conflict("this event has no conversation to act on")
    # What the event offers the texts ({{ order.number }}), filled in the company's language.
    event = subject.event
    event_texts = KINDS[event.kind].texts_for(event) if event and event.kind in KINDS else None
    if kind == "send_message":
        message = await inbox.send_automatic(session, conversation,
                                             MessageSend(body=action["body"]),
                                             event_texts=event_texts)
        return "done", f"message {message.id}"
    if kind == "send_template":
        parameters = {key.removeprefix("body."): value
                      for key, value in (action.get("parameters") or {}).items()}
        message = await inbox.send_automatic(session, conversation, MessageSend(
            content_kind="template", template=TemplateSend(
                name=action["template_name"], language=action["language"],
                parameters=parameters)), event_texts=event_texts)
        return "done", f"message {message.id}"
    if kind == "assign":
        return await _assign(session, system, action, conversation)
    if kind in ("add_tags", "remove_tags"):
        add = action["tags"] if kind == "add_tags" else []
        remove = action["tags"] if kind == "remove_tags" else []
        owner = conversation if conversation is not None else subject.contact
        if owner is None:
            raise Conflict("this event has no conversation or contact to tag")
        before = list(owner.tags or [])
        if conversation is not None:
            await inbox.change_tags(session, system, conversation.id, add=add, remove=remove)
        else:
            await contacts.change_tags(session, system, owner.id, add=add, remove=remove)
        changed = [t for t in action["tags"] if (t in before) != (kind == "add_tags")]
        return ("done", ", ".join(changed)) if changed else ("skipped", "unchanged")
    if kind == "set_field":
        contact = _contact(subject)
        value = await _render(session, subject, action.get("value", ""))
        current = (contact.custom_fields or {}).get(action["key"])
        if (current if current is not None else "") == value:
            return "skipped", "unchanged"
        await contacts.update_contact(session, system, contact.id, ContactUpdate(
            custom_fields={action["key"]: value or None}))
        return "done", f"{action['key']} = {_short(value)}"
    if kind == "close":
        if conversation.status == "closed":
            return "skipped", "already closed"
        await inbox.close(session, system, conversation.id)
        return "done", ""
    if kind == "snooze":
        if conversation.status == "closed":
            return "skipped", "closed"
        until = datetime.now(UTC) + timedelta(minutes=action["minutes"])
        await inbox.snooze(session, system, conversation.id, until)
        return "done", until.isoformat()
    if kind == "set_pending":
        if conversation.status != "open":
            return "skipped", conversation.status
        await inbox.set_status(session, system, conversation.id, "pending")
        return "done", ""
    if kind == "add_note":
        body = await _render(session, subject, action["body"])
        note = await inbox.add_note(
            session, system, body=body,
            **({"conversation_id": conversation.id} if conversation is not None
               else {"contact_id": _contact(subject).id}))
        return "done", f"note {note.id}"
    if kind == "start_flow":
        from invekto.flows import service as flows  # local: flows are run by the inbox too

        started = await flows.start_flow(session, conversation, uuid.UUID(action["flow_id"]),
                                         started_by="rule")
        return ("done", f"flow session {started.id}") if started else (
            "skipped", "the flow did not start")
    if kind == "start_follow_up":
        started = await follow_ups.start_sequence(
            session, subject.tenant_id, uuid.UUID(action["sequence_id"]), conversation.id)
        return ("done", "") if started else ("skipped", "already started for this "
                                                        "conversation")
    if kind == "notify":
        user_id = uuid.UUID(action["user_id"])
        body = await _render(session, subject, action["body"])
        notified = await inbox.notify_for_rule(
            session, subject.tenant_id, user_id, body=body,
            conversation=conversation, contact_id=_contact(subject).id)
        return ("done", "") if notified else ("skipped", "the user is deactivated")
    if kind == "call_webhook":
        from invekto.automation import tasks  # local: the job calls back into the service

        await jobs.defer(session, tasks.call_webhook, tenant_id=str(subject.tenant_id),
                         run_id=str(firing.run_id), index=index, url=action["url"],
                         body=webhook_body(firing), sealed_secret=action.get("secret_sealed"))
        return "queued", ""
    raise AssertionError(kind)


async def _assign(session: AsyncSession, system: Actor, action: dict, conversation
                  ) -> tuple[str, str]:
    if conversation.held_by_bot:
        # Handing the conversation to people ends the chatbot's part, as a person taking it
        # over does: routing must not give an agent a conversation a bot is still answering.
        from invekto.flows import service as flows  # local: flows import the rules' conditions

        await flows.end_for_takeover(session, conversation, None)
    if action.get("user_id"):
        user_id = uuid.UUID(action["user_id"])
        if conversation.assignee_id == user_id:
            return "skipped", "already assigned"
        await inbox.assign(session, system, conversation.id, user_id)
        return "done", str(user_id)
    if action.get("group_id"):
        group_id = uuid.UUID(action["group_id"])
        if conversation.group_id == group_id and conversation.assignee_id is None:
            return "skipped", "already in the group's queue"
        # Into the group's queue, for its agents to take (or routing's offer to an agent
        # who becomes free).
        await inbox.transfer(session, system, conversation.id, user_id=None, group_id=group_id)
        return "done", str(group_id)
    if conversation.assignee_id is not None or conversation.status == "closed":
        return "skipped", "already assigned" if conversation.assignee_id else "closed"
    await inbox.route_for_rule(session, conversation)
    return "done", str(conversation.assignee_id or conversation.group_id or "")


def _contact(subject: Subject):
    if subject.contact is None:
        raise Conflict("this event has no contact")
    return subject.contact


async def _render(session: AsyncSession, subject: Subject, text: str) -> str:
    """A text's variables filled for the subject's contact (and the conversation's agent)."""
    if "{" not in text:
        return text
    contact = _contact(subject)
    agent = subject.conversation.assignee_id if subject.conversation else None
    values = await inbox.text_values(session, subject.tenant_id, contact.id, agent)
    return variables.render(text, values)


def webhook_body(firing: Firing) -> str:
    """What a webhook receives (JSON): the event, the rule, and the conversation, contact and
    message it is about, as they are when the rule fires."""
    subject = firing.subject
    event, conversation, contact, message = (subject.event, subject.conversation,
                                             subject.contact, subject.message)

    def when(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    def ident(value: uuid.UUID | None) -> str | None:
        return str(value) if value else None

    return json.dumps({
        "company_id": str(subject.tenant_id),
        "rule": {"id": str(firing.rule_id), "name": firing.rule_name},
        "run_id": str(firing.run_id),
        "event": {"kind": event.kind if event else None, "data": event.data if event else {},
                  "occurred_at": when(subject.at or datetime.now(UTC))},
        "conversation": None if conversation is None else {
            "id": str(conversation.id), "status": conversation.status,
            "channel_id": str(conversation.channel_id),
            "assignee_id": ident(conversation.assignee_id),
            "group_id": ident(conversation.group_id), "tags": list(conversation.tags or []),
            "priority": conversation.priority, "opened_at": when(conversation.opened_at),
            "referral": conversation.referral},
        "contact": None if contact is None else {
            "id": str(contact.id), "name": contact.name, "phone": contact.phone,
            "email": contact.email, "tags": list(contact.tags or []),
            "custom_fields": contact.custom_fields or {}},
        "message": None if message is None else {
            "id": str(message.id), "direction": message.direction,
            "content_kind": message.content_kind, "body": message.body,
            "created_at": when(message.created_at)},
    }, ensure_ascii=False, default=str)

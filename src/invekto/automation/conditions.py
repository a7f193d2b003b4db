"""Conditions: one format for a rule's conditions and a chatbot flow's condition step.

A tree: ``{}`` (always true), ``{"all": [node, ...]}``, ``{"any": [node, ...]}``, or a leaf
``{"field": ..., "op": ..., "value": ...}`` (``FIELDS`` lists each field's operators and the
value each takes). ``validate`` checks a tree when it is saved, naming the path at fault
(``conditions.all.0.value``) and returning a normalised copy; ``check`` evaluates one against a
``Subject`` (what happened, to which conversation, contact and message) and returns the trace of
the leaves it evaluated, for the dry run and the flow test panel.

Texts compare folded (``core.text.fold``: case, accents and Turkish İ/ı); keywords match the
start of words (``core.text.keyword_match``). The language of a message is detected offline by
py3langid's bundled model, among the languages a Turkish business meets (``LANGUAGES``); a text
of fewer than three words, or one the model is unsure of, is of no known language, and then
neither ``is`` nor ``is_not`` holds.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.automation.events import Event
from invekto.channels.models import CHANNEL_KINDS, Channel
from invekto.contacts.models import Contact
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.core.text import (
    PatternError,
    compile_pattern,
    fold,
    keyword_match,
    pattern_search,
    words,
)
from invekto.inbox.models import CONVERSATION_STATUSES, Conversation, Message
from invekto.routing import service as routing

# The languages a message may be detected as (py3langid's codes), and so a condition may name.
LANGUAGES = ("tr", "en", "de", "ar", "ru", "fr", "es", "it", "nl", "fa", "az", "uk", "ku", "ka",
             "el", "bg", "ro", "pl", "pt", "zh", "ja", "ko", "he", "hi", "ur", "sq", "bs", "sr",
             "hr", "uz", "kk", "ky", "tk")
UNKNOWN_LANGUAGE = "unknown"
# Shorter texts ("ok", "tamam") say too little to tell a language.
MIN_LANGUAGE_WORDS = 3
# The model's probability (normalised over ``LANGUAGES``) below which it is only guessing.
MIN_LANGUAGE_CONFIDENCE = 0.25

MAX_DEPTH = 5
MAX_LEAVES = 50
MAX_LIST = 100
MAX_ITEM = 200
MAX_TEXT = 500
MAX_REGEX = 200
# A regular expression reads at most this much of a message: Python's ``re`` has no time
# limit, so the text is bounded (and nested repetition is refused when saved).
REGEX_TEXT_LIMIT = 4096

# What each kind of value is, for ``validate`` and the rule form.
NONE, IDS, NAMES, KEYWORDS, REGEX, LANGUAGE, SCALAR, COMPARABLE, STATUSES, CHANNEL_KINDS_ = (
    "none", "ids", "names", "keywords", "regex", "language", "scalar", "comparable",
    "statuses", "channel_kinds")

_TEXT_OPS = {"is_set": NONE, "is_empty": NONE, "equals": SCALAR, "contains": SCALAR}
_VALUE_OPS = {"equals": SCALAR, "not_equals": SCALAR, "contains": SCALAR, "is_set": NONE,
              "is_empty": NONE, "gt": COMPARABLE, "lt": COMPARABLE}
_TAG_OPS = {"has_any": NAMES, "has_all": NAMES, "has_none": NAMES}
_WHO_OPS = {"is_set": NONE, "is_empty": NONE, "in": IDS}
_BOOL_OPS = {"is_true": NONE, "is_false": NONE}

# field → {op: value kind}. ``contact.custom.<key>`` and ``var.<name>`` (flows only) are
# families: any key of the company's custom fields, any variable a flow captured.
FIELDS: dict[str, dict[str, str]] = {
    "channel": {"in": IDS, "not_in": IDS},
    "channel_kind": {"in": CHANNEL_KINDS_, "not_in": CHANNEL_KINDS_},
    "business_hours": {"is_open": NONE, "is_closed": NONE},
    "message.text": {"contains_any": KEYWORDS, "not_contains_any": KEYWORDS, "matches": REGEX},
    "message.language": {"is": LANGUAGE, "is_not": LANGUAGE},
    "contact.tags": _TAG_OPS,
    "contact.custom.*": _VALUE_OPS,
    "contact.email": _TEXT_OPS,
    "contact.phone": _TEXT_OPS,
    "contact.name": _TEXT_OPS,
    "conversation.status": {"in": STATUSES, "not_in": STATUSES},
    "conversation.assignee": _WHO_OPS,
    "conversation.group": _WHO_OPS,
    "conversation.tags": _TAG_OPS,
    "conversation.first_message": _BOOL_OPS,
    "contact.returning": _BOOL_OPS,
    "conversation.referral": {"is_set": NONE, "is_empty": NONE, "code_in": NAMES,
                              "source_in": NAMES},
    "var.*": {**_VALUE_OPS, "contains_any": KEYWORDS},
}
FLOW_ONLY = ("var.*",)
# The form's names for the fields (English catalogue entries, shown translated).
FIELD_LABELS = {
    "channel": N_("Channel"), "channel_kind": N_("Channel type"),
    "business_hours": N_("Business hours"), "message.text": N_("Message text"),
    "message.language": N_("Message language"), "contact.tags": N_("Contact tags"),
    "contact.custom.*": N_("Contact field"), "contact.email": N_("Contact e-mail"),
    "contact.phone": N_("Contact phone"), "contact.name": N_("Contact name"),
    "conversation.status": N_("Conversation status"),
    "conversation.assignee": N_("Assigned agent"), "conversation.group": N_("Group"),
    "conversation.tags": N_("Conversation tags"),
    "conversation.first_message": N_("First message of the conversation"),
    "contact.returning": N_("Returning customer"),
    "conversation.referral": N_("Ad or link referral"), "var.*": N_("Flow variable"),
}
_CUSTOM_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,49}")
# A repeated group that itself repeats ("(a+)+", "(\w*)*"): the classic catastrophic backtracking.


@dataclass
class Subject:
    """What conditions look at: the event, its conversation, contact and message (each may be
    None), the text ``message.text`` reads, a flow's variables, and when it happened."""

    tenant_id: uuid.UUID
    event: Event | None
    conversation: Conversation | None
    contact: Contact | None
    message: Message | None
    text: str = ""
    variables: dict = field(default_factory=dict)
    at: datetime | None = None
    # Looked up once per subject, whatever the number of rules asking (channel, language...).
    cache: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Check:
    ok: bool
    trace: list[dict]


async def load_subject(session: AsyncSession, event: Event) -> Subject:
    """The conversation, contact and message an event is about, read once for all its rules
    (already in the session's identity map when the ingest or a service raised it); a
    conversation opened is about the message that opened it."""
    conversation = await _get(session, Conversation, event.tenant_id, event.conversation_id)
    contact_id = event.contact_id or (conversation.contact_id if conversation else None)
    contact = await _get(session, Contact, event.tenant_id, contact_id)
    message = await _get(session, Message, event.tenant_id, event.message_id)
    if message is None and conversation is not None and event.kind == "conversation_opened":
        # What the customer opened it with: "message.text" means the same here.
        message = await session.scalar(select(Message).where(
            Message.tenant_id == event.tenant_id, Message.conversation_id == conversation.id,
            Message.direction == "inbound").order_by(Message.created_at, Message.id).limit(1))
    at = event.at or (message.created_at if message is not None else None)
    return Subject(tenant_id=event.tenant_id, event=event, conversation=conversation,
                   contact=contact, message=message, text=message.body if message else "",
                   at=at)


async def _get(session: AsyncSession, model, tenant_id: uuid.UUID, row_id: uuid.UUID | None):
    if row_id is None:
        return None
    row = await session.get(model, row_id)
    return row if row is not None and row.tenant_id == tenant_id else None


# ---- validating ---------------------------------------------------------------------------------

def validate(condition: Any, *, field: str = "conditions", for_flows: bool = False) -> dict:
    """A normalised copy of ``condition``, or ValidationFailed naming the path at fault. Tags,
    channels and users are not looked up: a tag may be created later, and a condition naming
    one that is gone is simply false."""
    leaves = [0]
    return _validate(condition, field, for_flows, 0, leaves)


def _validate(node: Any, path: str, for_flows: bool, depth: int, leaves: list[int]) -> dict:
    if not isinstance(node, dict):
        raise ValidationFailed("a condition is an object", field=path)
    if not node:
        return {}
    groups = [key for key in ("all", "any") if key in node]
    if groups:
        if depth >= MAX_DEPTH:
            raise ValidationFailed("groups nest at most %(max)s levels deep", field=path,
                                   params={"max": MAX_DEPTH})
        if len(node) != 1:
            raise ValidationFailed("a group is either \"all\" or \"any\", with nothing beside it",
                                   field=path)
        key = groups[0]
        children = node[key]
        if not isinstance(children, list):
            raise ValidationFailed("a group holds a list of conditions", field=f"{path}.{key}")
        cleaned = [_validate(child, f"{path}.{key}.{n}", for_flows, depth + 1, leaves)
                   for n, child in enumerate(children)]
        return {key: [child for child in cleaned if child]}
    return _validate_leaf(node, path, for_flows, leaves)


def _validate_leaf(node: dict, path: str, for_flows: bool, leaves: list[int]) -> dict:
    leaves[0] += 1
    if leaves[0] > MAX_LEAVES:
        raise ValidationFailed("at most %(max)s conditions", field=path,
                               params={"max": MAX_LEAVES})
    if unknown := set(node) - {"field", "op", "value"}:
        raise ValidationFailed("unknown key %(key)s", field=f"{path}.{sorted(unknown)[0]}",
                               params={"key": sorted(unknown)[0]})
    name = node.get("field")
    family = _family(name) if isinstance(name, str) else None
    if family is None or (family in FLOW_ONLY and not for_flows):
        raise ValidationFailed("unknown condition field %(field)s", field=f"{path}.field",
                               params={"field": str(name)[:60]})
    op = node.get("op")
    ops = FIELDS[family]
    if not isinstance(op, str) or op not in ops:
        raise ValidationFailed("%(op)s is not an operator of %(field)s", field=f"{path}.op",
                               params={"op": str(op)[:30], "field": name})
    kind = ops[op]
    if kind == NONE:
        return {"field": name, "op": op}
    return {"field": name, "op": op,
            "value": _checked_value(kind, node.get("value"), f"{path}.value")}


def _family(name: str) -> str | None:
    if name in FIELDS and not name.endswith("*"):
        return name
    if name.startswith("contact.custom.") and _CUSTOM_KEY.fullmatch(name[15:]):
        return "contact.custom.*"
    if name.startswith("var.") and _VARIABLE.fullmatch(name[4:]):
        return "var.*"
    return None


def _checked_value(kind: str, value: Any, path: str) -> Any:
    if kind in (IDS, NAMES, KEYWORDS, STATUSES, CHANNEL_KINDS_):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise ValidationFailed("give a list of one to %(max)s values", field=path,
                                   params={"max": MAX_LIST})
        items = []
        for n, item in enumerate(value):
            if not isinstance(item, str) or not item.strip() or len(item) > MAX_ITEM:
                raise ValidationFailed("each value is a text of 1 to %(max)s characters",
                                       field=f"{path}.{n}", params={"max": MAX_ITEM})
            items.append(_checked_item(kind, item.strip(), f"{path}.{n}"))
        return list(dict.fromkeys(items))
    if kind == REGEX:
        return _checked_regex(value, path)
    if kind == LANGUAGE:
        if value not in LANGUAGES:
            raise ValidationFailed("unknown language %(language)s", field=path,
                                   params={"language": str(value)[:10]})
        return value
    if kind == SCALAR:
        if isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value)):
            return value
        if isinstance(value, str) and len(value) <= MAX_TEXT:
            return value.strip()
        raise ValidationFailed("give a text of at most %(max)s characters or a number",
                               field=path, params={"max": MAX_TEXT})
    if kind == COMPARABLE:
        if _comparable(value) is None or isinstance(value, bool):
            raise ValidationFailed("give a number or a date (YYYY-MM-DD)", field=path)
        return value.strip() if isinstance(value, str) else value
    raise AssertionError(kind)


def _checked_item(kind: str, item: str, path: str) -> str:
    if kind == IDS:
        try:
            return str(uuid.UUID(item))
        except ValueError as exc:
            raise ValidationFailed("not an id", field=path) from exc
    if kind == STATUSES and item not in CONVERSATION_STATUSES:
        raise ValidationFailed("a status is open, pending or closed", field=path)
    if kind == CHANNEL_KINDS_ and item not in CHANNEL_KINDS:
        raise ValidationFailed("unknown channel type %(kind)s", field=path,
                               params={"kind": item[:40]})
    if kind == KEYWORDS and not words(item):
        raise ValidationFailed("a keyword needs letters or digits", field=path)
    return item


def _checked_regex(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_REGEX:
        raise ValidationFailed("a pattern is 1 to %(max)s characters", field=path,
                               params={"max": MAX_REGEX})
    try:
        compile_pattern(value)
    except PatternError as exc:
        raise ValidationFailed("this pattern cannot be read: %(error)s", field=path,
                               params={"error": str(exc)}) from exc
    return value


# ---- checking -----------------------------------------------------------------------------------

async def check(session: AsyncSession, condition: dict, subject: Subject) -> Check:
    """Whether ``condition`` (validated) holds for ``subject``; the trace has one entry per
    leaf evaluated (``all`` stops at the first false, ``any`` at the first true)."""
    trace: list[dict] = []
    ok = await _check(session, condition or {}, subject, trace)
    return Check(ok, trace)


async def _check(session: AsyncSession, node: dict, subject: Subject, trace: list[dict]) -> bool:
    if not node:
        return True
    if "all" in node:
        for child in node["all"]:
            if not await _check(session, child, subject, trace):
                return False
        return True
    if "any" in node:
        for child in node["any"]:
            if await _check(session, child, subject, trace):
                return True
        return not node["any"]
    ok, detail = await _leaf(session, node, subject)
    entry = {"field": node["field"], "op": node["op"], "value": node.get("value"), "ok": ok}
    if detail is not None:
        entry["detail"] = detail
    trace.append(entry)
    return ok


async def _leaf(session: AsyncSession, leaf: dict, subject: Subject) -> tuple[bool, Any]:
    """(holds, what was found: a matched keyword, the detected language...)."""
    name, op, value = leaf["field"], leaf["op"], leaf.get("value")
    conversation, contact = subject.conversation, subject.contact
    if name == "channel":
        channel_id = str(conversation.channel_id) if conversation else None
        return (channel_id in value) == (op == "in"), None
    if name == "channel_kind":
        kind = await _channel_kind(session, subject)
        return (kind in value) == (op == "in"), kind
    if name == "business_hours":
        is_open = await _is_open(session, subject)
        return is_open == (op == "is_open"), None
    if name == "message.text":
        if op == "matches":
            found = pattern_search(value, subject.text[:REGEX_TEXT_LIMIT])
            return found is not None, found
        matched = keyword_match(subject.text, value)
        return (matched is not None) == (op == "contains_any"), matched
    if name == "message.language":
        language = _language_of(subject)
        if language == UNKNOWN_LANGUAGE:
            return False, language
        return (language == value) == (op == "is"), language
    if name in ("contact.tags", "conversation.tags"):
        owner = contact if name == "contact.tags" else conversation
        return _tags(list(owner.tags or []) if owner else [], op, value), None
    if name.startswith("contact.custom."):
        custom = (contact.custom_fields or {}) if contact else {}
        return _compare(custom.get(name[15:]), op, value), None
    if name in ("contact.email", "contact.phone", "contact.name"):
        return _compare(getattr(contact, name[8:]) if contact else None, op, value), None
    if name == "conversation.status":
        status = conversation.status if conversation else None
        return (status in value) == (op == "in"), status
    if name in ("conversation.assignee", "conversation.group"):
        who = (conversation.assignee_id if name == "conversation.assignee"
               else conversation.group_id) if conversation else None
        if op == "in":
            return who is not None and str(who) in value, None
        return (who is not None) == (op == "is_set"), None
    if name == "conversation.first_message":
        return await _first_message(session, subject) == (op == "is_true"), None
    if name == "contact.returning":
        return await _returning(session, subject) == (op == "is_true"), None
    if name == "conversation.referral":
        referral = (conversation.referral or {}) if conversation else {}
        if op in ("is_set", "is_empty"):
            return bool(referral) == (op == "is_set"), None
        found = str(referral.get("ref" if op == "code_in" else "source") or "")
        return bool(found) and fold(found) in {fold(v) for v in value}, found or None
    if name.startswith("var."):
        found = subject.variables.get(name[4:])
        if op == "contains_any":
            matched = keyword_match(str(found or ""), value)
            return matched is not None, matched
        return _compare(found, op, value), None
    raise AssertionError(name)


def _tags(tags: list[str], op: str, wanted: list[str]) -> bool:
    have = {fold(t) for t in tags}
    hits = [fold(t) in have for t in wanted]
    if op == "has_any":
        return any(hits)
    if op == "has_all":
        return all(hits)
    return not any(hits)


def _compare(found: Any, op: str, value: Any) -> bool:
    """A contact's field or a flow's variable against a condition's value: numbers as
    numbers, dates as dates, texts folded."""
    present = found is not None and found != "" and found != [] and found != {}
    if op in ("is_set", "is_empty"):
        return present == (op == "is_set")
    if not present:
        return op == "not_equals"
    if op in ("gt", "lt"):
        left, right = _comparable(found), _comparable(value)
        if left is None or right is None or type(left) is not type(right):
            return False
        return left > right if op == "gt" else left < right
    if op in ("equals", "not_equals"):
        left, right = _number(found), _number(value)
        same = (left == right if left is not None and right is not None
                else fold(_text(found)) == fold(_text(value)))
        return same == (op == "equals")
    if op == "contains":
        return fold(_text(value)) in fold(_text(found))
    raise AssertionError(op)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _comparable(value: Any) -> float | date | None:
    """A number, or a date (``YYYY-MM-DD``, or the date of an ISO date-time)."""
    if (number := _number(value)) is not None:
        return number
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


async def _channel_kind(session: AsyncSession, subject: Subject) -> str | None:
    if "channel_kind" not in subject.cache:
        channel = (await session.get(Channel, subject.conversation.channel_id)
                   if subject.conversation else None)
        subject.cache["channel_kind"] = channel.kind if channel else None
    return subject.cache["channel_kind"]


async def _is_open(session: AsyncSession, subject: Subject) -> bool:
    """The channel's hours (its own, else the company's) at the moment of the event; always
    open for a company without hours."""
    if "open" not in subject.cache:
        channel_id = subject.conversation.channel_id if subject.conversation else None
        (opening,) = await routing.openings(session, subject.tenant_id, channel_id,
                                            [subject.at or datetime.now(UTC)])
        subject.cache["open"] = opening.open
    return subject.cache["open"]


def _language_of(subject: Subject) -> str:
    if "language" not in subject.cache:
        subject.cache["language"] = detect_language(subject.text)
    return subject.cache["language"]


async def _first_message(session: AsyncSession, subject: Subject) -> bool:
    """Whether the event's message opened its conversation (the ingest says so in the event;
    otherwise: no customer message came before it in that conversation)."""
    event, message = subject.event, subject.message
    if event is not None and "first_message" in event.data:
        return bool(event.data["first_message"])
    if event is not None and event.kind == "conversation_opened":
        return True
    if message is None or subject.conversation is None:
        return False
    return not await session.scalar(select(exists().where(
        Message.tenant_id == subject.tenant_id,
        Message.conversation_id == subject.conversation.id, Message.direction == "inbound",
        Message.id != message.id, Message.created_at <= message.created_at)))


async def _returning(session: AsyncSession, subject: Subject) -> bool:
    """Whether the contact had a conversation before this one (any, for contact events)."""
    if subject.contact is None:
        return False
    if "returning" not in subject.cache:
        earlier = [Conversation.tenant_id == subject.tenant_id,
                   Conversation.contact_id == subject.contact.id]
        if subject.conversation is not None:
            earlier += [Conversation.id != subject.conversation.id,
                        Conversation.opened_at <= subject.conversation.opened_at]
        subject.cache["returning"] = bool(await session.scalar(select(exists().where(*earlier))))
    return subject.cache["returning"]


# ---- language ------------------------------------------------------------------------------------

def detect_language(text: str) -> str:
    """The language ``text`` is written in (one of ``LANGUAGES``), or "unknown"."""
    if len(words(text)) < MIN_LANGUAGE_WORDS:
        return UNKNOWN_LANGUAGE
    language, confidence = _identifier().classify(text[:2000])
    return language if confidence >= MIN_LANGUAGE_CONFIDENCE else UNKNOWN_LANGUAGE


@functools.cache
def _identifier():
    """py3langid's bundled model (loaded once per process, about half a second), its answers
    limited to ``LANGUAGES``: among fewer languages short messages are told apart better."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def catalogue(*, for_flows: bool = False) -> list[dict]:
    """The fields, their operators and the kind of value each takes: for the forms."""
    return [{"field": name, "label": FIELD_LABELS[name],
             "ops": [{"op": op, "value": kind} for op, kind in ops.items()]}
            for name, ops in FIELDS.items() if for_flows or name not in FLOW_ONLY]

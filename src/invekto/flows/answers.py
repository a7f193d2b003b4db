"""Reading a customer's answer: which option of a question they meant (a tapped button, a typed
number, a typed title), and a typed value checked as a phone number, an e-mail address, a date,
a number or against a pattern, then as the contact field it is saved into."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from invekto.core.errors import ValidationFailed
from invekto.core.phone import to_e164
from invekto.core.text import (
    PatternError,
    clean_text,
    compile_pattern,
    fold,
    keyword_match,
    words,
)

VALIDATIONS = ("text", "phone", "email", "date", "number", "regex")
CONTACT_TARGETS = ("contact.name", "contact.email", "contact.phone")
MAX_TEXT = 1000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$")
_DOTTED_DATE = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+$")  # "1.500": Turkish thousands
_YES = {"evet", "e", "yes", "y", "true", "1", "tamam", "olur"}
_NO = {"hayir", "h", "no", "n", "false", "0"}


class Invalid(ValueError):
    """The answer is not what the step asked for."""


def choice_id(node_id: str, option_id: str) -> str:
    """What a button or list row carries back: the question's node and the option, so a tap
    on an older question's button is not taken for an answer to this one."""
    return f"{node_id}:{option_id}"


def option_for(node_id: str, node: dict, text: str, tapped: str | None) -> dict | None:
    """The option the customer chose: the button they tapped, the number they typed ("2"), or
    the title they typed (folded: "fiyat bilgisi" is "Fiyat Bilgisi"; else the title the
    message contains, or that contains the message, word by word from their starts, the one
    matching the most words)."""
    listed = node.get("options")
    options = [o for o in listed if isinstance(o, dict)] if isinstance(listed, list) else []
    if tapped:
        for option in options:
            if choice_id(node_id, str(option.get("id"))) == tapped:
                return option
    typed = clean_text(text or "")
    if not typed:
        return None
    number = typed.rstrip(".)")
    if number.isdigit() and 1 <= int(number) <= len(options):
        return options[int(number) - 1]
    folded = fold(typed)
    for option in options:
        if fold(str(option.get("title") or "")) == folded:
            return option
    # The title in the message ("randevu almak istiyorum": "Randevu"), or the message in the
    # title ("fiyat": "Fiyat bilgisi"); the option matched by the most words, if only one.
    scored: list[tuple[int, dict]] = []
    for option in options:
        title = str(option.get("title") or "")
        if keyword_match(typed, [title]):
            scored.append((len(words(title)), option))
        elif keyword_match(title, [typed]):
            scored.append((len(words(typed)), option))
    best = max((score for score, _ in scored), default=0)
    found = [option for score, option in scored if score == best]
    return found[0] if len(found) == 1 else None


def parse(validate: str, text: str, pattern: str | None = None) -> Any:
    """The typed value as ``validate`` asks (phone in E.164 with Türkiye as the default
    country, e-mail lowercased, date in ISO, number as int or float), or ``Invalid``."""
    typed = clean_text(text or "")
    if not typed or len(typed) > MAX_TEXT:
        raise Invalid(validate)
    if validate == "phone":
        try:
            return to_e164(typed)
        except ValidationFailed as exc:
            raise Invalid(validate) from exc
    if validate == "email":
        if not _EMAIL.match(typed) or len(typed) > 254:
            raise Invalid(validate)
        return typed.lower()
    if validate == "date":
        return parse_date(typed)
    if validate == "number":
        return parse_number(typed)
    if validate == "regex":
        try:
            compiled = compile_pattern(pattern or "")
        except PatternError as exc:
            raise Invalid(validate) from exc
        if compiled.fullmatch(typed) is None and compiled.fullmatch(fold(typed)) is None:
            raise Invalid(validate)
    return typed


def parse_date(typed: str) -> str:
    """31.12.2025, 31/12/2025, 31-12-2025 or 2025-12-31, as 2025-12-31."""
    typed = typed.strip()
    if found := _DOTTED_DATE.match(typed):
        day, month, year = (int(g) for g in found.groups())
    elif found := _ISO_DATE.match(typed):
        year, month, day = (int(g) for g in found.groups())
    else:
        raise Invalid("date")
    try:
        return date(year, month, day).isoformat()
    except ValueError as exc:
        raise Invalid("date") from exc


def parse_number(typed: str) -> int | float:
    """12, 12,5 (a Turkish decimal comma), 1.500 (Turkish thousands), 1.234,56, 12.5."""
    text = typed.replace(" ", "").replace("\u00a0", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    elif _THOUSANDS.match(text):
        text = text.replace(".", "")
    try:
        number = float(text)
    except ValueError as exc:
        raise Invalid("number") from exc
    if not math.isfinite(number):
        raise Invalid("number")
    return int(number) if number.is_integer() else number


def for_target(target: str, value: Any, fields: dict[str, dict]) -> Any:
    """``value`` as the field ``target`` holds it (``contact.phone``, ``custom.<key>`` of the
    company's custom field types; ``var.<name>`` takes anything), or ``Invalid``."""
    text = value if isinstance(value, str) else str(value)
    if target == "contact.name":
        name = clean_text(text)
        if not name or len(name) > 200:
            raise Invalid("text")
        return name
    if target == "contact.phone":
        return parse("phone", text)
    if target == "contact.email":
        return parse("email", text)
    if not target.startswith("custom."):
        return value
    definition = fields.get(target.removeprefix("custom."))
    if definition is None:
        raise Invalid("text")
    kind = definition.get("type")
    if kind == "number":
        return value if isinstance(value, int | float) else parse_number(text)
    if kind == "date":
        return parse_date(text)
    if kind == "email":
        return parse("email", text)
    if kind == "url":
        if not _URL.match(text.strip()):
            raise Invalid("url")
        return text.strip()
    if kind == "boolean":
        folded = fold(text)
        if folded in _YES:
            return True
        if folded in _NO:
            return False
        raise Invalid("boolean")
    if kind == "select":
        for option in definition.get("options") or []:
            if fold(option) == fold(text):
                return option
        raise Invalid("select")
    text = clean_text(text)
    if not text or len(text) > MAX_TEXT:
        raise Invalid("text")
    return text

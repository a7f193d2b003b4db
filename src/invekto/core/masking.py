"""Masking of personal data for people without the "see personal data" permission, and in logs.

A masked value keeps enough to tell people apart and to recognise a number the customer reads out
(country and operator code, the last two digits: ``+90 532 *** ** 67``), never enough to reach
them. Revealing one contact's values is a separate, audited action (contacts.service.reveal).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import phonenumbers

from invekto.core.actor import Actor, Permission

MASK = "*"
# Candidate numbers inside free text (10-18 digits with spaces or dashes); only those that are
# valid phone numbers are masked, so dates, ids and amounts stay readable.
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])\+?\d[\d \-]{8,20}\d(?![\w])")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def phone(value: str | None) -> str | None:
    """``+905321234567`` → ``+90 532 *** ** 67``: grouped as the number is written, the
    operator (or area) code and the last two digits kept."""
    if not value:
        return value
    parsed = _parsed(value)
    if parsed is None:  # not a number we can group: all but the last two digits hidden
        written, keep_front = value, 0
    else:
        written = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        keep_front = len(str(parsed.country_code)) + min(3, len(str(parsed.national_number)) - 2)
    digits_seen, total = 0, sum(ch.isdigit() for ch in written)
    out = []
    for ch in written:
        if ch.isdigit():
            digits_seen += 1
            ch = ch if digits_seen <= keep_front or digits_seen > total - 2 else MASK
        out.append(ch)
    return "".join(out)


def _parsed(value: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(value, "TR")
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_possible_number(parsed) else None


def email(value: str | None) -> str | None:
    """``ayse.yilmaz@gmail.com`` → ``a***@gmail.com``: the provider tells nobody who it is."""
    if not value or "@" not in value:
        return text(value)
    local, _, domain = value.rpartition("@")
    return f"{local[:1]}{MASK * 3}@{domain}"


def text(value: Any) -> Any:
    """Any other personal value (a chosen custom field): its first character only."""
    if value is None or value == "":
        return value
    shown = str(value)
    return f"{shown[:1]}{MASK * 3}"


def handle(value: str | None) -> str | None:
    """A contact's id on a channel: a WhatsApp or SMS id is their number."""
    if value and value.lstrip("+").isdigit():
        return phone(value if value.startswith("+") else f"+{value}")
    return text(value)


KINDS = {"phone": phone, "email": email, "handle": handle, "text": text}


def in_text(value: str) -> str:
    """Phone numbers and e-mail addresses inside free text (log lines)."""
    value = _EMAIL_IN_TEXT.sub(lambda m: email(m.group(0)) or "", value)

    def number(match: re.Match) -> str:
        parsed = _parsed(match.group(0))
        valid = parsed is not None and phonenumbers.is_valid_number(parsed)
        return (phone(match.group(0)) or "") if valid else match.group(0)
    return _PHONE_IN_TEXT.sub(number, value)


class Masker:
    """What one actor may see: everything with the permission, masked values without it."""

    def __init__(self, actor: Actor | None, personal_fields: Iterable[str] = ()):
        self.active = actor is None or not actor.can(Permission.SEE_PERSONAL_DATA)
        self.personal_fields = frozenset(personal_fields)

    def phone(self, value: str | None) -> str | None:
        return phone(value) if self.active else value

    def email(self, value: str | None) -> str | None:
        return email(value) if self.active else value

    def custom_fields(self, values: dict[str, Any]) -> dict[str, Any]:
        if not self.active or not self.personal_fields:
            return values
        return {key: text(value) if key in self.personal_fields else value
                for key, value in values.items()}

    def display_name(self, name: str | None, phone_value: str | None,
                     email_value: str | None) -> str:
        """How a contact is called in lists: the name, else the (masked) number or address."""
        return name or self.phone(phone_value) or self.email(email_value) or ""


def redact_log_values(_logger, _method, event_dict):
    """structlog processor: no phone number or e-mail address is written to a log in clear."""
    for key, value in event_dict.items():
        if isinstance(value, str) and key not in ("timestamp", "level", "logger",
                                                  "request_id", "tenant_id", "user_id"):
            event_dict[key] = in_text(value)
    return event_dict

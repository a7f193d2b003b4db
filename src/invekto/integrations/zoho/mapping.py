"""Which of our contact's values go to which Zoho CRM field, and back.

The company writes the mapping as ``ours=Zoho_API_Name`` pairs, separated by commas or new
lines: ``first_name=First_Name, last_name=Last_Name, phone=Mobile, email=Email,
custom.city=City``. Ours are ``name`` (the whole display name), ``first_name`` and
``last_name`` (the display name split at its last space), ``phone`` (E.164), ``email`` and
``custom.<key>`` (a custom field). Zoho's are field API names (Setup > Developer Hub > APIs >
API Names). Zoho requires ``Last_Name`` on Leads and Contacts, and the upsert needs a phone or
e-mail field to find an existing record by.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from typing import Any

from invekto.contacts.models import Contact
from invekto.core.errors import ValidationFailed
from invekto.core.phone import to_e164

FIELD = "field_mapping"
DEFAULT_MAPPING = "first_name=First_Name, last_name=Last_Name, phone=Phone, email=Email"
OURS = ("name", "first_name", "last_name", "phone", "email")
_ZOHO_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_CUSTOM_KEY = re.compile(r"^custom\.[a-z][a-z0-9_]{0,39}$")


def parse(text: str) -> dict[str, str]:
    """``{ours: Zoho field}``; a malformed mapping is refused naming the setting."""
    mapping: dict[str, str] = {}
    for part in re.split(r"[,\n]", text or DEFAULT_MAPPING):
        part = part.strip()
        if not part:
            continue
        ours, sep, theirs = (s.strip() for s in part.partition("="))
        if not sep or not ours or not theirs:
            raise ValidationFailed("write each pair as ours=Zoho_Field, not %(pair)s",
                                   field=FIELD, params={"pair": part})
        if ours not in OURS and not _CUSTOM_KEY.match(ours):
            raise ValidationFailed("%(ours)s is none of %(known)s or custom.<key>", field=FIELD,
                                   params={"ours": ours, "known": ", ".join(OURS)})
        if not _ZOHO_NAME.match(theirs):
            raise ValidationFailed("%(theirs)s is not a Zoho field API name", field=FIELD,
                                   params={"theirs": theirs})
        if ours in mapping:
            raise ValidationFailed("%(name)s is mapped twice", field=FIELD,
                                   params={"name": ours})
        if theirs in mapping.values():
            raise ValidationFailed("%(name)s is mapped twice", field=FIELD,
                                   params={"name": theirs})
        mapping[ours] = theirs
    if "last_name" not in mapping and "name" not in mapping:
        raise ValidationFailed("map last_name (or name) to Zoho's Last_Name", field=FIELD)
    if "phone" not in mapping and "email" not in mapping:
        raise ValidationFailed("map phone or email: Zoho finds existing records by them",
                               field=FIELD)
    return mapping


def split_name(name: str) -> tuple[str, str]:
    """("Ayşe", "Yılmaz") of "Ayşe Yılmaz"; a one-word name is the last name."""
    first, _, last = name.strip().rpartition(" ")
    return first.strip(), last.strip()


def ours_of(contact: Contact, mapping: dict[str, str]) -> dict[str, Any]:
    """The mapped values of our contact, by our names."""
    first, last = split_name(contact.name or "")
    values: dict[str, Any] = {}
    for ours in mapping:
        if ours == "name":
            values[ours] = contact.name or None
        elif ours == "first_name":
            values[ours] = first or None
        elif ours == "last_name":
            # Zoho refuses a Lead or Contact without a last name: a nameless contact is known
            # by its number or address there.
            values[ours] = last or contact.phone or contact.email or "-"
        elif ours in ("phone", "email"):
            values[ours] = getattr(contact, ours)
        else:
            value = (contact.custom_fields or {}).get(ours.removeprefix("custom."))
            values[ours] = None if value is None else str(value)
    return values


def record_of(values: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """The Zoho record body: empty values left out, so a value Zoho has and we lack is kept."""
    return {mapping[ours]: value for ours, value in values.items() if value not in (None, "")}


def fingerprint(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, ensure_ascii=False,
                                     default=str).encode()).hexdigest()


def changes_from(record: dict[str, Any], contact: Contact | None,
                 mapping: dict[str, str]) -> dict[str, Any]:
    """What a Zoho record says our contact's fields should be (``name``, ``phone``, ``email``,
    ``custom_fields``), only those it has a value for and that differ from ``contact``'s. A
    phone Zoho holds that is no valid number is left out."""
    found: dict[str, Any] = {}
    if "name" in mapping and record.get(mapping["name"]):
        found["name"] = str(record[mapping["name"]]).strip()
    elif "first_name" in mapping or "last_name" in mapping:
        parts = [str(record.get(mapping[k]) or "").strip() for k in ("first_name", "last_name")
                 if k in mapping]
        name = " ".join(p for p in parts if p)
        if name and name != "-":
            found["name"] = name[:200]
    if "phone" in mapping and record.get(mapping["phone"]):
        with contextlib.suppress(ValidationFailed):
            found["phone"] = to_e164(str(record[mapping["phone"]]))
    if "email" in mapping and record.get(mapping["email"]):
        found["email"] = str(record[mapping["email"]]).strip().lower()
    custom = {ours.removeprefix("custom."): record[theirs] for ours, theirs in mapping.items()
              if ours.startswith("custom.") and record.get(theirs) not in (None, "")}
    if contact is None:
        if custom:
            found["custom_fields"] = custom
        return found
    changed = {key: value for key, value in found.items() if getattr(contact, key) != value}
    custom = {k: v for k, v in custom.items() if (contact.custom_fields or {}).get(k) != v}
    if custom:
        changed["custom_fields"] = custom
    return changed

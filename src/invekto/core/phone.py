"""Phone numbers in E.164, parsed with libphonenumber; Türkiye is the default region."""

from __future__ import annotations

import phonenumbers

from invekto.core.errors import ValidationFailed


def to_e164(raw: str, *, region: str = "TR", field: str = "phone") -> str:
    """``0532 123 45 67``, ``+90 (532) 123-4567`` and ``905321234567`` give ``+905321234567``."""
    text = raw.strip()
    if text.isdigit() and len(text) > 10 and not text.startswith("0"):
        text = "+" + text  # WhatsApp and most providers send international numbers without "+"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed("'%(raw)s' is not a phone number", field=field,
                               params={"raw": raw}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed("'%(raw)s' is not a valid phone number", field=field,
                               params={"raw": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

"""How long an SMS is: the parts ("segments") a text goes out as, each billed. GSM 03.38 (3GPP TS
23.038) packs 160 seven-bit characters in one message, 153 per part once it needs several; a text
with any character outside the GSM alphabet goes as UCS-2: 70, or 67 per part. Turkish letters
ğ ı ş Ğ İ Ş ç are not in the GSM alphabet, but the Turkish national single-shift table reaches
them (2 septets each) at the cost of a 3-byte header: 155, or 149 per part. Netgsm sends with that
table (``encoding: TR``); Twilio does not. Written here rather than taken from a library: none
kept on PyPI handles national shift tables (smsutil, the closest, knows GSM-7 and UCS-2 only).
"""

from __future__ import annotations

from dataclasses import dataclass

# The default alphabet (one septet each) and its extension table (escape + one septet).
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_EXTENSION = frozenset("\f^{}\\[~]|€")
# The Turkish single-shift table: the extension's characters and Turkey's own letters.
_TURKISH_SHIFT = _EXTENSION | frozenset("ĞİŞçğış")

# Units per message: (alone, per part of a longer text).
_CAPACITY = {"GSM-7": (160, 153), "GSM-7 Turkish": (155, 149), "UCS-2": (70, 67)}
# Providers that send with the Turkish single-shift table.
TURKISH_SHIFT_KINDS = ("sms_netgsm",)
SMS_KINDS = ("sms_twilio", "sms_netgsm")


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # GSM-7, GSM-7 Turkish or UCS-2
    characters: int
    segments: int  # 0 for an empty text
    per_segment: int  # what one part holds at this length (160, 153, 70...)
    remaining: int  # units still free in the last part


def sms_length(text: str, *, turkish_shift: bool = False) -> SmsLength:
    """``text``'s encoding and parts. A two-unit character (an escaped GSM character, a UCS-2
    surrogate pair) never straddles two parts, as phones and providers split them."""
    if all(c in _BASIC or c in _EXTENSION for c in text):
        encoding, costs = "GSM-7", [2 if c in _EXTENSION else 1 for c in text]
    elif turkish_shift and all(c in _BASIC or c in _TURKISH_SHIFT for c in text):
        encoding, costs = "GSM-7 Turkish", [2 if c in _TURKISH_SHIFT else 1 for c in text]
    else:
        encoding, costs = "UCS-2", [len(c.encode("utf-16-le")) // 2 for c in text]
    alone, per_part = _CAPACITY[encoding]
    total = sum(costs)
    if total <= alone:
        return SmsLength(encoding, len(text), 1 if text else 0, alone, alone - total)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            segments, used = segments + 1, 0
        used += cost
    return SmsLength(encoding, len(text), segments, per_part, per_part - used)


# What a customer writes to stop marketing SMS (İYS's RET, and the usual words), as the first word
# of the message, in any case ("iptal", "Ret ACME").
OPT_OUT_WORDS = frozenset({"STOP", "İPTAL", "IPTAL", "RET"})


def opt_out_word(text: str) -> str | None:
    """The opt-out word ``text`` starts with, upper-cased the Turkish way, or None."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return None
    first = words[0].strip(".!,;:").replace("i", "İ").replace("ı", "I").upper()
    return first if first in OPT_OUT_WORDS else None

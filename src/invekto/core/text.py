"""Turkish-aware text folding for search. Matches SQL ``lower(unaccent(x))``: both sides of a
comparison drop diacritics and case, so 'ŞÜKRÜ', 'şükrü' and 'sukru' meet; dotted and dotless
i (İ, I, ı, i) all fold to 'i'."""

from __future__ import annotations

import unicodedata

_TURKISH = str.maketrans({"İ": "i", "I": "i", "ı": "i"})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().translate(_TURKISH))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def clean_text(text: str) -> str:
    """Typed text as stored: trimmed, with one kind of line break (browsers send form fields
    with CRLF; WhatsApp and the rest expect LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

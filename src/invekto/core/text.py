"""Turkish-aware text: folding for search, keyword matching, and companies' own patterns (RE2).

Folding matches SQL ``lower(unaccent(x))``: both sides of a comparison drop diacritics and case,
so 'ŞÜKRÜ', 'şükrü' and 'sukru' meet; dotted and dotless i (İ, I, ı, i) all fold to 'i'."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

import re2

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


# A word: a run of letters and digits (after folding, so "İstanbul'a" is "istanbul", "a").
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The folded words of ``text``."""
    return _WORD.findall(fold(text))


def keyword_match(text: str, keywords: Iterable[str]) -> str | None:
    """The first of ``keywords`` that ``text`` contains, as a customer would mean it: both
    folded (case, accents, Turkish İ/ı), a one-word keyword matching a word that starts with it
    ("fiyat" matches "FİYAT", "Fiyatı", "fiyatlar", not "afiyat"), a keyword of several words
    matching consecutive words, the last by its start ("randevu al" matches "Randevu almak
    istiyorum", not "randevumu almak"). Turkish is agglutinative: suffixes follow the stem, so
    a prefix match finds the inflected forms a whole-word match would miss. None when none
    matches."""
    found = words(text)
    if not found:
        return None
    for keyword in keywords:
        wanted = words(keyword)
        if not wanted:
            continue
        *head, last = wanted
        for start in range(len(found) - len(wanted) + 1):
            window = found[start:start + len(wanted)]
            if window[:-1] == head and window[-1].startswith(last):
                return keyword
    return None


class PatternError(ValueError):
    """A regular expression RE2 cannot read (the reason in English, from RE2)."""


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re2._Regexp:
    """A company's regular expression (a rule's condition, a chatbot's input check), matched
    case-insensitively by RE2: its time grows with the text only, whatever the pattern, so a
    pattern typed in the settings can never stall the ingest the way a backtracking engine's
    nested repetition can. RE2 has no backreferences or lookarounds; such a pattern is refused
    when it is saved."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else b""
        raise PatternError(reason.decode(errors="replace") if isinstance(reason, bytes)
                           else str(reason)) from exc


def pattern_search(pattern: str, text: str) -> str | None:
    """What of ``text`` the pattern finds, trying the text as typed and then folded (so
    "fiyat" finds "FİYAT", whose dotted capital no case rule turns into "i"); None if nothing."""
    compiled = compile_pattern(pattern)
    found = compiled.search(text) or compiled.search(fold(text))
    return found.group(0) if found else None

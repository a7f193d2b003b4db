"""Languages: both catalogues complete for every string in the code, placeholders intact, and
dates, numbers and Turkish casing right."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from invekto.core import catalogue, i18n
from invekto.core.text import fold

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def source_ids() -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue.extract() if m.id}


def test_the_code_has_translatable_strings(source_ids):
    # The extraction itself works (a broken babel.cfg would make the checks below vacuous).
    assert {"Log in", "Internal note", "conversation not found"} <= source_ids
    assert len(source_ids) > 200


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_string_in_the_code_is_translated(language, source_ids):
    catalog = catalogue.read(language)
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    missing = sorted(source_ids - set(translated))
    assert missing == [], f"run `make messages`: not in {language}.po: {missing[:10]}"
    empty = sorted(i for i in source_ids if not catalogue.is_translated(translated[i]))
    assert empty == [], f"untranslated in {language}.po: {empty[:10]}"
    fuzzy = sorted(i for i in source_ids if translated[i].fuzzy)
    assert fuzzy == [], f"fuzzy in {language}.po: {fuzzy[:10]}"
    stale = sorted(set(translated) - source_ids)
    assert stale == [], f"run `make messages`: no longer in the code: {stale[:10]}"


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_translations_keep_their_placeholders(language):
    for message in catalogue.read(language):
        if not message.id or not message.string:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        strings = [message.string] if isinstance(message.string, str) else message.string
        for string in filter(None, strings):  # empty ones: the completeness test
            assert set(_PLACEHOLDER.findall(string)) == set(_PLACEHOLDER.findall(source)), (
                source, string)


def test_text_translates_and_fills_placeholders():
    assert i18n.text("tr", "Log in") == "Giriş yap"
    assert i18n.text("en", "Log in") == "Log in"
    assert i18n.text("tr", "Too many failed attempts. Try again in %(minutes)s minutes.",
                     minutes=15) == "Çok fazla hatalı deneme. 15 dakika sonra tekrar deneyin."
    # An unknown language or string falls back to the English source, never an error.
    assert i18n.text("de", "Log in") == "Log in"
    assert i18n.text("tr", "No such string in the catalogue") == "No such string in the catalogue"


def test_language_choice_order():
    assert i18n.pick_language(explicit="en", cookie="tr", accept_language="tr") == "en"
    assert i18n.pick_language(explicit=None, cookie="en", accept_language="tr") == "en"
    assert i18n.pick_language(explicit="xx", cookie=None,
                              accept_language="de-DE,en;q=0.8") == "en"
    assert i18n.pick_language(explicit=None, cookie=None, accept_language=None) == "tr"


def test_dates_and_numbers_follow_the_locale_and_the_company_time_zone():
    moment = datetime(2026, 3, 5, 21, 30, tzinfo=UTC)  # 00:30 on the 6th in Istanbul
    turkish, english = i18n.Formatter("tr"), i18n.Formatter("en")
    assert turkish.time(moment) == "00:30"
    assert turkish.date(moment) == "6 Mart 2026"
    assert english.date(moment) == "March 6, 2026"
    assert turkish.number(1234.5) == "1.234,5"
    assert english.number(1234.5) == "1,234.5"
    assert turkish.file_size(1536) == "1,5 kB"
    now = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    assert turkish.day(moment, now=now) == "Bugün"
    assert english.day(moment - timedelta(days=1), now=now) == "Yesterday"
    assert turkish.waiting(now - timedelta(minutes=5), now=now) == "5 dk."
    assert english.waiting(now - timedelta(minutes=5), now=now) == "5 min"
    london = i18n.Formatter("en", "Europe/London")
    assert london.time(moment) == "9:30\u202fPM"


@pytest.mark.parametrize(("typed", "stored"), [
    ("İSTANBUL", "istanbul"), ("ISPARTA", "isparta"), ("ılık", "ilik"), ("Şükrü", "sukru"),
    ("ÇAĞLAR", "caglar"), ("Göreme", "goreme")])
def test_turkish_letters_fold_for_comparison(typed, stored):
    assert fold(typed) == fold(stored) == stored

"""Keyword matching as customers write: Turkish case and accents folded, words matched from
their start (Turkish suffixes follow the stem), several-word keywords word by word."""

import pytest

from invekto.core.text import keyword_match, words


@pytest.mark.parametrize("text", ["FİYAT nedir?", "Fiyatı ne kadar", "fiyatlar güncel mi",
                                  "Bu ürünün fiyatını öğrenebilir miyim", "fiyat"])
def test_fiyat_matches_its_forms_in_any_case(text):
    assert keyword_match(text, ["fiyat"]) == "fiyat"


def test_a_keyword_typed_with_turkish_letters_matches_text_typed_without_them():
    assert keyword_match("sikayetim var", ["şikayet"]) == "şikayet"
    assert keyword_match("ŞİKAYET", ["sikayet"]) == "sikayet"


@pytest.mark.parametrize("text", ["İstanbul", "istanbul", "ISTANBUL", "İSTANBUL'a gidiyorum",
                                  "ıstanbul"])
def test_dotted_and_dotless_i_meet(text):
    assert keyword_match(text, ["İstanbul"]) == "İstanbul"
    assert keyword_match(text, ["istanbul"]) == "istanbul"


@pytest.mark.parametrize("text", ["afiyet olsun", "afiyat", "kafiyat", "ftyat", "fiyaat"])
def test_a_word_that_only_contains_the_keyword_does_not_match(text):
    assert keyword_match(text, ["fiyat"]) is None


def test_several_words_match_consecutive_words_the_last_by_its_start():
    assert keyword_match("Randevu almak istiyorum", ["randevu al"]) == "randevu al"
    assert keyword_match("RANDEVU ALABİLİR MİYİM", ["randevu al"]) == "randevu al"
    assert keyword_match("randevumu almak istiyorum", ["randevu al"]) is None
    assert keyword_match("almak randevu", ["randevu al"]) is None


def test_the_first_keyword_that_matches_is_returned():
    assert keyword_match("kargom nerede", ["iade", "kargo", "nerede"]) == "kargo"
    assert keyword_match("merhaba", ["iade", "kargo"]) is None


def test_punctuation_and_empty_keywords_are_ignored():
    assert keyword_match("...fiyat?!", ["fiyat"]) == "fiyat"
    assert keyword_match("fiyat", ["", "  ", "!!"]) is None
    assert keyword_match("", ["fiyat"]) is None
    assert words("Kargo-takip no: 12AB") == ["kargo", "takip", "no", "12ab"]

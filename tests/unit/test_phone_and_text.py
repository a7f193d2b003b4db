import pytest

from invekto.core.errors import ValidationFailed
from invekto.core.phone import to_e164
from invekto.core.text import fold, like_pattern


@pytest.mark.parametrize("raw", ["0532 123 45 67", "+90 (532) 123-4567", "905321234567",
                                 "532 123 4567", "+905321234567", " 0 532 123 45 67 "])
def test_turkish_numbers_in_any_common_form_become_e164(raw):
    assert to_e164(raw) == "+905321234567"


def test_foreign_numbers_keep_their_country():
    assert to_e164("+44 7911 123456") == "+447911123456"
    assert to_e164("447911123456") == "+447911123456"  # as WhatsApp sends it


@pytest.mark.parametrize("raw", ["abc", "123", "+90 532", "0532 123 45 6"])
def test_non_numbers_are_refused_naming_the_field(raw):
    with pytest.raises(ValidationFailed) as error:
        to_e164(raw, field="contact.phone")
    assert error.value.field == "contact.phone"


@pytest.mark.parametrize(("text", "folded"), [
    ("ŞÜKRÜ Çelik", "sukru celik"), ("İlker", "ilker"), ("IŞIK", "isik"), ("ığdır", "igdir"),
    ("Gülüş", "gulus"), ("  Öztürk ", "ozturk")])
def test_folding_removes_turkish_case_and_accents(text, folded):
    assert fold(text) == folded


def test_like_patterns_escape_wildcards():
    assert like_pattern("100%_a\\b") == "%100\\%\\_a\\\\b%"

"""Reading customers' answers: options by tap, number or title; typed values as phone numbers,
e-mail addresses, dates, numbers (the Turkish decimal comma) and patterns; and as the custom
field they are saved into."""

from __future__ import annotations

import pytest

from invekto.flows import answers

NODE = {"options": [{"id": "a", "title": "Fiyat bilgisi"}, {"id": "b", "title": "Randevu"},
                    {"id": "c", "title": "Randevu iptali"}]}


@pytest.mark.parametrize(("text", "tapped", "chosen"), [
    ("", "q:b", "b"),  # a tap of this question's button
    ("Fiyat bilgisi", "other:b", "a"),  # an older question's button: read as typed
    ("2", None, "b"), ("3.", None, "c"), ("4", None, None), ("0", None, None),
    ("FİYAT BİLGİSİ", None, "a"), ("fiyat", None, "a"), ("fiyatlar nedir", None, None),
    ("randev", None, None),  # both "Randevu" options fit as well: not a choice
    ("randevu iptal", None, "c"),  # the option matched by more words
    ("randevu", None, "b"),  # the exact title wins
    ("bilmiyorum", None, None),
])
def test_an_option_is_a_tap_a_number_or_a_title(text, tapped, chosen):
    option = answers.option_for("q", NODE, text, tapped)
    assert (option["id"] if option else None) == chosen


@pytest.mark.parametrize(("validate", "text", "value"), [
    ("phone", "0532 123 45 67", "+905321234567"), ("phone", "+49 30 901820", "+4930901820"),
    ("email", " Ali@Example.COM ", "ali@example.com"),
    ("date", "15.03.2026", "2026-03-15"), ("date", "5/3/2026", "2026-03-05"),
    ("date", "2026-03-15", "2026-03-15"),
    ("number", "72,5", 72.5), ("number", "1.500", 1500), ("number", "1.234,56", 1234.56),
    ("number", "12.5", 12.5), ("number", " 3 ", 3),
    ("text", "  Ayşe  ", "Ayşe"),
])
def test_typed_values_are_read(validate, text, value):
    assert answers.parse(validate, text) == value


@pytest.mark.parametrize(("validate", "text"), [
    ("phone", "123"), ("phone", "telefonum yok"), ("email", "ali@"), ("email", "a b@c.de"),
    ("date", "31.02.2026"), ("date", "yarın"), ("date", "2026-13-01"),
    ("number", "yetmiş"), ("number", "nan"), ("number", "inf"), ("text", "   "),
    ("text", "x" * 1001),
])
def test_wrong_values_are_invalid(validate, text):
    with pytest.raises(answers.Invalid):
        answers.parse(validate, text)


def test_a_pattern_must_match_the_whole_answer():
    assert answers.parse("regex", "abc-123", "[A-Z]{3}-\\d{3}") == "abc-123"
    with pytest.raises(answers.Invalid):
        answers.parse("regex", "abc-1234", "[A-Z]{3}-\\d{3}")


def test_values_are_read_as_the_custom_field_they_go_into():
    fields = {"sehir": {"type": "select", "options": ["İstanbul", "Ankara"]},
              "vip": {"type": "boolean"}, "site": {"type": "url"}}
    assert answers.for_target("custom.sehir", "istanbul", fields) == "İstanbul"
    assert answers.for_target("custom.vip", "Evet", fields) is True
    assert answers.for_target("custom.vip", "hayır", fields) is False
    assert answers.for_target("var.x", {"a": 1}, fields) == {"a": 1}
    for target, value in (("custom.sehir", "İzmir"), ("custom.vip", "belki"),
                          ("custom.site", "www.example.com"), ("custom.yok", "x"),
                          ("contact.name", " ")):
        with pytest.raises(answers.Invalid):
            answers.for_target(target, value, fields)

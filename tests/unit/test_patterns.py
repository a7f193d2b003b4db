"""Companies' own regular expressions (rule conditions, chatbot input checks) run on RE2."""

from __future__ import annotations

import pytest

from invekto.automation import conditions
from invekto.core.errors import ValidationFailed
from invekto.core.text import PatternError, compile_pattern, pattern_search
from invekto.flows import answers


def test_patterns_ignore_case_and_meet_turkish_capitals():
    assert pattern_search(r"fiyat\w*", "FİYATLARINIZ nedir?") == "fiyatlariniz"
    assert pattern_search(r"\b\d{6}\b", "Sipariş no 123456, kargo?") == "123456"
    assert pattern_search(r"iade", "Ürünü değiştirmek istiyorum") is None


@pytest.mark.parametrize("pattern, text", [
    (r"([a-z]+)+-\d", "a" * 50_000 + "!"),
    (r"\w*\w*\w*\w*\w*!", "a" * 4096),
    (r"(a|a)*$x", "a" * 10_000),
])
def test_patterns_that_backtracking_engines_choke_on_simply_do_not_match(pattern, text):
    # With Python's re these take seconds to ages (nested repetition); RE2 is linear.
    assert compile_pattern(pattern).search(text) is None


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?<=x)y", "(unclosed"])
def test_what_re2_cannot_run_is_refused_when_a_rule_is_saved(pattern):
    with pytest.raises(PatternError):
        compile_pattern(pattern)
    condition = {"all": [{"field": "message.text", "op": "matches", "value": pattern}]}
    with pytest.raises(ValidationFailed) as refused:
        conditions.validate(condition)
    assert refused.value.field == "conditions.all.0.value"


def test_a_chatbot_input_pattern_is_matched_whole_and_case_blind():
    assert answers.parse("regex", "ab-1234", r"[a-z]{2}-\d{4}") == "ab-1234"
    assert answers.parse("regex", "AB-1234", r"[a-z]{2}-\d{4}") == "AB-1234"
    with pytest.raises(answers.Invalid):
        answers.parse("regex", "xab-1234", r"[a-z]{2}-\d{4}")

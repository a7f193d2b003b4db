"""Variables in the company's texts: filled for one customer, defaults, refusals at save time
(unknown names, statements, function calls), and nothing of the sandbox reachable."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from invekto.core.errors import ValidationFailed
from invekto.replies.variables import Values, check, render

AYSE = Values(contact_name="Ayşe Yılmaz", contact_phone="+905321112233",
              contact_email="ayse@example.com", custom={"sigorta": "SGK"},
              agent_name="Bora Demir", company_name="Gülüş Diş", today="26.11.2026")


def test_variables_are_filled():
    text = ("Merhaba {{ contact.first_name }}, ben {{ agent.first_name }} ({{ company.name }}). "
            "Sigortanız: {{ contact.custom.sigorta }}. {{ today }}")
    check(text, ("sigorta",))
    assert render(text, AYSE) == ("Merhaba Ayşe, ben Bora (Gülüş Diş). Sigortanız: SGK. "
                                  "26.11.2026")


def test_a_missing_value_takes_the_default_or_stays_empty():
    assert render('{{ contact.custom.kan_grubu | default("bilinmiyor") }}', AYSE) == "bilinmiyor"
    assert render("[{{ contact.custom.kan_grubu }}]", AYSE) == "[]"
    assert render("{{ contact.name | upper }}", AYSE) == "AYŞE YILMAZ"


def test_a_text_without_variables_is_left_as_it_is():
    assert render("Fiyat: 100 TL {değil}", AYSE) == "Fiyat: 100 TL {değil}"


@pytest.mark.parametrize(("text", "fragment"), [
    ("{{ contact.surname }}", "contact.surname"),
    ("{{ customer.name }}", "customer"),
    ("{{ contact.custom.yok }}", "contact.custom.yok"),
    ("{{ agent.name.upper }}", "agent.name.upper"),
])
def test_unknown_variables_are_refused_by_name(text, fragment):
    with pytest.raises(ValidationFailed) as refused:
        check(text, ("sigorta",))
    assert refused.value.field == "body" and fragment in str(refused.value)


@pytest.mark.parametrize("text", [
    "{% for x in contact %}x{% endfor %}", "{{ range(10) }}", "{{ contact.name.__class__ }}",
    "{{ lipsum() }}", "{{ contact.name", "{% set a = 1 %}",
])
def test_statements_calls_internals_and_broken_texts_are_refused(text):
    with pytest.raises(ValidationFailed):
        check(text, ())


def test_the_sandbox_gives_nothing_even_when_unchecked():
    # A text saved before checking existed must still not reach internals when rendered.
    with pytest.raises((UndefinedError, SecurityError)):
        render("{{ contact.__class__.__mro__ }}", AYSE)


def test_a_campaign_lists_columns_are_row_variables_only_where_a_list_is_sent():
    text = "Sayın {{ contact.name }}, {{ row.siparis_no }} / {{ row['Kargo Firması'] }}"
    check(text, row_keys=("siparis_no", "Kargo Firması"))
    with pytest.raises(ValidationFailed, match="variable"):
        check(text)  # no list: no row
    with pytest.raises(ValidationFailed, match="variable"):
        check("{{ row.yok }}", row_keys=("siparis_no",))
    with_row = Values(contact_name="İpek Şahin", row={"siparis_no": "TR-1"})
    assert render(text, with_row) == "Sayın İpek Şahin, TR-1 / "  # a missing cell is empty

"""Texts in a flow: the company's variables (``replies.variables``: ``{{ contact.first_name }}``)
plus what the flow captured, ``{{ var.<name> }}`` (``{{ var.order.status }}`` for a look-up's
answer). ``replies.variables`` checks and renders; the ``var`` namespace is handled here by
rewriting it to the ``row`` namespace it renders with, so a customer's answer is only ever a
value, never template text."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from invekto.core.errors import ValidationFailed
from invekto.replies import variables

VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
_BLOCK = re.compile(r"\{\{.*?\}\}", re.DOTALL)
# ``var`` as a name of its own (not ``x.var`` nor ``myvar``), with its attribute chain.
_VAR = re.compile(r"(?<![\w.])var((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\b")


def var_references(text: str) -> list[str]:
    """The dotted names after ``var.`` used in ``text``'s ``{{ }}`` blocks (``order.status``)."""
    return [m.group(1).lstrip(".") for block in _BLOCK.findall(text or "")
            for m in _VAR.finditer(block)]


def check(text: str, *, custom_keys: tuple[str, ...], var_names: set[str] | None,
          field: str) -> None:
    """Refuse a text that would not render, naming ``field``. ``var_names``: the variables the
    flow fills (None: any name)."""
    if "{" not in (text or ""):
        return
    for reference in var_references(text):
        name = reference.split(".")[0]
        if not name or (var_names is not None and name not in var_names):
            raise ValidationFailed("there is no variable %(name)s", field=field,
                                   params={"name": f"var.{reference}".rstrip(".")})
    # Checked as the company's own text, each ``var...`` standing for a known variable.
    plain = _BLOCK.sub(lambda b: _VAR.sub("company.name", b.group(0)), text)
    variables.check(plain, custom_keys, field=field)


def render(text: str, values: variables.Values, flow_variables: dict,
           quote: Callable[[str], str] | None = None) -> str:
    """``text`` with the company's variables and the flow's filled; a variable the flow has
    not filled renders empty. ``quote``: applied to the flow's values (a URL's parts)."""
    if "{" not in (text or ""):
        return text or ""
    rewritten = _BLOCK.sub(lambda b: _VAR.sub(lambda m: "row" + m.group(1), b.group(0)), text)
    row = _loose(flow_variables, quote)
    try:
        return variables.render(rewritten, dataclasses.replace(values, row=row))
    except Exception:  # a draft's text in the test panel (published texts are checked)
        return text


class _Loose(dict):
    """The flow's variables as a text reads them: what is missing renders empty."""

    def __missing__(self, key: str) -> str:
        return ""


def _loose(value: Any, quote: Callable[[str], str] | None) -> Any:
    if isinstance(value, dict):
        return _Loose({str(k): _loose(v, quote) for k, v in value.items()})
    if isinstance(value, list):
        return [_loose(v, quote) for v in value]
    if quote is not None and value is not None:
        return quote(value if isinstance(value, str) else str(value))
    return value

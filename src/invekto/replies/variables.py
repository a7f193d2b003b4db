"""Variables in the texts a company writes once and sends many times (quick replies, welcome,
away and closing messages): ``{{ contact.first_name }}``, ``{{ agent.name }}``,
``{{ contact.custom.sigorta | default("—") }}``.

Rendered by Jinja2's immutable sandbox with only the names below: no attribute of anything else,
no function to call, no loop or macro (a text is a message, not a program), and a length limit
on the result. A text is checked when it is saved (``check``): an unknown variable or a
statement is refused then, naming the variable, not discovered when the message goes out.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from invekto.core.errors import ValidationFailed

# What each object offers. ``contact.custom`` holds the company's custom fields by key.
FIELDS: dict[str, tuple[str, ...]] = {
    "contact": ("name", "first_name", "phone", "email", "custom"),
    "agent": ("name", "first_name"),
    "company": ("name",),
}
GLOBALS = ("today",)
MAX_RENDERED = 4096
_FILTERS = ("default", "upper", "lower", "title", "capitalize", "trim")


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()  # no range(), lipsum(), dict()...
    env.filters = {name: env.filters[name] for name in _FILTERS}
    env.tests = {}
    return env


_ENV = _environment()


@dataclass(frozen=True)
class Values:
    """What a text is rendered with: one conversation's contact, the agent, the company."""

    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    custom: Mapping[str, Any] = field(default_factory=dict)
    agent_name: str = ""
    company_name: str = ""
    today: str = ""
    # A campaign's uploaded list: the recipient's row, by column (``{{ row.siparis_no }}``).
    row: Mapping[str, Any] = field(default_factory=dict)
    # What the event behind an automatic message offers (``{{ order.number }}``), by object.
    extra: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    language: str = "tr"  # the company's, for what ``extra`` formats

    def context(self) -> dict[str, Any]:
        return {
            "contact": {"name": self.contact_name, "first_name": _first(self.contact_name),
                        "phone": self.contact_phone, "email": self.contact_email,
                        "custom": dict(self.custom)},
            "agent": {"name": self.agent_name, "first_name": _first(self.agent_name)},
            "company": {"name": self.company_name},
            "today": self.today,
            "row": _EmptyCustom(self.row),
            # Attributes, not a dict: ``{{ order.items }}`` must not find dict.items.
            **{name: SimpleNamespace(**values) for name, values in self.extra.items()},
        }


def _first(name: str) -> str:
    return name.split()[0] if name.split() else ""


def check(text: str, custom_keys: tuple[str, ...] = (), *, field: str = "body",
          row_keys: tuple[str, ...] | None = None,
          extra: Mapping[str, tuple[str, ...]] | None = None) -> None:
    """Refuse (naming ``field``) a text that would not render: a syntax error, a statement
    (``{% … %}``), or a variable that does not exist (custom fields: the company's keys;
    ``row``: the uploaded list's columns, when the text is sent to one; ``extra``: what the
    event behind an automatic message offers, ``{"order": ("number", ...)}``)."""
    if "{" not in text:
        return
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise ValidationFailed("the variables in this text cannot be read: %(error)s",
                               field=field, params={"error": exc.message or ""}) from exc
    if any(not isinstance(node, nodes.Output) for node in tree.body):
        raise ValidationFailed("only {{ variables }} are allowed in this text, no statements",
                               field=field)
    for found in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem)):
        name = _dotted(found)
        if name is not None and not _known(name, custom_keys, row_keys, extra or {}):
            raise ValidationFailed("there is no variable %(name)s", field=field,
                                   params={"name": name})
    if any(True for _ in tree.find_all(nodes.Call)):
        raise ValidationFailed("functions cannot be called in this text", field=field)


def _dotted(node: nodes.Node) -> str | None:
    """``contact.custom.sigorta`` for the outermost attribute chain, None for inner links."""
    parts: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "?")
        parts.append(str(key))
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    parts.append(node.name)
    return ".".join(reversed(parts))


def _known(name: str, custom_keys: tuple[str, ...], row_keys: tuple[str, ...] | None,
           extra: Mapping[str, tuple[str, ...]]) -> bool:
    parts = name.split(".")
    if parts[0] == "row" and row_keys is not None:
        return len(parts) == 1 or (len(parts) == 2 and parts[1] in row_keys)
    if parts[0] in extra:
        return len(parts) == 1 or (len(parts) == 2 and parts[1] in extra[parts[0]])
    if parts[0] in GLOBALS:
        return len(parts) == 1
    if parts[0] not in FIELDS:
        return False
    if len(parts) == 1:
        return True  # an inner link of a longer chain is checked as that chain
    if parts[1] not in FIELDS[parts[0]]:
        return False
    if parts[:2] == ["contact", "custom"]:
        return len(parts) <= 3 and (len(parts) == 2 or parts[2] in custom_keys)
    return len(parts) == 2


def render(text: str, values: Values) -> str:
    """The text with its variables filled; a missing value (an empty custom field) renders
    empty unless the text gives a ``default``."""
    if "{" not in text:
        return text
    template = _compiled(text)
    try:
        rendered = template.render(values.context())
    except UndefinedError:
        rendered = template.render(_lenient(values.context()))
    return rendered[:MAX_RENDERED]


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> Template:
    """Compiling costs far more than rendering: a campaign renders one text per recipient."""
    return _ENV.from_string(text)


def _lenient(context: dict[str, Any]) -> dict[str, Any]:
    """Custom fields the contact has no value for, as empty: a checked text only names keys
    that exist, so what is missing is a value, not a variable."""
    custom = _EmptyCustom(context["contact"]["custom"])
    return {**context, "contact": {**context["contact"], "custom": custom}}


class _EmptyCustom(dict):
    def __missing__(self, key: str) -> str:
        return ""


def today_text(day: date) -> str:
    return day.strftime("%d.%m.%Y")

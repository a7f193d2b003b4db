"""The app's routes as the security suites walk them: every route, flattened out of the nested
routers, with its path parameters filled in from a company's real objects."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from invekto.ai import help_centre
from invekto.ai.models import KnowledgeArticle
from invekto.inbox.models import Message
from invekto.reports import breakdowns
from invekto.web import settings_views
from tests.api.test_endpoint_matrix import (
    as_system,
    new_article,
    new_attachment,
    new_conversation,
    new_flow,
    new_rule,
)
from tests.factories import Company

_PARAMETER = re.compile(r"{([a-z_]+)(?::[a-z]+)?}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template, /inbox/c/{conversation_id}

    @property
    def parameters(self) -> list[str]:
        return _PARAMETER.findall(self.path)


def routes(app) -> list[Route]:
    """Every HTTP route of the app (WebSockets and mounted static files left out)."""
    found = set()
    for context in iter_route_contexts(app.routes):
        for method in getattr(context, "methods", None) or ():
            if method != "HEAD":
                found.add(Route(method, context.path))
    return sorted(found, key=lambda r: (r.path, r.method))


def web_routes(app) -> list[Route]:
    """The browser's routes: pages and the forms and fragments they use (not /api/v1)."""
    return [r for r in routes(app) if not r.path.startswith("/api/v1")]


async def real_values(company: Company) -> dict[str, list[str]]:
    """For each path parameter the pages use, real objects of ``company``'s (a parameter
    with several meaningful values, a settings section or a report's topic, has all of them).
    A parameter not named here gets a random id: the route still answers (404)."""
    conversation = await new_conversation(company)
    message_id = await as_system(company, lambda s, a: _first_message_id(s, conversation.id))
    article_id = await new_article(company)
    article = await as_system(company, lambda s, a: s.get_one(KnowledgeArticle, article_id))
    await as_system(company, lambda s, a: help_centre.set_settings(
        s, a, published=True, title="Yardım", intro=""))
    values = {
        "article_slug": article.slug,
        "conversation_id": conversation.id, "contact_id": conversation.contact_id,
        "attachment_id": await new_attachment(company), "article_id": article_id,
        "rule_id": await new_rule(company), "flow_id": await new_flow(company),
        "channel_id": company.channel_id, "group_id": company.group_id,
        "user_id": company.people["ayla"].user_id, "company_slug": company.slug,
        "kind": "message", "item_id": message_id,
    }
    filled = {name: [str(value)] for name, value in values.items()}
    filled["slug"] = [section.slug for section in settings_views.SECTIONS]
    filled["topic"] = list(breakdowns.TITLES)
    return filled


async def _first_message_id(session, conversation_id: uuid.UUID) -> uuid.UUID:
    return (await session.scalars(select(Message.id).where(
        Message.conversation_id == conversation_id).limit(1))).one()


def urls(route: Route, values: dict[str, list[str]]) -> list[str]:
    """The route's path with every combination of its parameters' values."""
    names = route.parameters
    choices = [values.get(name) or [str(uuid.uuid4())] for name in names]
    found = []
    for combination in itertools.product(*choices):
        path = route.path
        for name, value in zip(names, combination, strict=True):
            path = _PARAMETER.sub(lambda m, n=name, v=value: v if m.group(1) == n else m.group(0),
                                  path)
        found.append(path)
    return found

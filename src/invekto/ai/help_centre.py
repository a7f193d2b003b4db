"""The public help centre: a company's published knowledge base as web pages anyone may read
(``/help/{company}``), switched on by the company (off by default).

Its settings live in ``tenants.settings`` under ``help_centre``: whether it is published, and
an optional title and introduction. What it shows is what auto-answer may answer from for any
customer: published articles for every channel (``channel_id`` None). An article for one
channel (a brand's own number) stays private, and so does an unpublished one.

The pages are read without signing in, so the company is found by its code across the tenant
boundary (``published_help_centre``, a system-scope lookup like the chat widget's and login's);
everything after that runs in that company's tenant scope. A company that did not publish is
NotFound exactly as an unknown code is: the pages must not tell which companies exist."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import knowledge
from invekto.ai.models import KnowledgeArticle
from invekto.audit import service as audit
from invekto.core.actor import Actor, Permission
from invekto.core.errors import NotFound, ValidationFailed
from invekto.core.text import clean_text, fold
from invekto.db.session import Database
from invekto.tenants.models import Tenant

SETTING = "help_centre"  # in tenants.settings
MAX_TITLE_CHARS = 120
MAX_INTRO_CHARS = 1000
# Articles the front page lists; past it, readers search. A CSV upload can make thousands.
MAX_LISTED = 500
_COMPANY_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
# As ``ArticleIn.slug`` allows; anything else cannot be an article's address.
_ARTICLE_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MAX_ARTICLE_SLUG = 200


@dataclass(frozen=True)
class HelpCentreSettings:
    published: bool = False
    title: str = ""  # empty: the company's name makes one
    intro: str = ""


def settings_of(tenant: Tenant) -> HelpCentreSettings:
    """The company's help-centre settings; the defaults (not published) when never saved or
    saved in a shape this version does not read."""
    stored = (tenant.settings or {}).get(SETTING)
    if not isinstance(stored, dict):
        return HelpCentreSettings()
    return HelpCentreSettings(published=stored.get("published") is True,
                              title=str(stored.get("title") or ""),
                              intro=str(stored.get("intro") or ""))


async def get_settings(session: AsyncSession, tenant_id: uuid.UUID) -> HelpCentreSettings:
    return settings_of(await session.get_one(Tenant, tenant_id))


async def set_settings(session: AsyncSession, actor: Actor, *, published: bool, title: str,
                       intro: str) -> HelpCentreSettings:
    """Publish or withdraw the help centre, with its title and introduction. Supervisors'."""
    actor.require(Permission.MANAGE_CONTENT)
    title = " ".join(title.split())
    intro = clean_text(intro)
    if len(title) > MAX_TITLE_CHARS:
        raise ValidationFailed("at most %(max)s characters here", field="title",
                               params={"max": MAX_TITLE_CHARS})
    if len(intro) > MAX_INTRO_CHARS:
        raise ValidationFailed("at most %(max)s characters here", field="intro",
                               params={"max": MAX_INTRO_CHARS})
    saved = HelpCentreSettings(published=published, title=title, intro=intro)
    tenant = await session.get_one(Tenant, actor.tenant_id)
    tenant.settings = {**(tenant.settings or {}), SETTING: {
        "published": saved.published, "title": saved.title, "intro": saved.intro}}
    await session.flush()
    await audit.record(session, actor, "kb.help_centre_saved",
                       data={"published": saved.published, "title": saved.title})
    return saved


# ---- the public pages ------------------------------------------------------------------------

@dataclass(frozen=True)
class PublicHelpCentre:
    """A published help centre as its pages need it, found by the company's code."""

    tenant_id: uuid.UUID
    company_slug: str
    company_name: str
    default_language: str
    title: str
    intro: str


async def published_help_centre(db: Database, company_slug: str) -> PublicHelpCentre:
    """The help centre of the company with this code, if it is active and published it;
    NotFound otherwise, the same for every reason."""
    slug = company_slug.strip().lower()
    if not _COMPANY_SLUG.match(slug):  # also keeps NUL and the like away from the query
        raise NotFound("page not found")
    async with db.system_session() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None or tenant.status != "active":
        raise NotFound("page not found")
    settings = settings_of(tenant)
    if not settings.published:
        raise NotFound("page not found")
    return PublicHelpCentre(tenant.id, tenant.slug, tenant.name, tenant.default_language,
                            settings.title, settings.intro)


def _public(tenant_id: uuid.UUID) -> list[Any]:
    return [KnowledgeArticle.tenant_id == tenant_id, KnowledgeArticle.published.is_(True),
            KnowledgeArticle.channel_id.is_(None)]


async def public_articles(session: AsyncSession,
                          centre: PublicHelpCentre) -> list[KnowledgeArticle]:
    """What the front page lists, by title as a Turkish reader sorts (case and accents folded),
    at most MAX_LISTED."""
    found = list(await session.scalars(select(KnowledgeArticle).where(
        *_public(centre.tenant_id)).order_by(KnowledgeArticle.created_at).limit(MAX_LISTED)))
    found.sort(key=lambda article: (fold(article.title), article.title))
    return found


async def public_article(session: AsyncSession, centre: PublicHelpCentre,
                         article_slug: str) -> KnowledgeArticle:
    """The article at this address; NotFound when there is none or it is not for everyone."""
    if len(article_slug) > _MAX_ARTICLE_SLUG or not _ARTICLE_SLUG.match(article_slug):
        raise NotFound("page not found")
    article = await session.scalar(select(KnowledgeArticle).where(
        *_public(centre.tenant_id), KnowledgeArticle.slug == article_slug))
    if article is None:
        raise NotFound("page not found")
    return article


async def public_search(session: AsyncSession, centre: PublicHelpCentre, question: str, *,
                        limit: int = 5) -> list[knowledge.Hit]:
    """The articles best answering ``question``, best first, each once with its best passage.
    ``knowledge.search`` without a channel sees only published articles for everyone."""
    hits = await knowledge.search(session, centre.tenant_id, question, limit=limit * 2)
    best: dict[uuid.UUID, knowledge.Hit] = {}
    for hit in hits:  # already best first
        best.setdefault(hit.article_id, hit)
    return list(best.values())[:limit]

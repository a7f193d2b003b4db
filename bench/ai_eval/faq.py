"""The FAQ evaluation: each domain's FAQ pairs loaded into a company's knowledge base on the
embedded PostgreSQL, indexed with the builtin model, and every question of a split asked
through the product's own search (``knowledge.search``), exactly as auto-answer asks it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from invekto import runtime
from invekto.ai import answering, knowledge
from invekto.ai.knowledge import Hit
from invekto.ai.schemas import ArticleIn
from invekto.config import Settings
from invekto.core.actor import Actor
from invekto.provisioning import provision_tenant

DATA = Path(__file__).parent / "data"
DOMAINS = ("clinic", "hotel", "ecommerce")


@dataclass(frozen=True)
class Case:
    domain: str
    text: str
    expected: uuid.UUID | None  # the answering FAQ's article; None: the FAQ does not answer
    kind: str  # the question's variant, or the out-of-scope kind
    hits: list[Hit]


def load(domain: str) -> dict:
    return json.loads((DATA / f"{domain}.json").read_text())


async def collect(url: str, split: str) -> list[Case]:
    """Every question of ``split`` with its search hits (the product's candidates)."""
    rt = runtime.build(Settings(database_url=url), url, application_name="eval-ai")
    runtime.install(rt)
    cases: list[Case] = []
    try:
        for domain in DOMAINS:
            data = load(domain)
            async with rt.db.transaction() as session:
                tenant, _ = await provision_tenant(session, slug=f"eval-{domain}-{split}",
                                                   name=data["business"][:100],
                                                   admin_username="admin")
            actor = Actor.system(tenant.id)
            articles = {}
            async with rt.db.tenant_session(tenant.id) as session:
                for faq in data["faqs"]:
                    article = await knowledge.save_article(session, actor, ArticleIn(
                        kind="faq", title=faq["question"], body=faq["answer"]))
                    articles[faq["id"]] = article.id
                await knowledge.index_now(session, tenant.id)
            asked = [(q["text"], articles[q["faq"]], q["variant"])
                     for q in data["questions"] if q["split"] == split]
            asked += [(q["text"], None, q["kind"])
                      for q in data["out_of_scope"] if q["split"] == split]
            async with rt.db.tenant_session(tenant.id) as session:
                for text, expected, kind in asked:
                    hits = await knowledge.search(session, tenant.id, text,
                                                  limit=answering.CANDIDATES)
                    cases.append(Case(domain, text, expected, kind, hits))
    finally:
        await rt.db.dispose()
    return cases


@dataclass(frozen=True)
class Scores:
    top1: float  # answerable questions whose best answer is the right FAQ
    handoff: float  # unanswerable questions below the threshold (handed to a person)
    answered_right: float  # answerable questions answered, and rightly, at the threshold
    answered_wrong: float  # answerable questions answered wrongly at the threshold
    answerable: int
    unanswerable: int


def score(cases: list[Case], threshold: float,
          model: answering.Model = answering.BUILTIN) -> Scores:
    right = wrong = handed_off = top = 0
    answerable = [case for case in cases if case.expected is not None]
    for case in cases:
        ranked = answering.rank(case.text, case.hits, model)
        sure = bool(ranked) and answering.confidence(case.text, ranked, model) >= threshold
        if case.expected is None:
            handed_off += not sure
            continue
        correct = bool(ranked) and ranked[0][0].article_id == case.expected
        top += correct
        right += sure and correct
        wrong += sure and not correct
    unanswerable = len(cases) - len(answerable)
    return Scores(top1=top / len(answerable), handoff=handed_off / max(unanswerable, 1),
                  answered_right=right / len(answerable), answered_wrong=wrong / len(answerable),
                  answerable=len(answerable), unanswerable=unanswerable)

"""The builtin answer to a customer's question: the knowledge-base passage that answers it, and
how sure we are — or nothing, when the knowledge base does not say.

Ranking: the hybrid search's candidates (``knowledge.search``) are scored again with the
characters they share with the question (TF-IDF over character n-grams of the folded texts,
fitted on the question and its candidates), which survives typos and missing Turkish letters
that whole-word matching does not.

Confidence: a logistic model over what separates a right answer from a wrong or missing one —
the best score, its lead over the next article, the passage's and the title's similarity, the
shared characters, and the share of the question's topic words the passage never mentions
(``words``). Its coefficients were fitted on the evaluation set's dev split
(``bench/ai_eval/calibrate.py``) and are measured on the test split (``make eval-ai``).
Auto-answer replies only at or above the tenant's ``answer_threshold``.

The answer is the tenant's own text, never composed: a FAQ's answer, or the passage of an
article. Nothing here can state a price or a treatment the company did not write."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import knowledge, words
from invekto.ai.knowledge import Hit
from invekto.ai.models import DEFAULT_ANSWER_THRESHOLD
from invekto.core.text import fold

# How many search hits are scored again.
CANDIDATES = 10


@dataclass(frozen=True)
class Model:
    """The answer score's weights next to the passage's similarity, and the confidence
    model's (one per ``features`` value, then the intercept). The defaults are the calibrated
    values; ``bench/ai_eval/calibrate.py`` tries others."""

    title_weight: float = knowledge.TITLE_WEIGHT
    lexical_weight: float = knowledge.LEXICAL_WEIGHT
    character_weight: float = 0.5
    confidence_weights: tuple[float, ...] = (2.449, 1.912, 0.993, 1.073, 2.227, -1.578)
    confidence_intercept: float = -3.678


BUILTIN = Model()
# The confidence at which 95% of the dev split's unanswerable questions are handed off: the
# default ``AISettings.answer_threshold`` (a company may trade answers for hand-offs).
DEFAULT_THRESHOLD = DEFAULT_ANSWER_THRESHOLD


@dataclass(frozen=True)
class Answer:
    hit: Hit
    text: str  # what would be sent: the FAQ's answer, or the article's passage
    score: float
    confidence: float  # 0..1


def _characters(question: str, hits: list[Hit]) -> list[float]:
    """Cosine of character n-gram TF-IDF vectors, question against each hit."""
    texts = [fold(question)] + [fold(hit.text) for hit in hits]
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                              sublinear_tf=True).fit_transform(texts)
    return (vectors[1:] @ vectors[0].T).toarray().ravel().tolist()


def reply_text(hit: Hit, body: str | None) -> str:
    if hit.article_kind == "faq" and body is not None:
        return body
    # A chunk starts with its article's title on a line of its own.
    title, _, rest = hit.text.partition("\n")
    return rest.strip() or title


def _sigmoid(value: float) -> float:
    return 1 / (1 + math.exp(-value))


def features(question: str, ranked: list[tuple[Hit, float, float]], position: int = 0
             ) -> tuple[float, ...]:
    """What the confidence model reads, for the answer at ``position`` of ``ranked``."""
    best, best_score, characters = ranked[position]
    # The lead over the best other *article* (negative below it): two passages of one article
    # agreeing is no doubt.
    runner_up = max((score for hit, score, _ in ranked if hit.article_id != best.article_id),
                    default=0.0)
    return (best_score, best_score - runner_up, best.similarity, best.title_similarity,
            characters, words.uncovered_share(question, best.text))


def rank(question: str, hits: list[Hit], model: Model = BUILTIN
         ) -> list[tuple[Hit, float, float]]:
    """The hits with their answer score and shared-character similarity, best first."""
    if not hits:
        return []
    characters = _characters(question, hits)
    scored = [(hit, hit.similarity + model.title_weight * hit.title_similarity
               + model.lexical_weight * hit.lexical + model.character_weight * shared, shared)
              for hit, shared in zip(hits, characters, strict=True)]
    scored.sort(key=lambda item: item[1], reverse=True)
    return scored


def confidence(question: str, ranked: list[tuple[Hit, float, float]],
               model: Model = BUILTIN, position: int = 0) -> float:
    """How likely the answer at ``position`` of ``ranked`` is right (0..1)."""
    return _sigmoid(model.confidence_intercept + sum(
        weight * value for weight, value in zip(
            model.confidence_weights, features(question, ranked, position), strict=True)))


async def best_answer(session: AsyncSession, tenant_id: uuid.UUID, question: str, *,
                      channel_id: uuid.UUID | None = None) -> Answer | None:
    """The knowledge base's best answer to ``question`` with its confidence, or None when the
    knowledge base has nothing near it."""
    hits = await knowledge.search(session, tenant_id, question, channel_id=channel_id,
                                  limit=CANDIDATES)
    ranked = rank(question, hits)
    if not ranked:
        return None
    best, score, _ = ranked[0]
    answers = await knowledge.faq_answers(session, tenant_id, [best])
    return Answer(hit=best, text=reply_text(best, answers.get(best.article_id)), score=score,
                  confidence=confidence(question, ranked))

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from invekto.ai.models import DEFAULT_ANSWER_THRESHOLD, DEFAULT_TAG_THRESHOLD

ArticleKind = Literal["article", "faq"]


class ArticleIn(BaseModel):
    """An article (``title`` and ``body``) or a FAQ pair (``title`` the question, ``body`` the
    answer). ``channel_id`` narrows it to one channel's customers; ``slug`` is its address in
    the help centre (made from the title when left out)."""

    kind: ArticleKind = "article"
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=100_000)
    published: bool = True
    channel_id: uuid.UUID | None = None
    slug: str | None = Field(default=None, max_length=200, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")


class ArticleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: ArticleKind
    title: str
    body: str
    slug: str
    published: bool
    channel_id: uuid.UUID | None
    document_id: uuid.UUID | None
    # pending: being (re)indexed for search; ready: searchable as written; failed: see the log.
    index_state: Literal["pending", "ready", "failed"]
    indexed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    size_bytes: int
    article_count: int
    created_at: datetime


class SearchHitOut(BaseModel):
    """A passage found, with the article it cites. ``score``: higher is closer (the passage's
    similarity, about 0.7 to 1, plus smaller weights for the title and shared words)."""

    article_id: uuid.UUID
    article_title: str
    article_kind: ArticleKind
    slug: str
    text: str
    score: float


class AISettingsIn(BaseModel):
    """A company's AI choices. ``api_key`` is write-only: left out, the stored key stays;
    ``clear_api_key`` removes it. ``model`` is required for an LLM provider, ``base_url`` for
    an OpenAI-compatible one (with its ``/v1``, e.g. ``http://ollama.internal:11434/v1``)."""

    provider: Literal["builtin", "anthropic", "openai"] = "builtin"
    model: str | None = Field(default=None, max_length=100)
    base_url: str | None = Field(default=None, max_length=500)
    api_key: str | None = Field(default=None, max_length=500)
    clear_api_key: bool = False
    request_timeout_seconds: int = Field(default=20, ge=1, le=120)
    monthly_token_limit: int | None = Field(default=None, ge=0)
    suggestions_enabled: bool = True
    answer_threshold: float = Field(default=DEFAULT_ANSWER_THRESHOLD, ge=0, le=1)
    tagging_mode: Literal["off", "suggest", "apply"] = "suggest"
    tag_threshold: float = Field(default=DEFAULT_TAG_THRESHOLD, ge=0, le=1)
    auto_answer_channel_ids: list[uuid.UUID] = Field(default=[], max_length=100)


class AISettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    provider: Literal["builtin", "anthropic", "openai"]
    model: str | None
    base_url: str | None
    has_api_key: bool
    request_timeout_seconds: int
    monthly_token_limit: int | None
    suggestions_enabled: bool
    answer_threshold: float
    tagging_mode: Literal["off", "suggest", "apply"]
    tag_threshold: float
    auto_answer_channel_ids: list[uuid.UUID]


class UsageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    month: date
    provider: str
    requests: int
    input_tokens: int
    output_tokens: int
    failures: int
    fallbacks: int


class SuggestionOut(BaseModel):
    text: str
    # knowledge: an article or FAQ; quick_reply; past_answer: an agent's earlier answer to a
    # similar question; generated: written by the company's LLM from those sources.
    source: Literal["knowledge", "quick_reply", "past_answer", "generated"]
    relevance: float
    title: str | None
    reference_id: uuid.UUID | None


class SuggestionsOut(BaseModel):
    question: str  # the customer's words the suggestions answer
    items: list[SuggestionOut]


# ---- chat analysis --------------------------------------------------------------------------


class CriterionOut(BaseModel):
    criterion: str  # one of the 15 (docs/ai.md, "Chat analysis")
    score: int | None  # 0, 1 or 2 points; None: not applicable
    reason: str  # in the caller's language (an LLM's reason as it wrote it)
    reason_id: str  # the reason's English template, with ``params`` for its placeholders
    params: dict[str, str | int | float]


class AnalysisOut(BaseModel):
    """A conversation's analysis. ``provider``: builtin, or the LLM that wrote it.
    ``quality_score``: the applicable criteria's points as a percentage (None: no agent
    wrote). ``last_message_at``: the newest message it read."""

    conversation_id: uuid.UUID
    agent_id: uuid.UUID | None
    provider: str
    sentiment: Literal["negative", "neutral", "positive"]
    sentiment_scores: dict[str, float]
    intent: Literal["none", "low", "medium", "high"]
    intent_reasons: list[str]  # in the caller's language
    quality_score: int | None
    quality: list[CriterionOut]
    messages_analysed: int
    last_message_at: datetime | None
    analysed_at: datetime


class AnalysisBatchIn(BaseModel):
    """Either ``conversation_ids`` (up to 500) or ``closed_since``: the conversations closed
    since then, the newest ``limit``."""

    conversation_ids: list[uuid.UUID] | None = Field(default=None, min_length=1,
                                                     max_length=500)
    closed_since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=500)


class AnalysisQueuedOut(BaseModel):
    queued: int  # conversations whose analysis is queued


class HotLeadOut(BaseModel):
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    contact_name: str
    status: str  # the conversation's
    intent: Literal["medium", "high"]
    intent_reasons: list[str]  # in the caller's language
    sentiment: str
    quality_score: int | None
    agent_id: uuid.UUID | None
    analysed_at: datetime


class AgentAverageOut(BaseModel):
    agent_id: uuid.UUID
    conversations: int
    quality_score: float | None  # the average of their conversations' scores
    criteria: dict[str, float]  # each criterion's average points (0-2) where it applied


# ---- summaries and suggested tags ------------------------------------------------------------


class SummaryOut(BaseModel):
    """A conversation's summary (``scope=contact``: the customer's whole history), in the
    company's language."""

    text: str
    scope: Literal["conversation", "contact"]
    # builtin: sentences picked from the thread; otherwise the company's LLM that wrote it.
    provider: str
    message_count: int  # the messages it was made from


class TagSuggestionOut(BaseModel):
    tag: str
    probability: float  # 0..1, at or above the company's tag threshold


class TagSuggestionsOut(BaseModel):
    items: list[TagSuggestionOut]  # most probable first; empty when tagging is off

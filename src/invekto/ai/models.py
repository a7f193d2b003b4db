"""The AI layer's tables: a tenant's AI settings and usage, the knowledge base (documents,
articles, their embedded chunks) and the memory of past answers reply suggestions draw on."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    one_of,
    tenant_fk,
    tenant_unique_id,
)
from invekto.inbox.models import SEARCH_CONFIG

PROVIDERS = ("builtin", "anthropic", "openai")
TAGGING_MODES = ("off", "suggest", "apply")
ARTICLE_KINDS = ("article", "faq")
INDEX_STATES = ("pending", "ready", "failed")
MEMORY_SOURCES = ("agent_answer", "quick_reply")
SENTIMENTS = ("negative", "neutral", "positive")
INTENT_LEVELS = ("none", "low", "medium", "high")
AUTO_ANSWER_STATES = ("answering", "handed_off", "ended")
# Defaults of a company's AI settings. The answer threshold hands off 95% of the evaluation's
# dev unanswerable questions (ai/answering.py, bench/ai_eval/calibrate.py).
DEFAULT_ANSWER_THRESHOLD = 0.76
DEFAULT_TAG_THRESHOLD = 0.6
# multilingual-e5-small's width; a column of another width means a new model and a migration.
EMBEDDING_DIM = 384


class AISettings(IdMixin, TenantMixin, TimestampMixin, Base):
    """A tenant's AI choices. Without a row the defaults hold: builtin provider, suggestions
    on, tagging suggested, auto-answer on no channel."""

    __tablename__ = "ai_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint(one_of("provider", PROVIDERS), name="provider_valid"),
        CheckConstraint(one_of("tagging_mode", TAGGING_MODES), name="tagging_mode_valid"),
        CheckConstraint("answer_threshold BETWEEN 0 AND 1 AND tag_threshold BETWEEN 0 AND 1",
                        name="thresholds_fraction"),
        CheckConstraint("request_timeout_seconds BETWEEN 1 AND 120", name="timeout_range"),
    )

    provider: Mapped[str] = mapped_column(String(20), server_default="builtin")
    model: Mapped[str | None] = mapped_column(String(100))
    base_url: Mapped[str | None] = mapped_column(String(500))
    # The provider's API key, encrypted (core.crypto); never sent back to a browser.
    credentials_encrypted: Mapped[str | None]
    request_timeout_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="20")
    # Tokens (in + out) the LLM may use per calendar month; None: no limit. Past it, the
    # builtin provider answers until the month ends.
    monthly_token_limit: Mapped[int | None] = mapped_column(BigInteger)
    suggestions_enabled: Mapped[bool] = mapped_column(server_default="true")
    # Auto-answer replies only when its confidence reaches this; below, it hands off.
    answer_threshold: Mapped[float] = mapped_column(
        server_default=str(DEFAULT_ANSWER_THRESHOLD))
    tagging_mode: Mapped[str] = mapped_column(String(10), server_default="suggest")
    tag_threshold: Mapped[float] = mapped_column(
        server_default=str(DEFAULT_TAG_THRESHOLD))
    # Channels whose customers the AI answers first (auto-answer); empty: none.
    auto_answer_channel_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid), server_default="{}")


class AIUsage(IdMixin, TenantMixin, Base):
    """A tenant's LLM use in one calendar month (UTC), per provider: counted by every call,
    and read against ``AISettings.monthly_token_limit``."""

    __tablename__ = "ai_usage"
    __table_args__ = (UniqueConstraint("tenant_id", "month", "provider"),)

    month: Mapped[date]  # the month's first day
    provider: Mapped[str] = mapped_column(String(20))
    requests: Mapped[int] = mapped_column(server_default="0")
    input_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    failures: Mapped[int] = mapped_column(server_default="0")
    # Calls the builtin provider answered instead (failure, limit reached).
    fallbacks: Mapped[int] = mapped_column(server_default="0")


class KnowledgeDocument(IdMixin, TenantMixin, TimestampMixin, Base):
    """An uploaded file (PDF, DOCX, TXT, Markdown, CSV of questions and answers), kept as the
    articles read from it; deleting it deletes them."""

    __tablename__ = "kb_documents"
    __table_args__ = (tenant_unique_id("kb_documents"),)

    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int]
    article_count: Mapped[int] = mapped_column(server_default="0")
    created_by: Mapped[uuid.UUID | None]


class KnowledgeArticle(IdMixin, TenantMixin, TimestampMixin, Base):
    """An article (title and text) or a FAQ pair (question and answer). Only published
    articles are searched, answered from and shown in the help centre. ``channel_id`` narrows
    it to one channel's customers (a brand with its own number)."""

    __tablename__ = "kb_articles"
    __table_args__ = (
        tenant_unique_id("kb_articles"),
        UniqueConstraint("tenant_id", "slug"),
        tenant_fk("channel_id", "channels", ondelete="SET NULL"),
        tenant_fk("document_id", "kb_documents"),
        CheckConstraint(one_of("kind", ARTICLE_KINDS), name="kind_valid"),
        CheckConstraint(one_of("index_state", INDEX_STATES), name="index_state_valid"),
        Index("ix_kb_articles_pending", "tenant_id",
              postgresql_where=text("index_state = 'pending'")),
    )

    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))  # a FAQ's question
    body: Mapped[str]  # a FAQ's answer
    slug: Mapped[str] = mapped_column(String(200))
    published: Mapped[bool] = mapped_column(server_default="true")
    channel_id: Mapped[uuid.UUID | None]
    document_id: Mapped[uuid.UUID | None]
    # pending: its chunks are (re)built by the ``ai:index`` job; ready: they match the text.
    index_state: Mapped[str] = mapped_column(String(10), server_default="pending")
    indexed_at: Mapped[datetime | None]
    updated_by: Mapped[uuid.UUID | None]


class KnowledgeChunk(IdMixin, TenantMixin, Base):
    """A passage of a published article, embedded and full-text indexed: what a search
    returns and an answer cites."""

    __tablename__ = "kb_chunks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "article_id", "position"),
        tenant_fk("article_id", "kb_articles"),
        # Like its article's: a deleted channel's articles are for everyone.
        tenant_fk("channel_id", "channels", ondelete="SET NULL"),
        Index("ix_kb_chunks_embedding", "embedding", postgresql_using="hnsw",
              postgresql_ops={"embedding": "vector_cosine_ops"}),
    )

    article_id: Mapped[uuid.UUID]
    # The article's channel, copied so a search narrows without a join.
    channel_id: Mapped[uuid.UUID | None]
    position: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str]
    embedding: Mapped[list[float]] = mapped_column(Vector(EMBEDDING_DIM))
    # The article's title embedded as a question ("query" kind): a customer's question is
    # compared with a FAQ's question as well as with the passage (``answering``). The same on
    # every chunk of an article; not indexed, only read for the candidates a search found.
    title_embedding: Mapped[list[float]] = mapped_column(Vector(EMBEDDING_DIM))
    embedding_model: Mapped[str] = mapped_column(String(50))
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('{SEARCH_CONFIG}'::regconfig, text)", persisted=True),
        deferred=True)


class AnswerMemory(IdMixin, TenantMixin, Base):
    """Something an agent can answer with, embedded for reply suggestions: an agent's past
    answer with the customer's question it answered, or a quick reply."""

    __tablename__ = "ai_answer_memory"
    __table_args__ = (
        UniqueConstraint("tenant_id", "source", "source_id"),
        CheckConstraint(one_of("source", MEMORY_SOURCES), name="source_valid"),
        Index("ix_ai_answer_memory_embedding", "embedding", postgresql_using="hnsw",
              postgresql_ops={"embedding": "vector_cosine_ops"}),
    )

    source: Mapped[str] = mapped_column(String(20))
    # The agent's message, or the quick reply.
    source_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID | None]
    # The customer's words the answer followed (agent answers), or the quick reply's shortcut.
    question: Mapped[str]
    answer: Mapped[str]
    embedding: Mapped[list[float]] = mapped_column(Vector(EMBEDDING_DIM))
    embedding_model: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ConversationAnalysis(IdMixin, TenantMixin, TimestampMixin, Base):
    """A conversation's analysis (``ai/analysis.py``): the customer's sentiment and purchase
    intent, and the 15-criterion quality score of the agent's handling, each with its reason.
    One per conversation, replaced when analysed again; ``last_message_at`` says what it
    covered (a newer message makes it stale)."""

    __tablename__ = "conversation_analyses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "conversation_id"),
        tenant_fk("conversation_id", "conversations"),
        CheckConstraint(one_of("sentiment", SENTIMENTS), name="sentiment_valid"),
        CheckConstraint(one_of("intent", INTENT_LEVELS), name="intent_valid"),
        CheckConstraint(one_of("provider", PROVIDERS), name="provider_valid"),
        CheckConstraint("quality_score IS NULL OR quality_score BETWEEN 0 AND 100",
                        name="quality_score_percent"),
        # Hot leads (reports): the newest high-intent analyses first.
        Index("ix_conversation_analyses_intent", "tenant_id", "intent", "analysed_at"),
        Index("ix_conversation_analyses_agent", "tenant_id", "agent_id", "analysed_at"),
    )

    conversation_id: Mapped[uuid.UUID]
    # Who handled it (the assignee when analysed): whose quality score it is.
    agent_id: Mapped[uuid.UUID | None]
    provider: Mapped[str] = mapped_column(String(20))  # builtin, or the LLM that answered
    sentiment: Mapped[str] = mapped_column(String(10))
    sentiment_scores: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    intent: Mapped[str] = mapped_column(String(10))
    intent_reasons: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # [{"criterion": "greeting", "score": 0-2 or null (not applicable), "reason": "..."}]
    quality: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # The applicable criteria's points as a percentage; None: no agent answered.
    quality_score: Mapped[int | None] = mapped_column(SmallInteger)
    messages_analysed: Mapped[int] = mapped_column(server_default="0")
    last_message_at: Mapped[datetime | None]
    analysed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TagExample(IdMixin, TenantMixin, Base):
    """A closed conversation's customer text, embedded once, for learning the company's tags
    (``classify.TagModel``): the tags are read from the conversation when a model is fitted,
    so an agent's later correction counts. ``ai_applied``: the tags are the AI's own (apply
    mode) and no person changed them: not learnt from, or the model would learn itself."""

    __tablename__ = "ai_tag_examples"
    __table_args__ = (
        UniqueConstraint("tenant_id", "conversation_id"),
        tenant_fk("conversation_id", "conversations"),
    )

    conversation_id: Mapped[uuid.UUID]
    text: Mapped[str]
    embedding: Mapped[list[float]] = mapped_column(Vector(EMBEDDING_DIM))
    embedding_model: Mapped[str] = mapped_column(String(50))
    ai_applied: Mapped[bool] = mapped_column(server_default="false")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AutoAnswerSession(IdMixin, TenantMixin, Base):
    """The AI answering a conversation first (auto-answer on its channel): while ``answering``
    it holds the conversation (``conversations.held_by_bot``) and answers each customer
    question from the knowledge base; when unsure it hands off to people (``handed_off``) and
    never takes the conversation back. At most one per conversation."""

    __tablename__ = "ai_auto_answers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "conversation_id"),
        tenant_fk("conversation_id", "conversations"),
        CheckConstraint(one_of("state", AUTO_ANSWER_STATES), name="state_valid"),
    )

    conversation_id: Mapped[uuid.UUID]
    state: Mapped[str] = mapped_column(String(12), server_default="answering")
    answers: Mapped[int] = mapped_column(server_default="0")
    # The newest customer message dealt with: a job for an older one has been overtaken.
    last_message_id: Mapped[uuid.UUID | None]
    # Why it ended: unsure, takeover, closed, escape, limit...
    end_reason: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ended_at: Mapped[datetime | None]

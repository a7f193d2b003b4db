from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    """A passage found, with the article it cites. ``score`` 0..1 (higher is closer)."""

    article_id: uuid.UUID
    article_title: str
    article_kind: ArticleKind
    slug: str
    text: str
    score: float

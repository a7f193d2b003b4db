"""The knowledge base (``/api/v1/kb/...``) and AI help."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from invekto.ai import documents, knowledge
from invekto.ai.schemas import ArticleIn, ArticleKind, ArticleOut, DocumentOut, SearchHitOut
from invekto.http.deps import Scoped

router = APIRouter(tags=["ai"])


@router.get("/kb/articles", response_model=list[ArticleOut])
async def list_articles(ctx: Scoped, q: Annotated[str | None, Query(max_length=200)] = None,
                        kind: ArticleKind | None = None, channel_id: uuid.UUID | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100,
                        offset: Annotated[int, Query(ge=0)] = 0):
    return await knowledge.list_articles(ctx.session, ctx.actor, q=q, kind=kind,
                                         channel_id=channel_id, limit=limit, offset=offset)


@router.post("/kb/articles", response_model=ArticleOut, status_code=status.HTTP_201_CREATED)
async def create_article(body: ArticleIn, ctx: Scoped):
    return await knowledge.save_article(ctx.session, ctx.actor, body)


@router.get("/kb/articles/{article_id}", response_model=ArticleOut)
async def get_article(article_id: uuid.UUID, ctx: Scoped):
    return await knowledge.get_article(ctx.session, ctx.actor, article_id)


@router.put("/kb/articles/{article_id}", response_model=ArticleOut)
async def update_article(article_id: uuid.UUID, body: ArticleIn, ctx: Scoped):
    return await knowledge.save_article(ctx.session, ctx.actor, body, article_id)


@router.delete("/kb/articles/{article_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_article(article_id: uuid.UUID, ctx: Scoped) -> None:
    await knowledge.delete_article(ctx.session, ctx.actor, article_id)


@router.get("/kb/documents", response_model=list[DocumentOut])
async def list_documents(ctx: Scoped):
    return await knowledge.list_documents(ctx.session, ctx.actor)


@router.post("/kb/documents", response_model=DocumentOut, status_code=status.HTTP_201_CREATED)
async def upload_document(file: Annotated[UploadFile, File()], ctx: Scoped,
                          channel_id: Annotated[uuid.UUID | None, Form()] = None):
    """A PDF, DOCX, TXT or Markdown file becomes an article; a CSV of questions and answers
    (columns "soru"/"cevap" or "question"/"answer", or the first two) becomes FAQ pairs."""
    data = await file.read(documents.MAX_DOCUMENT_BYTES + 1)
    return await knowledge.import_document(ctx.session, ctx.actor, file.filename or "belge",
                                           data, channel_id=channel_id)


@router.delete("/kb/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(document_id: uuid.UUID, ctx: Scoped) -> None:
    await knowledge.delete_document(ctx.session, ctx.actor, document_id)


@router.get("/kb/search", response_model=list[SearchHitOut])
async def search(ctx: Scoped, q: Annotated[str, Query(min_length=1, max_length=500)],
                 channel_id: uuid.UUID | None = None,
                 limit: Annotated[int, Query(ge=1, le=20)] = 5):
    """Passages of published articles answering ``q``, best first, with the article each
    cites. Any signed-in user (agents look answers up)."""
    hits = await knowledge.search(ctx.session, ctx.actor.tenant_id, q, channel_id=channel_id,
                                  limit=limit)
    return [SearchHitOut(article_id=hit.article_id, article_title=hit.article_title,
                         article_kind=hit.article_kind, slug=hit.slug, text=hit.text,
                         score=round(hit.score, 4)) for hit in hits]

"""The knowledge base (``/api/v1/kb/...``) and AI help."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from invekto import runtime
from invekto.ai import documents, knowledge, service, suggestions
from invekto.ai.schemas import (
    AISettingsIn,
    AISettingsOut,
    ArticleIn,
    ArticleKind,
    ArticleOut,
    DocumentOut,
    SearchHitOut,
    SuggestionOut,
    SuggestionsOut,
    UsageOut,
)
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


def _settings_out(settings) -> AISettingsOut:
    return AISettingsOut.model_validate(
        {**{name: getattr(settings, name) for name in AISettingsOut.model_fields
            if name != "has_api_key"}, "has_api_key": service.has_api_key(settings)})


@router.get("/ai/settings", response_model=AISettingsOut)
async def get_ai_settings(ctx: Scoped):
    """The company's AI settings (the API key is never returned: ``has_api_key``). Admins'."""
    ctx.actor.require("admin")
    return _settings_out(await service.get_settings(ctx.session, ctx.actor.tenant_id))


@router.put("/ai/settings", response_model=AISettingsOut)
async def put_ai_settings(body: AISettingsIn, ctx: Scoped):
    return _settings_out(await service.save_settings(ctx.session, ctx.actor, body))


@router.get("/ai/usage", response_model=list[UsageOut])
async def ai_usage(ctx: Scoped):
    """LLM calls, tokens, failures and builtin fallbacks per month and provider. Admins'."""
    return await service.usage(ctx.session, ctx.actor)


@router.get("/conversations/{conversation_id}/suggestions", response_model=SuggestionsOut)
async def conversation_suggestions(conversation_id: uuid.UUID, ctx: Scoped):
    """Up to three replies to the customer's latest question, for the agent to pick, edit and
    send (nothing is sent). Written by the company's LLM from the knowledge base, quick
    replies and past answers when it has one turned on; otherwise those themselves."""
    found = await suggestions.for_agent(ctx.session, ctx.actor, conversation_id,
                                        runtime.current().db)
    return SuggestionsOut(question=found.question, items=[
        SuggestionOut(text=item.text, source=item.source, relevance=round(item.relevance, 3),
                      title=item.title, reference_id=item.reference_id)
        for item in found.items])


# ---- summaries ------------------------------------------------------------------------------

# ---- tags -----------------------------------------------------------------------------------

# ---- chat analysis --------------------------------------------------------------------------

# ---- auto-answer ----------------------------------------------------------------------------

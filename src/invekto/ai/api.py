"""The knowledge base (``/api/v1/kb/...``) and AI help."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from pydantic import BaseModel, ConfigDict

from invekto import runtime
from invekto.ai import (
    analysis,
    documents,
    knowledge,
    service,
    suggestions,
    summaries,
    tagging,
)
from invekto.ai.schemas import (
    AgentAverageOut,
    AISettingsIn,
    AISettingsOut,
    AnalysisBatchIn,
    AnalysisOut,
    AnalysisQueuedOut,
    ArticleIn,
    ArticleKind,
    ArticleOut,
    CriterionOut,
    DocumentOut,
    HotLeadOut,
    SearchHitOut,
    SuggestionOut,
    SuggestionsOut,
    SummaryOut,
    TagSuggestionOut,
    TagSuggestionsOut,
    UsageOut,
)
from invekto.core import i18n
from invekto.core.actor import Permission
from invekto.core.errors import NotFound
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
    ctx.actor.require(Permission.MANAGE_SETTINGS)
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


@router.get("/conversations/{conversation_id}/summary", response_model=SummaryOut)
async def conversation_summary(conversation_id: uuid.UUID, ctx: Scoped,
                               scope: summaries.Scope = "conversation"):
    """A short summary of the conversation, or (``scope=contact``) of the customer's whole
    history: one line per earlier conversation, then this one. Sentences from the thread
    itself, or written by the company's LLM when it has one turned on. Anyone who may see the
    conversation."""
    found = await summaries.summarise(ctx.session, ctx.actor, conversation_id,
                                      runtime.current().db, scope=scope)
    return SummaryOut(text=found.text, scope=found.scope, provider=found.provider,
                      message_count=found.message_count)


# ---- tags -----------------------------------------------------------------------------------


@router.get("/conversations/{conversation_id}/tag-suggestions",
            response_model=TagSuggestionsOut)
async def conversation_tag_suggestions(conversation_id: uuid.UUID, ctx: Scoped):
    """Tags from the company's catalogue the conversation does not have yet, learnt from how
    its agents tagged past conversations, at or above its tag threshold; none when tagging is
    off."""
    found = await tagging.suggest_tags(ctx.session, ctx.actor, conversation_id)
    return TagSuggestionsOut(items=[TagSuggestionOut(tag=tag, probability=probability)
                                    for tag, probability in found])


# ---- chat analysis --------------------------------------------------------------------------


def _analysis_out(found, language: str) -> AnalysisOut:
    return AnalysisOut(
        conversation_id=found.conversation_id, agent_id=found.agent_id,
        provider=found.provider, sentiment=found.sentiment,
        sentiment_scores=found.sentiment_scores, intent=found.intent,
        intent_reasons=[i18n.text(language, reason) for reason in found.intent_reasons],
        quality_score=found.quality_score,
        quality=[CriterionOut(criterion=item["criterion"], score=item["score"],
                              reason=analysis.reason_text(item, language),
                              reason_id=item["reason"], params=item.get("params") or {})
                 for item in found.quality],
        messages_analysed=found.messages_analysed, last_message_at=found.last_message_at,
        analysed_at=found.analysed_at)


@router.post("/analysis/conversations/{conversation_id}", response_model=AnalysisOut)
async def analyse_conversation(conversation_id: uuid.UUID, ctx: Scoped):
    """Analyse a conversation now (any the caller can see, open or closed): the customer's
    sentiment and purchase intent with reasons, and the agents' 15-criterion quality score,
    each with its reason. Written by the company's LLM when it has one; replaces the stored
    analysis."""
    found = await analysis.analyse(ctx.session, ctx.actor, conversation_id,
                                   runtime.current().db)
    return _analysis_out(found, ctx.actor.language)


@router.get("/analysis/conversations/{conversation_id}", response_model=AnalysisOut)
async def get_conversation_analysis(conversation_id: uuid.UUID, ctx: Scoped):
    """The stored analysis (closed conversations are analysed by themselves); 404 when the
    conversation was never analysed."""
    found = await analysis.get_analysis(ctx.session, ctx.actor, conversation_id)
    if found is None:
        raise NotFound("this conversation has not been analysed yet")
    return _analysis_out(found, ctx.actor.language)


@router.post("/analysis/conversations", response_model=AnalysisQueuedOut,
             status_code=status.HTTP_202_ACCEPTED)
async def queue_analyses(body: AnalysisBatchIn, ctx: Scoped):
    """Queue the analysis of up to 500 conversations by id, or of those closed since a time
    (the newest ``limit``). Supervisors'. Unknown ids: 404 naming them, nothing queued."""
    queued = await analysis.queue_batch(ctx.session, ctx.actor,
                                        conversation_ids=body.conversation_ids,
                                        closed_since=body.closed_since, limit=body.limit)
    return AnalysisQueuedOut(queued=queued)


def _since(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


@router.get("/analysis/hot-leads", response_model=list[HotLeadOut])
async def hot_leads(ctx: Scoped, since: datetime | None = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50):
    """Conversations whose customer showed high or medium purchase intent, analysed since
    ``since`` (default: the last 30 days), newest first. Supervisors'."""
    language = ctx.actor.language
    found = await analysis.hot_leads(ctx.session, ctx.actor, since=since or _since(30),
                                     limit=limit)
    return [HotLeadOut(conversation_id=lead.analysis.conversation_id,
                       contact_id=lead.contact_id, contact_name=lead.contact_name,
                       status=lead.status, intent=lead.analysis.intent,
                       intent_reasons=[i18n.text(language, reason)
                                       for reason in lead.analysis.intent_reasons],
                       sentiment=lead.analysis.sentiment,
                       quality_score=lead.analysis.quality_score,
                       agent_id=lead.analysis.agent_id, analysed_at=lead.analysis.analysed_at)
            for lead in found]


@router.get("/analysis/agents", response_model=list[AgentAverageOut])
async def agent_averages(ctx: Scoped, since: datetime | None = None,
                         until: datetime | None = None):
    """Per agent, the conversations analysed in [since, until) (default: the last 30 days),
    their average quality score and each criterion's average points. Supervisors'."""
    found = await analysis.agent_averages(ctx.session, ctx.actor, since=since or _since(30),
                                          until=until or datetime.now(UTC))
    return [AgentAverageOut(agent_id=row.agent_id, conversations=row.conversations,
                            quality_score=row.quality_score, criteria=row.criteria)
            for row in found]

# ---- auto-answer ----------------------------------------------------------------------------


class AutoAnswerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    conversation_id: uuid.UUID
    state: str  # answering, handed_off (to people, unsure or asked), ended (a person, a close)
    answers: int  # answers the AI sent
    end_reason: str | None  # unsure, limit, escape, failed, takeover, closed, flow
    started_at: datetime
    ended_at: datetime | None


@router.get("/conversations/{conversation_id}/auto-answer", response_model=AutoAnswerOut)
async def conversation_auto_answer(conversation_id: uuid.UUID, ctx: Scoped):
    """Whether the AI answers first in this conversation (auto-answer), how many answers it
    sent and why it stopped; 404 when it never did. Anyone who sees the conversation."""
    from invekto.ai import auto_answer

    return await auto_answer.get_session(ctx.session, ctx.actor, conversation_id)

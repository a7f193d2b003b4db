"""The AI panel of an open conversation (in the contact pane): its summary on demand, the tags
the AI suggests, and its analysis (sentiment, purchase intent, quality score). Each part is
its own small route the panel loads, so one slow part never holds the others."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from invekto import runtime
from invekto.ai import analysis, quality, summaries, tagging
from invekto.inbox import service as inbox
from invekto.web.rendering import WebPage, render_page

router = APIRouter(prefix="/inbox/c/{conversation_id}/ai", include_in_schema=False)

# ---- summary ----------------------------------------------------------------------------------

@router.post("/summary")
async def summary_part(request: Request, conversation_id: uuid.UUID, page: WebPage,
                       scope: str = Form("conversation")) -> Response:
    """The conversation's summary (``scope=contact``: the customer's whole history), asked
    for with a button: nothing is summarised when the page opens."""
    found = await summaries.summarise(page.ctx.session, page.ctx.actor, conversation_id,
                                      runtime.current().db, scope=scope)
    return render_page(request, page, "inbox/_ai_summary.html",
                       conversation_id=conversation_id, summary=found)


# ---- suggested tags ---------------------------------------------------------------------------

@router.get("/tags")
async def suggested_tags_part(request: Request, conversation_id: uuid.UUID, page: WebPage
                              ) -> Response:
    """Tags the AI suggests for the conversation, each added with a click; nothing at all
    when tagging is off or no tag is likely enough."""
    found = await tagging.suggest_tags(page.ctx.session, page.ctx.actor, conversation_id)
    return render_page(request, page, "inbox/_ai_tags.html",
                       conversation_id=conversation_id, suggestions=found)


# ---- analysis ---------------------------------------------------------------------------------

@router.get("/analysis")
async def analysis_part(request: Request, conversation_id: uuid.UUID, page: WebPage
                        ) -> Response:
    """The conversation's stored analysis (closed ones are analysed by themselves), or a
    button to analyse it now."""
    session, actor = page.ctx.session, page.ctx.actor
    conversation = await inbox.get_conversation(session, actor, conversation_id)
    found = await analysis.stored_for(session, conversation)
    return render_page(request, page, "inbox/_ai_analysis.html",
                       conversation_id=conversation_id, analysis=found,
                       stale=found is not None and analysis.is_stale(found, conversation),
                       criteria=quality.BY_KEY)


@router.post("/analysis")
async def analyse_now(request: Request, conversation_id: uuid.UUID, page: WebPage
                      ) -> Response:
    """Analyse the conversation now and show it (the company's LLM writes it when it has
    one: nothing is read from the database after that call)."""
    found = await analysis.analyse(page.ctx.session, page.ctx.actor, conversation_id,
                                   runtime.current().db)
    return render_page(request, page, "inbox/_ai_analysis.html",
                       conversation_id=conversation_id, analysis=found, stale=False,
                       criteria=quality.BY_KEY)


"""The knowledge-base pages (settings → Knowledge base): the company's articles and FAQ pairs
(searched, filtered by kind, each with whether search already sees it), an article's form, the
uploaded documents (a file becomes articles; deleting it deletes them) and a box that tries a
question the way auto-answer would: the passages found and whether it would answer or hand off.
Supervisors and admins only; the service checks it again.

Under /settings/ like the settings sections, but a router of its own: it is registered before
``settings_views``, whose ``/settings/{slug}`` would otherwise take ``/settings/knowledge``."""

from __future__ import annotations

import uuid
from typing import Any

from babel import numbers as babel_numbers
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from invekto.ai import answering, documents, knowledge
from invekto.ai.models import ARTICLE_KINDS
from invekto.ai.schemas import ArticleIn
from invekto.channels import service as channels
from invekto.core.actor import Permission
from invekto.core.errors import AppError, PermissionDenied, ValidationFailed
from invekto.web import help_centre_views
from invekto.web.automation_views import forbidden_unless, settings_sections
from invekto.web.rendering import Page, WebPage, error_message, parse_form, render_page

router = APIRouter(prefix="/settings/knowledge", include_in_schema=False)

ARTICLE_LIMIT = 200
MAX_SEARCH_CHARS = 200
# Passages the try box shows; the answer itself is chosen among answering.CANDIDATES.
PASSAGES = 5
MAX_QUESTION_CHARS = 500
# The element the list's own buttons swap (a delete from the article's page goes back instead).
LIST_TARGET = "kb-articles"


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _decimal(page: Page, value: float) -> str:
    """A score or confidence as the user's locale writes it, always two decimals (0,82)."""
    return babel_numbers.format_decimal(value, "0.00", locale=page.fmt.locale)


def _field_errors(exc: AppError, page: Page) -> dict[str, str]:
    return {e.field: error_message(e, page.lang) for e in getattr(exc, "errors", None) or [exc]}


def _refusal_to_show(exc: AppError) -> bool:
    """A refusal drawn beside its field in the form; the others (no field, not allowed, the
    article itself gone) go the usual way."""
    return exc.field is not None and not isinstance(exc, PermissionDenied)


def _channel_choice(value: Any) -> uuid.UUID | None:
    """A channel select's value: empty is "all channels"."""
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed("choose one", field="channel_id") from exc


async def _channel_names(page: Page) -> dict[uuid.UUID, str]:
    return {c.id: c.name for c in await channels.list_channels(page.ctx.session, page.ctx.actor)}


# ---- the list ----------------------------------------------------------------------------------

def _filters(params: Any) -> dict[str, str]:
    q = str(params.get("q") or "").strip()
    if len(q) > MAX_SEARCH_CHARS:
        raise ValidationFailed("the search text is longer than 200 characters", field="q")
    kind = str(params.get("kind") or "")
    if kind and kind not in ARTICLE_KINDS:
        raise ValidationFailed("choose articles or FAQs", field="kind")
    return {"q": q, "kind": kind}


async def _list_context(page: Page, params: Any) -> dict[str, Any]:
    filters = _filters(params)
    articles = await knowledge.list_articles(page.ctx.session, page.ctx.actor,
                                             q=filters["q"] or None, kind=filters["kind"] or None,
                                             limit=ARTICLE_LIMIT)
    return {"articles": articles, "filters": filters, "limit": ARTICLE_LIMIT,
            "channel_names": await _channel_names(page)}


@router.get("")
async def knowledge_page(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return render_page(request, page, "knowledge/list.html", sections=settings_sections(page),
                       deleted=request.query_params.get("deleted") == "1",
                       channels=await channels.list_channels(page.ctx.session, page.ctx.actor),
                       **await help_centre_views.settings_card(request, page),
                       **await _list_context(page, request.query_params))


@router.get("/list")
async def articles_fragment(request: Request, page: WebPage) -> Response:
    """The search box's and the kind filter's results."""
    page.ctx.actor.require(Permission.MANAGE_CONTENT)
    return render_page(request, page, "knowledge/_articles.html",
                       **await _list_context(page, request.query_params))


# ---- an article's form -------------------------------------------------------------------------

def _values_of(article: Any, kind: str) -> dict[str, Any]:
    if article is None:
        return {"kind": kind, "title": "", "body": "", "channel_id": "", "published": True,
                "slug": ""}
    return {"kind": article.kind, "title": article.title, "body": article.body,
            "channel_id": str(article.channel_id or ""), "published": article.published,
            "slug": article.slug}


def _typed(form: FormData) -> dict[str, Any]:
    """The form as typed (and as it is drawn again after a refusal)."""
    return {"kind": str(form.get("kind") or "article"), "title": str(form.get("title") or ""),
            "body": str(form.get("body") or ""), "channel_id": str(form.get("channel_id") or ""),
            "published": form.get("published") == "on", "slug": str(form.get("slug") or "")}


def _article_input(values: dict[str, Any]) -> ArticleIn:
    """What the service takes. The title and text are checked here first so that an empty one
    is named in the user's language (the schema's own message is pydantic's English); a typed
    address is made one the way titles are ("Kargo Ücreti" → "kargo-ucreti")."""
    # Each message spelled out: the catalogue is extracted from literal arguments.
    faq = values["kind"] == "faq"
    if not values["title"].strip():
        if faq:
            raise ValidationFailed("write the question", field="title")
        raise ValidationFailed("write the title", field="title")
    if not values["body"].strip():
        if faq:
            raise ValidationFailed("write the answer", field="body")
        raise ValidationFailed("write the text", field="body")
    slug = values["slug"].strip()
    return parse_form(ArticleIn, {
        "kind": values["kind"], "title": values["title"], "body": values["body"],
        "published": values["published"], "channel_id": _channel_choice(values["channel_id"]),
        "slug": knowledge.slugify(slug) if slug else None})


async def _form_page(request: Request, page: Page, *, article: Any = None, kind: str = "article",
                     values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                     status_code: int = 200, saved: bool = False) -> HTMLResponse:
    session, actor = page.ctx.session, page.ctx.actor
    document = None
    if article is not None and article.document_id is not None:
        document = next((d for d in await knowledge.list_documents(session, actor)
                         if d.id == article.document_id), None)
    response = render_page(request, page, "knowledge/article.html",
                           sections=settings_sections(page), article=article, document=document,
                           values=values if values is not None else _values_of(article, kind),
                           errors=errors or {}, saved=saved,
                           channels=await channels.list_channels(session, actor))
    response.status_code = status_code
    return response


async def _save(request: Request, page: Page, article_id: uuid.UUID | None) -> Response:
    """Create or change; a refusal draws the form again with each reason beside its field and
    what was typed, nothing of the attempt kept (a savepoint)."""
    session, actor = page.ctx.session, page.ctx.actor
    values = _typed(await request.form())
    try:
        async with session.begin_nested():
            article = await knowledge.save_article(session, actor, _article_input(values),
                                                   article_id)
    except AppError as exc:
        if not _refusal_to_show(exc):
            raise
        existing = (await knowledge.get_article(session, actor, article_id)
                    if article_id is not None else None)
        return await _form_page(request, page, article=existing, values=values,
                                errors=_field_errors(exc, page), status_code=exc.status_code)
    return RedirectResponse(f"/settings/knowledge/articles/{article.id}?saved=1",
                            status_code=303)


@router.get("/articles/new")
async def new_article_page(request: Request, page: WebPage, kind: str = "article") -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return await _form_page(request, page, kind=kind if kind in ARTICLE_KINDS else "article")


@router.post("/articles")
async def create_article(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return await _save(request, page, None)


@router.get("/articles/{article_id}")
async def article_page(request: Request, article_id: uuid.UUID, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    article = await knowledge.get_article(page.ctx.session, page.ctx.actor, article_id)
    return await _form_page(request, page, article=article,
                            saved=request.query_params.get("saved") == "1")


@router.post("/articles/{article_id}")
async def update_article(request: Request, article_id: uuid.UUID, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return await _save(request, page, article_id)


@router.post("/articles/{article_id}/delete")
async def delete_article(request: Request, article_id: uuid.UUID, page: WebPage) -> Response:
    """From the list: the list again (its search kept, ``hx-include``); from the article's
    page: back to the list."""
    await knowledge.delete_article(page.ctx.session, page.ctx.actor, article_id)
    if request.headers.get("hx-target") == LIST_TARGET:
        return render_page(request, page, "knowledge/_articles.html",
                           **await _list_context(page, await request.form()))
    if _is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": "/settings/knowledge?deleted=1"})
    return RedirectResponse("/settings/knowledge?deleted=1", status_code=303)


# ---- documents ---------------------------------------------------------------------------------

async def _documents_page(request: Request, page: Page, *, status_code: int = 200,
                          **extra: Any) -> HTMLResponse:
    """The whole page, or (HTMX) its body: the upload form, what it did, the documents."""
    session, actor = page.ctx.session, page.ctx.actor
    context: dict[str, Any] = {
        "documents": await knowledge.list_documents(session, actor),
        "channels": await channels.list_channels(session, actor),
        "accept": ".pdf,.docx,.txt,.md,.csv",
        "max_mb": documents.MAX_DOCUMENT_BYTES // (1024 * 1024),
        "errors": {}, "values": {}, **extra}
    if _is_htmx(request):
        response = render_page(request, page, "knowledge/_documents.html", **context)
    else:
        response = render_page(request, page, "knowledge/documents.html",
                               sections=settings_sections(page), **context)
    response.status_code = status_code
    return response


@router.get("/documents")
async def documents_page(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    return await _documents_page(request, page)


@router.post("/documents")
async def upload_document(request: Request, page: WebPage) -> Response:
    """A file read into articles (a CSV into FAQ pairs); a file that cannot be read is said
    beside the file input, and nothing of it is kept."""
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    session, actor = page.ctx.session, page.ctx.actor
    form = await request.form()
    upload = form.get("file")
    values = {"channel_id": str(form.get("channel_id") or "")}
    try:
        async with session.begin_nested():
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise ValidationFailed("choose a file", field="file")
            data = await upload.read(documents.MAX_DOCUMENT_BYTES + 1)
            document = await knowledge.import_document(
                session, actor, upload.filename, data,
                channel_id=_channel_choice(values["channel_id"]))
    except AppError as exc:
        if not _refusal_to_show(exc):
            raise
        return await _documents_page(request, page, errors=_field_errors(exc, page),
                                     values=values, status_code=exc.status_code)
    finally:
        if isinstance(upload, UploadFile):
            await upload.close()
    return await _documents_page(request, page, imported=document)


@router.post("/documents/{document_id}/delete")
async def delete_document(request: Request, document_id: uuid.UUID, page: WebPage) -> Response:
    """The document and every article read from it."""
    await knowledge.delete_document(page.ctx.session, page.ctx.actor, document_id)
    if _is_htmx(request):
        return await _documents_page(request, page)
    return RedirectResponse("/settings/knowledge/documents", status_code=303)


# ---- trying a question -------------------------------------------------------------------------

@router.post("/try")
async def try_question(request: Request, page: WebPage) -> Response:
    """The passages a question finds and what auto-answer would do with it: answer with the
    best one, or hand off to a person when it is not sure enough. Nothing is sent."""
    page.ctx.actor.require(Permission.MANAGE_CONTENT)
    session, actor = page.ctx.session, page.ctx.actor
    form = await request.form()
    question = " ".join(str(form.get("question") or "").split())
    if not question:
        raise ValidationFailed("write a question", field="question")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValidationFailed("the question is longer than %(max)s characters",
                               field="question", params={"max": MAX_QUESTION_CHARS})
    channel_id = _channel_choice(form.get("channel_id"))
    if channel_id is not None:
        await channels.get_channel(session, actor, channel_id)  # another company's: not found
    hits = await knowledge.search(session, actor.tenant_id, question, channel_id=channel_id,
                                  limit=PASSAGES)
    answer = (await answering.best_answer(session, actor.tenant_id, question,
                                          channel_id=channel_id) if hits else None)
    threshold = answering.DEFAULT_THRESHOLD
    return render_page(
        request, page, "knowledge/_try.html", question=question, hits=hits, answer=answer,
        scores={hit.chunk_id: _decimal(page, hit.score) for hit in hits},
        confidence=_decimal(page, answer.confidence) if answer else None,
        threshold=_decimal(page, threshold),
        would_answer=answer is not None and answer.confidence >= threshold,
        # Articles saved a moment ago are not searched until they are indexed.
        indexing=bool(await knowledge.pending_articles(session, actor.tenant_id, limit=1)))

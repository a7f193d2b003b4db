"""The knowledge base: a tenant's articles and FAQ pairs (typed, or read from uploaded
documents), cut into chunks that are embedded and full-text indexed, and searched both ways.

Saving an article marks it ``pending`` and defers ``ai:index``; the job cuts the text into
chunks, embeds them with the builtin model and replaces the article's chunks, but only if the
article was not changed meanwhile (its ``updated_at`` is compared): an edit made during the
embedding leaves it pending for the next run, so the index never keeps an older text.
Unpublished articles have no chunks: nothing searches, answers or cites them.

``search`` finds the chunks whose embeddings are nearest the question (pgvector's HNSW index,
cosine) and scores each by meaning and by words: its full-text rank for the question's words,
stemmed and accent-folded by the ``invekto_turkish`` configuration, as prefixes (``Hit.score``).
Words only score, they do not find: a question's common words ("randevu", "fiyat") match a
large share of a big knowledge base, and ranking all of those took 0.2-0.5 s at 100,000
chunks, while taking full-text candidates too did not improve the evaluation's top-1."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import cast, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import documents
from invekto.ai.models import KnowledgeArticle, KnowledgeChunk, KnowledgeDocument
from invekto.ai.providers.builtin import embedder
from invekto.ai.schemas import ArticleIn
from invekto.audit import service as audit
from invekto.channels.models import Channel
from invekto.core import jobs
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.text import clean_text, fold, like_pattern
from invekto.db.base import new_id
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.inbox.models import SEARCH_CONFIG

log = structlog.get_logger(__name__)

# Nearest chunks a search scores.
CANDIDATES = 20
# Weights in ``Hit.score`` next to the passage's similarity (measured on the evaluation set's
# dev split, bench/ai_eval).
TITLE_WEIGHT = 0.25
LEXICAL_WEIGHT = 0.25
MAX_QUESTION_CHARS = 2000
# A stem shorter than this is matched exactly, not as a prefix (see inbox/search.py).
MIN_PREFIX_STEM = 3
_NON_SLUG = re.compile(r"[^a-z0-9]+")
# The question's words, stemmed and folded by the search configuration, any of them as a
# prefix: the ``tsquery`` text is built by PostgreSQL from the bound question, so the customer's
# text never becomes tsquery syntax. Stems shorter than MIN_PREFIX_STEM match exactly.
_OR_QUERY = text(
    "SELECT string_agg(quote_literal(lexeme) || CASE WHEN length(lexeme) >= "  # noqa: S608
    f"{MIN_PREFIX_STEM} THEN ':*' ELSE '' END, ' | ') FROM unnest("
    f"tsvector_to_array(to_tsvector('{SEARCH_CONFIG}', :question))) AS lexeme")


# -- articles ----------------------------------------------------------------------------------


async def list_articles(session: AsyncSession, actor: Actor, *, q: str | None = None,
                        kind: str | None = None, channel_id: uuid.UUID | None = None,
                        limit: int = 100, offset: int = 0) -> list[KnowledgeArticle]:
    """Articles by title, newest change first; ``q`` matches title or text (folded)."""
    query = select(KnowledgeArticle).where(KnowledgeArticle.tenant_id == actor.tenant_id)
    if kind:
        query = query.where(KnowledgeArticle.kind == kind)
    if channel_id:
        query = query.where(KnowledgeArticle.channel_id == channel_id)
    if q and q.strip():
        folded = func.lower(func.unaccent(KnowledgeArticle.title + " " + KnowledgeArticle.body))
        query = query.where(folded.like(like_pattern(fold(q))))
    query = query.order_by(KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id)
    return list(await session.scalars(query.limit(limit).offset(offset)))


async def get_article(session: AsyncSession, actor: Actor,
                      article_id: uuid.UUID) -> KnowledgeArticle:
    return await get_in_tenant(session, KnowledgeArticle, actor.tenant_id, article_id,
                               what="article")


async def faq_answers(session: AsyncSession, tenant_id: uuid.UUID,
                      hits: list[Hit]) -> dict[uuid.UUID, str]:
    """The answers of the FAQ pairs among ``hits`` (one query), by article id: what a FAQ
    hit replies with (its chunk holds the question too)."""
    wanted = {hit.article_id for hit in hits if hit.article_kind == "faq"}
    if not wanted:
        return {}
    return dict((await session.execute(select(KnowledgeArticle.id, KnowledgeArticle.body).where(
        KnowledgeArticle.tenant_id == tenant_id, KnowledgeArticle.id.in_(wanted)))).all())


async def save_article(session: AsyncSession, actor: Actor, data: ArticleIn,
                       article_id: uuid.UUID | None = None) -> KnowledgeArticle:
    """Create an article, or change one (``article_id``); either way it is (re)indexed.
    Supervisors'."""
    actor.require(Permission.MANAGE_CONTENT)
    await _check_channel(session, actor, data.channel_id)
    title, body = " ".join(data.title.split()), clean_text(data.body)
    if not title:
        raise ValidationFailed("write the title", field="title")
    if not body:
        raise ValidationFailed("write the text", field="body")
    article = await get_article(session, actor, article_id) if article_id else None
    new_article_id = article.id if article else new_id()
    # Before the new row is added: the look-up would flush it without its slug.
    # An article keeps its help-centre address when retitled, unless a new one is given.
    slug = data.slug or (article.slug if article else await _free_slug(
        session, actor.tenant_id, title, new_article_id))
    if article is None:
        article = KnowledgeArticle(id=new_article_id, tenant_id=actor.tenant_id)
        session.add(article)
    article.kind = data.kind
    article.title = title
    article.body = body
    article.published = data.published
    article.channel_id = data.channel_id
    article.slug = slug
    article.updated_by = actor.user_id
    # Before deferring the job: its statements would flush a taken slug outside the check.
    await flush_unique(session, "another article has this address", field="slug")
    await _mark_for_indexing(session, actor.tenant_id, [article])
    await session.refresh(article)
    await audit.record(session, actor, "kb.article_saved", target_type="kb_article",
                       target_id=article.id, data={"title": title, "kind": data.kind})
    return article


async def delete_article(session: AsyncSession, actor: Actor, article_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_CONTENT)
    article = await get_article(session, actor, article_id)
    await session.delete(article)
    await audit.record(session, actor, "kb.article_deleted", target_type="kb_article",
                       target_id=article_id, data={"title": article.title})


async def _check_channel(session: AsyncSession, actor: Actor,
                         channel_id: uuid.UUID | None) -> None:
    if channel_id is not None:
        await get_in_tenant(session, Channel, actor.tenant_id, channel_id, what="channel",
                            field="channel_id")


def slugify(title: str) -> str:
    return _NON_SLUG.sub("-", fold(title)).strip("-")[:80].strip("-") or "makale"


async def _free_slug(session: AsyncSession, tenant_id: uuid.UUID, title: str,
                     article_id: uuid.UUID) -> str:
    """The title as an address, with -2, -3... when another article has it."""
    base = slugify(title)
    taken = set(await session.scalars(select(KnowledgeArticle.slug).where(
        KnowledgeArticle.tenant_id == tenant_id, KnowledgeArticle.id != article_id,
        KnowledgeArticle.slug.like(base + "%"))))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


# -- documents ---------------------------------------------------------------------------------


async def import_document(session: AsyncSession, actor: Actor, filename: str, data: bytes, *,
                          channel_id: uuid.UUID | None = None) -> KnowledgeDocument:
    """Read an uploaded file into articles (a CSV into FAQ pairs), kept under one document.
    A file that cannot be read is refused whole (nothing is saved). Supervisors'."""
    actor.require(Permission.MANAGE_CONTENT)
    await _check_channel(session, actor, channel_id)
    parsed = documents.read_document(filename, data)
    document = KnowledgeDocument(id=new_id(), tenant_id=actor.tenant_id,
                                 filename=filename[:255], size_bytes=len(data),
                                 article_count=len(parsed), created_by=actor.user_id)
    session.add(document)
    await session.flush()
    articles = []
    for item in parsed:
        article = KnowledgeArticle(
            id=new_id(), tenant_id=actor.tenant_id, kind=item.kind, title=item.title[:300],
            body=item.body, published=True, channel_id=channel_id, document_id=document.id,
            updated_by=actor.user_id)
        article.slug = await _free_slug(session, actor.tenant_id, article.title, article.id)
        session.add(article)
        await session.flush()  # the next slug sees this one
        articles.append(article)
    await _mark_for_indexing(session, actor.tenant_id, articles)
    await audit.record(session, actor, "kb.document_imported", target_type="kb_document",
                       target_id=document.id,
                       data={"filename": document.filename, "articles": len(parsed)})
    return document


async def list_documents(session: AsyncSession, actor: Actor) -> list[KnowledgeDocument]:
    return list(await session.scalars(select(KnowledgeDocument).where(
        KnowledgeDocument.tenant_id == actor.tenant_id).order_by(
        KnowledgeDocument.created_at.desc())))


async def delete_document(session: AsyncSession, actor: Actor, document_id: uuid.UUID) -> None:
    """Remove a document and the articles read from it."""
    actor.require(Permission.MANAGE_CONTENT)
    document = await get_in_tenant(session, KnowledgeDocument, actor.tenant_id, document_id,
                                   what="document")
    await session.delete(document)
    await audit.record(session, actor, "kb.document_deleted", target_type="kb_document",
                       target_id=document_id, data={"filename": document.filename})


# -- indexing ----------------------------------------------------------------------------------


async def _mark_for_indexing(session: AsyncSession, tenant_id: uuid.UUID,
                             articles: list[KnowledgeArticle]) -> None:
    for article in articles:
        article.index_state = "pending"
    from invekto.ai import tasks  # the job module imports this one

    await jobs.defer(session, tasks.index, queueing_lock=f"ai.index.{tenant_id}",
                     tenant_id=str(tenant_id))


async def pending_articles(session: AsyncSession, tenant_id: uuid.UUID,
                           limit: int = 50) -> list[KnowledgeArticle]:
    return list(await session.scalars(select(KnowledgeArticle).where(
        KnowledgeArticle.tenant_id == tenant_id, KnowledgeArticle.index_state == "pending",
    ).order_by(KnowledgeArticle.updated_at).limit(limit)))


@dataclass(frozen=True)
class PreparedChunks:
    """An article's chunks, embedded outside any transaction, and the version they are of."""

    article_id: uuid.UUID
    seen_updated_at: datetime
    channel_id: uuid.UUID | None
    texts: list[str]
    vectors: list[list[float]]
    title_vector: list[float] | None


async def prepare(article: KnowledgeArticle) -> PreparedChunks:
    """Cut and embed an article (slow: run it with no transaction open)."""
    if not article.published:
        return PreparedChunks(article.id, article.updated_at, article.channel_id, [], [], None)
    texts = documents.chunk_article(article.title, article.body)
    vectors = await embedder().embed(texts, kind="passage")
    [title_vector] = await embedder().embed([article.title], kind="query")
    return PreparedChunks(article.id, article.updated_at, article.channel_id, texts, vectors,
                          title_vector)


async def store(session: AsyncSession, tenant_id: uuid.UUID, prepared: PreparedChunks) -> bool:
    """Replace the article's chunks with ``prepared`` if the article is still as it was when
    they were made; False (nothing written) when it changed or went away."""
    marked = await session.execute(update(KnowledgeArticle).where(
        KnowledgeArticle.tenant_id == tenant_id, KnowledgeArticle.id == prepared.article_id,
        KnowledgeArticle.updated_at == prepared.seen_updated_at,
    ).values(index_state="ready", indexed_at=datetime.now(UTC),
             updated_at=KnowledgeArticle.updated_at))
    if not marked.rowcount:
        return False
    await session.execute(delete(KnowledgeChunk).where(
        KnowledgeChunk.tenant_id == tenant_id, KnowledgeChunk.article_id == prepared.article_id))
    if prepared.texts:
        await session.execute(insert(KnowledgeChunk), [
            {"id": new_id(), "tenant_id": tenant_id, "article_id": prepared.article_id,
             "channel_id": prepared.channel_id, "position": position, "text": chunk,
             "embedding": vector, "title_embedding": prepared.title_vector,
             "embedding_model": embedder().name}
            for position, (chunk, vector) in enumerate(
                zip(prepared.texts, prepared.vectors, strict=True))])
    return True


async def index_now(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Index every pending article in this session (the demo and tests; the job does the same
    with the embedding outside the transaction). Returns how many were indexed."""
    done = 0
    while found := await pending_articles(session, tenant_id):
        for article in found:
            done += await store(session, tenant_id, await prepare(article))
    return done


# -- search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    chunk_id: uuid.UUID
    article_id: uuid.UUID
    article_title: str
    article_kind: str
    slug: str
    text: str
    similarity: float  # cosine of the question's and the passage's embeddings
    title_similarity: float  # cosine of the question's and the article title's
    lexical: float  # ts_rank of the question's words in the passage, 0..1

    @property
    def score(self) -> float:
        """What a search ranks by: meaning first (the passage, then the title as a question),
        shared words after. A customer's typo or missing Turkish letter must not sink a
        passage that means the same."""
        return (self.similarity + TITLE_WEIGHT * self.title_similarity
                + LEXICAL_WEIGHT * self.lexical)


async def search(session: AsyncSession, tenant_id: uuid.UUID, question: str, *,
                 channel_id: uuid.UUID | None = None, limit: int = 5,
                 vector: list[float] | None = None) -> list[Hit]:
    """The passages best answering ``question``, best first, among the tenant's published
    articles for everyone or for ``channel_id``. ``vector``: the question's query embedding,
    when the caller already has it."""
    question = question.strip()[:MAX_QUESTION_CHARS]
    if not question:
        return []
    if vector is None:
        [vector] = await embedder().embed([question], kind="query")
    in_scope = [KnowledgeChunk.tenant_id == tenant_id,
                KnowledgeChunk.channel_id.is_(None) if channel_id is None else or_(
                    KnowledgeChunk.channel_id.is_(None), KnowledgeChunk.channel_id == channel_id)]
    distance = KnowledgeChunk.embedding.cosine_distance(vector)
    title_distance = KnowledgeChunk.title_embedding.cosine_distance(vector)
    terms = await session.scalar(_OR_QUERY, {"question": question})
    # No searchable word (only stop words, emoji): a query matching nothing.
    words = cast(terms or "", TSQUERY)
    lexical = func.ts_rank(KnowledgeChunk.search_vector, words, 32)
    # Filters apply after the HNSW index walk: let it walk on until enough rows pass them.
    await session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    found = (select(KnowledgeChunk.id).where(*in_scope).order_by(distance)
             .limit(CANDIDATES).subquery())
    rows = await session.execute(
        select(KnowledgeChunk.id, KnowledgeChunk.article_id, KnowledgeArticle.title,
               KnowledgeArticle.kind, KnowledgeArticle.slug, KnowledgeChunk.text,
               (1 - distance).label("similarity"),
               (1 - title_distance).label("title_similarity"),
               lexical.label("lexical"))
        .join(found, found.c.id == KnowledgeChunk.id)
        .join(KnowledgeArticle, (KnowledgeArticle.tenant_id == KnowledgeChunk.tenant_id)
              & (KnowledgeArticle.id == KnowledgeChunk.article_id))
        # An unpublished article's chunks live until the job removes them: hidden meanwhile.
        .where(KnowledgeArticle.published))
    hits = [Hit(*row[:6], similarity=float(row.similarity),
                title_similarity=float(row.title_similarity), lexical=float(row.lexical))
            for row in rows]
    hits.sort(key=lambda hit: hit.score, reverse=True)
    return hits[:limit]

"""AI latency on a knowledge base of 100,000 chunks:

- ``kb_search_p95``: ms for ``knowledge.search`` of a customer question given its embedding
  (the HNSW walk under the tenant filter, the candidates' full-text ranks, title similarities
  and articles, scoring), in-process on a warm session, one at a time: what grows with the
  knowledge base. Embedding the question (the same at any size; 15-35 ms here, longer for
  long messages) is timed apart and recorded with it, as is the sum. Baseline: the bare
  pgvector query (nearest 20 chunks of the same embedding), same database and session.
- ``ai_suggest_p95``: ms for ``GET /api/v1/conversations/{id}/suggestions`` from an agent's
  browser session to a real server process (authentication, the customer's question, the
  knowledge base, quick replies and 20,000 learnt past answers), one request at a time.
  Baseline: ``GET /api/v1/conversations/{id}/messages`` of the same conversation (a plain read
  of the same size of request) in the same run.

The chunks: 2,000 Turkish passages built from the evaluation set's FAQ answers (two or three
sentences of different answers each) and embedded by the builtin model; each is stored 50
times with its embedding moved by Gaussian noise (σ 0.02 a dimension, then made unit length
again), in 10,000 articles. Embedding 100,000 passages for real would take this machine half an
hour; the noisy copies keep the clustered shape real knowledge bases have. The HNSW index is
built after loading, as on a restore. Questions: the evaluation set's 480 answerable ones.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import sys
import time
import uuid

import httpx
import numpy as np
from sqlalchemy import Index, insert, select, text

from bench import common
from bench.ai_eval import faq
from invekto import runtime
from invekto.ai import knowledge, memory
from invekto.ai.models import AnswerMemory, KnowledgeArticle, KnowledgeChunk
from invekto.ai.providers.builtin import embedder
from invekto.config import Settings
from invekto.core.actor import Actor
from invekto.db.base import new_id
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage
from invekto.provisioning import provision_tenant
from invekto.replies import service as replies
from invekto.users import service as users
from invekto.users.schemas import UserCreate

PASSAGES = 2000
COPIES = 50
CHUNKS_PER_ARTICLE = 10
PAST_ANSWERS = 20_000
NOISE = 0.02
SEARCHES = 400
REQUESTS = 300
PASSWORD = "bench-password-1234"
# Reproducible data, not secrets.
_random = random.Random(7)  # noqa: S311


def _passages() -> tuple[list[str], list[str]]:
    """Passages made of sentences of different FAQ answers, and the questions to ask."""
    sentences, questions = [], []
    for domain in faq.DOMAINS:
        data = faq.load(domain)
        for item in data["faqs"]:
            sentences += [s for s in re.split(r"(?<=[.!?])\s+", item["answer"]) if s.strip()]
        questions += [q["text"] for q in data["questions"]]
    passages = [" ".join(_random.sample(sentences, _random.choice((2, 3))))
                for _ in range(PASSAGES)]
    return passages, questions


def _noisy(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    moved = vectors + rng.normal(0, NOISE, vectors.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


async def _load(rt, tenant_id: uuid.UUID, passages: list[str], questions: list[str]) -> None:
    rng = np.random.default_rng(7)
    vectors = embedder().embed_now(passages, kind="passage")
    titles = embedder().embed_now([p.split(".")[0] for p in passages], kind="query")
    async with rt.db.tenant_session(tenant_id) as session:
        await session.execute(text("DROP INDEX ix_kb_chunks_embedding"))
    for copy in range(COPIES):
        moved, moved_titles = _noisy(vectors, rng), _noisy(titles, rng)
        articles, chunks = [], []
        for start in range(0, PASSAGES, CHUNKS_PER_ARTICLE):
            article_id = new_id()
            articles.append({"id": article_id, "tenant_id": tenant_id, "kind": "article",
                             "title": passages[start].split(".")[0][:300],
                             "body": " ".join(passages[start:start + CHUNKS_PER_ARTICLE]),
                             "slug": f"makale-{copy}-{start}", "index_state": "ready"})
            for position in range(CHUNKS_PER_ARTICLE):
                n = start + position
                chunks.append({"id": new_id(), "tenant_id": tenant_id, "article_id": article_id,
                               "position": position, "text": passages[n],
                               "embedding": moved[n].tolist(),
                               "title_embedding": moved_titles[start].tolist(),
                               "embedding_model": embedder().name})
        async with rt.db.tenant_session(tenant_id) as session:
            await session.execute(insert(KnowledgeArticle), articles)
            await session.execute(insert(KnowledgeChunk), chunks)
    question_vectors = embedder().embed_now(questions, kind="query")
    async with rt.db.tenant_session(tenant_id) as session:
        for start in range(0, PAST_ANSWERS, 2000):
            moved = _noisy(question_vectors[np.arange(start, start + 2000) % len(questions)],
                           rng)
            await session.execute(insert(AnswerMemory), [
                {"id": new_id(), "tenant_id": tenant_id, "source": "agent_answer",
                 "source_id": new_id(), "question": questions[(start + i) % len(questions)],
                 "answer": passages[(start + i) % PASSAGES], "embedding": moved[i].tolist(),
                 "embedding_model": embedder().name} for i in range(2000)])
    async with rt.db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("SET maintenance_work_mem = '512MB'"))
        index = next(i for i in KnowledgeChunk.__table__.indexes
                     if i.name == "ix_kb_chunks_embedding")
        await connection.run_sync(lambda sync: Index.create(index, sync))
        await connection.execute(text("VACUUM ANALYZE kb_chunks, kb_articles, ai_answer_memory"))


async def _setup(url: str):
    rt = runtime.build(Settings(database_url=url), url, application_name="bench-ai")
    runtime.install(rt)
    from invekto import tasks  # noqa: F401 - registers the jobs deferred while seeding
    from invekto.channels import service as channels
    from invekto.channels.schemas import ChannelCreate

    async with rt.db.transaction() as session:
        tenant, _ = await provision_tenant(session, slug="bench", name="Bench Klinik",
                                           admin_username="admin")
    system = Actor.system(tenant.id)
    async with rt.db.tenant_session(tenant.id) as session:
        channel = await channels.create_channel(session, system, ChannelCreate(
            kind="webchat", name="Web"))
        await users.create_user(session, system, UserCreate(
            username="ayla", display_name="Ayla", role="admin", password=PASSWORD))
        for n in range(30):
            await replies.create(session, system, shortcut=f"hazir{n}",
                                 body=f"Merhaba {{{{ contact.first_name }}}}, {n}. hazır yanıt.")
        await memory.sync_quick_replies(session, tenant.id)
    passages, questions = _passages()
    await _load(rt, tenant.id, passages, questions)
    conversations = []
    async with rt.db.tenant_session(tenant.id) as session:
        for n, question in enumerate(_random.sample(questions, 50)):
            message, _ = await inbox.receive_inbound(session, tenant.id, InboundMessage(
                channel_id=channel.id, handle=f"musteri-{n}", provider_message_id=f"q{n}",
                contact_name=f"Müşteri {n}", body=question))
            conversations.append(message.conversation_id)
    return rt, tenant.id, questions, conversations


async def _searches(rt, tenant_id: uuid.UUID, questions: list[str]) -> dict[str, list]:
    """Each question embedded (timed on its own), then searched with that embedding, then
    the bare query of the same embedding."""
    times: dict[str, list] = {"embed": [], "search": [], "bare": []}
    asked = _random.sample(questions, min(SEARCHES, len(questions)))
    async with rt.db.tenant_session(tenant_id) as session:
        for _ in range(20):  # warm the model, the session and the index pages
            await knowledge.search(session, tenant_id, asked[0])
        for question in asked:
            started = time.perf_counter()
            [vector] = await embedder().embed([question], kind="query")
            times["embed"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await knowledge.search(session, tenant_id, question, vector=vector)
            times["search"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await session.execute(select(KnowledgeChunk.id).order_by(
                KnowledgeChunk.embedding.cosine_distance(vector)).limit(20))
            times["bare"].append((time.perf_counter() - started) * 1000)
    return times


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[94]


def _requests(port: int, conversations: list[uuid.UUID]) -> tuple[list, list]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={
            "company": "bench", "username": "ayla", "password": PASSWORD})
        login.raise_for_status()
        ours, bare = [], []
        for n in range(REQUESTS + 20):
            conversation = conversations[n % len(conversations)]
            started = time.perf_counter()
            response = client.get(f"/api/v1/conversations/{conversation}/suggestions")
            took = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            started = time.perf_counter()
            client.get(f"/api/v1/conversations/{conversation}/messages").raise_for_status()
            plain = (time.perf_counter() - started) * 1000
            if n >= 20:  # the first requests load the model in the server process
                ours.append(took)
                bare.append(plain)
        found = client.get(f"/api/v1/conversations/{conversations[0]}/suggestions").json()
        assert found["items"], found
    return ours, bare


def run() -> list[dict]:
    with common.database() as (_server, url, directory):
        rt, tenant_id, questions, conversations = asyncio.run(_setup(url))
        searched = asyncio.run(_searches(rt, tenant_id, questions))
        asyncio.run(rt.db.dispose())
        env = {"INVEKTO_DATABASE_URL": url, "INVEKTO_LOG_LEVEL": "WARNING",
               "INVEKTO_DATA_DIR": str(directory)}
        port = common.free_port()
        with common.process([sys.executable, "-m", "invekto", "serve", "--port", str(port)],
                            env, port):
            suggest, plain = _requests(port, conversations)
    size = {"chunks": PASSAGES * COPIES, "articles": PASSAGES * COPIES // CHUNKS_PER_ARTICLE,
            "past_answers": PAST_ANSWERS, "quick_replies": 30}
    return [
        common.write_result("kb_search_p95", _p95(searched["search"]), "ms",
                            _p95(searched["bare"]), {
            **size, "searches": len(searched["search"]),
            "p50_ms": round(statistics.median(searched["search"]), 1),
            "measures": "knowledge.search given the question's embedding: the HNSW walk under "
                        "the tenant filter, full-text ranks and title similarities of the 20 "
                        "candidates, their articles, scoring",
            "embedding_p50_ms": round(statistics.median(searched["embed"]), 1),
            "embedding_p95_ms": round(_p95(searched["embed"]), 1),
            "with_embedding_p95_ms": round(_p95([
                a + b for a, b in zip(searched["embed"], searched["search"], strict=True)]), 1),
            "baseline": "bare pgvector nearest-20 query of the same embedding"}),
        common.write_result("ai_suggest_p95", _p95(suggest), "ms", _p95(plain), {
            **size, "requests": len(suggest), "p50_ms": round(statistics.median(suggest), 1),
            "server_processes": 1, "concurrency": 1,
            "baseline": "GET /api/v1/conversations/{id}/messages, same conversation"}),
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

"""The OpenAI-compatible adapters (chat and embeddings) against the simulator: over a real socket
(a happy path, a timeout, a closed port) and in-process for the rest. Every failure is one
ProviderError with the kind the service falls back on, and never carries the key."""

from __future__ import annotations

import json
import math
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel

from invekto.ai.providers.base import ChatTurn, ProviderError
from invekto.ai.providers.openai_compat import (
    EMBED_BATCH,
    OpenAICompatEmbedder,
    OpenAICompatGenerator,
)
from invekto.ai.simulator.openai import API_KEY, OpenAISimulator, hash_vector
from tests.processes import free_port, serving

MODEL = "qwen2.5:7b-instruct"
SYSTEM = "Sen bir müşteri destek asistanısın. Kısa ve kibar cevap ver."
TURNS = [ChatTurn("user", "Merhaba, siparişim nerede?"), ChatTurn("assistant", "Numarası?"),
         ChatTurn("user", "12345")]
BASE = "http://llm.test/v1"


class Triage(BaseModel):
    intent: Literal["order", "complaint", "other"]
    urgent: bool
    summary: str


class Draft(BaseModel):
    """Optional fields and constraints: outside OpenAI's strict mode."""
    reply: str
    tone: str = "friendly"
    tags: list[str] | None = None


@pytest.fixture
def simulator() -> OpenAISimulator:
    return OpenAISimulator()


@pytest.fixture
async def generator(simulator):
    made = OpenAICompatGenerator(base_url=BASE, model=MODEL, api_key=API_KEY,
                                 transport=httpx.ASGITransport(app=simulator))
    yield made
    await made.aclose()


@pytest.fixture
async def embedder(simulator):
    made = OpenAICompatEmbedder(base_url=BASE, model="nomic-embed-text", dim=simulator.dim,
                                api_key=API_KEY, transport=httpx.ASGITransport(app=simulator))
    yield made
    await made.aclose()


async def failure(call) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)
    return caught.value


# ---- over a real socket ----------------------------------------------------------------------


async def test_a_text_answer_and_its_usage_over_http(simulator):
    simulator.chat_replies.text("Siparişiniz kargoda.", usage=(51, 4))
    async with serving(simulator) as url:
        generator = OpenAICompatGenerator(base_url=f"{url}/v1", model=MODEL, api_key=API_KEY)
        try:
            result = await generator.generate(system=SYSTEM, turns=TURNS, max_tokens=200)
        finally:
            await generator.aclose()

    assert result.text == "Siparişiniz kargoda."
    assert (result.usage.input_tokens, result.usage.output_tokens) == (51, 4)
    assert result.model == MODEL
    [call] = simulator.requests
    assert call.path == "/v1/chat/completions"
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert call.headers["content-type"] == "application/json"
    assert call.body == {"model": MODEL, "max_tokens": 200, "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Merhaba, siparişim nerede?"},
        {"role": "assistant", "content": "Numarası?"},
        {"role": "user", "content": "12345"}]}


async def test_an_answer_slower_than_the_timeout_is_a_timeout(simulator):
    simulator.chat_replies.delay(2)
    async with serving(simulator) as url:
        generator = OpenAICompatGenerator(base_url=f"{url}/v1", model=MODEL, api_key=API_KEY,
                                          timeout=0.3)
        try:
            error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
        finally:
            await generator.aclose()
    assert error.kind == "timeout"


async def test_embeddings_over_http_and_a_slow_one_times_out(simulator):
    async with serving(simulator) as url:
        embedder = OpenAICompatEmbedder(base_url=f"{url}/v1", model="nomic-embed-text",
                                        dim=simulator.dim, api_key=API_KEY, timeout=0.3)
        try:
            [vector] = await embedder.embed(["kargo ücreti"], kind="query")
            simulator.embedding_replies.delay(2)
            error = await failure(embedder.embed(["iade"], kind="passage"))
        finally:
            await embedder.aclose()
    assert math.isclose(math.fsum(x * x for x in vector), 1.0)
    assert error.kind == "timeout"


async def test_a_closed_port_is_unavailable():
    base = f"http://127.0.0.1:{free_port()}/v1"
    generator = OpenAICompatGenerator(base_url=base, model=MODEL, timeout=5)
    embedder = OpenAICompatEmbedder(base_url=base, model=MODEL, dim=8, timeout=5)
    try:
        assert (await failure(generator.generate(system=SYSTEM, turns=TURNS))).kind \
            == "unavailable"
        assert (await failure(embedder.embed(["x"], kind="query"))).kind == "unavailable"
    finally:
        await generator.aclose()
        await embedder.aclose()


async def test_a_private_address_is_refused_when_private_urls_are_off(simulator, settings,
                                                                      monkeypatch):
    monkeypatch.setattr(settings, "allow_private_urls", False)
    async with serving(simulator) as url:
        embedder = OpenAICompatEmbedder(base_url=f"{url}/v1", model=MODEL, dim=8)
        try:
            error = await failure(embedder.embed(["x"], kind="query"))
        finally:
            await embedder.aclose()
    assert error.kind == "refused"
    assert simulator.requests == []


# ---- the request -----------------------------------------------------------------------------


async def test_no_key_no_authorization_header_and_missing_usage_is_zero():
    """A local server (Ollama): no key to send, and usage left out of the answer."""
    local = OpenAISimulator(api_key=None, report_usage=False)
    generator = OpenAICompatGenerator(base_url="http://localhost:11434/v1", model=MODEL,
                                      transport=httpx.ASGITransport(app=local))
    try:
        result = await generator.generate(system=SYSTEM, turns=TURNS)
    finally:
        await generator.aclose()
    assert result.text == "echo: 12345"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (0, 0)
    assert "authorization" not in local.requests[0].headers
    assert local.requests[0].body["max_tokens"] == 512


async def test_a_conversation_opened_by_the_business_starts_with_a_user_turn(simulator,
                                                                             generator):
    await generator.generate(system="", turns=[ChatTurn("assistant", "Kampanya!"),
                                               ChatTurn("user", "Detay?")])
    roles = [m["role"] for m in simulator.last_body["messages"]]
    assert roles == ["user", "assistant", "user"]  # no system message when it is empty


# ---- structured answers ----------------------------------------------------------------------


async def test_a_json_answer_is_validated_into_the_model(simulator, generator):
    simulator.chat_replies.data({"intent": "order", "urgent": False, "summary": "Kargo"},
                                usage=(80, 20))
    answer, usage = await generator.generate_json(system=SYSTEM, turns=TURNS, schema=Triage)

    assert answer == Triage(intent="order", urgent=False, summary="Kargo")
    assert (usage.input_tokens, usage.output_tokens) == (80, 20)
    response_format = simulator.last_body["response_format"]
    assert response_format["type"] == "json_schema"
    spec = response_format["json_schema"]
    assert spec["name"] == "Triage"
    assert spec["strict"] is True
    assert spec["schema"] == {**Triage.model_json_schema(), "additionalProperties": False}
    assert simulator.last_body["messages"][0] == {"role": "system", "content": SYSTEM}


async def test_a_schema_outside_strict_mode_is_sent_not_strict(simulator, generator):
    """OpenAI refuses strict schemas with optional fields; the simulator checks that too."""
    answer, _ = await generator.generate_json(system=SYSTEM, turns=TURNS, schema=Draft)
    assert answer.reply == "12345"  # the simulator's default answer, made from the schema
    spec = simulator.last_body["response_format"]["json_schema"]
    assert spec["strict"] is False
    assert spec["schema"]["additionalProperties"] is False


async def test_a_json_fence_around_the_answer_is_taken_off(simulator, generator):
    simulator.chat_replies.text('```json\n{"intent": "other", "urgent": true, '
                                '"summary": "Fatura"}\n```')
    answer, _ = await generator.generate_json(system=SYSTEM, turns=TURNS, schema=Triage)
    assert answer == Triage(intent="other", urgent=True, summary="Fatura")


@pytest.mark.parametrize("content", [
    "Tabii, hemen bakıyorum!",  # text, not JSON
    '{"intent": "order", "urgent": false',  # cut off
    '{"intent": "order", "summary": "Kargo"}',  # a required field missing
    '{"intent": "refund", "urgent": false, "summary": "x"}',  # not one of the choices
    '["order"]',
])
async def test_an_answer_that_does_not_fit_is_malformed(simulator, generator, content):
    simulator.chat_replies.text(content)
    error = await failure(generator.generate_json(system=SYSTEM, turns=TURNS, schema=Triage))
    assert error.kind == "malformed"


@pytest.mark.parametrize("body", [
    b"<html>502 Bad Gateway</html>",
    json.dumps({"id": "x", "choices": []}).encode(),
    json.dumps({"choices": [{"message": {"role": "assistant", "content": None,
                                         "tool_calls": []}}]}).encode(),
])
async def test_an_unreadable_completion_is_malformed(simulator, generator, body):
    simulator.chat_replies.raw(body)
    error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    assert error.kind == "malformed"


async def test_a_refusal_is_refused(simulator, generator):
    simulator.chat_replies.raw({"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "refusal": "I can't help with that."}}]})
    error = await failure(generator.generate_json(system=SYSTEM, turns=TURNS, schema=Triage))
    assert error.kind == "refused"


# ---- HTTP errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind", "error_word"), [
    (401, "auth", "invalid_api_key"),
    (403, "auth", "invalid_request_error"),
    (429, "rate_limited", "requests"),
    (500, "unavailable", "server_error"),
    (503, "unavailable", "server_error"),
    (400, "refused", "invalid_request_error"),
    (404, "refused", "invalid_request_error"),
])
async def test_http_errors_map_to_kinds(simulator, generator, status, kind, error_word):
    simulator.chat_replies.error(status, retry_after=20 if status == 429 else None)
    error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    assert error.kind == kind
    assert f"HTTP {status}" in str(error)
    assert error_word in str(error)
    if status == 429:
        assert "retry after 20" in str(error)


async def test_ollamas_plain_error_string_is_kept(simulator, generator):
    simulator.chat_replies.raw({"error": 'model "qwen9" not found, try pulling it first'},
                               status=404)
    error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    assert error.kind == "refused"
    assert "try pulling it first" in str(error)


async def test_a_wrong_key_is_auth_and_not_repeated(simulator):
    wrong = "sk-proj-aKeyTheSimulatorDoesNotKnow0000000000"
    generator = OpenAICompatGenerator(base_url=BASE, model=MODEL, api_key=wrong,
                                      transport=httpx.ASGITransport(app=simulator))
    embedder = OpenAICompatEmbedder(base_url=BASE, model=MODEL, dim=8, api_key=wrong,
                                    transport=httpx.ASGITransport(app=simulator))
    try:
        for call in (generator.generate(system=SYSTEM, turns=TURNS),
                     embedder.embed(["x"], kind="query")):
            with pytest.raises(ProviderError) as caught:
                await call
            assert caught.value.kind == "auth"
            assert wrong not in str(caught.value)
    finally:
        await generator.aclose()
        await embedder.aclose()


async def test_a_key_quoted_back_in_an_error_is_taken_out(simulator, generator):
    simulator.chat_replies.raw({"error": {"message": f"key {API_KEY} is disabled",
                                          "type": "invalid_request_error", "code": None}},
                               status=400)
    error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    assert "key *** is disabled" in str(error)


# ---- embeddings ------------------------------------------------------------------------------


async def test_embeddings_are_unit_vectors_in_input_order(simulator, embedder):
    texts = ["kargo ücreti ne kadar", "iade nasıl yapılır", "kargo ücreti ne kadar"]
    vectors = await embedder.embed(texts, kind="passage")

    assert simulator.last_body == {"model": "nomic-embed-text", "input": texts}
    assert len(vectors) == 3 and all(len(v) == simulator.dim for v in vectors)
    for vector in vectors:
        assert math.isclose(math.fsum(x * x for x in vector), 1.0)
    assert vectors[0] == vectors[2] != vectors[1]
    raw = hash_vector(texts[1], simulator.dim)
    norm = math.sqrt(math.fsum(x * x for x in raw))
    assert vectors[1] == pytest.approx([x / norm for x in raw])


async def test_embeddings_are_put_back_in_order_by_index(simulator, embedder):
    simulator.embedding_replies.raw({"object": "list", "model": "m", "data": [
        {"object": "embedding", "index": 2, "embedding": [0, 0, 3, 0, 0, 0, 0, 0]},
        {"object": "embedding", "index": 0, "embedding": [2, 0, 0, 0, 0, 0, 0, 0]},
        {"object": "embedding", "index": 1, "embedding": [0, -5, 0, 0, 0, 0, 0, 0]}]})
    vectors = await embedder.embed(["a", "b", "c"], kind="query")
    assert [v[:3] for v in vectors] == [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]


async def test_many_texts_go_in_batches(simulator, embedder):
    texts = [f"soru {i}" for i in range(EMBED_BATCH + 3)]
    vectors = await embedder.embed(texts, kind="passage")
    assert [len(call.body["input"]) for call in simulator.requests] == [EMBED_BATCH, 3]
    assert vectors[-1] == pytest.approx(
        [x / math.sqrt(math.fsum(y * y for y in hash_vector(texts[-1], simulator.dim)))
         for x in hash_vector(texts[-1], simulator.dim)])
    assert await embedder.embed([], kind="query") == []


async def test_a_vector_of_the_wrong_dimension_is_malformed(simulator):
    embedder = OpenAICompatEmbedder(base_url=BASE, model=MODEL, dim=simulator.dim + 1,
                                    api_key=API_KEY, transport=httpx.ASGITransport(app=simulator))
    try:
        error = await failure(embedder.embed(["kargo"], kind="query"))
    finally:
        await embedder.aclose()
    assert error.kind == "malformed"
    assert f"{simulator.dim} dimensions" in str(error)


@pytest.mark.parametrize("data", [
    [{"index": 0, "embedding": [1.0] * 8}],  # one vector for two texts
    [{"index": 0, "embedding": [1.0] * 8}, {"index": 0, "embedding": [1.0] * 8}],
    [{"index": 0, "embedding": [1.0] * 8}, {"index": 1, "embedding": [0.0] * 8}],
    [{"index": 0, "embedding": [1.0] * 8}, {"index": 1, "embedding": ["x"] * 8}],
])
async def test_unusable_embeddings_are_malformed(simulator, embedder, data):
    simulator.embedding_replies.raw({"object": "list", "data": data})
    error = await failure(embedder.embed(["a", "b"], kind="query"))
    assert error.kind == "malformed"


async def test_embedding_errors_map_to_kinds(simulator, embedder):
    simulator.embedding_replies.error(429, retry_after=3)
    simulator.embedding_replies.error(500)
    assert (await failure(embedder.embed(["a"], kind="query"))).kind == "rate_limited"
    assert (await failure(embedder.embed(["a"], kind="query"))).kind == "unavailable"


async def test_the_simulator_refuses_what_openai_refuses(simulator):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url="http://llm.test",
                                 headers={"authorization": f"Bearer {API_KEY}"}) as http:
        strict_but_open = {"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                           "response_format": {"type": "json_schema", "json_schema": {
                               "name": "Draft", "strict": True,
                               "schema": Draft.model_json_schema()}}}
        refused = await http.post("/v1/chat/completions", json=strict_but_open)
        assert refused.status_code == 400
        assert "additionalProperties" in refused.json()["error"]["message"]
        empty = await http.post("/v1/chat/completions", json={"model": MODEL, "messages": []})
        assert empty.status_code == 400
        no_input = await http.post("/v1/embeddings", json={"model": MODEL, "input": []})
        assert no_input.status_code == 400
        assert (await http.post("/v1/embeddings", json={"model": MODEL, "input": "x"})
                ).json()["data"][0]["index"] == 0

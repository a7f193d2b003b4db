"""The Anthropic adapter against the Messages API simulator: over a real socket (a happy path,
a timeout, a closed port) and in-process for the rest. Every failure is one ProviderError with
the kind the service falls back on, and never carries the key."""

from __future__ import annotations

from typing import Literal

import httpx
import pytest
from pydantic import BaseModel

from invekto.ai.providers.anthropic import API_VERSION, AnthropicGenerator
from invekto.ai.providers.base import ChatTurn, ProviderError
from invekto.ai.providers.http import OPENING_TURN
from invekto.ai.simulator.anthropic import API_KEY, AnthropicSimulator
from tests.processes import free_port, serving

MODEL = "claude-haiku-4-5"
SYSTEM = "Sen bir müşteri destek asistanısın. Kısa ve kibar cevap ver."
TURNS = [ChatTurn("user", "Merhaba, siparişim nerede?")]


class Triage(BaseModel):
    intent: Literal["order", "complaint", "other"]
    urgent: bool
    summary: str


@pytest.fixture
def simulator() -> AnthropicSimulator:
    return AnthropicSimulator()


@pytest.fixture
async def generator(simulator):
    """An adapter talking to the simulator in-process."""
    made = AnthropicGenerator(api_key=API_KEY, model=MODEL, base_url="http://anthropic.test",
                              transport=httpx.ASGITransport(app=simulator))
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
    simulator.replies.text("Siparişiniz kargoda, yarın elinizde.", usage=(42, 9))
    async with serving(simulator) as url:
        generator = AnthropicGenerator(api_key=API_KEY, model=MODEL, base_url=url)
        try:
            result = await generator.generate(system=SYSTEM, turns=TURNS, max_tokens=300)
        finally:
            await generator.aclose()

    assert result.text == "Siparişiniz kargoda, yarın elinizde."
    assert (result.usage.input_tokens, result.usage.output_tokens) == (42, 9)
    assert result.model == MODEL
    [call] = simulator.requests
    assert call.path == "/v1/messages"
    assert call.headers["x-api-key"] == API_KEY
    assert call.headers["anthropic-version"] == API_VERSION == "2023-06-01"
    assert call.headers["content-type"] == "application/json"
    assert "authorization" not in call.headers
    assert call.body == {"model": MODEL, "max_tokens": 300, "system": SYSTEM,
                         "messages": [{"role": "user", "content": "Merhaba, siparişim nerede?"}]}


async def test_an_answer_slower_than_the_timeout_is_a_timeout(simulator):
    simulator.replies.delay(2)
    async with serving(simulator) as url:
        generator = AnthropicGenerator(api_key=API_KEY, model=MODEL, base_url=url, timeout=0.3)
        try:
            error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
        finally:
            await generator.aclose()
    assert error.kind == "timeout"


async def test_a_closed_port_is_unavailable():
    generator = AnthropicGenerator(api_key=API_KEY, model=MODEL,
                                   base_url=f"http://127.0.0.1:{free_port()}", timeout=5)
    try:
        error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    finally:
        await generator.aclose()
    assert error.kind == "unavailable"


async def test_a_private_address_is_refused_when_private_urls_are_off(simulator, settings,
                                                                      monkeypatch):
    """The base URL is the tenant's to type: without a test transport the adapter connects
    through core.outbound, which keeps it off this machine and the private network."""
    monkeypatch.setattr(settings, "allow_private_urls", False)
    async with serving(simulator) as url:
        generator = AnthropicGenerator(api_key=API_KEY, model=MODEL, base_url=url)
        try:
            error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
        finally:
            await generator.aclose()
    assert error.kind == "refused"
    assert "not a public internet address" in str(error)
    assert simulator.requests == []


# ---- the request -----------------------------------------------------------------------------


async def test_turns_become_alternating_messages_starting_with_the_user(simulator, generator):
    turns = [ChatTurn("assistant", "Kampanya: bu hafta kargo bedava!"),
             ChatTurn("user", "Gerçekten mi?"), ChatTurn("user", "  "),
             ChatTurn("user", "Her ürün için mi?"), ChatTurn("assistant", "Evet."),
             ChatTurn("assistant", "500 TL üzeri."), ChatTurn("user", "Teşekkürler")]
    result = await generator.generate(system="", turns=turns)

    assert result.text == "echo: Teşekkürler"  # the simulator's default answer
    body = simulator.last_body
    assert "system" not in body  # an empty system prompt is not sent
    assert body["messages"] == [
        {"role": "user", "content": OPENING_TURN},
        {"role": "assistant", "content": "Kampanya: bu hafta kargo bedava!"},
        {"role": "user", "content": "Gerçekten mi?\n\nHer ürün için mi?"},
        {"role": "assistant", "content": "Evet.\n\n500 TL üzeri."},
        {"role": "user", "content": "Teşekkürler"}]


async def test_a_conversation_without_text_is_refused_before_any_request(simulator, generator):
    error = await failure(generator.generate(system=SYSTEM, turns=[ChatTurn("user", " ")]))
    assert error.kind == "refused"
    assert simulator.requests == []


# ---- structured answers ----------------------------------------------------------------------


async def test_a_json_answer_is_read_from_the_forced_tool_and_validated(simulator, generator):
    simulator.replies.data({"intent": "complaint", "urgent": True,
                            "summary": "Kargo gecikti"}, usage=(120, 30))
    answer, usage = await generator.generate_json(system=SYSTEM, turns=TURNS, schema=Triage)

    assert answer == Triage(intent="complaint", urgent=True, summary="Kargo gecikti")
    assert (usage.input_tokens, usage.output_tokens) == (120, 30)
    body = simulator.last_body
    assert body["max_tokens"] == 1024
    assert body["tools"] == [{"name": "answer", "description": body["tools"][0]["description"],
                              "input_schema": Triage.model_json_schema()}]
    assert body["tools"][0]["description"]
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}


async def test_the_simulators_default_tool_answer_fits_the_schema(generator):
    answer, usage = await generator.generate_json(system=SYSTEM, turns=TURNS, schema=Triage)
    assert answer.intent == "order" and answer.summary == "Merhaba, siparişim nerede?"
    assert usage.input_tokens > 0 and usage.output_tokens > 0


async def test_a_tool_input_missing_a_required_field_is_malformed(simulator, generator):
    simulator.replies.data({"intent": "order", "summary": "Sipariş sorusu"})
    error = await failure(generator.generate_json(system=SYSTEM, turns=TURNS, schema=Triage))
    assert error.kind == "malformed"
    assert "urgent" in str(error)


async def test_text_instead_of_the_tool_call_is_malformed(simulator, generator):
    simulator.replies.text('{"intent": "order", "urgent": false, "summary": "x"}')
    error = await failure(generator.generate_json(system=SYSTEM, turns=TURNS, schema=Triage))
    assert error.kind == "malformed"


async def test_an_answer_that_is_not_json_is_malformed(simulator, generator):
    simulator.replies.raw(b'{"type": "message", "content": [{"type": "te', status=200)
    error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    assert error.kind == "malformed"


async def test_a_message_without_text_is_malformed(simulator, generator):
    simulator.replies.raw({"type": "message", "role": "assistant", "model": MODEL,
                           "content": [], "stop_reason": "end_turn",
                           "usage": {"input_tokens": 3, "output_tokens": 0}})
    error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    assert error.kind == "malformed"


# ---- HTTP errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind", "error_type"), [
    (401, "auth", "authentication_error"),
    (403, "auth", "permission_error"),
    (429, "rate_limited", "rate_limit_error"),
    (500, "unavailable", "api_error"),
    (529, "unavailable", "overloaded_error"),
    (400, "refused", "invalid_request_error"),
    (404, "refused", "not_found_error"),
])
async def test_http_errors_map_to_kinds(simulator, generator, status, kind, error_type):
    simulator.replies.error(status, retry_after=7 if status == 429 else None)
    error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    assert error.kind == kind
    assert f"HTTP {status}" in str(error)
    assert error_type in str(error)  # Anthropic's own word for it, for whoever reads the log
    if status == 429:
        assert "retry after 7" in str(error)


async def test_a_wrong_key_is_auth_and_not_repeated(simulator):
    wrong = "sk-ant-api03-a-key-the-simulator-does-not-know"
    generator = AnthropicGenerator(api_key=wrong, model=MODEL, base_url="http://anthropic.test",
                                   transport=httpx.ASGITransport(app=simulator))
    with pytest.raises(ProviderError) as caught:
        await generator.generate(system=SYSTEM, turns=TURNS)
    await generator.aclose()
    assert caught.value.kind == "auth"
    assert "authentication_error" in str(caught.value)
    assert wrong not in str(caught.value)
    assert simulator.requests[0].headers["x-api-key"] == wrong


async def test_a_key_quoted_back_in_an_error_is_taken_out(simulator, generator):
    simulator.replies.raw({"type": "error", "error": {
        "type": "invalid_request_error", "message": f"bad header x-api-key: {API_KEY}"}},
        status=400)
    error = await failure(generator.generate(system=SYSTEM, turns=TURNS))
    assert error.kind == "refused"
    assert "x-api-key: ***" in str(error)


async def test_the_simulator_refuses_what_the_api_refuses(simulator):
    """The simulator's checks, which the adapter's requests pass above."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url="http://anthropic.test") as http:
        headers = {"x-api-key": API_KEY, "anthropic-version": API_VERSION}
        good = {"model": MODEL, "max_tokens": 10,
                "messages": [{"role": "user", "content": "Merhaba"}]}
        assert (await http.post("/v1/messages", json=good, headers=headers)).status_code == 200
        missing_version = await http.post("/v1/messages", json=good,
                                          headers={"x-api-key": API_KEY})
        assert missing_version.status_code == 400
        assistant_first = {**good, "messages": [{"role": "assistant", "content": "Selam"}]}
        refused = await http.post("/v1/messages", json=assistant_first, headers=headers)
        assert refused.status_code == 400
        assert refused.json()["error"]["type"] == "invalid_request_error"
        unknown_tool = {**good, "tool_choice": {"type": "tool", "name": "answer"}}
        assert (await http.post("/v1/messages", json=unknown_tool,
                                headers=headers)).status_code == 400

"""A company's AI settings through the API (who may change them, what an LLM needs, the key kept
encrypted and never shown), and reply suggestions written by its LLM: against the OpenAI and
Anthropic stub servers over real HTTP, with every failure (timeout, unreadable answer, 500, a
refused key) and the monthly token limit falling back to the builtin suggestions, each call
counted in the month's usage, and the key never logged."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from structlog.testing import capture_logs

from invekto.ai import knowledge, service
from invekto.ai.models import AISettings
from invekto.ai.schemas import ArticleIn
from invekto.ai.simulator import anthropic as anthropic_stub
from invekto.ai.simulator import openai as openai_stub
from invekto.audit.models import AuditEvent
from invekto.core.crypto import secret_box
from tests.factories import Company, Person
from tests.processes import serving

SETTINGS = "/api/v1/ai/settings"
USAGE = "/api/v1/ai/usage"
MODEL = "qwen2.5:7b-instruct"
CLAUDE = "claude-haiku-4-5"
FAQS = [
    ("İmplant fiyatlarınız nedir?",
     "Tek implant, üst yapısıyla birlikte 28.000 TL'den başlar; muayenede net fiyat verilir."),
    ("Çalışma saatleriniz nedir?",
     "Hafta içi 09:00-19:00, cumartesi 10:00-16:00 açığız; pazar kapalıyız."),
    ("Kliniğiniz nerede?", "Nişantaşı, Valikonağı Caddesi No: 48, Kat 3, Şişli / İstanbul."),
]
QUESTION = "merhaba implant fiyati ne kadar acaba"
WRITTEN = ("Merhaba! Tek implant üst yapısıyla 28.000 TL'den başlıyor; net fiyatı muayenede "
           "söyleriz.")


# ---- helpers ---------------------------------------------------------------------------------


async def put_settings(person: Person, **fields: Any):
    return await person.client.put(SETTINGS, json=fields)


async def saved(person: Person, **fields: Any) -> dict:
    response = await put_settings(person, **fields)
    assert response.status_code == 200, response.text
    return response.json()


def refused_field(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["field"]


async def stored_settings(company: Company) -> AISettings | None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(AISettings).where(
            AISettings.tenant_id == company.tenant_id))


async def clinic_with_a_question(company: Company) -> uuid.UUID:
    """FAQs searched (indexed now) and a customer asking one of them; the conversation's id."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for question, answer in FAQS:
            await knowledge.save_article(session, company.system, ArticleIn(
                kind="faq", title=question, body=answer))
        await knowledge.index_now(session, company.tenant_id)
    message = await company.inbound(QUESTION)
    return message.conversation_id


async def suggestions(person: Person, conversation_id: uuid.UUID) -> list[dict]:
    response = await person.client.get(f"/api/v1/conversations/{conversation_id}/suggestions")
    assert response.status_code == 200, response.text
    assert response.json()["question"] == QUESTION
    return response.json()["items"]


async def builtin_suggestions(company: Company, conversation_id: uuid.UUID) -> list[dict]:
    """What the builtin provider suggests (the company has no LLM yet): the fallback."""
    assert (await company.ayla.client.get(SETTINGS)).json()["provider"] == "builtin"
    items = await suggestions(company.ayla, conversation_id)
    assert items and items[0]["source"] == "knowledge" and items[0]["text"] == FAQS[0][1]
    return items


async def usage_now(person: Person, provider: str) -> dict:
    """This month's counts for ``provider`` (zeros when it was never called)."""
    response = await person.client.get(USAGE)
    assert response.status_code == 200, response.text
    month = service.this_month().isoformat()
    rows = [row for row in response.json()
            if row["month"] == month and row["provider"] == provider]
    assert len(rows) <= 1
    counts = ("requests", "input_tokens", "output_tokens", "failures", "fallbacks")
    return {name: rows[0][name] if rows else 0 for name in counts}


def counts(requests: int = 0, input_tokens: int = 0, output_tokens: int = 0, failures: int = 0,
           fallbacks: int = 0) -> dict:
    return {"requests": requests, "input_tokens": input_tokens, "output_tokens": output_tokens,
            "failures": failures, "fallbacks": fallbacks}


def replies(*items: tuple[str, list[int]]) -> dict:
    return {"replies": [{"text": text, "sources": sources} for text, sources in items]}


async def openai_llm(person: Person, url: str, **extra: Any) -> dict:
    return await saved(person, **{"provider": "openai", "model": MODEL, "base_url": f"{url}/v1",
                                  "api_key": openai_stub.API_KEY, **extra})


# ---- the settings ----------------------------------------------------------------------------


async def test_a_new_company_has_the_defaults(world):
    response = await world.home.ayla.client.get(SETTINGS)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "provider": "builtin", "model": None, "base_url": None, "has_api_key": False,
        "request_timeout_seconds": 20, "monthly_token_limit": None,
        "suggestions_enabled": True, "answer_threshold": 0.76, "tagging_mode": "suggest",
        "tag_threshold": 0.6, "auto_answer_channel_ids": []}
    assert (await world.home.ayla.client.get(USAGE)).json() == []
    assert await stored_settings(world.home) is None  # reading saves nothing


async def test_only_admins_read_and_change_them(world):
    home = world.home
    for person in (home.sevgi, home.bora, home.deniz):
        for response in (await person.client.get(SETTINGS), await person.client.get(USAGE),
                         await put_settings(person, suggestions_enabled=False)):
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "forbidden"
    assert await stored_settings(home) is None
    body = await saved(home.ayla, suggestions_enabled=False, answer_threshold=0.9,
                       tagging_mode="apply", tag_threshold=0.7, request_timeout_seconds=30,
                       monthly_token_limit=500_000)
    assert (body["suggestions_enabled"], body["answer_threshold"], body["tagging_mode"],
            body["tag_threshold"], body["request_timeout_seconds"],
            body["monthly_token_limit"]) == (False, 0.9, "apply", 0.7, 30, 500_000)
    assert (await home.ayla.client.get(SETTINGS)).json() == body
    assert (await home.ayla.client.get(USAGE)).status_code == 200
    # Charlie's company still has the defaults.
    assert await stored_settings(world.charlie) is None


async def test_an_llm_needs_its_model_address_and_key(world, settings, monkeypatch):
    ayla = world.home.ayla
    assert refused_field(await put_settings(ayla, provider="anthropic", model=CLAUDE),
                         422) == "api_key"
    assert refused_field(await put_settings(ayla, provider="anthropic", model=CLAUDE,
                                            api_key="   "), 422) == "api_key"
    assert refused_field(await put_settings(ayla, provider="openai", model=MODEL),
                         422) == "base_url"
    assert refused_field(await put_settings(ayla, provider="openai",
                                            base_url="http://127.0.0.1:11434/v1"),
                         422) == "model"
    assert refused_field(await put_settings(ayla, provider="anthropic", model="  ",
                                            api_key="sk-ant-x"), 422) == "model"
    assert refused_field(await put_settings(ayla, provider="gemini"), 422) == "provider"
    assert refused_field(await put_settings(ayla, request_timeout_seconds=0),
                         422) == "request_timeout_seconds"
    assert refused_field(await put_settings(ayla, answer_threshold=1.5), 422) == "answer_threshold"
    # An address inside a private network, where that is not allowed (tests allow it).
    monkeypatch.setattr(settings, "allow_private_urls", False)
    assert refused_field(await put_settings(ayla, provider="openai", model=MODEL,
                                            base_url="http://127.0.0.1:11434/v1"),
                         422) == "base_url"
    monkeypatch.setattr(settings, "allow_private_urls", True)
    assert await stored_settings(world.home) is None

    # A local server needs no key; the address is kept without its trailing slash.
    body = await saved(ayla, provider="openai", model=f" {MODEL} ",
                       base_url="http://127.0.0.1:11434/v1/")
    assert (body["provider"], body["model"], body["base_url"], body["has_api_key"]) == (
        "openai", MODEL, "http://127.0.0.1:11434/v1", False)
    # Back to builtin: no model or address needed.
    assert (await saved(ayla, provider="builtin"))["provider"] == "builtin"


async def test_auto_answer_channels_must_be_the_companys_own(world):
    home, charlie = world.home, world.charlie
    response = await put_settings(home.ayla, auto_answer_channel_ids=[
        str(home.channel_id), str(charlie.channel_id)])
    assert refused_field(response, 404) == "auto_answer_channel_ids"
    assert await stored_settings(home) is None
    body = await saved(home.ayla, auto_answer_channel_ids=[str(home.channel_id)] * 2)
    assert body["auto_answer_channel_ids"] == [str(home.channel_id)]  # once
    assert (await stored_settings(home)).auto_answer_channel_ids == [home.channel_id]


async def test_the_key_is_stored_encrypted_never_shown_and_kept_until_removed(world):
    home = world.home
    key = "sk-ant-api03-" + uuid.uuid4().hex
    response = await put_settings(home.ayla, provider="anthropic", model=CLAUDE, api_key=key)
    assert response.status_code == 200, response.text
    assert response.json()["has_api_key"] is True
    assert "api_key" not in response.json() and key not in response.text
    read = await home.ayla.client.get(SETTINGS)
    assert read.json()["has_api_key"] is True and key not in read.text

    stored = await stored_settings(home)
    assert stored.credentials_encrypted and key not in stored.credentials_encrypted
    assert secret_box().decrypt_json(stored.credentials_encrypted) == {"api_key": key}
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        events = list(await session.scalars(select(AuditEvent).where(
            AuditEvent.tenant_id == home.tenant_id, AuditEvent.action == "ai.settings_saved")))
    [event] = events
    assert key not in str(event.data) and "api_key" not in event.data
    assert (event.data["provider"], event.data["api_key_changed"]) == ("anthropic", True)

    # Left out, the key stays (and other settings change).
    body = await saved(home.ayla, provider="anthropic", model="claude-sonnet-4-5")
    assert (body["model"], body["has_api_key"]) == ("claude-sonnet-4-5", True)
    assert secret_box().decrypt_json((await stored_settings(home)).credentials_encrypted) == {
        "api_key": key}
    # A new key replaces it.
    other = "sk-ant-api03-" + uuid.uuid4().hex
    await saved(home.ayla, provider="anthropic", model=CLAUDE, api_key=other)
    assert secret_box().decrypt_json((await stored_settings(home)).credentials_encrypted) == {
        "api_key": other}
    # Anthropic without a key is refused; removed while switching to a local server, it goes.
    assert refused_field(await put_settings(home.ayla, provider="anthropic", model=CLAUDE,
                                            clear_api_key=True), 422) == "api_key"
    body = await saved(home.ayla, provider="openai", model=MODEL,
                       base_url="http://127.0.0.1:11434/v1", clear_api_key=True)
    assert body["has_api_key"] is False
    assert (await stored_settings(home)).credentials_encrypted is None
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        events = list(await session.scalars(select(AuditEvent).where(
            AuditEvent.tenant_id == home.tenant_id, AuditEvent.action == "ai.settings_saved")
            .order_by(AuditEvent.occurred_at)))
    assert [e.data["api_key_changed"] for e in events] == [True, False, True, True]
    assert all(key not in str(e.data) and other not in str(e.data) for e in events)


# ---- suggestions written by the LLM ----------------------------------------------------------


async def test_an_openai_compatible_llm_writes_the_suggestions_from_the_sources(world):
    home = world.home
    conversation_id = await clinic_with_a_question(home)
    builtin = await builtin_suggestions(home, conversation_id)
    stub = openai_stub.OpenAISimulator()
    stub.chat_replies.data(replies((WRITTEN, [1])), usage=(412, 37))
    async with serving(stub) as url:
        await openai_llm(home.ayla, url)
        items = await suggestions(home.bora, conversation_id)

    assert [(item["source"], item["text"]) for item in items] == [("generated", WRITTEN)]
    assert items[0]["title"] == builtin[0]["title"] == FAQS[0][0]
    assert items[0]["relevance"] == builtin[0]["relevance"]
    [call] = stub.requests
    assert call.path == "/v1/chat/completions"
    assert call.headers["authorization"] == f"Bearer {openai_stub.API_KEY}"
    assert call.body["model"] == MODEL
    system, asked = call.body["messages"]
    assert system["role"] == "system"
    assert f"[1] {FAQS[0][1]}" in system["content"]
    assert "Test Kliniği" in system["content"]  # the company's name
    for number, item in enumerate(builtin, start=1):
        assert f"[{number}] {item['text']}" in system["content"]
    assert asked == {"role": "user", "content": QUESTION}
    assert call.body["response_format"]["type"] == "json_schema"
    assert await usage_now(home.ayla, "openai") == counts(requests=1, input_tokens=412,
                                                          output_tokens=37)
    assert await usage_now(world.charlie.ayla, "openai") == counts()


async def test_openai_failures_fall_back_to_the_builtin_suggestions(world):
    home = world.home
    conversation_id = await clinic_with_a_question(home)
    builtin = await builtin_suggestions(home, conversation_id)
    stub = openai_stub.OpenAISimulator()
    stub.chat_replies.delay(3)  # longer than the company's 1 s
    stub.chat_replies.text('{"replies": [{"text": "Merhaba", "sources": [1]}')  # cut off
    stub.chat_replies.text("Tabii, hemen yardımcı olayım!")  # not JSON at all
    stub.chat_replies.error(500)
    stub.chat_replies.error(401)
    async with serving(stub) as url:
        await openai_llm(home.ayla, url, request_timeout_seconds=1)
        with capture_logs() as logs:
            for tried in range(1, 6):
                assert await suggestions(home.ayla, conversation_id) == builtin
                assert len(stub.requests) == tried
                assert await usage_now(home.ayla, "openai") == counts(
                    requests=tried, failures=tried, fallbacks=tried)
        assert [entry["kind"] for entry in logs if entry["event"] == "ai.provider_failed"] == [
            "timeout", "malformed", "malformed", "unavailable", "auth"]
        # Once it answers again, the LLM writes them.
        stub.chat_replies.data(replies((WRITTEN, [1])), usage=(10, 5))
        assert [i["source"] for i in await suggestions(home.ayla, conversation_id)] == [
            "generated"]
    assert await usage_now(home.ayla, "openai") == counts(requests=6, input_tokens=10,
                                                          output_tokens=5, failures=5,
                                                          fallbacks=5)


async def test_a_reply_citing_no_source_or_one_that_does_not_exist_is_dropped(world):
    home = world.home
    conversation_id = await clinic_with_a_question(home)
    builtin = await builtin_suggestions(home, conversation_id)
    stub = openai_stub.OpenAISimulator()
    stub.chat_replies.data(replies(("Uydurma bir fiyat: 5 TL.", [len(builtin) + 1]),
                                   ("Kaynağı olmayan bir cevap.", []),
                                   (WRITTEN, [1])), usage=(300, 60))
    stub.chat_replies.data(replies(("Hepsi uydurma.", [9]), ("Sıfırıncı kaynak.", [0]),
                                   ("Bu da.", [1, 9])), usage=(310, 20))
    async with serving(stub) as url:
        await openai_llm(home.ayla, url)
        kept = await suggestions(home.ayla, conversation_id)
        none_kept = await suggestions(home.ayla, conversation_id)
    assert [(item["source"], item["text"]) for item in kept] == [("generated", WRITTEN)]
    assert none_kept == builtin  # nothing usable written: the builtin ones stand
    # The model answered both times: no failure, no fallback counted.
    assert await usage_now(home.ayla, "openai") == counts(requests=2, input_tokens=610,
                                                          output_tokens=80)


async def test_anthropic_writes_the_suggestions_and_its_failures_fall_back(world):
    home = world.home
    conversation_id = await clinic_with_a_question(home)
    builtin = await builtin_suggestions(home, conversation_id)
    stub = anthropic_stub.AnthropicSimulator()
    stub.replies.data(replies((WRITTEN, [1])), usage=(380, 41))
    stub.replies.error(529)  # overloaded
    stub.replies.raw(b"<html>502 Bad Gateway</html>", status=200, content_type="text/html")
    async with serving(stub) as url:
        body = await saved(home.ayla, provider="anthropic", model=CLAUDE, base_url=url,
                           api_key=anthropic_stub.API_KEY)
        assert body["base_url"] == url
        items = await suggestions(home.deniz, conversation_id)
        assert [(item["source"], item["text"]) for item in items] == [("generated", WRITTEN)]
        assert await suggestions(home.ayla, conversation_id) == builtin
        assert await suggestions(home.ayla, conversation_id) == builtin
        # A key Anthropic refuses: the builtin ones too.
        await saved(home.ayla, provider="anthropic", model=CLAUDE, base_url=url,
                    api_key="sk-ant-api03-revoked")
        assert await suggestions(home.ayla, conversation_id) == builtin

    first = stub.requests[0]
    assert first.path == "/v1/messages"
    assert first.headers["x-api-key"] == anthropic_stub.API_KEY
    assert first.body["model"] == CLAUDE
    assert f"[1] {FAQS[0][1]}" in first.body["system"]
    assert first.body["messages"] == [{"role": "user", "content": QUESTION}]
    assert first.body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert stub.requests[-1].headers["x-api-key"] == "sk-ant-api03-revoked"
    assert len(stub.requests) == 4
    assert await usage_now(home.ayla, "anthropic") == counts(
        requests=4, input_tokens=380, output_tokens=41, failures=3, fallbacks=3)


async def test_past_the_monthly_token_limit_the_llm_is_not_called(world):
    home = world.home
    conversation_id = await clinic_with_a_question(home)
    builtin = await builtin_suggestions(home, conversation_id)
    stub = openai_stub.OpenAISimulator()
    stub.chat_replies.data(replies((WRITTEN, [1])), usage=(120, 30))
    stub.chat_replies.data(replies((WRITTEN, [1])), usage=(100, 20))
    stub.chat_replies.data(replies((WRITTEN, [1])), usage=(5, 5))
    async with serving(stub) as url:
        await openai_llm(home.ayla, url, monthly_token_limit=1000)
        assert (await suggestions(home.ayla, conversation_id))[0]["source"] == "generated"
        # 150 tokens used: a limit of 1,000 lets the next call through...
        assert (await suggestions(home.ayla, conversation_id))[0]["source"] == "generated"
        assert len(stub.requests) == 2
        # ...one of 270, all used by now, does not (the key kept without being sent again).
        body = await saved(home.ayla, provider="openai", model=MODEL, base_url=f"{url}/v1",
                           monthly_token_limit=270)
        assert body["has_api_key"] is True
        assert await suggestions(home.ayla, conversation_id) == builtin
        assert await suggestions(home.ayla, conversation_id) == builtin
        assert len(stub.requests) == 2  # nothing new reached the stub
        assert await usage_now(home.ayla, "openai") == counts(
            requests=2, input_tokens=220, output_tokens=50, fallbacks=2)
        # No limit: called again.
        await saved(home.ayla, provider="openai", model=MODEL, base_url=f"{url}/v1")
        assert (await suggestions(home.ayla, conversation_id))[0]["source"] == "generated"
    assert len(stub.requests) == 3
    assert await usage_now(home.ayla, "openai") == counts(
        requests=3, input_tokens=225, output_tokens=55, fallbacks=2)


async def test_the_key_never_reaches_the_logs(world):
    home = world.home
    conversation_id = await clinic_with_a_question(home)
    builtin = await builtin_suggestions(home, conversation_id)
    stub = openai_stub.OpenAISimulator()
    # A provider quoting the key back in its error, as some gateways do.
    stub.chat_replies.raw({"error": {"message": f"key {openai_stub.API_KEY} is disabled",
                                     "type": "invalid_request_error", "code": None}},
                          status=400)
    async with serving(stub) as url:
        await openai_llm(home.ayla, url)
        with capture_logs() as logs:
            assert await suggestions(home.ayla, conversation_id) == builtin
    [failed] = [entry for entry in logs if entry["event"] == "ai.provider_failed"]
    assert (failed["provider"], failed["kind"]) == ("openai", "refused")
    assert "key *** is disabled" in failed["error"]
    assert openai_stub.API_KEY not in repr(logs)
    assert openai_stub.API_KEY[:20] not in repr(logs)

"""The AI settings page (settings → AI): admins only (in the menu too), the form saved with its
CSRF token, the key never drawn again (only that one is saved, with a box to remove it),
refusals beside their field in the user's language with what was typed, and this month's usage
under the form. Assertions are on ids, data attributes and values, not on translated wording."""

from __future__ import annotations

import html as html_lib
import re

from sqlalchemy import select

from invekto.ai import service
from invekto.ai.models import AISettings
from invekto.ai.providers.base import Usage
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.core.crypto import secret_box
from tests.factories import Company, Person

HX = {"hx-request": "true"}
PATH = "/settings/ai"
KEY = "sk-ant-api03-" + "k3y" * 10


async def html(person: Person, path: str = PATH, *, expect: int = 200) -> str:
    response = await person.client.get(path)
    assert response.status_code == expect, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def error_for(page: str, field: str) -> str:
    match = re.search(rf'data-error-for="{re.escape(field)}">([^<]+)<', page)
    assert match, f"no error shown for {field}"
    return html_lib.unescape(match.group(1))


def fields_in_error(page: str) -> set[str]:
    return set(re.findall(r'data-error-for="([^"]+)"', page))


def ai_form(**fields: str | list[str] | None) -> dict:
    """The form as a browser sends it: the defaults, changed by ``fields`` (None: left out, as
    an unticked box)."""
    values: dict = {"provider": "builtin", "model": "", "base_url": "", "api_key": "",
                    "request_timeout_seconds": "20", "monthly_token_limit": "",
                    "suggestions_enabled": "on", "answer_threshold": "0.76",
                    "tagging_mode": "suggest", "tag_threshold": "0.6",
                    "auto_answer_channel_ids": [""]}
    values.update(fields)
    return {k: v for k, v in values.items() if v is not None}


async def post(person: Person, **fields):
    return await person.client.post(PATH, data=ai_form(**fields))


async def stored(company: Company) -> AISettings | None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(AISettings).where(
            AISettings.tenant_id == company.tenant_id))


def selected(page: str, select_id: str) -> str:
    block = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', page, re.S).group(1)
    [value] = re.findall(r'<option value="([^"]+)" selected>', block)
    return value


def input_value(page: str, input_id: str) -> str:
    tag = re.search(rf'<input[^>]*id="{input_id}"[^>]*>', page, re.S).group(0)
    return html_lib.unescape(re.search(r'value="([^"]*)"', tag).group(1))


def is_checked(page: str, input_id: str) -> bool:
    tag = re.search(rf'<input[^>]*id="{input_id}"[^>]*>', page, re.S).group(0)
    return " checked" in tag


async def test_admins_see_the_defaults_and_the_menu_offers_the_page(world):
    home = world.home
    page = await html(home.ayla)
    assert 'id="ai-form"' in page and 'name="csrf_token"' in page
    assert selected(page, "ai-provider") == "builtin"
    assert 'data-provider="builtin"' in page
    assert input_value(page, "ai-timeout") == "20"
    assert input_value(page, "ai-token-limit-input") == ""
    assert input_value(page, "ai-answer-threshold") == "0.76"
    assert input_value(page, "ai-tag-threshold") == "0.6"
    assert selected(page, "ai-tagging") == "suggest"
    assert is_checked(page, "ai-suggestions")
    assert 'type="password" id="ai-api-key" name="api_key"' in page
    assert 'id="ai-key-saved"' not in page and 'name="clear_api_key"' not in page
    # The company's channels to choose for auto-answer, none chosen; said to come later.
    assert re.search(rf'name="auto_answer_channel_ids" value="{home.channel_id}"\s*>', page)
    assert 'id="ai-later"' in page
    assert 'id="ai-no-usage"' in page and 'id="ai-token-use"' not in page
    assert re.search(r'href="/settings/ai" data-section="ai"\s+aria-current="page"', page)
    assert 'href="/settings/ai" data-section="ai"' in await html(home.ayla, "/settings/users")
    assert await stored(home) is None  # reading saves nothing


async def test_supervisors_and_agents_are_refused(world):
    home = world.home
    for person in (home.sevgi, home.bora, home.deniz):
        page = await html(person, expect=403)
        assert 'id="settings-forbidden"' in page and 'id="ai-form"' not in page
        assert 'href="/settings/ai"' not in page
        response = await person.client.get(PATH, headers=HX)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        response = await post(person, provider="anthropic", model="claude", api_key=KEY)
        assert response.status_code == 403
        assert KEY not in response.text
    assert 'href="/settings/ai"' not in await html(home.sevgi, "/settings/tags")
    assert await stored(home) is None


async def test_the_form_is_saved_with_its_csrf_token_and_the_key_never_shown(world):
    home = world.home
    client = home.ayla.client
    form = ai_form(provider="anthropic", model="claude-haiku-4-5", api_key=KEY,
                   request_timeout_seconds="15", monthly_token_limit="200000",
                   suggestions_enabled=None, answer_threshold="0,8", tagging_mode="apply",
                   tag_threshold="0.55", auto_answer_channel_ids=["", str(home.channel_id)])
    # As a browser posts the form: the token in the form, not the header HTMX sends.
    header = client.headers.pop("x-csrf-token")
    try:
        response = await client.post(PATH, data=form)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "csrf_failed")
        response = await client.post(PATH, data={**form, "csrf_token": "not-the-token"})
        assert response.status_code == 403
        assert await stored(home) is None
        response = await client.post(PATH, data={**form, "csrf_token": header})
        assert response.status_code == 303, response.text
    finally:
        client.headers["x-csrf-token"] = header
    assert response.headers["location"] == f"{PATH}?saved=1"

    saved = await stored(home)
    assert (saved.provider, saved.model, saved.base_url, saved.request_timeout_seconds,
            saved.monthly_token_limit, saved.suggestions_enabled, saved.answer_threshold,
            saved.tagging_mode, saved.tag_threshold, saved.auto_answer_channel_ids) == (
        "anthropic", "claude-haiku-4-5", None, 15, 200_000, False, 0.8, "apply", 0.55,
        [home.channel_id])
    assert secret_box().decrypt_json(saved.credentials_encrypted) == {"api_key": KEY}

    page = await html(home.ayla, response.headers["location"])
    assert 'id="ai-saved"' in page and KEY not in page
    assert input_value(page, "ai-api-key") == ""
    assert 'id="ai-key-saved"' in page and not is_checked(page, "ai-clear-key")
    assert selected(page, "ai-provider") == "anthropic" and 'data-provider="anthropic"' in page
    assert input_value(page, "ai-model") == "claude-haiku-4-5"
    assert input_value(page, "ai-timeout") == "15"
    assert input_value(page, "ai-token-limit-input") == "200000"
    assert input_value(page, "ai-answer-threshold") == "0.8"
    assert selected(page, "ai-tagging") == "apply"
    assert not is_checked(page, "ai-suggestions")
    assert re.search(rf'name="auto_answer_channel_ids" value="{home.channel_id}" checked>', page)

    # Saved again with the key field empty: the key stays.
    response = await post(home.ayla, provider="anthropic", model="claude-sonnet-4-5")
    assert response.status_code == 303, response.text
    saved = await stored(home)
    assert saved.model == "claude-sonnet-4-5"
    assert secret_box().decrypt_json(saved.credentials_encrypted) == {"api_key": KEY}
    assert saved.auto_answer_channel_ids == []  # no box ticked this time
    # "Remove key", with a local server that needs none: gone.
    response = await post(home.ayla, provider="openai", model="llama3.1:8b",
                          base_url="http://127.0.0.1:11434/v1", clear_api_key="on")
    assert response.status_code == 303, response.text
    saved = await stored(home)
    assert (saved.provider, saved.base_url, saved.credentials_encrypted) == (
        "openai", "http://127.0.0.1:11434/v1", None)
    assert 'id="ai-key-saved"' not in await html(home.ayla)


async def test_refusals_are_shown_beside_their_field_with_what_was_typed(world):
    home = world.home
    ayla = home.ayla
    # The form's own checks: every field it can tell is wrong, at once.
    response = await post(ayla, provider="openai", model="llama3.1:8b",
                          request_timeout_seconds="0", monthly_token_limit="çok",
                          answer_threshold="1,5", tag_threshold="x", tagging_mode="always")
    assert response.status_code == 422
    assert fields_in_error(response.text) == {"request_timeout_seconds", "monthly_token_limit",
                                              "answer_threshold", "tag_threshold",
                                              "tagging_mode"}
    assert 'id="ai-form-errors"' in response.text
    assert input_value(response.text, "ai-model") == "llama3.1:8b"
    assert selected(response.text, "ai-provider") == "openai"

    # The service's: an address for an OpenAI-compatible server, a key for Anthropic, a model.
    response = await post(ayla, provider="openai", model="llama3.1:8b")
    assert response.status_code == 422 and fields_in_error(response.text) == {"base_url"}
    response = await post(ayla, provider="anthropic", model="claude-haiku-4-5", api_key="  ")
    assert response.status_code == 422 and fields_in_error(response.text) == {"api_key"}
    response = await post(ayla, provider="anthropic", api_key=KEY)
    assert response.status_code == 422 and fields_in_error(response.text) == {"model"}
    assert KEY not in response.text  # what was typed comes back, never the key
    assert input_value(response.text, "ai-api-key") == ""
    # Another company's channel is not found, and said beside the channels.
    response = await post(ayla, auto_answer_channel_ids=[str(world.charlie.channel_id)])
    assert response.status_code == 404
    assert fields_in_error(response.text) == {"auto_answer_channel_ids"}
    response = await post(ayla, auto_answer_channel_ids=["not-a-channel"])
    assert response.status_code == 422
    assert fields_in_error(response.text) == {"auto_answer_channel_ids"}
    assert await stored(home) is None

    # In the user's language: English for an English-speaking user.
    assert (await ayla.client.post("/me/language", data={"language": "en"})).status_code == 303
    response = await post(ayla, provider="anthropic", model="claude-haiku-4-5")
    assert '<html lang="en">' in response.text
    assert error_for(response.text, "api_key") == "give the API key"
    response = await post(ayla, request_timeout_seconds="500")
    assert error_for(response.text, "request_timeout_seconds") == (
        "give a whole number of seconds from 1 to 120")
    assert await stored(home) is None


async def test_this_months_usage_is_shown_under_the_form(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await service.record_usage(session, home.tenant_id, "openai",
                                   used=Usage(input_tokens=1200, output_tokens=300))
        await service.record_usage(session, home.tenant_id, "openai", failed=True,
                                   fell_back=True)
        await service.record_usage(session, home.tenant_id, "openai", attempted=False,
                                   fell_back=True)
    await post(home.ayla, provider="openai", model="llama3.1:8b",
               base_url="http://127.0.0.1:11434/v1", monthly_token_limit="1500")
    page = await html(home.ayla)
    assert 'id="ai-no-usage"' not in page
    [row] = re.findall(r'<tr class="ai-usage-row"([^>]*)>', page)
    assert 'data-provider="openai"' in row and 'data-requests="2"' in row
    assert 'data-input-tokens="1200"' in row and 'data-output-tokens="300"' in row
    assert 'data-failures="1"' in row and 'data-fallbacks="2"' in row
    assert "1.200" in page  # as Turkish writes a thousand two hundred
    assert 'id="ai-token-use" data-over-limit="true"' in page
    # Another company's use is not shown.
    assert 'id="ai-no-usage"' in await html(world.charlie.ayla)


async def test_typed_text_is_escaped(world):
    home = world.home
    hostile = '"><script>alert(1)</script>'
    response = await post(home.ayla, provider="openai", model=hostile)
    assert response.status_code == 422  # no address
    assert "<script>alert(1)</script>" not in response.text
    assert input_value(response.text, "ai-model") == hostile
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await channels.create_channel(session, home.system, ChannelCreate(
            kind="webchat", name="<img src=x onerror=alert(1)>"))
    page = await html(home.ayla)
    assert "<img src=x onerror=alert(1)>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page

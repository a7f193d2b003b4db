"""Testing a channel's connection: the adapters' cheap authenticated read against the provider
simulators (as Meta and 360dialog, over ASGI transport), through the API route as an admin; the
explanations in the admin's language; who may test and whose channels; and the failures a real
provider gives (a bad token, an unreachable address, a server error, a blocked number)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters.base import ChannelAccount
from invekto.channels.adapters.meta_messaging import (
    InstagramAdapter,
    MessengerAdapter,
)
from invekto.channels.adapters.meta_messaging import (
    explain as explain_meta,
)
from invekto.channels.adapters.whatsapp import (
    WhatsApp360DialogAdapter,
    WhatsAppCloudAdapter,
    explain,
)
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator import meta_messaging as meta_sim
from invekto.channels.simulator import whatsapp as wa_sim

PHONE_NUMBER_ID = wa_sim.PHONE_NUMBER_ID
TOKENS = {"whatsapp_cloud": "EAAG-dogru-anahtar", "whatsapp_bsp": "d360-dogru-anahtar",
          "messenger": "EAAG-sayfa-anahtari", "instagram": "EAAG-ig-anahtari"}
WRONG = "EAAG-yanlis-anahtar"
SIM = "http://provider.simulator"
API = "/api/v1/channels"


@dataclass
class Provider:
    kind: str
    simulator: object

    def credentials(self, token: str) -> dict[str, str]:
        key = "api_key" if self.kind == "whatsapp_bsp" else "access_token"
        return {key: token, "app_secret": "uygulama-sirri"}

    @property
    def external_id(self) -> str:
        if self.kind in ("whatsapp_cloud", "whatsapp_bsp"):
            return PHONE_NUMBER_ID
        return self.simulator.account_id


def _simulator(kind: str):
    if kind == "whatsapp_cloud":
        return wa_sim.create_simulator("s", access_token=TOKENS[kind])
    if kind == "whatsapp_bsp":
        return wa_sim.create_simulator("s", api_key=TOKENS[kind])
    return meta_sim.create_simulator("s", product=kind, access_token=TOKENS[kind])


ADAPTER_TYPES = {"whatsapp_cloud": WhatsAppCloudAdapter, "whatsapp_bsp": WhatsApp360DialogAdapter,
                 "messenger": MessengerAdapter, "instagram": InstagramAdapter}


@pytest.fixture(params=list(ADAPTER_TYPES))
async def provider(request):
    """One provider's simulator, with the adapter the app uses pointed at it."""
    kind = request.param
    simulator = _simulator(kind)
    original = adapters.adapter_for(kind)
    adapters.register(ADAPTER_TYPES[kind](transport=httpx.ASGITransport(app=simulator)))
    yield Provider(kind, simulator)
    adapters.register(original)


async def add_channel(company, kind: str, *, token: str | None = None,
                      external_id: str | None = None, **settings) -> uuid.UUID:
    credentials = {}
    if token is not None:
        credentials = {"api_key" if kind == "whatsapp_bsp" else "access_token": token,
                       "app_secret": "uygulama-sirri"}
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        channel = await channels.create_channel(session, company.system, ChannelCreate(
            kind=kind, name=f"Kanal {uuid.uuid4().hex[:6]}", external_id=external_id,
            settings={"api_base_url": SIM, **settings}, credentials=credentials))
    return channel.id


async def run_check(person, channel_id: uuid.UUID, expect: int = 200) -> dict:
    response = await person.client.post(f"{API}/{channel_id}/test")
    assert response.status_code == expect, response.text
    return response.json()


# ---- the providers answer ----------------------------------------------------------------------

EXPECTED_DETAIL = {
    "whatsapp_cloud": f"{wa_sim.VERIFIED_NAME} · {wa_sim.DISPLAY_PHONE_FORMATTED}",
    "whatsapp_bsp": f"{PHONE_NUMBER_ID} · AVAILABLE",
    "messenger": f"{meta_sim.ACCOUNT_NAMES['messenger']} ({meta_sim.PAGE_ID})",
    "instagram": f"{meta_sim.ACCOUNT_NAMES['instagram']} ({meta_sim.IG_ACCOUNT_ID})",
}


async def test_a_working_channel_passes_and_names_its_account(world, provider):
    home = world.home
    channel_id = await add_channel(home, provider.kind, token=TOKENS[provider.kind],
                                   external_id=provider.external_id)
    body = await run_check(home.ayla, channel_id)
    assert body == {"ok": True, "detail": EXPECTED_DETAIL[provider.kind], "error_code": None,
                    "message": "Bağlantı çalışıyor."}
    # One authenticated read, nothing sent to anyone.
    (request,) = provider.simulator.state.requests
    assert request.method == "GET"
    if provider.kind == "whatsapp_bsp":
        assert request.path == "/health_status"
        assert request.headers["d360-api-key"] == TOKENS["whatsapp_bsp"]
    else:
        expected = PHONE_NUMBER_ID if provider.kind == "whatsapp_cloud" else "me"
        assert request.path == f"/v25.0/{expected}"
        assert "fields=" in request.query
        assert request.headers["authorization"] == f"Bearer {TOKENS[provider.kind]}"
    assert provider.simulator.state.sent == []


async def test_a_wrong_token_fails_with_the_explanation_in_turkish(world, provider):
    home = world.home
    channel_id = await add_channel(home, provider.kind, token=WRONG,
                                   external_id=provider.external_id)
    response = await home.ayla.client.post(f"{API}/{channel_id}/test")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    if provider.kind == "whatsapp_bsp":
        # 360dialog's own refusal (not Meta's error object).
        assert body["error_code"] == "invalid_api_key"
        assert body["detail"] == "Invalid api_key"
        assert body["message"] == ("360dialog API anahtarını kabul etmedi; D360-API-KEY "
                                   "değerini kontrol edip yeniden girin.")
    else:
        assert body["error_code"] == "190"  # Meta's OAuthException, HTTP 401
        assert "erişim anahtarının süresi dolmuş ya da geçersiz" in body["message"]
        expected = (explain("190", "tr") if provider.kind == "whatsapp_cloud"
                    else explain_meta("190", "tr", provider.kind))
        assert body["message"] == expected
    assert WRONG not in response.text
    assert "uygulama-sirri" not in response.text


async def test_the_explanation_follows_the_admins_language(world, provider):
    home = world.home
    response = await home.ayla.client.post("/me/language", data={"language": "en"})
    assert response.status_code == 303
    good = await add_channel(home, provider.kind, token=TOKENS[provider.kind],
                             external_id=provider.external_id)
    bad = await add_channel(home, provider.kind, token=WRONG, external_id=provider.external_id)
    assert (await run_check(home.ayla, good))["message"] == "The connection works."
    message = (await run_check(home.ayla, bad))["message"]
    assert message == (explain("invalid_api_key", "en") if provider.kind == "whatsapp_bsp"
                       else ADAPTER_TYPES[provider.kind]().explain("190", "en"))
    assert "has expired or is invalid" in message or "refused the API key" in message


async def test_an_unreachable_provider_is_a_network_explanation(world):
    """The app's own adapters over the real network, to a port nothing listens on."""
    home = world.home
    for kind in ADAPTER_TYPES:
        channel_id = await add_channel(home, kind, token=TOKENS[kind],
                                       external_id=PHONE_NUMBER_ID,
                                       api_base_url="http://127.0.0.1:9")
        body = await run_check(home.ayla, channel_id)
        assert (body["ok"], body["error_code"]) == (False, "unreachable"), body
        assert body["detail"] == "ConnectError"
        assert "ulaşılamadı" in body["message"]
        assert "internet bağlantısını kontrol edin" in body["message"]


async def test_missing_settings_are_explained_before_calling_anyone(world, provider):
    home = world.home
    no_token = await add_channel(home, provider.kind, token=None,
                                 external_id=provider.external_id)
    body = await run_check(home.ayla, no_token)
    assert (body["ok"], body["error_code"]) == (False, "missing_credentials")
    bad_address = await add_channel(home, provider.kind, token=TOKENS[provider.kind],
                                    external_id=provider.external_id, api_base_url="graph")
    assert (await run_check(home.ayla, bad_address))["error_code"] == "invalid_settings"
    assert provider.simulator.state.requests == []


async def test_a_cloud_channel_without_its_number_id_says_so(world):
    channel_id = await add_channel(world.home, "whatsapp_cloud", token=TOKENS["whatsapp_cloud"])
    body = await run_check(world.home.ayla, channel_id)
    assert (body["ok"], body["error_code"]) == (False, "missing_account_id")
    assert "telefon numarası kimliği yok" in body["message"]


async def test_a_messenger_token_of_another_page_is_caught(world):
    simulator = _simulator("messenger")
    original = adapters.adapter_for("messenger")
    adapters.register(MessengerAdapter(transport=httpx.ASGITransport(app=simulator)))
    try:
        channel_id = await add_channel(world.home, "messenger", token=TOKENS["messenger"],
                                       external_id="999999999999")
        body = await run_check(world.home.ayla, channel_id)
    finally:
        adapters.register(original)
    assert (body["ok"], body["error_code"]) == (False, "account_mismatch")
    assert meta_sim.PAGE_ID in body["detail"]


# ---- provider troubles, with a stub provider -------------------------------------------------

def _stub(status: int, body: dict | str) -> httpx.ASGITransport:
    """A provider that answers every GET with ``status`` and ``body`` (JSON, or text)."""
    async def answer(_request):
        if isinstance(body, str):
            return PlainTextResponse(body, status_code=status)
        return JSONResponse(body, status_code=status)
    return httpx.ASGITransport(app=Starlette(routes=[Route("/{path:path}", answer)]))


def _account(kind: str) -> ChannelAccount:
    return ChannelAccount(kind=kind, external_id=PHONE_NUMBER_ID,
                          settings={"api_base_url": SIM},
                          credentials={"access_token": "t", "api_key": "k"})


@pytest.mark.parametrize(("status", "body", "code"), [
    (503, "Service Unavailable", "provider_error"),
    (500, {"error": {"code": 2, "message": "Service temporarily unavailable",
                     "is_transient": True}}, "provider_error"),
    (400, {"error": {"code": 100, "error_subcode": 33, "message": "Unsupported get request."}},
     "unknown_account"),
    (400, {"error": {"code": 368, "message": "Temporarily blocked for policies violations"}},
     "368"),
    (400, {"error": {"code": 99999, "message": "Something new"}}, "refused"),
    (404, "<html>Not Found</html>", "unexpected_answer"),
    (200, "<html>a login page</html>", "unexpected_answer"),
])
async def test_provider_failures_map_to_explained_codes(status, body, code):
    adapter = WhatsAppCloudAdapter(transport=_stub(status, body))
    check = await adapter.check_connection(_account("whatsapp_cloud"))
    assert (check.ok, check.error_code) == (False, code)
    for language in ("tr", "en"):
        assert adapter.explain(code, language) != explain("no-such-code", language)
    await adapter.aclose()


async def test_a_blocked_360dialog_number_fails_and_says_why():
    health = {"health_status": {"can_send_message": "BLOCKED", "entities": [
        {"entity_type": "PHONE_NUMBER", "id": PHONE_NUMBER_ID, "can_send_message": "BLOCKED",
         "errors": [{"error_code": 141006, "error_description": "Payment method missing"}]}]}}
    adapter = WhatsApp360DialogAdapter(transport=_stub(200, health))
    check = await adapter.check_connection(_account("whatsapp_bsp"))
    assert (check.ok, check.error_code) == (False, "blocked")
    assert check.detail == f"{PHONE_NUMBER_ID} · BLOCKED · Payment method missing"
    await adapter.aclose()


# ---- who may test, and whose channels ----------------------------------------------------------

async def test_only_admins_may_test_and_only_their_own_channels(world, provider):
    home, charlie = world.home, world.charlie
    channel_id = await add_channel(home, provider.kind, token=TOKENS[provider.kind],
                                   external_id=provider.external_id)
    for person in (home.bora, home.sevgi):
        response = await person.client.post(f"{API}/{channel_id}/test")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    async with home.api_client() as admin_key:  # the company's admin API key may
        assert (await admin_key.post(f"{API}/{channel_id}/test")).json()["ok"] is True
    response = await charlie.ayla.client.post(f"{API}/{channel_id}/test")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = await home.ayla.client.post(f"{API}/{uuid.uuid4()}/test")
    assert response.status_code == 404
    assert len(provider.simulator.state.requests) == 1  # only the admin key's


async def test_a_channel_without_a_provider_cannot_be_tested(world):
    response = await world.home.ayla.client.post(f"{API}/{world.home.channel_id}/test")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "channel_id"


async def test_the_test_needs_the_csrf_token_in_a_browser_session(world, provider):
    home = world.home
    channel_id = await add_channel(home, provider.kind, token=TOKENS[provider.kind],
                                   external_id=provider.external_id)
    response = await home.ayla.client.post(f"{API}/{channel_id}/test",
                                           headers={"x-csrf-token": "yanlis"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert provider.simulator.state.requests == []

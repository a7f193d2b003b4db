"""The WhatsApp adapters' template management (create, full listing, delete) against the provider
simulator: Meta's paths and bodies, 360dialog's, paging, and refusals in words for people. No
database; the service and its API are tested in tests/templates/."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from invekto.channels.adapters.base import ChannelAccount
from invekto.channels.adapters.whatsapp import (
    CreatedTemplate,
    TemplateRequestFailed,
    WhatsApp360DialogAdapter,
    WhatsAppCloudAdapter,
)
from invekto.channels.simulator.whatsapp import WABA_ID, create_simulator, meta_error

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
DOCUMENTED = json.loads((FIXTURES / "whatsapp_cloud.template_create.request.json")
                        .read_text(encoding="utf-8"))
TOKEN, API_KEY, SIM = "EAAG-test-token", "d360-test-key", "http://sim.test"


@pytest.fixture
def simulator():
    return create_simulator("secret", access_token=TOKEN, api_key=API_KEY)


@pytest.fixture
async def cloud(simulator):
    adapter = WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=simulator))
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def d360(simulator):
    adapter = WhatsApp360DialogAdapter(transport=httpx.ASGITransport(app=simulator))
    yield adapter
    await adapter.aclose()


def account(kind: str = "whatsapp_cloud", **settings) -> ChannelAccount:
    return ChannelAccount(kind=kind, external_id="109876543210987",
                          settings={"api_base_url": SIM, "waba_id": WABA_ID, **settings},
                          credentials={"access_token": TOKEN, "api_key": API_KEY})


def new_spec(name: str = "kargo_yolda") -> dict:
    return {**DOCUMENTED, "name": name}


async def test_create_posts_metas_documented_body_and_reads_its_answer(cloud, simulator):
    created = await cloud.create_template(account(), new_spec())
    request = next(r for r in simulator.state.requests if r.method == "POST")
    assert (request.path, request.headers["authorization"]) == (
        f"/v25.0/{WABA_ID}/message_templates", f"Bearer {TOKEN}")
    kept = simulator.state.templates[-1]
    assert {key: kept[key] for key in DOCUMENTED} == new_spec()
    assert created == CreatedTemplate(provider_template_id=kept["id"], status="PENDING",
                                      category="UTILITY")


async def test_360dialog_creates_at_its_documented_path_with_its_key(d360, simulator):
    await d360.create_template(account("whatsapp_bsp"), new_spec())
    request = next(r for r in simulator.state.requests if r.method == "POST")
    assert (request.path, request.headers["d360-api-key"]) == ("/v1/configs/templates", API_KEY)


async def test_360dialog_says_it_cannot_delete_through_the_api(d360, simulator):
    with pytest.raises(TemplateRequestFailed) as refused:
        await d360.delete_template(account("whatsapp_bsp"), "kargo_bilgilendirme", None)
    assert refused.value.code == "not_supported"
    assert "360dialog hub" in refused.value.detail
    assert simulator.state.requests == []


async def test_delete_names_the_template_and_its_translation(cloud, simulator):
    kept = next(t for t in simulator.state.templates if t["name"] == "kargo_bilgilendirme")
    await cloud.delete_template(account(), "kargo_bilgilendirme", kept["id"])
    (request,) = simulator.state.requests
    assert (request.method, request.path, request.query) == (
        "DELETE", f"/v25.0/{WABA_ID}/message_templates",
        f"name=kargo_bilgilendirme&hsm_id={kept['id']}")
    assert kept not in simulator.state.templates


async def test_the_full_list_follows_paging_next_and_keeps_every_status(cloud, simulator):
    simulator.state.templates += [
        {"id": str(10**14 + n), "name": f"sablon_{n:03d}", "language": "tr",
         "status": "PENDING", "category": "UTILITY", "components": []} for n in range(150)]
    listed = await cloud.list_all_templates(account())
    assert [t["name"] for t in listed] == [t["name"] for t in simulator.state.templates]
    assert {t["status"] for t in listed} == {"APPROVED", "REJECTED", "PENDING"}
    pages = [r for r in simulator.state.requests if r.method == "GET"]
    assert len(pages) == 2
    assert "after=" in pages[1].query and "limit=100" in pages[1].query


async def test_a_next_page_on_another_host_is_not_followed():
    """Our token goes to the provider's host only, whatever a page says."""
    async def page(request):
        return JSONResponse({"data": [{"name": "bir", "language": "tr"}], "paging": {
            "next": "https://elsewhere.example/v25.0/x/message_templates?after=abc"}})

    adapter = WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=Starlette(routes=[
        Route("/v25.0/{waba_id}/message_templates", page)])))
    try:
        with pytest.raises(TemplateRequestFailed) as refused:
            await adapter.list_all_templates(account())
    finally:
        await adapter.aclose()
    assert refused.value.code == "unexpected_answer"


@pytest.mark.parametrize(("status", "body", "code", "temporary", "detail"), [
    (400, {"error": {**meta_error(100)["error"], "error_subcode": 2388024,
                     "error_user_msg": "Bu dilde içerik zaten var."}},
     "template_exists", False, "Bu dilde içerik zaten var."),
    (400, meta_error(100, "Invalid parameter: components"), "100", False,
     "Invalid parameter: components"),
    (401, meta_error(190, message="Invalid OAuth access token."), "190", False, "190"),
    (429, meta_error(80007), "80007", True, "80007"),
    (503, {"meta": {"developer_message": "Service down"}}, "provider_error", True,
     "Service down"),
])
async def test_refusals_come_back_in_words_for_people(cloud, simulator, status, body, code,
                                                      temporary, detail):
    simulator.fail_next(status=status, body=body)
    with pytest.raises(TemplateRequestFailed) as refused:
        await cloud.create_template(account(), new_spec())
    assert (refused.value.code, refused.value.temporary) == (code, temporary)
    assert detail in refused.value.detail or detail == code


async def test_without_the_business_account_id_nothing_is_asked(cloud, simulator):
    with pytest.raises(TemplateRequestFailed) as refused:
        await cloud.create_template(account(waba_id=""), new_spec())
    assert refused.value.code == "missing_waba_id"
    assert simulator.state.requests == []


async def test_an_unreachable_provider_is_temporary(simulator):
    adapter = WhatsAppCloudAdapter()
    try:
        with pytest.raises(TemplateRequestFailed) as refused:
            await adapter.list_all_templates(account(api_base_url="http://127.0.0.1:9"))
    finally:
        await adapter.aclose()
    assert (refused.value.code, refused.value.temporary) == ("unreachable", True)


async def test_the_simulator_refuses_what_meta_requires(cloud):
    with pytest.raises(TemplateRequestFailed) as refused:
        await cloud.create_template(account(), {**new_spec(), "name": "Büyük Harf"})
    assert refused.value.code == "100"
    with pytest.raises(TemplateRequestFailed):
        await cloud.create_template(account(), {**new_spec(), "components": [
            {"type": "BODY", "text": "Merhaba {{1}}"}]})

"""Trendyol: the adapter against its simulator over real HTTP (Basic auth and the mandatory
User-Agent, pagination, errors, rate limits, statuses, orders split into packages, carrier
links), the reference sample as golden input, and end to end: a company's saved connection
answers ``GET /api/v1/orders?number=`` with the cargo tracking number and link, and the
customer's Turkish sentence."""

from __future__ import annotations

import base64
import json
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from invekto.integrations import orders, registry, service
from invekto.integrations.base import (
    Connection,
    IntegrationAuthFailed,
    IntegrationRateLimited,
    IntegrationRefused,
    IntegrationUnavailable,
)
from invekto.integrations.trendyol.adapter import (
    MAX_PAGE_SIZE,
    STATES,
    TrendyolAdapter,
    to_order,
)
from invekto.integrations.trendyol.simulator import (
    API_KEY,
    API_SECRET,
    SELLER_ID,
    TrendyolSimulator,
)
from tests.processes import free_port, serving

SAMPLE = json.loads((Path(__file__).parent / "shipment_packages.response.json").read_text(
    encoding="utf-8"))
YURTICI = "https://www.yurticikargo.com/tr/online-servisler/gonderi-sorgula?code="


def connection(url: str, *, secret: str = API_SECRET, seller_id: str = SELLER_ID,
               integrator: str = "SelfIntegration") -> Connection:
    return Connection(integration_id=uuid.uuid4(), tenant_id=uuid.uuid4(), kind="trendyol",
                      settings={"base_url": url, "seller_id": seller_id,
                                "integrator": integrator},
                      credentials={"api_key": API_KEY, "api_secret": secret})


@pytest.fixture
async def trendyol():
    simulator = TrendyolSimulator()
    async with serving(simulator) as url:
        yield simulator, url


@pytest.fixture
def adapter() -> TrendyolAdapter:
    return TrendyolAdapter()


# ---- the reference sample ----------------------------------------------------------------------

def test_the_reference_sample_reads_as_one_shipped_order_with_its_tracking_link():
    order = to_order(SAMPLE["content"])
    assert (order.source, order.number, order.state, order.provider_status) == (
        "trendyol", "10345678901", "shipped", "Shipped")
    assert (order.total, order.currency, order.customer_name) == (
        Decimal("1249.9"), "TRY", "Ayşe Yılmaz")
    assert order.created_at is not None and int(order.created_at.timestamp()) == 1767250000
    [item] = order.items
    assert (item.name, item.quantity, item.price, item.sku) == (
        "Kışlık Mont Siyah M", 1, Decimal("1249.9"), "MONT-M-SIYAH")
    [shipment] = order.shipments
    # The number comes as a JSON number; Trendyol's own link wins over our template.
    assert shipment.tracking_number == "7330001234567"
    assert shipment.carrier == "Trendyol Express"
    assert shipment.tracking_url == "https://kargotakip.trendyol.com/?token=example"
    assert order.provider_id == "3301234567"


# ---- auth and the User-Agent -------------------------------------------------------------------

async def test_check_sends_basic_auth_and_the_documented_user_agent(trendyol, adapter):
    simulator, url = trendyol
    result = await adapter.check(connection(url))
    assert (result.ok, result.detail) == (True, f"Seller {SELLER_ID}: reachable")
    [request] = simulator.state.requests
    assert request.path == f"/integration/order/sellers/{SELLER_ID}/orders"
    assert request.query == {"page": "0", "size": "1"}
    assert request.headers["user-agent"] == f"{SELLER_ID} - SelfIntegration"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(
        f"{API_KEY}:{API_SECRET}".encode()).decode()


async def test_an_integrators_name_is_sent_alphanumeric_and_at_most_30_characters(
        trendyol, adapter):
    simulator, url = trendyol
    await adapter.check(connection(url, integrator="Acme Yazılım & Soft " + "x" * 40))
    agent = simulator.state.requests[-1].headers["user-agent"]
    assert agent.startswith(f"{SELLER_ID} - AcmeYazlmSoft")
    assert len(agent.split(" - ", 1)[1]) == 30


async def test_refused_credentials_are_an_auth_failure_naming_trendyols_exception(
        trendyol, adapter):
    _, url = trendyol
    with pytest.raises(IntegrationAuthFailed) as refused:
        await adapter.check(connection(url, secret="wrong"))
    assert refused.value.status == 401
    assert refused.value.code == "ClientApiAuthenticationException"


async def test_the_simulator_refuses_a_request_without_user_agent_with_403(trendyol):
    simulator, url = trendyol
    auth = httpx.BasicAuth(API_KEY, API_SECRET)
    async with httpx.AsyncClient(auth=auth) as http:
        path = f"{url}/integration/order/sellers/{SELLER_ID}/orders"
        without = await http.get(path, headers={"User-Agent": ""})
        wrong_seller = await http.get(path, headers={"User-Agent": "999 - SelfIntegration"})
        fine = await http.get(path, headers={"User-Agent": f"{SELLER_ID} - SelfIntegration"})
    assert (without.status_code, wrong_seller.status_code, fine.status_code) == (403, 403, 200)
    assert [r.headers.get("user-agent") for r in simulator.state.requests] == [
        "", "999 - SelfIntegration", f"{SELLER_ID} - SelfIntegration"]


async def test_a_403_is_an_auth_failure_that_points_at_the_user_agent_and_seller_id(
        trendyol, adapter):
    _, url = trendyol
    with pytest.raises(IntegrationAuthFailed) as refused:
        await adapter.check(connection(url, seller_id="999"))
    assert refused.value.status == 403
    assert "User-Agent" in refused.value.message and "seller" in refused.value.message


async def test_a_seller_id_that_is_not_digits_is_refused_without_a_request(trendyol, adapter):
    simulator, url = trendyol
    with pytest.raises(IntegrationRefused):
        await adapter.check(connection(url, seller_id="12/../34"))
    assert simulator.state.requests == []


# ---- pagination --------------------------------------------------------------------------------

async def test_pages_are_followed_by_total_pages_and_bounded(trendyol, adapter):
    simulator, url = trendyol
    for index in range(450):
        simulator.add_package(f"20000{index:05d}", "Created")
    conn = connection(url)
    everything = await adapter.packages(conn, {}, max_pages=5)
    assert len(everything) == 450 and len({p["id"] for p in everything}) == 450
    assert [(r.query["page"], r.query["size"]) for r in simulator.state.requests] == [
        ("0", "200"), ("1", "200"), ("2", "200")]
    simulator.state.requests.clear()
    bounded = await adapter.packages(conn, {}, max_pages=2)
    assert len(bounded) == 400 and len(simulator.state.requests) == 2


async def test_a_page_larger_than_200_is_refused_as_trendyol_does(trendyol, adapter):
    _, url = trendyol
    with pytest.raises(IntegrationRefused) as refused:
        await adapter._page(connection(url), {"page": 0, "size": MAX_PAGE_SIZE + 1})
    assert refused.value.status == 400 and "size" in refused.value.message


# ---- errors and rate limits --------------------------------------------------------------------

async def test_429_is_rate_limited_with_retry_after(trendyol, adapter):
    simulator, url = trendyol
    simulator.rate_limit(retry_after=7)
    with pytest.raises(IntegrationRateLimited) as limited:
        await adapter.order_by_number(connection(url), "10345678901")
    assert (limited.value.status, limited.value.retry_after, limited.value.temporary) == (
        429, 7.0, True)


async def test_server_errors_and_no_answer_are_unavailable(trendyol, adapter):
    simulator, url = trendyol
    simulator.fail_next(503)
    with pytest.raises(IntegrationUnavailable) as down:
        await adapter.order_by_number(connection(url), "10345678901")
    assert down.value.status == 503
    with pytest.raises(IntegrationUnavailable):
        await adapter.order_by_number(connection(f"http://127.0.0.1:{free_port()}"), "1")


async def test_one_company_stays_under_the_documented_rate_from_this_process(trendyol):
    simulator, url = trendyol
    limited_adapter = TrendyolAdapter(requests_per_minute=2)
    conn = connection(url)
    await limited_adapter.check(conn)
    await limited_adapter.check(conn)
    with pytest.raises(IntegrationRateLimited) as limited:
        await limited_adapter.check(conn)
    assert limited.value.code == "local_budget" and 0 < limited.value.retry_after <= 60
    assert len(simulator.state.requests) == 2  # the third never left
    # Another seller has its own budget.
    with pytest.raises(IntegrationAuthFailed):
        await limited_adapter.check(connection(url, seller_id="999"))


# ---- orders ------------------------------------------------------------------------------------

async def test_every_trendyol_status_maps_onto_our_states(trendyol, adapter):
    simulator, url = trendyol
    conn = connection(url)
    for index, (status, state) in enumerate(STATES.items()):
        number = f"3000000{index:04d}"
        simulator.add_package(number, status)
        order = await adapter.order_by_number(conn, number)
        assert order is not None and (order.state, order.provider_status) == (state, status)
    simulator.add_package("39999999999", "SomethingNew")
    unknown = await adapter.order_by_number(conn, "39999999999")
    assert (unknown.state, unknown.provider_status) == ("preparing", "SomethingNew")


async def test_an_order_in_several_packages_is_one_order_with_a_shipment_each(trendyol, adapter):
    simulator, url = trendyol
    simulator.add_package("10654321987", "Shipped", cargo_provider="Yurtiçi Kargo Marketplace",
                          tracking_number=7330001234567, lines=[("Mont", 1, "1249.90")])
    simulator.add_package("10654321987", "Delivered", cargo_provider="Aras Kargo Marketplace",
                          tracking_number="3513773163316",
                          lines=[("Atkı", 2, "150.05")])
    simulator.add_package("10654321987", "Cancelled", cargo_provider=None,
                          lines=[("Bere", 1, "99.99")])
    simulator.add_package("19999999999", "Shipped")  # another order
    order = await adapter.order_by_number(connection(url), "10654321987")
    assert order.number == "10654321987"
    assert order.state == "shipped"  # the least advanced live package; the cancelled one aside
    assert order.provider_status == "Shipped, Delivered, Cancelled"
    assert order.total == Decimal("1550.0")  # 1249.90 + 2 × 150.05; not the cancelled line
    assert [(i.name, i.quantity) for i in order.items] == [("Mont", 1), ("Atkı", 2), ("Bere", 1)]
    assert [(s.carrier, s.tracking_number, s.tracking_url, s.status)
            for s in order.shipments] == [
        ("Yurtiçi Kargo", "7330001234567", YURTICI + "7330001234567", "shipped"),
        ("Aras Kargo", "3513773163316",
         "https://kargotakip.araskargo.com.tr/mainpage.aspx?code=3513773163316", "delivered")]
    assert len(order.provider_id.split(",")) == 3


async def test_an_unknown_number_is_none_and_a_non_number_costs_no_request(trendyol, adapter):
    simulator, url = trendyol
    assert await adapter.order_by_number(connection(url), "10000000000") is None
    assert len(simulator.state.requests) == 1
    assert simulator.state.requests[0].query["orderNumber"] == "10000000000"
    assert await adapter.order_by_number(connection(url), "ABC-12") is None
    assert len(simulator.state.requests) == 1


async def test_a_customer_is_found_by_relay_email_in_recent_packages_never_by_phone(
        trendyol, adapter):
    simulator, url = trendyol
    now = int(time.time() * 1000)
    simulator.add_package("41111111111", "Shipped", email="pf+Ayse@trendyolmail.com",
                          last_modified=now - 3_600_000, tracking_number=123)
    simulator.add_package("42222222222", "Delivered", email="pf+other@trendyolmail.com",
                          last_modified=now - 60_000)
    simulator.add_package("43333333333", "Delivered", email="pf+ayse@trendyolmail.com",
                          last_modified=now - 40 * 86_400_000)  # outside the window
    conn = connection(url)
    found = await adapter.orders_for_customer(conn, phone="+905321234567",
                                              email="PF+ayse@trendyolmail.com")
    assert [o.number for o in found] == ["41111111111"]
    [request] = simulator.state.requests
    assert request.query["orderByField"] == "PackageLastModifiedDate"
    assert int(request.query["endDate"]) - int(request.query["startDate"]) == 14 * 86_400_000
    assert await adapter.orders_for_customer(conn, phone="+905321234567", email=None) == []
    assert len(simulator.state.requests) == 1


# ---- in the product ----------------------------------------------------------------------------

@pytest.fixture
def fresh_cache():
    orders._cache.clear()
    yield
    orders._cache.clear()


async def test_a_saved_connection_answers_an_order_number_with_tracking_and_a_sentence(
        world, trendyol, fresh_cache):
    simulator, url = trendyol
    assert registry.adapter_for("trendyol") is not None
    simulator.add_package("10654321987", "Shipped", cargo_provider="Yurtiçi Kargo Marketplace",
                          tracking_number=7330001234567,
                          lines=[("Kışlık Mont Siyah M", 1, "1249.90")])
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await service.save_integration(session, home.system, "trendyol", {
            "seller_id": SELLER_ID, "api_key": API_KEY, "api_secret": API_SECRET,
            "base_url": url})
    page = await home.ayla.client.get("/settings/integrations")
    assert page.status_code == 200
    assert "Trendyol" in page.text and "Hepsiburada" in page.text
    assert API_SECRET not in page.text and API_KEY not in page.text
    response = await home.bora.client.get("/api/v1/orders", params={"number": "10654321987"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] == []
    [order] = body["orders"]
    assert (order["source"], order["number"], order["state"]) == (
        "trendyol", "10654321987", "shipped")
    [shipment] = order["shipments"]
    assert shipment["tracking_number"] == "7330001234567"
    assert shipment["tracking_url"] == YURTICI + "7330001234567"
    assert simulator.state.requests[-1].headers["user-agent"] == f"{SELLER_ID} - SelfIntegration"

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        found = await orders.lookup_order(session, home.tenant_id, "Sipariş no: 10654 321987")
    [order] = found.orders
    sentence = orders.describe(order, "tr")
    assert "10654321987" in sentence and "7330001234567" in sentence
    assert "Yurtiçi Kargo" in sentence and YURTICI + "7330001234567" in sentence
    assert "1.249,90 TL" in sentence
    assert len(simulator.state.requests) == 1  # the second look-up was the cached answer


async def test_bad_credentials_reach_the_product_as_a_named_error_and_a_failing_status(
        world, trendyol, fresh_cache):
    _, url = trendyol
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await service.save_integration(session, home.system, "trendyol", {
            "seller_id": SELLER_ID, "api_key": API_KEY, "api_secret": "wrong", "base_url": url})
    response = await home.bora.client.get("/api/v1/orders", params={"number": "10654321987"})
    assert response.status_code == 200
    assert response.json()["orders"] == []
    [error] = response.json()["errors"]
    assert error["source"] == "trendyol" and "401" in error["message"]
    listed = await home.ayla.client.get("/api/v1/integrations/trendyol")
    assert listed.json()["status"] == "failing"
    tested = await home.ayla.client.post("/api/v1/integrations/trendyol/test")
    assert tested.json()["ok"] is False

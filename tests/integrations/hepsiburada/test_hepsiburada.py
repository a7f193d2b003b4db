"""Hepsiburada: the adapter against its simulator over real HTTP (Basic auth with the service
key and the registered User-Agent, the mandatory limit/offset, the packages' 10-per-page
``pagecount`` header and 24-hour windows, errors, rate limits with ``X-RateLimit-Reset``,
statuses, lines in several packages, carrier links), and end to end through the product."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from invekto.integrations import orders, service
from invekto.integrations.base import (
    Connection,
    IntegrationAuthFailed,
    IntegrationRateLimited,
    IntegrationRefused,
    IntegrationUnavailable,
)
from invekto.integrations.hepsiburada.adapter import STATES, HepsiburadaAdapter
from invekto.integrations.hepsiburada.simulator import (
    MERCHANT_ID,
    MISSING_PAGING,
    SERVICE_KEY,
    USER_AGENT,
    HepsiburadaSimulator,
)
from tests.processes import free_port, serving

ARAS = "https://kargotakip.araskargo.com.tr/mainpage.aspx?code="


def connection(url: str, *, key: str = SERVICE_KEY, agent: str = USER_AGENT,
               merchant_id: str = MERCHANT_ID, username: str | None = None) -> Connection:
    credentials = {"password": key}
    if username:
        credentials["username"] = username
    return Connection(integration_id=uuid.uuid4(), tenant_id=uuid.uuid4(), kind="hepsiburada",
                      settings={"base_url": url, "merchant_id": merchant_id,
                                "user_agent": agent},
                      credentials=credentials)


@pytest.fixture
async def hepsiburada():
    simulator = HepsiburadaSimulator()
    async with serving(simulator) as url:
        yield simulator, url


@pytest.fixture
def adapter() -> HepsiburadaAdapter:
    return HepsiburadaAdapter()


# ---- auth and the User-Agent -------------------------------------------------------------------

async def test_check_sends_the_merchant_id_and_service_key_and_the_registered_user_agent(
        hepsiburada, adapter):
    simulator, url = hepsiburada
    result = await adapter.check(connection(url))
    assert (result.ok, result.detail) == (True, f"Merchant {MERCHANT_ID}: reachable")
    [request] = simulator.state.requests
    assert request.path == f"/orders/merchantid/{MERCHANT_ID}"
    assert request.query == {"offset": "0", "limit": "1"}
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["authorization"] == "Basic " + base64.b64encode(
        f"{MERCHANT_ID}:{SERVICE_KEY}".encode()).decode()


async def test_a_separate_integration_user_name_is_used_when_given():
    simulator = HepsiburadaSimulator(username="entegrator_user")
    async with serving(simulator) as url:
        with pytest.raises(IntegrationAuthFailed):
            await HepsiburadaAdapter().check(connection(url))
        assert (await HepsiburadaAdapter().check(connection(
            url, username="entegrator_user"))).ok


async def test_refused_key_is_401_and_an_unregistered_user_agent_is_403(hepsiburada, adapter):
    _, url = hepsiburada
    with pytest.raises(IntegrationAuthFailed) as refused:
        await adapter.check(connection(url, key="wrong"))
    assert refused.value.status == 401
    with pytest.raises(IntegrationAuthFailed) as forbidden:
        await adapter.check(connection(url, agent="someone_else"))
    assert forbidden.value.status == 403 and "User-Agent" in forbidden.value.message


async def test_the_simulator_demands_limit_and_offset_as_hepsiburada_does(hepsiburada):
    _, url = hepsiburada
    async with httpx.AsyncClient(auth=httpx.BasicAuth(MERCHANT_ID, SERVICE_KEY),
                                 headers={"User-Agent": USER_AGENT}) as http:
        missing = await http.get(f"{url}/orders/merchantid/{MERCHANT_ID}")
        too_many = await http.get(f"{url}/packages/merchantid/{MERCHANT_ID}",
                                  params={"offset": 0, "limit": 11, "timespan": 24})
        fine = await http.get(f"{url}/orders/merchantid/{MERCHANT_ID}",
                              params={"offset": 0, "limit": 100})
    assert missing.status_code == 400 and MISSING_PAGING in missing.text
    assert too_many.status_code == 400
    assert fine.status_code == 200 and fine.json()["totalCount"] == 0


async def test_a_missing_paging_answer_reaches_the_adapter_as_refused(hepsiburada, adapter):
    _, url = hepsiburada
    with pytest.raises(IntegrationRefused) as refused:
        await adapter._get(connection(url), f"/orders/merchantid/{MERCHANT_ID}", {})
    assert refused.value.status == 400 and MISSING_PAGING in refused.value.message


# ---- errors and rate limits --------------------------------------------------------------------

async def test_429_is_rate_limited_for_the_seconds_of_x_ratelimit_reset(hepsiburada, adapter):
    simulator, url = hepsiburada
    simulator.rate_limit(reset=3)
    with pytest.raises(IntegrationRateLimited) as limited:
        await adapter.order_by_number(connection(url), "4100000009")
    assert (limited.value.status, limited.value.retry_after) == (429, 3.0)


async def test_server_errors_and_no_answer_are_unavailable_and_404_is_no_order(
        hepsiburada, adapter):
    simulator, url = hepsiburada
    simulator.fail_next(500)
    with pytest.raises(IntegrationUnavailable):
        await adapter.order_by_number(connection(url), "4100000009")
    with pytest.raises(IntegrationUnavailable):
        await adapter.order_by_number(connection(f"http://127.0.0.1:{free_port()}"), "1")
    assert await adapter.order_by_number(connection(url), "4100000009") is None
    assert simulator.state.requests[-1].path.endswith("/ordernumber/4100000009")


async def test_one_company_stays_under_the_documented_rate_from_this_process(hepsiburada):
    simulator, url = hepsiburada
    limited_adapter = HepsiburadaAdapter(requests_per_second=1)
    await limited_adapter.check(connection(url))
    with pytest.raises(IntegrationRateLimited) as limited:
        await limited_adapter.check(connection(url))
    assert limited.value.code == "local_budget"
    assert len(simulator.state.requests) == 1


# ---- orders ------------------------------------------------------------------------------------

async def test_an_order_with_its_cargo_and_tracking_link(hepsiburada, adapter):
    simulator, url = hepsiburada
    simulator.add_order("4100000009", "InTransit", cargo_company="Aras Kargo",
                        tracking_number="3513773163316",
                        lines=[("Porselen Kupa", 4, "25.00"), ("Tabak", 1, "80.50")])
    order = await adapter.order_by_number(connection(url), "4100000009")
    assert (order.source, order.number, order.state, order.provider_status) == (
        "hepsiburada", "4100000009", "shipped", "InTransit")
    assert (order.total, order.currency, order.customer_name) == (
        Decimal("180.5"), "TRY", "Ayşe Yılmaz")
    assert [(i.name, i.quantity, i.price) for i in order.items] == [
        ("Porselen Kupa", 4, Decimal("25.0")), ("Tabak", 1, Decimal("80.5"))]
    assert [(s.carrier, s.tracking_number, s.tracking_url) for s in order.shipments] == [
        ("Aras Kargo", "3513773163316", ARAS + "3513773163316")]  # one package, one shipment
    assert order.created_at is not None and order.created_at.utcoffset() == timedelta(0)


async def test_hepsiburadas_own_tracking_link_wins_and_packages_are_separate_shipments(
        hepsiburada, adapter):
    simulator, url = hepsiburada
    simulator.add_order("4200000001", "Delivered", cargo_company="HepsiJet",
                        tracking_number="SMR123", tracking_url="https://hx.example/SMR123")
    simulator.add_line("4200000001", "Kupa", 1, "10.00", status="Packaged",
                       cargo_company="Yurtiçi Kargo", tracking_number="YK9")
    simulator.add_line("4200000001", "Vazo", 1, "30.00", status="CancelledByMerchant")
    order = await adapter.order_by_number(connection(url), "4200000001")
    assert order.state == "preparing"  # one package still being prepared
    assert order.total == Decimal("159.9")  # the cancelled line not counted
    assert [(s.carrier, s.tracking_number, s.tracking_url, s.status)
            for s in order.shipments] == [
        ("HepsiJet", "SMR123", "https://hx.example/SMR123", "delivered"),
        ("Yurtiçi Kargo", "YK9",
         "https://www.yurticikargo.com/tr/online-servisler/gonderi-sorgula?code=YK9",
         "preparing")]


async def test_hepsiburada_statuses_map_onto_our_states(hepsiburada, adapter):
    simulator, url = hepsiburada
    conn = connection(url)
    for index, (status, state) in enumerate(STATES.items()):
        number = f"43{index:08d}"
        simulator.add_order(number, status[:1].upper() + status[1:])
        assert (await adapter.order_by_number(conn, number)).state == state, status


async def test_a_customer_is_found_by_email_or_phone_in_the_last_days_packages(
        hepsiburada, adapter):
    simulator, url = hepsiburada
    for index in range(12):  # two pages of packages before the customer's
        simulator.add_order(f"44{index:08d}", "Packaged", email=f"other{index}@example.com")
    simulator.add_order("4500000001", "InTransit", cargo_company="MNG Kargo",
                        tracking_number="MNG1", email="Ayse@Example.com",
                        phone="0532 123 45 67")
    simulator.add_order("4500000002", "Shipped", email="old@example.com",
                        phone="05321234567", order_date=simulator.now - timedelta(days=3))
    conn = connection(url)
    by_email = await adapter.orders_for_customer(conn, phone=None, email="ayse@example.com")
    assert [o.number for o in by_email] == ["4500000001"]
    package_requests = [r for r in simulator.state.requests if r.path.startswith("/packages")]
    assert [(r.query["offset"], r.query["limit"], r.query["timespan"])
            for r in package_requests] == [("0", "10", "24"), ("10", "10", "24")]
    by_phone = await adapter.orders_for_customer(conn, phone="+905321234567", email=None)
    assert [o.number for o in by_phone] == ["4500000001"]  # the older one is outside 24 h
    simulator.state.requests.clear()
    assert await adapter.orders_for_customer(conn, phone=None, email=None) == []
    assert simulator.state.requests == []


async def test_the_packages_window_is_cut_to_24_hours(hepsiburada):
    simulator, url = hepsiburada
    simulator.add_order("4600000001", "Packaged", order_date=simulator.now - timedelta(hours=2))
    simulator.add_order("4600000002", "Packaged", order_date=simulator.now - timedelta(hours=30))
    begin = (simulator.now - timedelta(hours=40)).strftime("%Y-%m-%d %H:%M")
    end = simulator.now.strftime("%Y-%m-%d %H:%M")
    async with httpx.AsyncClient(auth=httpx.BasicAuth(MERCHANT_ID, SERVICE_KEY),
                                 headers={"User-Agent": USER_AGENT}) as http:
        answer = await http.get(f"{url}/packages/merchantid/{MERCHANT_ID}", params={
            "offset": 0, "limit": 10, "begindate": begin, "enddate": end})
    assert answer.headers["pagecount"] == "1"
    assert [p["orderNumber"] for p in answer.json()] == ["4600000002"]


# ---- in the product ----------------------------------------------------------------------------

async def test_a_saved_connection_answers_an_order_number_in_the_product(world, hepsiburada):
    simulator, url = hepsiburada
    simulator.add_order("4100000009", "InTransit", cargo_company="Aras Kargo",
                        tracking_number="3513773163316")
    home = world.home
    orders._cache.clear()
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await service.save_integration(session, home.system, "hepsiburada", {
            "merchant_id": MERCHANT_ID, "password": SERVICE_KEY, "user_agent": USER_AGENT,
            "base_url": url})
    tested = await home.ayla.client.post("/api/v1/integrations/hepsiburada/test")
    assert tested.json() == {"ok": True, "detail": f"Merchant {MERCHANT_ID}: reachable"}
    response = await home.bora.client.get("/api/v1/orders", params={"number": "4100000009"})
    [order] = response.json()["orders"]
    assert (order["source"], order["state"]) == ("hepsiburada", "shipped")
    assert order["shipments"][0]["tracking_url"] == ARAS + "3513773163316"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        found = await orders.lookup_order(session, home.tenant_id, "4100000009")
    sentence = orders.describe(found.orders[0], "tr")
    assert "3513773163316" in sentence and "Aras Kargo" in sentence
    orders._cache.clear()

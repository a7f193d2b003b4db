""""Kargom nerede?" answered without a person, for each connected shop speaking its documented
API (the providers' simulators over real HTTP): the e-commerce flow asks for the order number,
looks it up in Shopify, Trendyol or Hepsiburada, and the order's status, total and cargo
tracking link reach the customer's thread."""

from __future__ import annotations

import pytest

from invekto.integrations import orders, service
from invekto.integrations.base import BASE_URL
from invekto.integrations.hepsiburada import simulator as hepsiburada
from invekto.integrations.shopify import simulator as shopify
from invekto.integrations.trendyol import simulator as trendyol
from tests.flows.conftest import Customer
from tests.processes import serving


def _shopify():
    sim = shopify.create_simulator()
    sim.add_order(sim.add_customer(), tracking=[
        ("Yurtiçi Kargo", "YK123456789", "https://kargo.example/YK123456789")])
    settings = {"shop_domain": shopify.SHOP_DOMAIN, "access_token": shopify.ACCESS_TOKEN,
                "client_secret": shopify.CLIENT_SECRET}
    return sim, settings, "#1001", "YK123456789"


def _trendyol():
    sim = trendyol.TrendyolSimulator()
    sim.add_package("10345678901", "Shipped", cargo_provider="Yurtiçi Kargo Marketplace",
                    tracking_number=7330001234567, lines=[("Kaban", 1, "1249.90")])
    settings = {"seller_id": trendyol.SELLER_ID, "api_key": trendyol.API_KEY,
                "api_secret": trendyol.API_SECRET}
    return sim, settings, "10345678901", "7330001234567"


def _hepsiburada():
    sim = hepsiburada.HepsiburadaSimulator()
    sim.add_order("4100000009", "InTransit", cargo_company="Aras Kargo",
                  tracking_number="3513773163316", lines=[("Kupa", 4, "25.00")])
    settings = {"merchant_id": hepsiburada.MERCHANT_ID, "password": hepsiburada.SERVICE_KEY,
                "user_agent": hepsiburada.USER_AGENT}
    return sim, settings, "4100000009", "3513773163316"


@pytest.mark.parametrize("kind, shop", [("shopify", _shopify), ("trendyol", _trendyol),
                                        ("hepsiburada", _hepsiburada)])
async def test_the_chatbot_tells_the_customer_where_the_order_is(world, kind, shop):
    home = world.home
    simulator, settings, number, tracking = shop()
    orders._cache.clear()
    async with serving(simulator) as url:
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await service.save_integration(session, home.system, kind,
                                           {**settings, BASE_URL: url})
        created = await home.sevgi.client.post("/api/v1/flows", json={
            "name": "Mağaza", "template": "ecommerce"})
        flow = created.json()
        assert (await home.sevgi.client.post(f"/api/v1/flows/{flow['id']}/publish")
                ).status_code == 201
        ayse = Customer(home)
        await ayse.says("Kargom nerede?")
        await ayse.taps("menu:siparis", "Sipariş durumu")
        await ayse.says(number)
        assert await ayse.advance()
    answer = (await ayse.heard())[-2]
    assert answer.startswith(f"Sipariş {number}: "), answer
    assert "Kargo: " in answer and f"takip numarası {tracking}" in answer, answer
    assert "http" in answer.splitlines()[-1]  # the carrier's tracking link, on its own line
    assert (await ayse.session()).end_reason != "handed_off"

"""Shopify's adapter against the simulator over real HTTP: the access-token header and 401,
look-ups by e-mail, by phone (through customers) and by order number, cursor pagination,
THROTTLED and REST 429 as rate limits, server errors, and the order mapping from the reference
samples."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from invekto.core.errors import ValidationFailed
from invekto.integrations.base import (
    BASE_URL,
    IntegrationAuthFailed,
    IntegrationRateLimited,
    IntegrationRefused,
    IntegrationUnavailable,
)
from invekto.integrations.registry import adapter_for
from invekto.integrations.shopify import adapter as shopify
from invekto.integrations.shopify.adapter import ShopifyAdapter, normalise_shop, throttle_wait
from invekto.integrations.shopify.mapping import from_graphql, from_webhook, order_state
from invekto.integrations.shopify.simulator import (
    ACCESS_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    SHOP_DOMAIN,
)
from tests.integrations.shopify.conftest import connection, sample

ADAPTER = ShopifyAdapter()
TRACKING = ("Yurtiçi Kargo", "YK123456789", "https://kargo.example/YK123456789")


def test_registered_with_its_capabilities():
    found = adapter_for("shopify")
    assert isinstance(found, ShopifyAdapter)
    assert {c.value for c in found.capabilities} == {"order_lookup", "event_sink"}
    names = [f.name for f in found.setting_fields()]
    assert names == ["shop_domain", "access_token", "client_id", "client_secret", "api_version",
                     BASE_URL]
    assert [f.name for f in found.setting_fields() if f.secret] == ["access_token",
                                                                    "client_secret"]


def test_shop_address_is_normalised_or_refused():
    assert normalise_shop("Ornek-Butik") == "ornek-butik.myshopify.com"
    assert normalise_shop("https://ornek-butik.myshopify.com/admin") == SHOP_DOMAIN
    for bad in ("", "ornek butik", "www.ornekbutik.com", "-x.myshopify.com"):
        with pytest.raises(ValidationFailed) as caught:
            normalise_shop(bad)
        assert caught.value.field == "shop_domain"
    with pytest.raises(ValidationFailed) as caught:
        ADAPTER.clean_settings({"shop_domain": SHOP_DOMAIN, "api_version": "2026-05"})
    assert caught.value.field == "api_version"


def test_api_address_defaults_to_the_shop():
    conn = connection("")
    assert ADAPTER.endpoint(conn) == (f"https://{SHOP_DOMAIN}/admin/api/"
                                      f"{shopify.DEFAULT_API_VERSION}/graphql.json")


async def test_check_sends_the_token_and_names_the_shop(shop):
    result = await ADAPTER.check(connection(shop.url))
    assert result.ok and result.detail == "Shop: Örnek Butik"
    (request,) = shop.requests
    assert request.operation == "Shop"
    assert request.headers["x-shopify-access-token"] == ACCESS_TOKEN
    assert request.version == shopify.DEFAULT_API_VERSION


async def test_a_wrong_token_is_an_auth_failure(shop):
    with pytest.raises(IntegrationAuthFailed) as caught:
        await ADAPTER.check(connection(shop.url, token="shpat_wrong"))
    assert caught.value.status == 401


async def test_a_dev_dashboard_app_fetches_its_token_and_keeps_it(shop):
    conn = connection(shop.url, token="", client_id=CLIENT_ID)
    assert (await ADAPTER.check(conn)).ok
    assert await ADAPTER.check(conn)
    (asked,) = shop.token_requests
    assert asked == {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                     "client_secret": CLIENT_SECRET}
    (issued,) = shop.issued
    assert [r.headers["x-shopify-access-token"] for r in shop.requests] == [issued, issued]
    assert conn.state["access_token"] == issued
    assert conn.state["expires_at"] > time.time() + 86399 - shopify.TOKEN_MARGIN - 60


async def test_an_expired_or_revoked_token_is_fetched_again(shop):
    conn = connection(shop.url, token="", client_id=CLIENT_ID)
    await ADAPTER.check(conn)
    conn.state["expires_at"] = time.time() - 1  # expired: fetched before the call
    await ADAPTER.check(conn)
    assert len(shop.token_requests) == 2 and not [r for r in shop.requests if r.headers[
        "x-shopify-access-token"] not in shop.issued]
    shop.revoke_tokens()  # Shopify no longer takes it: one 401, a new token, the call again
    assert (await ADAPTER.check(conn)).ok
    assert len(shop.token_requests) == 3
    assert conn.state["access_token"] == shop.issued[-1]


async def test_a_wrong_client_secret_or_no_credentials_is_an_auth_failure(shop):
    with pytest.raises(IntegrationAuthFailed) as caught:
        await ADAPTER.check(connection(shop.url, token="", client_id=CLIENT_ID,
                                       secret="shpss_wrong"))
    assert "Client authentication failed" in caught.value.message
    with pytest.raises(IntegrationAuthFailed):
        await ADAPTER.check(connection(shop.url, token=""))
    assert shop.requests == []


async def test_orders_by_email_newest_first_with_items_totals_and_tracking(shop):
    ayse = shop.add_customer()
    first = shop.add_order(ayse, items=[("Kışlık Mont", 1, "1249.90", "MONT-M"),
                                        ("Bere", 2, "150.05", None)])
    second = shop.add_order(ayse, tracking=[TRACKING])
    shop.add_order(shop.add_customer("Mehmet", "Kaya", email="mehmet@example.com",
                                     phone="+905551112233"))
    found = await ADAPTER.orders_for_customer(connection(shop.url), phone=None,
                                              email="Ayse@Example.com")
    assert [o.number for o in found] == [second.name, first.name]
    newest, oldest = found
    assert oldest.total == Decimal("1550.00") and isinstance(oldest.total, Decimal)
    assert [(i.name, i.quantity, i.price, i.sku) for i in oldest.items] == [
        ("Kışlık Mont", 1, Decimal("1249.90"), "MONT-M"), ("Bere", 2, Decimal("150.05"), None)]
    assert oldest.state == "paid" and oldest.currency == "TRY"
    assert newest.state == "shipped"
    (shipment,) = newest.shipments
    assert (shipment.carrier, shipment.tracking_number, shipment.tracking_url) == TRACKING
    assert newest.url.startswith(f"https://{SHOP_DOMAIN}/") and newest.customer_name == (
        "Ayşe Yılmaz")
    (request,) = shop.requests
    assert request.variables["q"] == "email:'ayse@example.com'"


async def test_orders_by_phone_go_through_the_customer(shop):
    ayse = shop.add_customer()
    order = shop.add_order(ayse, email="")
    shop.add_order(shop.add_customer("Mehmet", "Kaya", email=None, phone="+905551112233"))
    found = await ADAPTER.orders_for_customer(connection(shop.url), phone="0532 123 45 67",
                                              email=None)
    assert [o.number for o in found] == [order.name]
    (request,) = shop.requests
    assert request.operation == "CustomerOrders"
    assert request.variables["q"] == "phone:'+905321234567'"


async def test_phone_and_email_answers_are_merged_once(shop):
    ayse = shop.add_customer()
    orders = [shop.add_order(ayse) for _ in range(3)]
    found = await ADAPTER.orders_for_customer(connection(shop.url), phone="+905321234567",
                                              email="ayse@example.com", limit=5)
    assert [o.number for o in found] == [o.name for o in reversed(orders)]
    assert {r.operation for r in shop.requests} == {"Orders", "CustomerOrders"}


async def test_more_orders_than_a_page_follow_the_cursor(shop):
    ayse = shop.add_customer()
    orders = [shop.add_order(ayse) for _ in range(shopify.PAGE_SIZE + 5)]
    found = await ADAPTER.orders_for_customer(connection(shop.url), phone=None,
                                              email="ayse@example.com",
                                              limit=shopify.PAGE_SIZE + 2)
    assert [o.number for o in found] == [o.name for o in reversed(orders)][
        :shopify.PAGE_SIZE + 2]
    first, second = shop.requests
    assert first.variables["after"] is None and first.variables["first"] == shopify.PAGE_SIZE
    assert second.variables["after"] and second.variables["first"] == 2


async def test_customer_orders_follow_the_cursor_too(shop):
    ayse = shop.add_customer()
    orders = [shop.add_order(ayse) for _ in range(shopify.PAGE_SIZE + 3)]
    found = await ADAPTER.orders_for_customer(connection(shop.url), phone="+905321234567",
                                              email=None, limit=shopify.PAGE_SIZE + 3)
    assert [o.number for o in found] == [o.name for o in reversed(orders)]
    assert [r.operation for r in shop.requests] == ["CustomerOrders", "CustomerOrdersPage"]


async def test_order_by_number_with_or_without_hash(shop):
    ayse = shop.add_customer()
    orders = [shop.add_order(ayse) for _ in range(12)]  # #1001 ... #1012
    wanted = orders[0]  # "#1001": a search for it also finds nothing else; #1010... do not
    for typed in (wanted.name, str(wanted.number), f" #{wanted.number} "):
        found = await ADAPTER.order_by_number(connection(shop.url), typed)
        assert found is not None and found.number == wanted.name
    assert shop.requests[-1].variables["q"] == f"name:'{wanted.name}'"
    assert await ADAPTER.order_by_number(connection(shop.url), "#9999") is None


async def test_order_by_number_skips_longer_numbers_the_search_also_finds(shop):
    ayse = shop.add_customer()
    orders = [shop.add_order(ayse) for _ in range(12)]  # #1001 ... #1012
    # name:'#101' would match #1010, #1011, #1012 by word start; there is no #101.
    assert await ADAPTER.order_by_number(connection(shop.url), "101") is None
    found = await ADAPTER.order_by_number(connection(shop.url), orders[9].name)  # #1010
    assert found.number == "#1010"


async def test_throttled_is_a_rate_limit_with_the_wait_from_the_bucket(shop):
    shop.add_customer()
    shop.available = 37.0
    # Five orders cost 2 + 5×6 = 32 points ≤ 37: answered.
    assert await ADAPTER.orders_for_customer(connection(shop.url), phone=None,
                                             email="ayse@example.com", limit=5) == []
    # Ten: 62 points, 25 missing at 100 a second.
    shop.available = 37.0
    with pytest.raises(IntegrationRateLimited) as caught:
        await ADAPTER.orders_for_customer(connection(shop.url), phone=None,
                                          email="ayse@example.com", limit=10)
    assert caught.value.code == "THROTTLED" and caught.value.status == 200
    assert caught.value.retry_after == pytest.approx(0.25)
    assert caught.value.temporary


async def test_the_reference_throttled_answer_gives_its_wait():
    # (752 requested − 37 available) / 100 restored a second
    assert throttle_wait(sample("shopify.graphql_throttled.response.json")) == pytest.approx(
        7.15)


async def test_rest_style_429_is_a_rate_limit_with_retry_after(shop):
    shop.fail_next(429, {"errors": "Exceeded 2 calls per second for api client. Reduce request "
                                   "rates to resume uninterrupted service."},
                   {"Retry-After": "2.0"})
    with pytest.raises(IntegrationRateLimited) as caught:
        await ADAPTER.check(connection(shop.url))
    assert caught.value.retry_after == 2.0 and caught.value.status == 429


async def test_server_errors_and_no_answer_are_unavailable(shop):
    shop.fail_next(503)
    with pytest.raises(IntegrationUnavailable) as caught:
        await ADAPTER.check(connection(shop.url))
    assert caught.value.status == 503 and caught.value.temporary
    with pytest.raises(IntegrationUnavailable):
        await ADAPTER.check(connection("http://127.0.0.1:9"))


async def test_graphql_errors_are_refusals_and_access_denied_an_auth_failure(shop):
    shop.fail_next(200, {"errors": [{"message": "Field 'x' doesn't exist on type 'Order'",
                                     "extensions": {"code": "undefinedField"}}]})
    with pytest.raises(IntegrationRefused) as caught:
        await ADAPTER.check(connection(shop.url))
    assert "doesn't exist" in caught.value.message and not caught.value.temporary
    shop.fail_next(200, {"errors": [{"message": "Access denied for orders field.",
                                     "extensions": {"code": "ACCESS_DENIED"}}]})
    with pytest.raises(IntegrationAuthFailed):
        await ADAPTER.check(connection(shop.url))


async def test_webhooks_are_registered_once_per_topic(shop):
    conn = connection(shop.url)
    assert await ADAPTER.register_webhooks(conn, "https://invekto.example") == list(
        shopify.WEBHOOK_TOPICS)
    # Again (every "test connection" does it): Shopify says "taken", which is fine.
    assert await ADAPTER.register_webhooks(conn, "https://invekto.example") == list(
        shopify.WEBHOOK_TOPICS)
    assert {(s["topic"], s["uri"]) for s in shop.subscriptions} == {
        (t, f"https://invekto.example/hooks/integrations/shopify/{conn.integration_id}")
        for t in shopify.WEBHOOK_TOPICS}


# ---- mapping ---------------------------------------------------------------------------------

def test_reference_graphql_sample_maps_to_an_order():
    (edge,) = sample("shopify.graphql_orders_by_email.response.json")["data"]["orders"]["edges"]
    order = from_graphql(edge["node"], SHOP_DOMAIN)
    assert order.number == "#1045" and order.state == "shipped"
    assert order.total == Decimal("1249.90") and order.currency == "TRY"
    assert order.created_at == datetime(2026, 1, 1, 9, 12, 44, tzinfo=UTC)
    assert order.customer_name == "Ayşe Yılmaz"
    assert order.provider_id == "5800000000001"
    assert order.url == f"https://{SHOP_DOMAIN}/admin/orders/5800000000001"


def test_reference_webhook_sample_maps_to_an_order():
    order = from_webhook(sample("shopify.webhook_orders_create.json"), SHOP_DOMAIN)
    assert (order.number, order.state, order.total, order.currency) == (
        "#1045", "paid", Decimal("1249.90"), "TRY")
    assert [(i.name, i.quantity, i.price, i.sku) for i in order.items] == [
        ("Kışlık Mont", 1, Decimal("1249.90"), "MONT-M-SIYAH")]
    assert order.provider_status == "PAID / UNFULFILLED"


@pytest.mark.parametrize(("financial", "fulfilment", "cancelled", "shipments", "state"), [
    ("PENDING", "UNFULFILLED", False, [], "pending"),
    ("PARTIALLY_PAID", "UNFULFILLED", False, [], "pending"),
    ("PAID", "UNFULFILLED", False, [], "paid"),
    ("AUTHORIZED", "UNFULFILLED", False, [], "paid"),
    ("PAID", "IN_PROGRESS", False, [], "preparing"),
    ("PAID", "PARTIALLY_FULFILLED", False, ["IN_TRANSIT"], "shipped"),
    ("PAID", "FULFILLED", False, ["IN_TRANSIT"], "shipped"),
    ("PAID", "FULFILLED", False, ["DELIVERED"], "delivered"),
    ("PAID", "FULFILLED", False, ["DELIVERED", "IN_TRANSIT"], "shipped"),
    ("PAID", "FULFILLED", False, ["FAILURE"], "undelivered"),
    ("PAID", "RESTOCKED", False, [], "returned"),
    ("REFUNDED", "FULFILLED", False, [], "refunded"),
    ("PAID", "UNFULFILLED", True, [], "cancelled"),
    ("VOIDED", "UNFULFILLED", False, [], "cancelled"),
    ("paid", None, False, [], "paid"),  # a webhook's words, once read
])
def test_state_mapping(financial, fulfilment, cancelled, shipments, state):
    assert order_state(financial, fulfilment, cancelled=cancelled,
                       shipment_statuses=shipments) == state

"""Shopify's webhooks into our real app, and the product around a connected shop: the signature
(golden vector), refusals that keep nothing, a retried delivery acting once, privacy topics;
end to end, a signed orders/create posted by the simulator fires an automation rule whose
order confirmation reaches the customer's conversation; and the orders API against the
simulator."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from invekto.automation.models import AutomationRun
from invekto.inbox.models import Message
from invekto.integrations import service
from invekto.integrations.models import Integration, IntegrationEvent
from invekto.integrations.shopify.hooks import order_data, signature
from invekto.integrations.shopify.mapping import from_webhook
from invekto.integrations.shopify.simulator import ACCESS_TOKEN, CLIENT_ID, SHOP_DOMAIN
from tests.integrations.shopify.conftest import sample, settings

VECTORS = (Path(__file__).resolve().parents[2] / "fixtures" / "providers"
           / "signature_test_vectors.json")
PHONE = "+905321234567"
TRACKING = ("Yurtiçi Kargo", "YK123456789", "https://kargo.example/YK123456789")
CONFIRMATION = ("Siparişiniz alındı {{ contact.first_name }} Hanım, teşekkür ederiz! "
                "{{ order.number }}: {{ order.items }}, {{ order.total }} ({{ order.status }})")


def test_signature_golden_vector():
    vector = json.loads(VECTORS.read_text())["shopify_x_shopify_hmac_sha256"]
    assert signature(vector["client_secret"], vector["raw_body"].encode()) == vector["header"]


async def connect(company, url: str) -> Integration:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await service.save_integration(session, company.system, "shopify",
                                              settings(url))


def hook_url(row: Integration) -> str:
    return f"http://testserver/hooks/integrations/shopify/{row.id}"


async def rows(company, query):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(query)).all())


async def make_rule(company, event: str, actions: list[dict], **options) -> dict:
    response = await company.sevgi.client.post("/api/v1/automation/rules", json={
        "name": f"Sipariş {uuid.uuid4().hex[:6]}", "event": event, "event_options": options,
        "actions": actions})
    assert response.status_code == 201, response.text
    return response.json()


async def outbound(company, conversation_id) -> list[str]:
    return [m.body for m in await rows(company, select(Message).where(
        Message.conversation_id == conversation_id, Message.direction == "outbound"
    ).order_by(Message.created_at))]


@pytest.fixture
async def home(world):
    return world.home


async def test_connecting_keeps_the_shop_normalised_and_the_secrets_encrypted(home, shop):
    given = {**settings(shop.url), "shop_domain": "https://Ornek-Butik.myshopify.com/"}
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        row = await service.save_integration(session, home.system, "shopify", given)
    assert row.settings["shop_domain"] == SHOP_DOMAIN
    assert row.settings["api_version"] == "2026-07"
    assert "shpat_" not in json.dumps(row.settings) and "shpat_" not in (
        row.credentials_encrypted or "")
    response = await home.ayla.client.put("/api/v1/integrations/shopify", json={
        "settings": {**settings(shop.url), "shop_domain": "www.ornekbutik.com"}})
    assert response.status_code == 422, response.text
    assert "shop_domain" in response.text


async def test_the_connection_test_reaches_the_shop(home, shop):
    await connect(home, shop.url)
    response = await home.ayla.client.post("/api/v1/integrations/shopify/test")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "detail": "Shop: Örnek Butik"}


async def test_a_bad_signature_is_401_and_nothing_is_kept(home, shop, client):
    row = await connect(home, shop.url)
    order = shop.add_order(shop.add_customer())
    response = await shop.send_webhook(hook_url(row), "orders/create", order,
                                       secret="shpss_someone_else", client=client)
    assert response.status_code == 401
    unsigned = await shop.send_webhook(hook_url(row), "orders/create", order, client=client,
                                       headers={"X-Shopify-Hmac-Sha256": ""})
    assert unsigned.status_code == 401
    other_shop = await shop.send_webhook(hook_url(row), "orders/create", order, client=client,
                                         headers={"X-Shopify-Shop-Domain": "baska.myshopify.com"})
    assert other_shop.status_code == 401
    assert await rows(home, select(IntegrationEvent)) == []


async def test_an_unknown_connection_is_404(home, shop, client):
    await connect(home, shop.url)
    response = await shop.send_webhook(
        f"http://testserver/hooks/integrations/shopify/{uuid.uuid4()}", "orders/create",
        shop.add_order(shop.add_customer()), client=client)
    assert response.status_code == 404


async def test_order_confirmation_reaches_the_customers_thread(home, shop, client):
    """End to end: Shopify connected, a rule on "order placed" sending a message; the shop posts
    a signed orders/create for the customer's phone; the message is in their conversation."""
    row = await connect(home, shop.url)
    rule = await make_rule(home, "order_created", [
        {"type": "send_message", "body": CONFIRMATION}], source="shopify")
    inbound = await home.inbound("Merhaba, mont siparişi vereceğim", phone=PHONE,
                                 name="Ayşe Yılmaz")
    order = shop.add_order(shop.add_customer(email="baska@example.com"))
    response = await shop.send_webhook(hook_url(row), "orders/create", order, client=client)
    assert response.status_code == 200, response.text
    # The order's own values, in the company's language (Turkish: 1.249,90).
    assert await outbound(home, inbound.conversation_id) == [
        "Siparişiniz alındı Ayşe Hanım, teşekkür ederiz! "
        "#1001: 1 × Kışlık Mont, 1.249,90 TL (Ödendi)"]
    (event,) = await rows(home, select(IntegrationEvent))
    assert event.topic == "orders/create" and event.processed_at and event.error is None
    (run,) = await rows(home, select(AutomationRun).where(
        AutomationRun.rule_id == uuid.UUID(rule["id"])))
    assert run.status == "done" and run.conversation_id == inbound.conversation_id


async def test_a_retried_delivery_acts_once(home, shop, client):
    row = await connect(home, shop.url)
    await make_rule(home, "order_created", [{"type": "send_message", "body": "Alındı"}])
    inbound = await home.inbound("Merhaba", phone=PHONE, name="Ayşe Yılmaz")
    order = shop.add_order(shop.add_customer())
    ids = {"webhook_id": str(uuid.uuid4()), "event_id": str(uuid.uuid4())}
    for _ in range(2):
        response = await shop.send_webhook(hook_url(row), "orders/create", order,
                                           client=client, **ids)
        assert response.status_code == 200
    assert await outbound(home, inbound.conversation_id) == ["Alındı"]
    assert len(await rows(home, select(IntegrationEvent))) == 1


async def test_the_contact_is_found_by_shipping_phone_or_email(home, shop, client):
    row = await connect(home, shop.url)
    await make_rule(home, "order_created", [{"type": "send_message", "body": "Alındı"}])
    by_phone = await home.inbound("Merhaba", phone="+905559998877", name="Misafir")
    guest = shop.add_order(None, email="", phone="", shipping_phone="0555 999 88 77")
    assert (await shop.send_webhook(hook_url(row), "orders/create", guest,
                                    client=client)).status_code == 200
    assert await outbound(home, by_phone.conversation_id) == ["Alındı"]

    by_email = await home.inbound("Merhaba", name="Zeynep")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        from invekto.contacts.models import Contact
        from invekto.inbox.models import Conversation

        conversation = await session.get(Conversation, by_email.conversation_id)
        contact = await session.get(Contact, conversation.contact_id)
        contact.email = "zeynep@example.com"
    stranger = shop.add_order(shop.add_customer("Zeynep", "Ak", email="Zeynep@Example.com",
                                                phone="+905301112233"))
    assert (await shop.send_webhook(hook_url(row), "orders/create", stranger,
                                    client=client)).status_code == 200
    assert await outbound(home, by_email.conversation_id) == ["Alındı"]


async def test_an_order_for_nobody_we_know_is_kept_with_the_reason(home, shop, client):
    row = await connect(home, shop.url)
    await make_rule(home, "order_created", [{"type": "send_message", "body": "Alındı"}])
    order = shop.add_order(shop.add_customer(email="kimse@example.com", phone="+905309998877"))
    response = await shop.send_webhook(hook_url(row), "orders/create", order, client=client)
    assert response.status_code == 200
    (event,) = await rows(home, select(IntegrationEvent))
    assert event.error == "no contact with the order's phone or e-mail"
    assert await rows(home, select(AutomationRun)) == []


async def test_shipping_fires_order_shipped_with_the_tracking(home, shop, client):
    row = await connect(home, shop.url)
    rule = await make_rule(home, "order_shipped", [{"type": "add_note", "body": "Kargoda"}])
    updated = await make_rule(home, "order_updated", [{"type": "add_note", "body": "Teslim"}],
                              state="delivered")
    await home.inbound("Merhaba", phone=PHONE, name="Ayşe Yılmaz")
    order = shop.add_order(shop.add_customer(), tracking=[TRACKING])
    assert (await shop.send_webhook(hook_url(row), "orders/fulfilled", order,
                                    client=client)).status_code == 200
    # Still in transit: the rule waiting for "delivered" does not fire.
    assert (await shop.send_webhook(hook_url(row), "orders/updated", order,
                                    client=client)).status_code == 200
    (run,) = await rows(home, select(AutomationRun).where(
        AutomationRun.rule_id == uuid.UUID(rule["id"])))
    assert run.status == "done"
    assert await rows(home, select(AutomationRun).where(
        AutomationRun.rule_id == uuid.UUID(updated["id"]))) == []
    payload = shop.order_payload(order)
    data = order_data(from_webhook(payload, SHOP_DOMAIN))
    assert (data["tracking_number"], data["tracking_url"], data["carrier"]) == (
        TRACKING[1], TRACKING[2], TRACKING[0])
    assert data["state"] == "shipped" and data["number"] == order.name
    assert data["items"] == "1 × Kışlık Mont" and data["total"] == "1249.90"


async def test_privacy_topics_are_verified_kept_and_answered(home, shop, client):
    row = await connect(home, shop.url)
    for topic in ("customers/data_request", "customers/redact", "shop/redact"):
        response = await shop.send_webhook(hook_url(row), topic, {
            "shop_domain": SHOP_DOMAIN, "customer": {"id": 1, "email": "ayse@example.com"}},
            client=client)
        assert response.status_code == 200
    assert sorted(e.topic for e in await rows(home, select(IntegrationEvent))) == [
        "customers/data_request", "customers/redact", "shop/redact"]


async def test_reference_webhook_sample_is_accepted(home, shop, client):
    row = await connect(home, shop.url)
    await make_rule(home, "order_created", [{"type": "send_message", "body": "Alındı"}])
    inbound = await home.inbound("Merhaba", phone=PHONE, name="Ayşe Yılmaz")
    response = await shop.send_webhook(hook_url(row), "orders/create",
                                       sample("shopify.webhook_orders_create.json"),
                                       client=client)
    assert response.status_code == 200
    assert await outbound(home, inbound.conversation_id) == ["Alındı"]


# ---- the orders API against the simulator ------------------------------------------------------

async def test_contact_orders_and_order_by_number_through_the_api(home, shop):
    await connect(home, shop.url)
    inbound = await home.inbound("Kargom nerede?", phone=PHONE, name="Ayşe Yılmaz")
    customer = shop.add_customer()
    older = shop.add_order(customer)
    newer = shop.add_order(customer, tracking=[TRACKING])
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        from invekto.inbox.models import Conversation

        contact_id = (await session.get(Conversation, inbound.conversation_id)).contact_id
    response = await home.bora.client.get(f"/api/v1/contacts/{contact_id}/orders")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] == []
    assert [o["number"] for o in body["orders"]] == [newer.name, older.name]
    shipped = body["orders"][0]
    assert shipped["state"] == "shipped" and shipped["source"] == "shopify"
    assert shipped["shipments"][0]["tracking_number"] == TRACKING[1]
    assert shipped["total"] in ("1249.90", 1249.9)

    response = await home.bora.client.get("/api/v1/orders", params={"number": older.name})
    assert response.status_code == 200
    assert [o["number"] for o in response.json()["orders"]] == [older.name]
    response = await home.bora.client.get("/api/v1/orders",
                                          params={"number": str(newer.number)})
    assert [o["number"] for o in response.json()["orders"]] == [newer.name]


async def test_a_failing_shop_is_named_in_the_answer(home, shop):
    await connect(home, shop.url)
    shop.fail_next(500)
    response = await home.bora.client.get("/api/v1/orders", params={"number": "#4242"})
    assert response.status_code == 200
    body = response.json()
    assert body["orders"] == []
    assert body["errors"] == [{"source": "shopify", "message": "Shopify: Shopify answered 500"}]


async def test_testing_the_connection_subscribes_the_order_webhooks(home, shop, rt,
                                                                    monkeypatch):
    """With the deployment's public address known, "Test the connection" also points the
    shop's order webhooks at this connection (again each time: Shopify says "taken")."""
    monkeypatch.setattr(rt.settings, "public_url", "https://invekto.example")
    row = await connect(home, shop.url)
    for _ in range(2):
        response = await home.ayla.client.post("/api/v1/integrations/shopify/test")
        assert response.json() == {"ok": True, "detail": "Shop: Örnek Butik; webhooks: 3"}
    assert sorted(s["topic"] for s in shop.subscriptions) == [
        "ORDERS_CREATE", "ORDERS_FULFILLED", "ORDERS_UPDATED"]
    assert {s["uri"] for s in shop.subscriptions} == {
        f"https://invekto.example/hooks/integrations/shopify/{row.id}"}


async def test_a_fulfilment_webhook_reads_its_order_back(home, shop, client):
    row = await connect(home, shop.url)
    rule = await make_rule(home, "order_shipped", [{"type": "send_message",
                                                    "body": "Siparişiniz kargoda"}])
    inbound = await home.inbound("Merhaba", phone=PHONE, name="Ayşe Yılmaz")
    order = shop.add_order(shop.add_customer(), tracking=[TRACKING])
    response = await shop.send_webhook(hook_url(row), "fulfillments/create", {
        "id": 255858046, "order_id": order.id, "status": "success", "email": None,
        "destination": {"phone": PHONE}, "tracking_company": TRACKING[0],
        "tracking_number": TRACKING[1], "tracking_url": TRACKING[2]}, client=client)
    assert response.status_code == 200
    assert shop.requests[-1].operation == "OrderById"
    assert shop.requests[-1].variables == {"id": f"gid://shopify/Order/{order.id}"}
    assert await outbound(home, inbound.conversation_id) == ["Siparişiniz kargoda"]
    (run,) = await rows(home, select(AutomationRun).where(
        AutomationRun.rule_id == uuid.UUID(rule["id"])))
    assert run.status == "done"


async def test_a_fetched_token_is_kept_encrypted_between_calls(home, shop):
    given = {**settings(shop.url), "access_token": "", "client_id": CLIENT_ID}
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        row = await service.save_integration(session, home.system, "shopify", given)
    for _ in range(2):
        response = await home.ayla.client.post("/api/v1/integrations/shopify/test")
        assert response.json()["ok"] is True
    assert len(shop.token_requests) == 1  # the second test used the kept token
    (stored,) = await rows(home, select(Integration).where(Integration.id == row.id))
    (issued,) = shop.issued
    assert stored.state_encrypted and issued not in stored.state_encrypted
    assert service.connection_of(stored).state["access_token"] == issued


async def test_the_settings_page_connects_the_shop_and_shows_its_webhook_address(home, shop):
    client = home.ayla.client
    refused = await client.post("/settings/integrations/shopify", data={
        **settings(shop.url), "shop_domain": "ornekbutik.com", "enabled": "on"})
    assert refused.status_code == 422
    assert "your-shop.myshopify.com" in refused.text
    assert ACCESS_TOKEN not in refused.text  # a typed secret never comes back
    saved = await client.post("/settings/integrations/shopify", data={
        **settings(shop.url), "shop_domain": "ornek-butik", "enabled": "on"})
    assert saved.status_code == 200, saved.text
    (row,) = await rows(home, select(Integration).where(Integration.kind == "shopify"))
    assert row.settings["shop_domain"] == SHOP_DOMAIN and row.enabled
    page = await client.get("/settings/integrations")
    assert f"/hooks/integrations/shopify/{row.id}" in page.text
    assert "Shopify" in page.text and ACCESS_TOKEN not in page.text

"""The integrations framework with a test shop (``teststore``) on a real local server: a
company's connection (secrets encrypted and never shown, each refusal naming its field, for
those who manage settings only), its test, orders from every connected shop (one failing hides
nothing), the inbox's order panel and look-up, the chatbot's order step, and provider events
kept once."""

from __future__ import annotations

import uuid

import pytest
from markupsafe import escape
from sqlalchemy import select, text

from invekto.audit.models import AuditEvent
from invekto.config import get_settings
from invekto.core.crypto import secret_box
from invekto.integrations import orders, service
from invekto.integrations.base import Order
from tests.flows.conftest import Customer
from tests.integrations.teststore import TOKEN, create_shop
from tests.processes import serving

HX = {"hx-request": "true"}
SHIPPED = {"number": "1045", "phone": "+905321234567", "status": "shipped", "total": "1249.90",
           "carrier": "Yurtiçi Kargo", "tracking": "YK123456"}
DELIVERED = {"number": "1001", "phone": "+905321234567", "status": "delivered",
             "total": "80.00", "created_at": "2026-10-01T09:00:00+03:00"}


@pytest.fixture
async def shop(test_shops):
    app = create_shop([SHIPPED, DELIVERED])
    async with serving(app) as url:
        yield url, app.state.seen


@pytest.fixture
async def broken_shop(test_shops):
    async with serving(create_shop([], broken=True)) as url:
        yield url


async def connect(company, url: str, *, kind: str = "teststore", token: str = TOKEN,
                  name: str = "Butik"):
    response = await company.ayla.client.put(f"/api/v1/integrations/{kind}", json={
        "settings": {"store_name": name, "token": token, "base_url": url}})
    assert response.status_code == 200, response.text
    return response.json()


def field(listed: dict, name: str) -> dict:
    return next(f for f in listed["fields"] if f["name"] == name)


async def test_a_connection_keeps_its_secret_encrypted_and_never_shows_it(world, shop):
    home, (url, _) = world.home, shop
    saved = await connect(home, url)
    assert (saved["connected"], saved["enabled"], saved["status"]) == (True, True, "unchecked")
    assert field(saved, "token") == {**field(saved, "token"), "value": None, "has_value": True}
    assert field(saved, "store_name")["value"] == "Butik"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        [(settings, encrypted)] = (await session.execute(text(
            "SELECT settings::text, credentials_encrypted FROM integrations"))).all()
    assert TOKEN not in settings and TOKEN not in encrypted
    assert secret_box().decrypt_json(encrypted) == {"token": TOKEN}
    # Saved again without the token: it stays, and the connection still works.
    again = await home.ayla.client.put("/api/v1/integrations/teststore", json={
        "settings": {"store_name": "Butik 2", "base_url": url}})
    assert again.status_code == 200 and field(again.json(), "token")["has_value"] is True
    tested = await home.ayla.client.post("/api/v1/integrations/teststore/test")
    assert tested.json() == {"ok": True, "detail": "Store: Örnek Butik"}
    for page in (await home.ayla.client.get("/api/v1/integrations"),
                 await home.ayla.client.get("/settings/integrations")):
        assert page.status_code == 200
        assert TOKEN not in page.text and str(escape(TOKEN)) not in page.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        events = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action.startswith("integration.")).order_by(AuditEvent.occurred_at))).all()
    assert [e.action for e in events] == ["integration.connected", "integration.updated"]
    assert [e.data["credentials_changed"] for e in events] == [True, False]
    assert all(TOKEN not in str((e.data, e.before, e.after)) for e in events)
    assert events[1].after == {"settings": {"store_name": "Butik 2", "base_url": url,
                                            "_secrets_set": ["token"]}}


async def test_each_refusal_names_its_field(world, shop, monkeypatch):
    home, (url, _) = world.home, shop
    put = home.ayla.client.put
    cases = [({"token": TOKEN, "base_url": url}, "store_name"),
             ({"store_name": "Butik", "base_url": url}, "token"),
             ({"store_name": "Butik", "token": TOKEN, "base_url": "ftp://shop.example"},
              "base_url"),
             ({"store_name": "Butik", "token": TOKEN, "colour": "red"}, "colour"),
             ({"store_name": "B" * 501, "token": TOKEN}, "store_name")]
    for settings, named in cases:
        refused = await put("/api/v1/integrations/teststore", json={"settings": settings})
        assert refused.status_code == 422, (settings, refused.text)
        assert refused.json()["error"]["field"] == named
    monkeypatch.setattr(get_settings(), "allow_private_urls", False)
    private = await put("/api/v1/integrations/teststore", json={"settings": {
        "store_name": "Butik", "token": TOKEN, "base_url": "http://127.0.0.1:9/"}})
    assert private.status_code == 422 and private.json()["error"]["field"] == "base_url"
    unknown = await put("/api/v1/integrations/nosuchshop", json={"settings": {}})
    assert unknown.status_code == 404
    assert (await home.ayla.client.get("/api/v1/integrations/teststore")).json()[
        "connected"] is False


async def test_only_those_who_manage_settings_see_or_change_connections(world, shop):
    home, (url, _) = world.home, shop
    await connect(home, url)
    for person in (home.sevgi, home.deniz):
        assert (await person.client.get("/api/v1/integrations")).status_code == 403
        refused = await person.client.put("/api/v1/integrations/teststore", json={
            "settings": {"store_name": "X", "token": "stolen", "base_url": url}})
        assert refused.status_code == 403
        assert (await person.client.get("/settings/integrations")).status_code == 403
    # Another company sees its own (none), and cannot reach ours.
    charlie = await world.charlie.ayla.client.get("/api/v1/integrations/teststore")
    assert charlie.json()["connected"] is False
    assert (await world.charlie.ayla.client.post(
        "/api/v1/integrations/teststore/test")).status_code == 404


async def test_the_connection_test_keeps_what_the_shop_said(world, shop):
    home, (url, seen) = world.home, shop
    await connect(home, url, token="wrong")
    failed = (await home.ayla.client.post("/api/v1/integrations/teststore/test")).json()
    assert failed == {"ok": False, "detail": "the access token was refused"}
    listed = (await home.ayla.client.get("/api/v1/integrations/teststore")).json()
    assert (listed["status"], listed["status_detail"]) == ("failing", failed["detail"])
    assert listed["checked_at"] is not None
    await connect(home, url)  # the right token: untested again until tested
    assert (await home.ayla.client.get("/api/v1/integrations/teststore")).json()[
        "status"] == "unchecked"
    page = await home.ayla.client.post("/settings/integrations/teststore/test", headers={
        **HX, "x-csrf-token": home.ayla.csrf})
    assert 'id="integration-test-result" data-ok="true"' in page.text
    assert "Store: Örnek Butik" in page.text
    assert seen[-1]["path"] == "/me"


async def test_a_contacts_orders_come_from_every_shop_and_one_failing_hides_nothing(
        world, shop, broken_shop):
    home, (url, seen) = world.home, shop
    await connect(home, url)
    await connect(home, broken_shop, kind="otherstore")
    message = await home.inbound("Siparişim nerede?", phone="+905321234567")
    found = await home.deniz.client.get(f"/api/v1/contacts/{message.contact_id}/orders")
    assert found.status_code == 200, found.text
    body = found.json()
    assert [o["number"] for o in body["orders"]] == ["1045", "1001"]  # newest first
    first = body["orders"][0]
    assert (first["state"], first["total"], first["currency"]) == ("shipped", "1249.90", "TRY")
    assert first["shipments"] == [{"carrier": "Yurtiçi Kargo", "tracking_number": "YK123456",
                                   "tracking_url": "https://kargo.example/YK123456",
                                   "status": None}]
    assert body["errors"] == [{"source": "otherstore", "message": "Other Store: HTTP 503"}]
    assert seen[-1]["query"] == {"phone": "+905321234567"}
    # The card's panel shows the same; asked again within a minute, the shop is not asked.
    asked = len(seen)
    panel = await home.deniz.client.get(f"/inbox/contacts/{message.contact_id}/orders",
                                        headers=HX)
    assert panel.status_code == 200
    assert 'data-order="1045"' in panel.text and 'data-order="1001"' in panel.text
    assert "YK123456" in panel.text and 'data-source="otherstore"' in panel.text
    assert len(seen) == asked
    # Another company's people cannot ask for our contact's orders.
    other = await world.charlie.ayla.client.get(f"/api/v1/contacts/{message.contact_id}/orders")
    assert other.status_code == 404


async def test_an_order_by_its_number_with_the_sentence_for_the_customer(world, shop):
    home, (url, _) = world.home, shop
    await connect(home, url)
    for typed in ("#1045", "sipariş no: 1045", " 10 45 "):
        found = await home.deniz.client.get("/api/v1/orders", params={"number": typed})
        assert [o["number"] for o in found.json()["orders"]] == ["1045"], typed
    none = await home.deniz.client.get("/api/v1/orders", params={"number": "9999"})
    assert none.json() == {"orders": [], "errors": []}
    empty = await home.deniz.client.get("/api/v1/orders", params={"number": ""})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "number"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        [order] = (await orders.lookup_order(session, home.tenant_id, "1045")).orders
    assert isinstance(order, Order)
    assert orders.describe(order, "tr") == (
        "Sipariş 1045: Kargoya verildi\nToplam: 1.249,90 TL\n"
        "Kargo: Yurtiçi Kargo, takip numarası YK123456\nhttps://kargo.example/YK123456")
    assert orders.describe(order, "en").startswith("Order 1045: Shipped\nTotal: 1,249.90 TRY")


async def test_the_composer_looks_an_order_up_and_offers_its_sentence(world, shop):
    home, (url, _) = world.home, shop
    message = await home.inbound("Merhaba", phone="+905321234567")
    page = await home.ayla.client.get(f"/inbox/c/{message.conversation_id}", headers=HX)
    assert 'id="order-lookup-button"' not in page.text  # no shop connected: no button
    assert (await home.ayla.client.get(f"/inbox/contacts/{message.contact_id}/orders",
                                       headers=HX)).text == ""
    await connect(home, url)
    page = await home.ayla.client.get(f"/inbox/c/{message.conversation_id}", headers=HX)
    assert 'id="order-lookup-button"' in page.text and 'id="order-lookup-form"' in page.text
    looked = await home.ayla.client.get(f"/inbox/c/{message.conversation_id}/orders",
                                        params={"number": "#1045"}, headers=HX)
    assert looked.status_code == 200
    assert 'data-insert-reply data-text="Sipariş 1045: Kargoya verildi' in looked.text
    missing = await home.ayla.client.get(f"/inbox/c/{message.conversation_id}/orders",
                                         params={"number": "777"}, headers=HX)
    assert 'id="order-lookup-none"' in missing.text
    other = await world.charlie.ayla.client.get(f"/inbox/c/{message.conversation_id}/orders",
                                                params={"number": "1045"}, headers=HX)
    assert other.status_code == 404


async def test_the_settings_page_connects_tests_and_removes(world, shop):
    home, (url, _) = world.home, shop
    client, headers = home.ayla.client, {**HX, "x-csrf-token": home.ayla.csrf}
    page = await client.get("/settings/integrations")
    assert page.status_code == 200 and 'id="integration-teststore"' in page.text
    refused = await client.post("/settings/integrations/teststore", headers=headers, data={
        "store_name": "", "token": TOKEN, "base_url": url, "enabled": "on"})
    assert refused.status_code == 422
    assert 'id="integration-errors"' in refused.text and "is-invalid" in refused.text
    assert TOKEN not in refused.text
    saved = await client.post("/settings/integrations/teststore", headers=headers, data={
        "store_name": "Butik", "token": TOKEN, "base_url": url, "enabled": "on"})
    assert 'id="integration-saved"' in saved.text
    assert 'data-kind="teststore"\n     data-connected="true"' in saved.text
    tested = await client.post("/settings/integrations/teststore/test", headers=headers)
    assert 'data-ok="true"' in tested.text and 'data-status="ok"' in tested.text
    removed = await client.post("/settings/integrations/teststore/remove", headers=headers)
    assert 'id="integration-removed"' in removed.text
    assert (await client.get("/api/v1/integrations/teststore")).json()["connected"] is False


async def test_the_shop_chatbot_answers_where_the_order_is(world, shop):
    home, (url, _) = world.home, shop
    await connect(home, url)
    created = await home.sevgi.client.post("/api/v1/flows", json={
        "name": "Mağaza", "template": "ecommerce"})
    assert created.status_code == 201, created.text
    flow = created.json()
    assert flow["draft"]["nodes"]["lookup"]["capability"] == "order_status"
    assert (await home.sevgi.client.post(f"/api/v1/flows/{flow['id']}/publish")
            ).status_code == 201
    ayse = Customer(home)
    await ayse.says("Kargom nerede?")
    await ayse.taps("menu:siparis", "Sipariş durumu")
    await ayse.says("#1045")
    assert await ayse.advance()
    assert (await ayse.heard())[-2] == (
        "Sipariş 1045: Kargoya verildi\nToplam: 1.249,90 TL\n"
        "Kargo: Yurtiçi Kargo, takip numarası YK123456\nhttps://kargo.example/YK123456")
    assert (await ayse.session()).end_reason != "handed_off"
    # A number no shop knows goes to a person, with the number in the note.
    mehmet = Customer(home)
    await mehmet.says("Merhaba")
    await mehmet.taps("menu:siparis", "Sipariş durumu")
    await mehmet.says("9999")
    assert await mehmet.advance()
    assert (await mehmet.session()).end_reason == "handed_off"
    assert await mehmet.notes() == ["Sipariş durumu soruluyor\nSipariş no: 9999"]


async def test_a_providers_event_is_kept_once_and_unknown_hooks_are_refused(world, shop, app):
    home, (url, _) = world.home, shop
    await connect(home, url)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        conn = await service.connection(session, home.tenant_id, "teststore")
        first = await service.record_event(session, conn, event_id="evt-1", topic="orders/create",
                                           payload={"id": 1})
        again = await service.record_event(session, conn, event_id="evt-1",
                                           topic="orders/create", payload={"id": 1})
        assert first is not None and again is None
        await service.mark_processed(session, first)
    async with world.charlie.rt.db.tenant_session(world.charlie.tenant_id) as session:
        # The same event id in another company is that company's own.
        assert await service.connection(session, world.charlie.tenant_id, "teststore") is None
    # The test shop takes no webhooks; an unknown connection is not found either.
    for path in (f"/hooks/integrations/teststore/{conn.integration_id}",
                 f"/hooks/integrations/teststore/{uuid.uuid4()}"):
        assert (await home.ayla.client.post(path, content=b"{}")).status_code == 404


async def test_only_order_and_payment_rules_may_name_the_order_or_payment(world):
    """A rule's message may say {{ order.number }} when its event is an order's, and
    {{ payment.amount }} when it is a payment's; elsewhere the variable is refused when the rule
    is saved, naming the field."""
    client = world.home.sevgi.client

    async def save(event: str, body: str):
        return await client.post("/api/v1/automation/rules", json={
            "name": f"Kural {uuid.uuid4().hex[:6]}", "enabled": False, "event": event,
            "conditions": {"all": []}, "actions": [{"type": "send_message", "body": body}]})

    assert (await save("order_shipped", "Kargonuz yolda: {{ order.tracking_url }}")
            ).status_code == 201
    assert (await save("payment_received", "{{ payment.amount }} alındı, teşekkürler!")
            ).status_code == 201
    for event, body in (("conversation_opened", "{{ order.number }}"),
                        ("order_created", "{{ payment.amount }}"),
                        ("order_created", "{{ order.secret }}")):
        refused = await save(event, body)
        assert refused.status_code == 422, (event, body)
        assert refused.json()["error"]["field"] == "actions.0.body"
    catalogue = (await client.get("/api/v1/automation/catalogue")).json()
    shipped = next(e for e in catalogue["events"] if e["kind"] == "order_shipped")
    assert "order.tracking_url" in shipped["variables"]


def test_the_kept_answers_stay_bounded(monkeypatch):
    monkeypatch.setattr(orders, "CACHE_ENTRIES", 3)
    monkeypatch.setattr(orders, "_cache", {("old",): (0.0, [])})  # long expired
    for n in range(3):
        orders._remember((n,), [])
    assert set(orders._cache) == {(0,), (1,), (2,)}  # the expired one made room
    orders._remember((3,), [])
    assert set(orders._cache) == {(3,)}  # none expired: all go

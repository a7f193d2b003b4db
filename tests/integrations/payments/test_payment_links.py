"""Payment links end to end, our app served over real HTTP: an agent makes a link in a
conversation (the API, and the composer's form), the link goes into the thread, the provider's
simulator posts its result to our real callback, and the link is paid once, the conversation
shows it, and a rule listening to ``payment_received`` fires. Also: refused callbacks keep
nothing, repeats act once (PayTR still gets its "OK"), an amount that is not the link's is not
taken as payment, and what the form and the API refuse."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from invekto.audit.models import AuditEvent
from invekto.automation.models import AutomationRun
from invekto.core.errors import ValidationFailed
from invekto.inbox.models import ConversationEvent, Note
from invekto.integrations import service
from invekto.integrations.iyzico import simulator as iyzico_sim
from invekto.integrations.models import IntegrationEvent
from invekto.integrations.payments.models import PaymentLinkRecord
from invekto.integrations.payments.views import typed_amount
from invekto.integrations.paytr import simulator as paytr_sim
from tests.integrations.payments.support import over_http
from tests.processes import serving

TAG = "odeme-alindi"


@pytest.fixture
async def ours(app):
    """Our app over real HTTP, where providers post."""
    async with serving(app) as url:
        yield url


async def connect(company, kind: str, url: str):
    settings = ({"api_key": iyzico_sim.API_KEY, "secret_key": iyzico_sim.SECRET_KEY,
                 "base_url": url} if kind == "iyzico" else
                {"merchant_id": paytr_sim.MERCHANT_ID, "merchant_key": paytr_sim.MERCHANT_KEY,
                 "merchant_salt": paytr_sim.MERCHANT_SALT, "test_mode": "1", "base_url": url})
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await service.save_integration(session, company.system, kind, settings)


async def rule_on(company, event: str, tag: str = TAG, **options: str) -> None:
    created = await company.sevgi.client.post("/api/v1/tags", json={"name": tag})
    assert created.status_code == 201, created.text
    response = await company.sevgi.client.post("/api/v1/automation/rules", json={
        "name": f"Ödeme {uuid.uuid4().hex[:6]}", "event": event, "event_options": options,
        "actions": [{"type": "add_tags", "tags": [tag]}]})
    assert response.status_code == 201, response.text


async def count(company, model, **where) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        query = select(func.count()).select_from(model).where(
            *(getattr(model, k) == v for k, v in where.items()))
        return await session.scalar(query)


async def link_row(company, link_id) -> PaymentLinkRecord:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(PaymentLinkRecord, uuid.UUID(str(link_id)))


async def conversation_tags(company, conversation_id) -> list[str]:
    response = await company.ayla.client.get(f"/api/v1/conversations/{conversation_id}")
    return response.json()["tags"]


async def thread_bodies(company, conversation_id) -> list[str]:
    response = await company.ayla.client.get(
        f"/api/v1/conversations/{conversation_id}/messages")
    return [m["body"] for m in response.json()["items"]]


async def test_iyzico_link_made_sent_and_paid_through_the_browser_callback(world, ours):
    home = world.home
    simulator = iyzico_sim.create_simulator()
    async with serving(simulator) as sim_url:
        row = await connect(home, "iyzico", sim_url)
        await rule_on(home, "payment_received")
        thanks = await home.sevgi.client.post("/api/v1/automation/rules", json={
            "name": "Teşekkür", "event": "payment_received", "event_options": {},
            "actions": [{"type": "send_message", "body":
                         "{{ payment.amount }} ödemeniz alındı ({{ payment.description }}), "
                         "teşekkürler!"}]})
        assert thanks.status_code == 201, thanks.text
        conversation_id = (await home.inbound("Ödemeyi nasıl yapabilirim?")).conversation_id
        key = uuid.uuid4().hex
        async with over_http(home.bora, ours) as bora:
            made = await bora.post(f"/api/v1/conversations/{conversation_id}/payment-links",
                                   json={"amount": "150.00", "description": "Randevu ücreti",
                                         "idempotency_key": key})
            assert made.status_code == 201, made.text
            again = await bora.post(f"/api/v1/conversations/{conversation_id}/payment-links",
                                    json={"amount": "150.00", "description": "Randevu ücreti",
                                          "idempotency_key": key})
        link = made.json()
        assert again.status_code == 200 and again.json()["id"] == link["id"]  # a double click
        assert link["status"] == "sent" and link["provider"] == "iyzico"
        assert link["url"].startswith(f"{sim_url}/checkout?token=")
        token = link["url"].split("token=")[1].split("&")[0]
        # The callback iyzico was given is our webhook route for this connection.
        assert simulator.state.checkouts[token].request["callbackUrl"] == \
            service.webhook_url(ours, row, "callback")
        bodies = await thread_bodies(home, conversation_id)
        assert sum(link["url"] in body for body in bodies) == 1
        assert any("150,00 TL" in body and "Randevu ücreti" in body for body in bodies)
        assert await count(home, PaymentLinkRecord, conversation_id=conversation_id) == 1

        simulator.pay(token)
        answered = await simulator.browser_callback(token)
        assert answered.status == 200
        paid = await home.bora.client.get(f"/api/v1/payment-links/{link['id']}")
        assert paid.json()["status"] == "paid"
        assert Decimal(paid.json()["paid_amount"]) == Decimal("150.00")
        assert paid.json()["provider_payment_id"] == simulator.state.checkouts[token].payment_id
        assert TAG in await conversation_tags(home, conversation_id)
        thanked = [b for b in await thread_bodies(home, conversation_id) if "teşekkürler" in b]
        assert thanked == ["150,00 TL ödemeniz alındı (Randevu ücreti), teşekkürler!"]
        assert await count(home, ConversationEvent, conversation_id=conversation_id,
                           kind="payment") == 1
        notes = await count(home, Note, conversation_id=conversation_id)
        assert notes == 1
        # The thread (the page agents read) shows the payment line.
        page = await home.bora.client.get(f"/inbox/c/{conversation_id}",
                                          headers={"hx-request": "true"})
        assert 'data-kind="payment"' in page.text and "150,00 TL (iyzico)" in page.text
        assert 'id="payment-links"' in page.text  # the composer's part, loaded with it

        # iyzico's signed merchant notification afterwards confirms; nothing happens twice.
        hook = service.webhook_url(ours, row)  # as Settings → Integrations shows it
        settings_page = await home.ayla.client.get("/settings/integrations")
        assert service.webhook_url("", row) in settings_page.text
        confirmed = await simulator.merchant_webhook(token, hook)
        assert confirmed.status == 200
        forged = await simulator.merchant_webhook(token, hook, signature="00" * 32)
        assert forged.status == 401
        again = await simulator.browser_callback(token)
        assert again.status == 200
        assert await count(home, ConversationEvent, conversation_id=conversation_id,
                           kind="payment") == 1
        assert await count(home, Note, conversation_id=conversation_id) == notes
        assert await count(home, AuditEvent, action="payment_link.paid") == 1
        assert len([b for b in await thread_bodies(home, conversation_id)
                    if "teşekkürler" in b]) == 1  # thanked once


async def test_iyzico_merchant_webhook_alone_confirms_and_a_wrong_amount_is_not_paid(world,
                                                                                     ours):
    home = world.home
    simulator = iyzico_sim.create_simulator()
    async with serving(simulator) as sim_url:
        row = await connect(home, "iyzico", sim_url)
        await rule_on(home, "payment_failed", tag="odeme-sorunu")
        first = (await home.inbound("Fatura")).conversation_id
        second = (await home.inbound("Kapora")).conversation_id
        links = []
        async with over_http(home.ayla, ours) as ayla:
            for conversation_id in (first, second):
                made = await ayla.post(
                    f"/api/v1/conversations/{conversation_id}/payment-links",
                    json={"amount": 99.9, "currency": "TRY", "description": "Kapora"})
                assert made.status_code == 201, made.text
                links.append(made.json())
        tokens = [link["url"].split("token=")[1].split("&")[0] for link in links]
        hook = service.webhook_url(ours, row, "webhook")

        simulator.pay(tokens[0])
        assert (await simulator.merchant_webhook(tokens[0], hook)).status == 200
        assert (await link_row(home, links[0]["id"])).status == "paid"

        simulator.pay(tokens[1], paid_price=Decimal("9.99"))  # signed, but not the link's
        assert (await simulator.browser_callback(tokens[1])).status == 200
        mismatched = await link_row(home, links[1]["id"])
        assert mismatched.status == "failed" and mismatched.paid_amount == Decimal("9.99")
        assert mismatched.failure_reason.startswith("amount_mismatch")
        assert "odeme-sorunu" in await conversation_tags(home, second)
        assert "odeme-sorunu" not in await conversation_tags(home, first)


async def test_paytr_link_from_the_composer_and_the_notification_answered_ok(world, ours):
    home = world.home
    simulator = paytr_sim.create_simulator()
    async with serving(simulator) as sim_url:
        row = await connect(home, "paytr", sim_url)
        await rule_on(home, "payment_received", provider="paytr")
        await rule_on(home, "payment_received", tag="iyzico-odemesi", provider="iyzico")
        conversation_id = (await home.inbound("IBAN yerine kartla ödeyebilir miyim?")
                           ).conversation_id
        form = {"amount": "1.250,50", "currency": "TRY", "description": "Sipariş #1045",
                "idempotency_key": uuid.uuid4().hex}
        async with over_http(home.bora, ours) as bora:
            composer = await bora.get(f"/inbox/c/{conversation_id}/payment-links")
            assert 'id="payment-link-form"' in composer.text
            made = await bora.post(f"/inbox/c/{conversation_id}/payment-links", data=form)
            twice = await bora.post(f"/inbox/c/{conversation_id}/payment-links", data=form)
        assert made.status_code == 200 and 'data-status="sent"' in made.text
        assert "every 30s" in made.text  # the list follows the link until it is paid
        assert 'id="payment-link-error"' not in made.text
        assert twice.text.count('class="payment-link-item') == 1  # the double submit
        (link,) = (await home.bora.client.get(
            f"/api/v1/conversations/{conversation_id}/payment-links")).json()
        assert Decimal(link["amount"]) == Decimal("1250.50") and link["provider"] == "paytr"
        token = link["url"].removeprefix(f"{sim_url}/odeme/guvenli/")
        assert simulator.state.orders[link["reference"]].token == token
        assert any(link["url"] in body and "1.250,50 TL" in body
                   for body in await thread_bodies(home, conversation_id))

        callback = service.webhook_url(ours, row)  # the Bildirim URL the settings page shows
        forged = simulator.notification(link["reference"])
        forged["hash"] = forged["hash"][:-4] + "AAA="
        refused = await simulator.deliver(forged, callback)
        assert refused.status == 401 and not refused.acknowledged
        assert (await link_row(home, link["id"])).status == "sent"

        first = await simulator.pay(link["reference"], url=callback)
        assert first.acknowledged and first.body == "OK"
        repeat = await simulator.pay(link["reference"], url=callback)
        assert repeat.acknowledged  # a repeat is answered "OK" too
        paid = await link_row(home, link["id"])
        assert paid.status == "paid" and paid.paid_amount == Decimal("1250.50")
        tags = await conversation_tags(home, conversation_id)
        assert TAG in tags and "iyzico-odemesi" not in tags  # the event's provider is PayTR
        runs = await count(home, AutomationRun, conversation_id=conversation_id,
                           event="payment_received")
        assert runs == 1
        assert await count(home, ConversationEvent, conversation_id=conversation_id,
                           kind="payment") == 1
        assert await count(home, Note, conversation_id=conversation_id) == 1
        async with over_http(home.bora, ours) as bora:
            listed = await bora.get(f"/inbox/c/{conversation_id}/payment-links?part=list")
        assert 'data-status="paid"' in listed.text
        assert 'id="payment-link-form"' not in listed.text  # the open form is left alone
        assert "every 30s" not in listed.text  # nothing awaits payment: no more asking


async def test_paytr_amount_mismatch_and_failure_are_recorded_not_paid(world, ours):
    home = world.home
    simulator = paytr_sim.create_simulator()
    async with serving(simulator) as sim_url:
        row = await connect(home, "paytr", sim_url)
        callback = service.webhook_url(ours, row, "callback")
        links = []
        for _ in range(2):
            conversation_id = (await home.inbound("Ödeme")).conversation_id
            made = await home.ayla.client.post(
                f"/api/v1/conversations/{conversation_id}/payment-links",
                json={"amount": "200", "description": "Ürün"})
            assert made.status_code == 201, made.text
            links.append(made.json())
        wrong = await simulator.pay(links[0]["reference"], total_amount="100", url=callback)
        assert wrong.acknowledged
        row0 = await link_row(home, links[0]["id"])
        assert row0.status == "failed" and "amount_mismatch" in row0.failure_reason
        failed = await simulator.pay(links[1]["reference"], succeed=False, url=callback)
        assert failed.acknowledged
        row1 = await link_row(home, links[1]["id"])
        assert row1.status == "failed" and "Kart limiti yetersiz" in row1.failure_reason
        # A later success of the same order still counts: the money was taken.
        paid = await simulator.pay(links[1]["reference"], url=callback)
        assert paid.acknowledged and (await link_row(home, links[1]["id"])).status == "paid"


async def test_what_is_refused_when_making_a_link(world, ours):
    home = world.home
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    url = f"/api/v1/conversations/{conversation_id}/payment-links"
    nothing = await home.ayla.client.post(url, json={"amount": "10", "description": "X"})
    assert nothing.status_code == 422 and nothing.json()["error"]["field"] == "provider"
    simulator = paytr_sim.create_simulator()
    async with serving(simulator) as sim_url:
        await connect(home, "paytr", sim_url)
        for body, field in [({"amount": "0", "description": "X"}, "amount"),
                            ({"amount": "-5", "description": "X"}, "amount"),
                            ({"amount": "10.005", "description": "X"}, "amount"),
                            ({"amount": "1000000.01", "description": "X"}, "amount"),
                            ({"amount": "10", "description": "   "}, "description"),
                            ({"amount": "10", "description": "x" * 121}, "description"),
                            ({"amount": "10", "description": "X", "currency": "JPY"},
                             "currency"),
                            ({"amount": "10", "description": "X", "provider": "iyzico"},
                             "provider")]:
            refused = await home.ayla.client.post(url, json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.json()["error"]["field"] == field, refused.text
        # An agent may not send into a colleague's conversation.
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            from invekto.inbox import service as inbox
            await inbox.assign(session, home.system, conversation_id, home.deniz.user_id)
        denied = await home.bora.client.post(url, json={"amount": "10", "description": "X"})
        assert denied.status_code in (403, 404)
        # The provider refusing is a readable 502/503, and nothing is kept.
        simulator.merchant_key = "baska"
        upstream = await home.ayla.client.post(url, json={"amount": "10", "description": "X"})
        assert upstream.status_code in (502, 503) and "PayTR" in upstream.text
        # The request rolled back, yet the settings page says the connection is not working.
        listed = (await home.ayla.client.get("/api/v1/integrations/paytr")).json()
        assert listed["status"] == "failing" and "PayTR" in listed["status_detail"]
        async with over_http(home.ayla, ours) as ayla:
            form = await ayla.post(f"/inbox/c/{conversation_id}/payment-links",
                                   data={"amount": "abc", "description": "X"})
            assert 'id="payment-link-error"' in form.text and 'value="abc"' in form.text
            failed = await ayla.post(f"/inbox/c/{conversation_id}/payment-links",
                                     data={"amount": "10", "description": "Deneme"})
            assert 'id="payment-link-error"' in failed.text and "PayTR" in failed.text
        assert await count(home, PaymentLinkRecord, conversation_id=conversation_id) == 0
        assert not [b for b in await thread_bodies(home, conversation_id)
                    if re.search(r"odeme/guvenli", b)]
        # Charlie's company sees nothing of ours.
        charlie = await world.charlie.ayla.client.get(url)
        assert charlie.status_code == 404
        assert json.loads(charlie.text)["error"]["code"] == "not_found"


async def test_iyzico_callbacks_that_name_no_link_of_ours_change_nothing(world, ours):
    home = world.home
    simulator = iyzico_sim.create_simulator()
    async with serving(simulator) as sim_url:
        row = await connect(home, "iyzico", sim_url)
        conversation_id = (await home.inbound("Ödeme")).conversation_id
        async with over_http(home.ayla, ours) as ayla:
            made = await ayla.post(f"/api/v1/conversations/{conversation_id}/payment-links",
                                   json={"amount": "75", "description": "Danışmanlık"})
            callback = service.webhook_url(ours, row, "callback")
            unknown = await ayla.post(callback, data={"token": str(uuid.uuid4())})
            empty = await ayla.post(callback, data={})
            early = await ayla.post(callback, data={"token": made.json()["url"].split(
                "token=")[1].split("&")[0]})  # nothing paid yet: nothing to record
        assert unknown.status_code == 404 and empty.status_code == 400
        assert early.status_code == 200 and "<script" not in early.text
        assert (await link_row(home, made.json()["id"])).status == "sent"
        assert await count(home, IntegrationEvent, integration_id=row.id) == 0
        # A notification signed with another key is refused and kept nowhere.
        token = made.json()["url"].split("token=")[1].split("&")[0]
        simulator.pay(token)
        other = iyzico_sim.create_simulator(secret_key="baska-anahtar")
        other.state.checkouts = simulator.state.checkouts
        refused = await other.merchant_webhook(token, service.webhook_url(ours, row))
        assert refused.status == 401
        assert await count(home, IntegrationEvent, integration_id=row.id) == 0
        assert (await link_row(home, made.json()["id"])).status == "sent"


async def test_a_link_past_its_page_lifetime_shows_as_expired(world, ours):
    home = world.home
    simulator = paytr_sim.create_simulator()
    async with serving(simulator) as sim_url:
        await connect(home, "paytr", sim_url)
        conversation_id = (await home.inbound("Ödeme")).conversation_id
        made = await home.ayla.client.post(
            f"/api/v1/conversations/{conversation_id}/payment-links",
            json={"amount": "10", "description": "Kapora"})
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            link = await session.get_one(PaymentLinkRecord, uuid.UUID(made.json()["id"]))
            link.expires_at = link.created_at
        read = await home.ayla.client.get(f"/api/v1/payment-links/{made.json()['id']}")
        assert read.json()["status"] == "expired"


async def test_two_submits_at_once_with_one_key_make_one_link(world, ours):
    home = world.home
    simulator = paytr_sim.create_simulator()
    async with serving(simulator) as sim_url:
        await connect(home, "paytr", sim_url)
        conversation_id = (await home.inbound("Ödeme")).conversation_id
        body = {"amount": "10.50", "description": "Kapora",
                "idempotency_key": uuid.uuid4().hex}
        url = f"/api/v1/conversations/{conversation_id}/payment-links"
        async with over_http(home.ayla, ours) as first, over_http(home.ayla, ours) as second:
            answers = await asyncio.gather(first.post(url, json=body),
                                           second.post(url, json=body))
        assert sorted(a.status_code for a in answers) == [200, 201]
        assert answers[0].json()["id"] == answers[1].json()["id"]
        assert len(simulator.state.orders) == 1
        assert await count(home, PaymentLinkRecord, conversation_id=conversation_id) == 1


def test_amounts_are_read_as_people_type_them():
    assert typed_amount("150") == "150"
    assert typed_amount(" 150,50 ₺") == "150.50"
    assert typed_amount("1.250,50") == "1250.50"
    assert typed_amount("1250.5") == "1250.5"
    for typed in ("  ", "abc", "1,2,3"):
        with pytest.raises(ValidationFailed):
            typed_amount(typed)

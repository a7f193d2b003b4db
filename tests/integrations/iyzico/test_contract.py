"""The iyzico adapter against the simulator over real HTTP: IYZWSv2 requests, signed answers,
iyzico's failures (HTTP 200, ``status: failure``) and the checkout result."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from invekto.integrations.base import IntegrationAuthFailed, IntegrationRefused
from invekto.integrations.iyzico import signing
from invekto.integrations.iyzico.adapter import INITIALIZE_PATH, IyzicoAdapter
from invekto.integrations.iyzico.simulator import API_KEY, SECRET_KEY, create_simulator
from tests.integrations.payments.support import connection, request
from tests.processes import serving

adapter = IyzicoAdapter()


def iyzico(url: str, secret: str = SECRET_KEY):
    return connection("iyzico", url, {"api_key": API_KEY, "secret_key": secret})


async def test_a_link_is_the_hosted_page_of_a_signed_checkout_form():
    simulator = create_simulator()
    async with serving(simulator) as url:
        link = await adapter.create_payment_link(iyzico(url), request())
        assert link.url.startswith(f"{url}/checkout?token={link.provider_reference}")
        sent = simulator.state.checkouts[link.provider_reference].request
        assert sent["price"] == sent["paidPrice"] == "150.50"
        assert sent["basketItems"][0]["price"] == "150.50"
        assert sent["conversationId"] == sent["basketId"] == "IVKTEST000001"
        assert sent["enabledInstallments"] == [1]  # exactly the link's amount
        assert sent["buyer"]["identityNumber"] == "11111111111"
        assert sent["buyer"]["name"] == "Ayşe" and sent["buyer"]["surname"] == "Yılmaz"
        async with httpx.AsyncClient() as client:
            page = await client.get(link.url)
        assert page.status_code == 200 and "150.50 TRY" in page.text
        assert (await adapter.check(iyzico(url))).ok


async def test_a_wrong_secret_is_iyzicos_failure_with_http_200():
    simulator = create_simulator()
    async with serving(simulator) as url:
        with pytest.raises(IntegrationAuthFailed) as refused:
            await adapter.create_payment_link(iyzico(url, "yanlis-anahtar"), request())
        assert refused.value.code == "1000" and refused.value.status == 200
        assert simulator.state.refused == [INITIALIZE_PATH] and not simulator.state.checkouts
        # The wire: HTTP 200, status failure, iyzico's error body.
        body = '{"locale":"tr","conversationId":"1"}'
        async with httpx.AsyncClient() as client:
            answer = await client.post(url + INITIALIZE_PATH, content=body, headers={
                "x-iyzi-rnd": "123", "Authorization": signing.authorization(
                    API_KEY, "baska", "123", INITIALIZE_PATH, body)})
        assert answer.status_code == 200
        assert answer.json()["status"] == "failure" and answer.json()["errorCode"] == "1000"


async def test_an_answer_signed_with_another_key_is_not_believed():
    simulator = create_simulator()
    simulator.answer_secret = "baska-anahtar"
    async with serving(simulator) as url:
        with pytest.raises(IntegrationRefused) as refused:
            await adapter.create_payment_link(iyzico(url), request())
        assert refused.value.code == "signature"


async def test_the_retrieved_result_is_checked_and_read():
    simulator = create_simulator()
    async with serving(simulator) as url:
        conn = iyzico(url)
        link = await adapter.create_payment_link(conn, request())
        token = link.provider_reference
        simulator.pay(token)
        paid = await adapter.retrieve(conn, "IVKTEST000001", token)
        assert paid is not None and paid.paid and paid.amount == Decimal("150.50")
        assert paid.currency == "TRY" and paid.provider_payment_id
        simulator.pay(token, succeed=False)
        failed = await adapter.retrieve(conn, "IVKTEST000001", token)
        assert failed is not None and not failed.paid
        assert failed.failure_reason == "Kart limiti yetersiz"
        # Someone else's token under our reference is not taken for ours.
        with pytest.raises(IntegrationRefused):
            await adapter.retrieve(conn, "IVKBASKA", token)
        simulator.answer_secret = "baska-anahtar"
        with pytest.raises(IntegrationRefused):
            await adapter.retrieve(conn, "IVKTEST000001", token)


async def test_a_person_pays_on_the_hosted_page_and_is_sent_back_to_the_merchant():
    """The page's buttons (the demo): the checkout is settled, the signed notification goes to
    the merchant, and the answer's button posts the token to the checkout's callbackUrl."""
    notified: list[httpx.Request] = []

    async def merchant(request: httpx.Request) -> httpx.Response:
        notified.append(request)
        return httpx.Response(200, text="OK")

    simulator = create_simulator(notification_url="http://merchant.test/hooks/iyzico/1",
                                 transport=httpx.MockTransport(merchant))
    async with serving(simulator) as url, httpx.AsyncClient(base_url=url) as browser:
        conn = iyzico(url)
        link = await adapter.create_payment_link(conn, request())
        token = link.provider_reference
        page = await browser.get(link.url)
        assert "<form method='post' action='checkout'>" in page.text
        assert "value='success' id='iyzico-pay'" in page.text
        assert "<script" not in page.text
        assert f"name='token' value='{token}'" in page.text

        failed = await browser.post("/checkout", data={"token": token, "outcome": "failure"})
        assert failed.status_code == 200 and "Ödeme başarısız" in failed.text
        assert not (await adapter.retrieve(conn, "IVKTEST000001", token)).paid

        paid = await browser.post("/checkout", data={"token": token, "outcome": "success"})
        assert paid.status_code == 200 and "data-status='SUCCESS'" in paid.text
        callback = "http://127.0.0.1:9/hooks/integrations/x/y/callback"
        assert f"<form method='post' action='{callback}'>" in paid.text
        assert f"name='token' value='{token}'" in paid.text
        # The merchant's callback is another origin: the page's policy lets the form go there.
        assert "form-action 'self' http://127.0.0.1:9" in paid.headers["content-security-policy"]
        result = await adapter.retrieve(conn, "IVKTEST000001", token)
        assert result is not None and result.paid and result.amount == Decimal("150.50")

        # One notification per press, each signed with the merchant's secret key.
        assert [r.url for r in notified] == ["http://merchant.test/hooks/iyzico/1"] * 2
        body = json.loads(notified[-1].content)
        assert body["token"] == token and body["status"] == "SUCCESS"
        assert notified[-1].headers["x-iyz-signature-v3"] == signing.webhook_signature(
            SECRET_KEY, body)
        # Paid once: pressing again (a reload) neither pays nor notifies again.
        again = await browser.post("/checkout", data={"token": token, "outcome": "failure"})
        assert "data-status='SUCCESS'" in again.text and len(notified) == 2
        assert (await browser.post("/checkout", data={"token": "nope"})).status_code == 404

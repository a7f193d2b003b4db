"""The iyzico adapter against the simulator over real HTTP: IYZWSv2 requests, signed answers,
iyzico's failures (HTTP 200, ``status: failure``) and the checkout result."""

from __future__ import annotations

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

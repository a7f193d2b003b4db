"""The PayTR adapter against the simulator over real HTTP: get-token (form-encoded,
``paytr_token``), PayTR's ``status: failed`` answers, and the payment page."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from invekto.integrations.base import IntegrationAuthFailed, IntegrationRefused
from invekto.integrations.paytr.adapter import TOKEN_PATH, PaytrAdapter
from invekto.integrations.paytr.simulator import (
    MERCHANT_ID,
    MERCHANT_KEY,
    MERCHANT_SALT,
    create_simulator,
)
from tests.integrations.payments.support import connection, request
from tests.processes import serving

adapter = PaytrAdapter()


def paytr(url: str, key: str = MERCHANT_KEY, merchant_id: str = MERCHANT_ID):
    return connection("paytr", url, {"merchant_key": key, "merchant_salt": MERCHANT_SALT},
                      {"merchant_id": merchant_id, "test_mode": "1"})


async def test_a_link_is_the_secure_page_of_a_token_on_the_connections_host():
    simulator = create_simulator()
    async with serving(simulator) as url:
        link = await adapter.create_payment_link(paytr(url), request(amount="150.50"))
        assert link.url == f"{url}/odeme/guvenli/{link.provider_reference}"
        sent = simulator.state.orders["IVKTEST000001"].fields
        assert sent["payment_amount"] == "15050"  # kuruş
        assert sent["currency"] == "TL" and sent["no_installment"] == "1"
        assert sent["test_mode"] == "1" and sent["merchant_oid"].isalnum()
        assert json.loads(base64.b64decode(sent["user_basket"])) == [
            ["Kışlık mont", "150.50", 1]]
        async with httpx.AsyncClient() as client:
            page = await client.get(link.url)
        assert page.status_code == 200 and "150.50 TL" in page.text
        assert (await adapter.check(paytr(url))).ok


async def test_a_wrong_key_is_paytrs_failed_answer():
    simulator = create_simulator()
    async with serving(simulator) as url:
        with pytest.raises(IntegrationAuthFailed) as refused:
            await adapter.create_payment_link(paytr(url, key="YANLIS"), request())
        assert "paytr_token gonderilmedi veya gecersiz" in refused.value.message
        assert simulator.state.refused == ["paytr_token"] and not simulator.state.orders
        async with httpx.AsyncClient() as client:
            answer = await client.post(url + TOKEN_PATH, data={"merchant_id": MERCHANT_ID})
        assert answer.json() == {"status": "failed",
                                 "reason": "paytr_token gonderilmedi veya gecersiz"}


async def test_a_reused_order_id_is_refused_as_paytr_refuses_it():
    simulator = create_simulator()
    async with serving(simulator) as url:
        await adapter.create_payment_link(paytr(url), request())
        with pytest.raises(IntegrationRefused) as refused:
            await adapter.create_payment_link(paytr(url), request())
        assert "merchant_oid" in refused.value.message

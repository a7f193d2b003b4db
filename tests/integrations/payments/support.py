"""What the payment tests share: a payment request, a connection for the adapters alone, and
our app served over real HTTP with a person's session on it."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx

from invekto.integrations.base import Connection, PaymentRequest


def request(reference: str = "IVKTEST000001", amount: str = "150.50", **changes
            ) -> PaymentRequest:
    values = dict(reference=reference, amount=Decimal(amount), currency="TRY",
                  description="Kışlık mont", customer_name="Ayşe Yılmaz",
                  customer_phone="+905321234567", customer_email="ayse@example.com",
                  callback_url="http://127.0.0.1:9/hooks/integrations/x/y/callback",
                  return_url="http://127.0.0.1:9/hooks/integrations/x/y/return")
    values.update(changes)
    return PaymentRequest(**values)


def connection(kind: str, base_url: str, credentials: dict[str, str],
               settings: dict[str, str] | None = None) -> Connection:
    return Connection(integration_id=uuid.uuid4(), tenant_id=uuid.uuid4(), kind=kind,
                      settings={"base_url": base_url, **(settings or {})},
                      credentials=credentials)


def over_http(person, url: str) -> httpx.AsyncClient:
    """``person``'s logged-in session, against our app served at ``url``."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in person.client.cookies.jar)
    return httpx.AsyncClient(base_url=url, timeout=30, headers={
        "cookie": cookie, "x-csrf-token": person.csrf})

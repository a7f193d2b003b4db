"""A Shopify shop under test: the simulator served over real HTTP, and a connection to it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from invekto.integrations.base import BASE_URL, Connection
from invekto.integrations.shopify import adapter as shopify
from invekto.integrations.shopify.simulator import (
    ACCESS_TOKEN,
    CLIENT_SECRET,
    SHOP_DOMAIN,
    ShopifySimulator,
)
from tests.processes import serving

SAMPLES = Path(__file__).resolve().parent / "samples"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
async def shop():
    """The simulator, served; its address in ``shop.url``."""
    simulator = ShopifySimulator()
    async with serving(simulator) as url:
        simulator.url = url
        yield simulator


def connection(url: str, *, token: str = ACCESS_TOKEN, secret: str = CLIENT_SECRET,
               client_id: str = "", tenant_id: uuid.UUID | None = None) -> Connection:
    """A connection to the simulator; ``token=""`` with a ``client_id``: a Dev Dashboard app."""
    return Connection(integration_id=uuid.uuid4(), tenant_id=tenant_id or uuid.uuid4(),
                      kind="shopify",
                      settings={shopify.SHOP_DOMAIN: SHOP_DOMAIN, BASE_URL: url,
                                shopify.CLIENT_ID: client_id,
                                shopify.API_VERSION: shopify.DEFAULT_API_VERSION},
                      credentials={k: v for k, v in ((shopify.ACCESS_TOKEN, token),
                                                     (shopify.CLIENT_SECRET, secret)) if v})


def settings(url: str) -> dict[str, str]:
    """What an admin types to connect the simulated shop."""
    return {shopify.SHOP_DOMAIN: SHOP_DOMAIN, shopify.ACCESS_TOKEN: ACCESS_TOKEN,
            shopify.CLIENT_SECRET: CLIENT_SECRET, BASE_URL: url}

"""The Zoho CRM simulator as a real server, and a connection to it as the adapter sees one (the
contract tests) or as a company makes one through the API (the end-to-end tests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from invekto.integrations.base import Connection
from invekto.integrations.zoho.simulator import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    ZohoSimulator,
)
from tests.processes import serving


@dataclass
class Zoho:
    simulator: ZohoSimulator
    url: str

    def settings(self, **overrides: str) -> dict[str, str]:
        """The form as a company fills it in, pointed at the simulator (accounts and API)."""
        return {"data_centre": "com", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "refresh_token": REFRESH_TOKEN, "module": "Leads", "accounts_url": self.url,
                "base_url": self.url, **overrides}

    def connection(self, **overrides: Any) -> Connection:
        values = self.settings(**overrides)
        secrets = {k: values.pop(k) for k in ("client_secret", "refresh_token")}
        return Connection(integration_id=uuid.uuid4(), tenant_id=uuid.uuid4(), kind="zoho",
                          settings=values, credentials=secrets, state={})


@pytest.fixture
async def zoho():
    simulator = ZohoSimulator()
    async with serving(simulator) as url:
        yield Zoho(simulator, url)

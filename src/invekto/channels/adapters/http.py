"""What every adapter that calls its provider over HTTP shares: one pooled client, and fetching
a customer's file with the same idea of which failures are worth a retry."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx

from invekto.channels.adapters.base import ChannelAccount


class MediaUnavailable(Exception):
    """A customer's file could not be fetched. ``temporary`` says whether trying later may help
    (network, 5xx, throttling); a 4xx (expired or unknown id, bad credentials) will not, and
    360dialog blocks media lookups for an hour after repeated failures, so do not blind-retry."""

    def __init__(self, reason: str, *, temporary: bool = False,
                 status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary
        self.status_code = status_code


def api_base(account: ChannelAccount, default: str) -> str | None:
    """The provider's API address for ``account``: its ``api_base_url`` setting (a simulator,
    a regional host) or ``default``, without a trailing slash; None when it is not an http(s)
    address."""
    base = str((account.settings or {}).get("api_base_url") or default).rstrip("/")
    parts = urlsplit(base)
    return base if parts.scheme in ("http", "https") and parts.netloc else None


class PooledHttp:
    """One pooled ``httpx.AsyncClient`` per adapter, made on first use; a new one if the event
    loop changed (connections belong to the loop that opened them). ``transport`` points the
    adapter at a provider simulator in tests."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 10.0) -> None:
        self._transport = transport
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._loop is not loop:
            self._client = httpx.AsyncClient(transport=self._transport,
                                             timeout=httpx.Timeout(self._timeout))
            self._loop = loop
        return self._client

    provider_name = "the provider"  # in a MediaUnavailable's reason

    async def _download(self, url: str, *, headers: dict[str, str] | None = None,
                        auth: Any = None, follow_redirects: bool = True) -> httpx.Response:
        """GET a file (or its lookup). Unreachable, 429 and 5xx are MediaUnavailable(temporary);
        any other refusal is MediaUnavailable for good (an expired CDN signature is a 403)."""
        try:
            response = await self._http().get(url, headers=headers, auth=auth,
                                              follow_redirects=follow_redirects)
        except httpx.TransportError as exc:
            raise MediaUnavailable(f"{self.provider_name} unreachable: {type(exc).__name__}",
                                   temporary=True) from exc
        if not response.is_success:
            raise MediaUnavailable(f"HTTP {response.status_code} from {urlsplit(url).netloc}",
                                   temporary=response.status_code == 429
                                   or response.status_code >= 500,
                                   status_code=response.status_code)
        return response

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

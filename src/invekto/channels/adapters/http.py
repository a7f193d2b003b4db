"""What every adapter that calls its provider over HTTP shares: one pooled client."""

from __future__ import annotations

import asyncio

import httpx


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

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

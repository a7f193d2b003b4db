"""What the LLM adapters that call a provider over HTTP share (``anthropic``, ``openai_compat``):
the client, one deadline for the whole call, and every failure turned into a ``ProviderError``
of the right kind, with the key taken out of its message.

The base URL is the tenant's to type, so without a test transport the client comes from
``core.outbound.client``: it connects only to public addresses (unless
``INVEKTO_ALLOW_PRIVATE_URLS``), follows no redirects and reads no proxy from the environment.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from pydantic import ValidationError

from invekto.ai.providers.base import ChatTurn, ErrorKind, ProviderError
from invekto.core import outbound

# A provider's own words about a failure are kept this long in our message (an HTML error page
# from a proxy is not worth more).
_MAX_DETAIL = 300
# What a chat that opens with the business's message (a campaign, a greeting) starts with, for
# APIs and chat templates that want the first turn to be the user's.
OPENING_TURN = "(conversation start)"


class HttpCaller:
    """One pooled ``httpx.AsyncClient`` per adapter, made on first use (a new one if the event
    loop changed: connections belong to the loop that opened them). ``transport`` points it at a
    simulator in-process; otherwise the client is ``core.outbound``'s checked one.

    ``timeout`` bounds the whole call (connecting, sending, the model thinking, reading), not
    each step of it: an answer that trickles in byte by byte is still a timeout."""

    provider_name = "the provider"  # in error messages

    def __init__(self, *, timeout: float, transport: httpx.AsyncBaseTransport | None,
                 secret: str | None) -> None:
        self._timeout = timeout
        self._transport = transport
        self._secret = secret or None
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._loop is not loop:
            if self._transport is not None:
                self._client = httpx.AsyncClient(transport=self._transport,
                                                 timeout=self._timeout, follow_redirects=False)
            else:
                self._client = outbound.client(timeout=self._timeout)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def redact(self, text: str) -> str:
        """``text`` without the key (a provider may quote it back in an error)."""
        if self._secret and self._secret in text:
            text = text.replace(self._secret, "***")
        return text

    def error(self, kind: ErrorKind, message: str) -> ProviderError:
        return ProviderError(kind, self.redact(message))

    async def post_json(self, url: str, body: dict[str, Any],
                        headers: dict[str, str]) -> dict[str, Any]:
        """POST ``body`` as JSON; the answer's JSON object when the provider said 2xx. Anything
        else raises ProviderError: the request's failures by ``_transport_kind``, an HTTP error
        by ``_status_kind`` (with the provider's error type and message), an answer that is not
        a JSON object as "malformed"."""
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._http().post(url, json=body, headers=headers)
        except TimeoutError as exc:  # our deadline for the whole call
            raise self.error("timeout", f"{self.provider_name} did not answer within "
                             f"{self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            kind = _transport_kind(exc)
            raise self.error(kind, f"{self.provider_name} could not be reached: "
                             f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise self.error(_status_kind(response.status_code), self._describe(response))
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self.error("malformed", f"{self.provider_name} answered HTTP "
                             f"{response.status_code} with a body that is not JSON") from exc
        if not isinstance(data, dict):
            raise self.error("malformed", f"{self.provider_name} answered JSON that is not an "
                             "object")
        return data

    def _describe(self, response: httpx.Response) -> str:
        """"HTTP 429 from api.example.com: rate_limit_error: ...", with the provider's error
        type, code and message when its body has them (Anthropic's and OpenAI's both keep them
        in ``error``), and how long it asks us to wait."""
        parts = [f"HTTP {response.status_code} from {response.url.host}"]
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):  # OpenAI's "code" is the precise one ("invalid_api_key")
            # The key out before cutting, so no part of it survives at the cut.
            words = dict.fromkeys(self.redact(str(error[key]))[:_MAX_DETAIL]
                                  for key in ("type", "code", "message") if error.get(key))
            parts += list(words)
        elif isinstance(error, str):  # some OpenAI-compatible servers (Ollama) answer this way
            parts.append(self.redact(error)[:_MAX_DETAIL])
        if response.is_redirect:
            parts.append("redirected elsewhere; give the final address")
        retry_after = response.headers.get("retry-after")
        if retry_after:
            parts.append(f"retry after {retry_after[:20]} s")
        return ": ".join(parts)


def _transport_kind(exc: httpx.HTTPError) -> ErrorKind:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, outbound.RefusedAddress | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "refused"  # the configured address: trying again will not help
    return "unavailable"  # refused or dropped connection, unknown host...


def _status_kind(status: int) -> ErrorKind:
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status >= 500:  # 500 api_error, 502/503 a proxy, Anthropic's 529 overloaded_error
        return "unavailable"
    return "refused"  # 400, 404 (unknown model, wrong base URL), 413, a redirect


def conversation(turns: list[ChatTurn]) -> list[dict[str, str]]:
    """``turns`` as the alternating user/assistant messages chat APIs expect: empty ones left
    out, a run of one side's turns joined into one message (Anthropic's documented behaviour,
    done here so every API and local chat template sees the same thing), and a placeholder user
    turn first when the business spoke first. ProviderError("refused") when nothing is left."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        content = turn.content.strip()
        if not content:
            continue
        if messages and messages[-1]["role"] == turn.role:
            messages[-1]["content"] += "\n\n" + content
        else:
            messages.append({"role": turn.role, "content": content})
    if not messages:
        raise ProviderError("refused", "nothing to send: the conversation has no text")
    if messages[0]["role"] != "user":
        messages.insert(0, {"role": "user", "content": OPENING_TURN})
    return messages


def token_count(usage: Any, key: str) -> int:
    """A token count from a provider's ``usage`` object: 0 when it is missing or not a count
    (Ollama leaves usage out at times)."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def schema_problem(exc: ValidationError) -> str:
    """The first of pydantic's complaints, by field path (not the value: it could be long, and
    it is the model's text, not ours)."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "the object"
    return f"{where}: {error.get('msg', 'invalid')}"

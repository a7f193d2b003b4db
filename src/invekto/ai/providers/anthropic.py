"""Anthropic (Claude) through the Messages API, over plain HTTP (decisions/0012: no SDK).

``POST {base_url}/v1/messages`` with ``x-api-key``, ``anthropic-version: 2023-06-01`` and a JSON
body ``{model, max_tokens, system, messages: [{role, content}]}``; the system prompt is a
top-level field (the API has no "system" role), and messages alternate user/assistant
(``http.conversation``). The answer is a message whose ``content`` is a list of blocks —
``{"type": "text", "text"}`` and ``{"type": "tool_use", "id", "name", "input"}`` — with
``stop_reason`` and ``usage: {input_tokens, output_tokens}``.

Structured answers (``generate_json``) use tool use: one tool, ``answer``, whose
``input_schema`` is the pydantic model's JSON Schema, forced with
``tool_choice: {"type": "tool", "name": "answer"}``; the model then answers with a single
``tool_use`` block (no text before it) whose ``input`` is the object, validated here by pydantic.

Errors are ``{"type": "error", "error": {"type", "message"}}``: 400 invalid_request_error,
401 authentication_error, 403 permission_error, 404 not_found_error, 413 request_too_large,
429 rate_limit_error (with ``retry-after``), 500 api_error, 529 overloaded_error. They map to
``ProviderError`` kinds in ``http._status_kind``; the key never reaches a message.

Sources: Anthropic's "HTTP errors" page (docs.claude.com/en/api/errors, the codes and error
shape above) and "How to implement tool use" (docs.anthropic.com/.../tool-use/
implement-tool-use: ``tools`` with name/description/input_schema, ``tool_choice`` auto/any/tool/
none, a forced tool prefilling the answer so no text block comes first). The stand-in used in
tests is ``invekto.ai.simulator.anthropic``.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from invekto.ai.providers.base import ChatTurn, Generation, Model, Usage
from invekto.ai.providers.http import HttpCaller, conversation, schema_problem, token_count

API_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
TOOL_NAME = "answer"
_TOOL_DESCRIPTION = ("Give your answer through this tool, as an object matching its input "
                     "schema exactly.")


class AnthropicGenerator(HttpCaller):
    name = "anthropic"
    provider_name = "Anthropic"

    def __init__(self, *, api_key: str, model: str, base_url: str = API_BASE_URL,
                 timeout: float = 20.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(timeout=timeout, transport=transport, secret=api_key)
        self.model = model
        self._api_key = api_key
        self._url = base_url.rstrip("/") + "/v1/messages"

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"AnthropicGenerator(model={self.model!r}, url={self._url!r})"

    async def generate(self, *, system: str, turns: list[ChatTurn],
                       max_tokens: int = 512) -> Generation:
        message = await self._create(self._body(system, turns, max_tokens))
        texts = [block.get("text") for block in _blocks(message, "text")]
        text = "".join(t for t in texts if isinstance(t, str)).strip()
        if not text:
            raise self.error("malformed", "Anthropic answered without text "
                             f"(stop_reason {message.get('stop_reason')!r})")
        return Generation(text=text, usage=_usage(message),
                          model=str(message.get("model") or self.model))

    async def generate_json(self, *, system: str, turns: list[ChatTurn], schema: type[Model],
                            max_tokens: int = 1024) -> tuple[Model, Usage]:
        body = self._body(system, turns, max_tokens)
        body["tools"] = [{"name": TOOL_NAME, "description": _TOOL_DESCRIPTION,
                          "input_schema": schema.model_json_schema()}]
        body["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        message = await self._create(body)
        calls = [b for b in _blocks(message, "tool_use") if b.get("name") == TOOL_NAME]
        if not calls or not isinstance(calls[0].get("input"), dict):
            raise self.error("malformed", "Anthropic answered without calling the answer tool "
                             f"(stop_reason {message.get('stop_reason')!r})")
        try:
            answer = schema.model_validate(calls[0]["input"])
        except ValidationError as exc:
            raise self.error("malformed", f"Anthropic's answer does not match "
                             f"{schema.__name__}: {schema_problem(exc)}") from exc
        return answer, _usage(message)

    def _body(self, system: str, turns: list[ChatTurn], max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens,
                                "messages": conversation(turns)}
        if system.strip():  # an empty system prompt is left out rather than sent empty
            body["system"] = system
        return body

    async def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        message = await self.post_json(self._url, body, {
            "x-api-key": self._api_key, "anthropic-version": API_VERSION,
            "content-type": "application/json"})
        if message.get("stop_reason") == "refusal":  # the model declined to answer
            raise self.error("refused", "Anthropic's model refused to answer")
        if not isinstance(message.get("content"), list):
            raise self.error("malformed", "Anthropic's answer has no content list")
        return message


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block for block in message["content"]
            if isinstance(block, dict) and block.get("type") == kind]


def _usage(message: dict[str, Any]) -> Usage:
    usage = message.get("usage")
    return Usage(input_tokens=token_count(usage, "input_tokens"),
                 output_tokens=token_count(usage, "output_tokens"))

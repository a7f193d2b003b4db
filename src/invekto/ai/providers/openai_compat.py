"""Any OpenAI-compatible endpoint — OpenAI itself, Ollama, vLLM, llama.cpp's server, hosted
gateways — through the chat completions and embeddings APIs, over plain HTTP (decisions/0012).

``base_url`` includes the version path, as these servers document it:
``https://api.openai.com/v1``, Ollama's ``http://localhost:11434/v1``. ``Authorization: Bearer``
is sent only when a key is set (a local server usually has none).

Chat: ``POST {base_url}/chat/completions`` ``{model, max_tokens, messages}`` with the system
prompt as a leading ``{"role": "system"}`` message; the answer is
``choices[0].message.content`` and ``usage.prompt_tokens/completion_tokens`` (0 when missing:
Ollama leaves usage out at times). ``max_tokens`` rather than OpenAI's newer
``max_completion_tokens``: it is the one every compatible server reads.

Structured answers: ``response_format: {"type": "json_schema", "json_schema": {name, schema,
strict}}``; the content is then the JSON text (some local servers wrap it in a ```json fence,
taken off here), validated by pydantic. OpenAI's strict mode accepts a subset of JSON Schema
only — every object closed (``additionalProperties: false``, added here) and every property
required — and refuses a request whose schema is outside it, so ``strict`` is true only when
the model's schema fits (``_strict_schema``); otherwise the schema still guides the model and
pydantic still checks the answer. A model's refusal (``message.refusal``) is "refused".

Embeddings: ``POST {base_url}/embeddings`` ``{model, input: [...]}``; the answer's ``data`` is a
list of ``{index, embedding}``, put back in input order by ``index``, checked against the
configured dimension and scaled to unit length.

Errors are ``{"error": {"message", "type", "code"}}`` (Ollama: ``{"error": "..."}``), mapped to
``ProviderError`` kinds by status in ``http._status_kind``; the key never reaches a message.

Sources: OpenAI's API reference for chat completions / structured outputs (``response_format``
``json_schema``: name a-z A-Z 0-9 _ - up to 64 characters, ``strict``) and embeddings
(``data[].embedding``, ``data[].index``), and Ollama's "OpenAI compatibility" page
(docs.ollama.com/api/openai-compatibility: ``/v1/chat/completions`` with ``response_format``,
``/v1/embeddings``, no key needed). The stand-in used in tests is
``invekto.ai.simulator.openai``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

import httpx
from pydantic import ValidationError

from invekto.ai.providers.base import ChatTurn, EmbeddingKind, Generation, Model, Usage
from invekto.ai.providers.http import HttpCaller, conversation, schema_problem, token_count

# Inputs per embeddings request: OpenAI takes up to 2,048; local servers are happier with less.
EMBED_BATCH = 128
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_SCHEMA_NAME = re.compile(r"[^A-Za-z0-9_-]")
# JSON Schema keywords OpenAI's strict mode does not take (its structured-outputs guide lists
# them as unsupported); pydantic writes them for defaults and Field(...) constraints.
_NOT_STRICT = frozenset({
    "default", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    "uniqueItems", "minProperties", "maxProperties", "patternProperties"})


class _OpenAICompat(HttpCaller):
    provider_name = "the OpenAI-compatible endpoint"

    def __init__(self, *, base_url: str, model: str, api_key: str | None, timeout: float,
                 transport: httpx.AsyncBaseTransport | None) -> None:
        super().__init__(timeout=timeout, transport=transport, secret=api_key)
        self.model = model
        self._base = base_url.rstrip("/")
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"{type(self).__name__}(model={self.model!r}, base_url={self._base!r})"


class OpenAICompatGenerator(_OpenAICompat):
    name = "openai"

    def __init__(self, *, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 20.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url=base_url, model=model, api_key=api_key, timeout=timeout,
                         transport=transport)

    async def generate(self, *, system: str, turns: list[ChatTurn],
                       max_tokens: int = 512) -> Generation:
        answer = await self._complete(self._body(system, turns, max_tokens))
        text = _content(answer).strip()
        if not text:
            raise self.error("malformed", "the model answered with no text")
        return Generation(text=text, usage=_usage(answer),
                          model=str(answer.get("model") or self.model))

    async def generate_json(self, *, system: str, turns: list[ChatTurn], schema: type[Model],
                            max_tokens: int = 1024) -> tuple[Model, Usage]:
        body = self._body(system, turns, max_tokens)
        json_schema, strict = _strict_schema(schema.model_json_schema())
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": _schema_name(schema), "schema": json_schema, "strict": strict}}
        answer = await self._complete(body)
        text = _content(answer)
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.error("malformed", "the model's answer is not JSON "
                             f"({exc.msg} at character {exc.pos})") from exc
        try:
            result = schema.model_validate(data)
        except ValidationError as exc:
            raise self.error("malformed", f"the model's answer does not match "
                             f"{schema.__name__}: {schema_problem(exc)}") from exc
        return result, _usage(answer)

    def _body(self, system: str, turns: list[ChatTurn], max_tokens: int) -> dict[str, Any]:
        messages = conversation(turns)
        if system.strip():
            messages.insert(0, {"role": "system", "content": system})
        return {"model": self.model, "max_tokens": max_tokens, "messages": messages}

    async def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.post_json(f"{self._base}/chat/completions", body, self._headers)
        choices = answer.get("choices")
        message = choices[0].get("message") if (
            isinstance(choices, list) and choices and isinstance(choices[0], dict)) else None
        if not isinstance(message, dict):
            raise self.error("malformed", "the answer has no choices[0].message")
        if message.get("refusal"):
            raise self.error("refused", "the model refused to answer")
        if not isinstance(message.get("content"), str):
            raise self.error("malformed", "the model answered without text content")
        return answer


class OpenAICompatEmbedder(_OpenAICompat):
    def __init__(self, *, base_url: str, model: str, dim: int, api_key: str | None = None,
                 timeout: float = 20.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url=base_url, model=model, api_key=api_key, timeout=timeout,
                         transport=transport)
        self.dim = dim
        # Names the vector space (like the builtin embedder's model name): vectors stored under
        # one name are comparable only with vectors of the same name.
        self.name = f"openai:{model}"

    async def embed(self, texts: list[str], *, kind: EmbeddingKind) -> list[list[float]]:
        """``kind`` is not sent: the OpenAI API has no such field (a model that wants
        "query: " prefixes, as E5 does, gets them from the texts)."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            vectors += await self._embed_batch(texts[start:start + EMBED_BATCH])
        return vectors

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        # An empty string is an error for OpenAI's endpoint; a space embeds as "nothing".
        answer = await self.post_json(f"{self._base}/embeddings", {
            "model": self.model, "input": [text or " " for text in texts]}, self._headers)
        data = answer.get("data")
        if not isinstance(data, list) or len(data) != len(texts):
            raise self.error("malformed", f"expected {len(texts)} embeddings, the answer has "
                             f"{len(data) if isinstance(data, list) else 'none'}")
        by_index: dict[int, Any] = {}
        for item in data:
            index = item.get("index") if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < len(texts) or index in by_index:
                raise self.error("malformed", "an embedding's index is missing, repeated or "
                                 "out of range")
            by_index[index] = item.get("embedding")
        return [self._unit(by_index[i]) for i in range(len(texts))]

    def _unit(self, vector: Any) -> list[float]:
        if not isinstance(vector, list) or len(vector) != self.dim:
            size = len(vector) if isinstance(vector, list) else "no"
            raise self.error("malformed", f"an embedding has {size} dimensions, the model is "
                             f"configured for {self.dim}")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
            raise self.error("malformed", "an embedding holds something other than numbers")
        norm = math.sqrt(math.fsum(float(x) * float(x) for x in vector))
        if not math.isfinite(norm) or norm == 0.0:
            raise self.error("malformed", "an embedding has no direction (zero or not finite)")
        return [float(x) / norm for x in vector]


def _content(answer: dict[str, Any]) -> str:
    return answer["choices"][0]["message"]["content"]


def _usage(answer: dict[str, Any]) -> Usage:
    usage = answer.get("usage")
    return Usage(input_tokens=token_count(usage, "prompt_tokens"),
                 output_tokens=token_count(usage, "completion_tokens"))


def _schema_name(schema: type) -> str:
    """The model's class name as a response format name (a-z, A-Z, 0-9, _ and -, ≤ 64)."""
    return _SCHEMA_NAME.sub("_", schema.__name__)[:64] or "answer"


def _strict_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``schema`` with every object closed (``additionalProperties: false``), and whether it
    fits OpenAI's strict mode: every property of every object required, no keyword strict mode
    refuses."""
    schema = copy.deepcopy(schema)
    strict = True

    def visit(node: Any) -> None:
        nonlocal strict
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        if node.get("type") == "object" or "properties" in node:
            # A dict field's values are open by nature ({"additionalProperties": {schema}}).
            if node.setdefault("additionalProperties", False) is not False:
                strict = False
            if set(node.get("required", ())) != set(node.get("properties", {})):
                strict = False
        if _NOT_STRICT & node.keys():
            strict = False
        for key, value in node.items():
            # Under "properties" the keys are field names, not keywords (a field may be called
            # "format"); their values are schemas either way.
            if key == "properties" and isinstance(value, dict):
                for sub in value.values():
                    visit(sub)
            elif key not in ("enum", "const", "required"):
                visit(value)

    visit(schema)
    return schema, strict

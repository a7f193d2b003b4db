"""An OpenAI-compatible API simulator — ``POST /v1/chat/completions`` and ``POST /v1/embeddings``
— kept in memory, standing in for OpenAI, Ollama, vLLM or llama.cpp's server.

With an ``api_key``, requests must carry ``Authorization: Bearer <key>`` (else 401, OpenAI's
``invalid_api_key``, the key given quoted masked as OpenAI does); without one (a local server)
any or no key is accepted. Bodies are checked as OpenAI would: chat needs ``model`` and a
non-empty ``messages`` list of known roles, ``max_tokens`` ≥ 1 when given, and a
``response_format`` of type text, json_object or json_schema (a name matching
``^[a-zA-Z0-9_-]{1,64}$``, a ``schema`` object and, when ``strict``, a schema strict mode takes:
every object with ``additionalProperties: false`` and all its properties required); embeddings
need ``model`` and ``input``, a string or a non-empty list of strings (else 400). Every request
is recorded in ``requests``.

Answers come from the scripts, ``chat_replies`` and ``embedding_replies``
(``invekto.ai.simulator.script.Script``): ``text("...")``, ``data({...})`` (sent as the JSON
content), ``vectors([[...], ...])``, ``raw(...)`` (a malformed body, or JSON such as embeddings
out of order), ``error(429, retry_after=3)`` / ``500``..., ``delay(2)`` — or, when none is queued,
the defaults: for a json_schema request an object made up from its schema, else
``echo: <last user message>``; for embeddings, a deterministic vector of ``dim`` numbers from a
hash of each text (not unit length: the caller normalises). ``report_usage=False`` leaves
``usage`` out, as Ollama does at times.

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))`` (no timeouts
there: use a real server for those). As a server: ``tests.processes.serving(simulator)``, or
``python -m invekto.ai.simulator.openai --port 8032``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import struct
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from invekto.ai.simulator.script import (
    RecordedCall,
    Reply,
    Script,
    count_tokens,
    raw_response,
    record,
    retry_headers,
    sample,
    wait,
)

API_KEY = "sk-proj-simulatorKeyForTestsOnly0123456789abcdef"
DIM = 8
ROLES = ("system", "developer", "user", "assistant", "tool")
_CODES = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
          403: ("invalid_request_error", "unsupported_country_region_territory"),
          404: ("invalid_request_error", "model_not_found"),
          429: ("requests", "rate_limit_exceeded"), 500: ("server_error", None),
          503: ("server_error", None)}
_MESSAGES = {401: "Incorrect API key provided.", 403: "Country, region, or territory not "
             "supported", 404: "The model does not exist or you do not have access to it.",
             429: "Rate limit reached for requests", 500: "The server had an error while "
             "processing your request. Sorry about that!", 503: "The engine is currently "
             "overloaded, please try again later"}
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def error_body(message: str, error_type: str, code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _error(status: int, message: str | None = None, error_type: str | None = None,
           headers: dict[str, str] | None = None, param: str | None = None) -> JSONResponse:
    kind, code = _CODES.get(status, ("server_error" if status >= 500
                                     else "invalid_request_error", None))
    return JSONResponse(error_body(message or _MESSAGES.get(status, "Invalid request"),
                                   error_type or kind, code, param),
                        status_code=status, headers=headers)


def hash_vector(text: str, dim: int) -> list[float]:
    """A deterministic vector for ``text``, numbers in [-1, 1) from SHA-256 of it."""
    numbers: list[float] = []
    block = 0
    while len(numbers) < dim:
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        numbers += [n / 2**31 for n in struct.unpack(">8i", digest)]
        block += 1
    return numbers[:dim]


class OpenAISimulator:
    """An ASGI app speaking OpenAI's chat completions and embeddings."""

    def __init__(self, api_key: str | None = API_KEY, *, dim: int = DIM,
                 report_usage: bool = True) -> None:
        self.api_key = api_key
        self.dim = dim
        self.report_usage = report_usage
        self.chat_replies = Script()
        self.embedding_replies = Script()
        self.requests: list[RecordedCall] = []
        self._app = Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def reset(self) -> None:
        self.chat_replies.clear()
        self.embedding_replies.clear()
        self.requests.clear()

    @property
    def last_body(self) -> dict[str, Any]:
        return self.requests[-1].body

    def _unauthorised(self, call: RecordedCall) -> Response | None:
        if self.api_key is None:
            return None
        given = call.headers.get("authorization", "")
        if not given:
            return _error(401, "You didn't provide an API key. You need to provide your API "
                          "key in an Authorization header using Bearer auth (i.e. "
                          "Authorization: Bearer YOUR_KEY).", param=None)
        token = given.removeprefix("Bearer ").strip()
        if not secrets.compare_digest(token.encode(), self.api_key.encode()):
            masked = token[:3] + "*" * max(0, len(token) - 7) + token[-4:]
            return _error(401, f"Incorrect API key provided: {masked}. You can find your API "
                          "key at https://platform.openai.com/account/api-keys.")
        return None

    async def _start(self, request: Request) -> tuple[RecordedCall, Response | None]:
        call = await record(request, self.requests)
        refused = self._unauthorised(call)
        if refused is None and not isinstance(call.body, dict):
            refused = _error(400, "We could not parse the JSON body of your request.")
        return call, refused

    async def _answer(self, script: Script) -> tuple[Reply | None, Response | None]:
        reply = script.next()
        await wait(reply)
        if reply is not None and reply.raw is not None:
            return reply, raw_response(reply)
        if reply is not None and reply.is_error:
            return reply, _error(reply.status, reply.message, reply.error_type,
                                 retry_headers(reply))
        return reply, None

    async def _chat(self, request: Request) -> Response:
        call, refused = await self._start(request)
        if refused is not None:
            return refused
        body = call.body
        problem = _invalid_chat(body)
        if problem:
            return _error(400, problem[1], param=problem[0])
        reply, answered = await self._answer(self.chat_replies)
        if answered is not None:
            return answered
        messages = body["messages"]
        last_user = next((str(m.get("content")) for m in reversed(messages)
                          if m.get("role") == "user"), "")
        response_format = body.get("response_format") or {}
        if reply is not None and reply.text is not None:
            content = reply.text
        elif reply is not None and reply.data is not None:
            content = json.dumps(reply.data, ensure_ascii=False)
        elif response_format.get("type") == "json_schema":
            content = json.dumps(sample(response_format["json_schema"]["schema"], last_user),
                                 ensure_ascii=False)
        elif response_format.get("type") == "json_object":
            content = json.dumps({"answer": last_user}, ensure_ascii=False)
        else:
            content = f"echo: {last_user}"
        answer: dict[str, Any] = {
            "id": "chatcmpl-sim" + secrets.token_hex(12), "object": "chat.completion",
            "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}]}
        if self.report_usage:
            prompt, completion = (reply.usage if reply is not None and reply.usage else (
                count_tokens(*(m.get("content") for m in messages)), count_tokens(content)))
            answer["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                               "total_tokens": prompt + completion}
        return JSONResponse(answer)

    async def _embeddings(self, request: Request) -> Response:
        call, refused = await self._start(request)
        if refused is not None:
            return refused
        body = call.body
        problem = _invalid_embeddings(body)
        if problem:
            return _error(400, problem[1], param=problem[0])
        reply, answered = await self._answer(self.embedding_replies)
        if answered is not None:
            return answered
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        vectors = (reply.vectors if reply is not None and reply.vectors is not None
                   else [hash_vector(text, self.dim) for text in texts])
        answer: dict[str, Any] = {
            "object": "list", "model": body["model"],
            "data": [{"object": "embedding", "index": i, "embedding": vector}
                     for i, vector in enumerate(vectors)]}
        if self.report_usage:
            tokens = count_tokens(*texts)
            answer["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse(answer)


def _invalid_chat(body: dict[str, Any]) -> tuple[str, str] | None:
    """(param, message) of what OpenAI would refuse in a chat completions ``body``."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model", "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages", "[] is too short - 'messages'"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"messages.[{i}].role", f"Invalid value for 'messages[{i}].role'"
        if not isinstance(message.get("content"), str | list):
            return f"messages.[{i}].content", f"Invalid type for 'messages[{i}].content'"
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return "max_tokens", "max_tokens must be an integer ≥ 1"
    response_format = body.get("response_format")
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        return "response_format.type", "Invalid value: expected 'text', 'json_object' or "\
            "'json_schema'"
    if kind != "json_schema":
        return None
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not _NAME.match(str(spec.get("name", ""))):
        return "response_format.json_schema.name", "Invalid 'response_format.json_schema."\
            "name': string does not match pattern '^[a-zA-Z0-9_-]{1,64}$'"
    if not isinstance(spec.get("schema"), dict):
        return "response_format.json_schema.schema", "schema must be a JSON Schema object"
    if spec.get("strict"):
        problem = _not_strict(spec["schema"])
        if problem:
            return "response_format", (f"Invalid schema for response_format "
                                       f"'{spec['name']}': {problem}")
    return None


def _not_strict(node: Any) -> str | None:
    """Why OpenAI's strict mode would refuse this schema (the two rules it states first)."""
    if isinstance(node, list):
        return next((p for p in map(_not_strict, node) if p), None)
    if not isinstance(node, dict):
        return None
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties") is not False:
            return ("'additionalProperties' is required to be supplied and to be false")
        missing = set(node.get("properties", {})) - set(node.get("required", ()))
        if missing:
            return (f"'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{sorted(missing)[0]}'")
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            problem = _not_strict(list(value.values()))
        elif key not in ("enum", "const", "required", "default"):
            problem = _not_strict(value)
        else:
            problem = None
        if problem:
            return problem
    return None


def _invalid_embeddings(body: dict[str, Any]) -> tuple[str, str] | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model", "you must provide a model parameter"
    given = body.get("input")
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or not all(
            isinstance(t, str) and t for t in texts):
        return "input", "'$.input' is invalid: a string or a non-empty list of non-empty strings"
    return None


def create_simulator(api_key: str | None = API_KEY, **options: Any) -> OpenAISimulator:
    return OpenAISimulator(api_key, **options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="OpenAI-compatible API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8032)
    parser.add_argument("--api-key", default=None, help="required Bearer key (none: any)")
    parser.add_argument("--dim", type=int, default=DIM)
    args = parser.parse_args()
    uvicorn.run(create_simulator(args.api_key, dim=args.dim), host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

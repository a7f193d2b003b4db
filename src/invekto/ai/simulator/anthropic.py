"""An Anthropic Messages API simulator (``POST /v1/messages``), kept in memory.

Checks what the real API checks first: the ``x-api-key`` (else 401 authentication_error), the
``anthropic-version`` header and the body's shape — ``model``, ``max_tokens`` ≥ 1, ``system`` a
string, ``messages`` non-empty with roles alternating from ``user`` and no empty content,
``tools`` named ``^[a-zA-Z0-9_-]{1,64}$`` with an object ``input_schema``, ``tool_choice`` naming
one of them (else 400 invalid_request_error). Every request is recorded in ``requests``.

Then answers with the next scripted reply (``replies``, an ``invekto.ai.simulator.script.Script``):
``replies.text("...")``, ``replies.data({...})`` (a ``tool_use`` block's input),
``replies.raw(b"...")`` (a malformed body), ``replies.error(429, retry_after=3)`` / ``500`` /
``529`` (Anthropic's error shape, types by status), ``replies.delay(2)`` (the default answer,
late) — or, with none queued, the default: when a tool is forced, a ``tool_use`` whose input
is made up from its schema; otherwise the text ``echo: <last user message>``.

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))`` (no timeouts
there: use a real server for those). As a server: ``tests.processes.serving(simulator)``, or
``python -m invekto.ai.simulator.anthropic --port 8031``.
"""

from __future__ import annotations

import json
import re
import secrets
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

API_KEY = "sk-ant-api03-simulator-key-for-tests-only-0123456789"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
_MESSAGES = {"authentication_error": "invalid x-api-key",
             "permission_error": "Your API key does not have permission to use the specified "
                                 "resource.",
             "not_found_error": "The requested resource could not be found.",
             "rate_limit_error": "Number of request tokens has exceeded your per-minute rate "
                                 "limit",
             "api_error": "Internal server error",
             "overloaded_error": "Overloaded"}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message},
            "request_id": "req_sim" + secrets.token_hex(10)}


def _error(status: int, message: str | None = None, error_type: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    kind = error_type or ERROR_TYPES.get(status, "api_error" if status >= 500
                                         else "invalid_request_error")
    return JSONResponse(error_body(kind, message or _MESSAGES.get(kind, "Invalid request")),
                        status_code=status, headers=headers)


class AnthropicSimulator:
    """An ASGI app speaking the Messages API for one key."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.replies = Script()
        self.requests: list[RecordedCall] = []
        self._app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def reset(self) -> None:
        self.replies.clear()
        self.requests.clear()

    @property
    def last_body(self) -> dict[str, Any]:
        return self.requests[-1].body

    async def _messages(self, request: Request) -> Response:
        call = await record(request, self.requests)
        if not secrets.compare_digest(call.headers.get("x-api-key", "").encode(),
                                      self.api_key.encode()):
            return _error(401)
        if not call.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        body = call.body
        if not isinstance(body, dict):
            return _error(400, "There was an issue with the format of your request: the body "
                          "is not a JSON object")
        problem = _invalid(body)
        if problem:
            return _error(400, problem)
        reply = self.replies.next()
        await wait(reply)
        if reply is not None and reply.raw is not None:
            return raw_response(reply)
        if reply is not None and reply.is_error:
            return _error(reply.status, reply.message, reply.error_type, retry_headers(reply))
        return JSONResponse(_message(body, reply))


def _invalid(body: dict[str, Any]) -> str | None:
    """What the Messages API would refuse in ``body`` (the parts our adapter sends)."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Field required (an integer ≥ 1)"
    if "system" in body and not isinstance(body["system"], str | list):
        return "system: Input should be a valid string"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            return ("messages: roles must alternate between \"user\" and \"assistant\", "
                    "starting with \"user\"")
        content = message.get("content")
        if isinstance(content, str):
            if not content.strip():
                return f"messages.{i}: all messages must have non-empty content"
        elif not isinstance(content, list) or not content:
            return f"messages.{i}.content: Input should be a valid string or list"
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not _TOOL_NAME.match(str(tool.get("name", ""))):
                return f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                return f"tools.{i}.input_schema: type must be 'object'"
            names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool",
                                                                       "none"):
            return "tool_choice: Input tag does not match 'auto', 'any', 'tool' or 'none'"
        if choice["type"] in ("any", "tool") and not names:
            return "tool_choice: a tool is required when tools are forced"
        if choice["type"] == "tool" and choice.get("name") not in names:
            return f"tool_choice: tool '{choice.get('name')}' not found in tools"
    return None


def _message(body: dict[str, Any], reply: Reply | None) -> dict[str, Any]:
    """A Messages API answer: the scripted text or tool input, else the default answer."""
    last_user = next((m["content"] for m in reversed(body["messages"])
                      if m["role"] == "user"), "")
    if isinstance(last_user, list):
        last_user = " ".join(str(b.get("text", "")) for b in last_user if isinstance(b, dict))
    forced = body.get("tool_choice") or {}
    tool = None
    if forced.get("type") in ("tool", "any"):
        tool = next(t for t in body["tools"]
                    if forced["type"] == "any" or t["name"] == forced.get("name"))
    content: list[dict[str, Any]]
    if reply is not None and reply.text is not None:
        content = [{"type": "text", "text": reply.text}]
    elif reply is not None and reply.data is not None:
        content = [_tool_use(tool["name"] if tool else "answer", reply.data)]
    elif tool is not None:
        content = [_tool_use(tool["name"], sample(tool["input_schema"], last_user))]
    else:
        content = [{"type": "text", "text": f"echo: {last_user}"}]
    output = " ".join(block.get("text") or json.dumps(block.get("input"))
                      for block in content)
    input_tokens, output_tokens = (reply.usage if reply is not None and reply.usage else (
        count_tokens(body.get("system"), *(m["content"] for m in body["messages"])),
        count_tokens(output)))
    return {"id": "msg_sim" + secrets.token_hex(12), "type": "message", "role": "assistant",
            "model": body["model"], "content": content,
            "stop_reason": "tool_use" if content[0]["type"] == "tool_use" else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}


def _tool_use(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_sim" + secrets.token_hex(12), "name": name,
            "input": data}


def create_simulator(api_key: str = API_KEY) -> AnthropicSimulator:
    return AnthropicSimulator(api_key)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Anthropic Messages API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8031)
    parser.add_argument("--api-key", default=API_KEY)
    args = parser.parse_args()
    uvicorn.run(create_simulator(args.api_key), host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

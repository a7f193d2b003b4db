"""What the LLM simulators share: a queue of scripted answers, the requests they received, and a
made-up object for a JSON Schema (the default answer when no script says otherwise)."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


@dataclass
class Reply:
    """One scripted answer. After ``delay`` seconds, the first that applies: ``raw`` (a body
    sent as is, with ``status``), an error (``status`` ≥ 400, in the provider's error shape,
    ``retry-after`` when given), ``text``, ``data`` (a structured answer: Anthropic's
    ``tool_use`` input, an OpenAI-compatible JSON content), ``vectors`` (embeddings) — or, when
    none is set, the simulator's default answer."""

    text: str | None = None
    data: dict[str, Any] | None = None
    vectors: list[list[float]] | None = None
    raw: bytes | None = None
    status: int = 200
    content_type: str = "application/json"
    error_type: str | None = None
    message: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    usage: tuple[int, int] | None = None  # (input tokens, output tokens) to report

    @property
    def is_error(self) -> bool:
        return self.raw is None and self.status >= 400


class Script:
    """Scripted answers, used one per request in order; when empty, requests get the default
    answer."""

    def __init__(self) -> None:
        self._queue: deque[Reply] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, reply: Reply) -> None:
        self._queue.append(reply)

    def text(self, text: str, *, delay: float = 0.0,
             usage: tuple[int, int] | None = None) -> None:
        self.add(Reply(text=text, delay=delay, usage=usage))

    def data(self, data: dict[str, Any], *, delay: float = 0.0,
             usage: tuple[int, int] | None = None) -> None:
        self.add(Reply(data=data, delay=delay, usage=usage))

    def vectors(self, vectors: list[list[float]], *, delay: float = 0.0) -> None:
        self.add(Reply(vectors=vectors, delay=delay))

    def raw(self, body: bytes | str | dict[str, Any] | list[Any], *, status: int = 200,
            content_type: str = "application/json", delay: float = 0.0) -> None:
        """A body sent as is: bytes or text (a malformed one), or JSON of a dict or list."""
        if isinstance(body, dict | list):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.add(Reply(raw=body, status=status, content_type=content_type, delay=delay))

    def error(self, status: int, *, error_type: str | None = None, message: str | None = None,
              retry_after: int | None = None, delay: float = 0.0) -> None:
        self.add(Reply(status=status, error_type=error_type, message=message,
                       retry_after=retry_after, delay=delay))

    def delay(self, seconds: float) -> None:
        """The next answer (the default one) only after ``seconds``: for timeouts."""
        self.add(Reply(delay=seconds))

    def next(self) -> Reply | None:
        return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        self._queue.clear()


@dataclass
class RecordedCall:
    """A request a simulator received, accepted or not."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any  # the JSON body parsed, or None when it did not parse
    raw: bytes = field(repr=False, default=b"")


async def record(request: Request, calls: list[RecordedCall]) -> RecordedCall:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    call = RecordedCall(request.method, request.url.path,
                        {k.lower(): v for k, v in request.headers.items()}, body, raw)
    calls.append(call)
    return call


async def wait(reply: Reply | None) -> None:
    if reply is not None and reply.delay > 0:
        await asyncio.sleep(reply.delay)


def raw_response(reply: Reply) -> Response:
    return Response(reply.raw, status_code=reply.status, media_type=reply.content_type)


def retry_headers(reply: Reply) -> dict[str, str]:
    return {"retry-after": str(reply.retry_after)} if reply.retry_after is not None else {}


def count_tokens(*texts: Any) -> int:
    """A rough token count (words) for ``usage``: enough for callers to see numbers move."""
    return sum(len(str(text).split()) for text in texts if text)


def sample(schema: dict[str, Any], text: str, *, root: dict[str, Any] | None = None) -> Any:
    """A value matching the JSON Schema ``schema`` (as pydantic writes them: ``$ref`` into
    ``$defs``, ``anyOf``, ``enum``): every property filled, strings with ``text``."""
    root = root if root is not None else schema
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return sample(root.get("$defs", {}).get(name, {}), text, root=root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for options in ("anyOf", "oneOf", "allOf"):
        if schema.get(options):
            choices = [s for s in schema[options] if s.get("type") != "null"] or schema[options]
            return sample(choices[0], text, root=root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {name: sample(sub, text, root=root)
                for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample(schema.get("items", {}), text, root=root)] * max(
            1, int(schema.get("minItems", 1)))
    if kind == "string":
        return text[:schema["maxLength"]] if "maxLength" in schema else text
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text

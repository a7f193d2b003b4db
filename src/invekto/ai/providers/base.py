"""The two interfaces every AI provider implements, and the errors they raise.

A ``Generator`` writes text (or JSON matching a pydantic model) from a system prompt and a chat;
an ``Embedder`` turns texts into unit vectors. Callers never see a provider's wire format, and
every failure — timeout, refused key, rate limit, unreadable answer — is one ``ProviderError``
with a ``kind``, so the service can fall back to the builtin provider in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel

ErrorKind = Literal["timeout", "unavailable", "auth", "rate_limited", "refused", "malformed"]
Role = Literal["user", "assistant"]
Model = TypeVar("Model", bound=BaseModel)


class ProviderError(Exception):
    """A provider call that gave nothing usable. ``kind``: timeout (no answer in time),
    unavailable (connection refused, 5xx), auth (key refused), rate_limited (429),
    refused (4xx for our request), malformed (an answer we cannot read, or JSON not matching
    the schema). The message never carries the key."""

    def __init__(self, kind: ErrorKind, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Generation:
    text: str
    usage: Usage
    model: str


class Generator(Protocol):
    name: str  # "anthropic", "openai"

    async def generate(self, *, system: str, turns: list[ChatTurn],
                       max_tokens: int = 512) -> Generation:
        """Free text. Raises ``ProviderError``."""
        ...

    async def generate_json(self, *, system: str, turns: list[ChatTurn], schema: type[Model],
                            max_tokens: int = 1024) -> tuple[Model, Usage]:
        """An answer forced into ``schema`` (the provider's structured-output mechanism), then
        validated by pydantic: anything else is ``ProviderError("malformed")``."""
        ...

    async def aclose(self) -> None: ...


EmbeddingKind = Literal["query", "passage"]


class Embedder(Protocol):
    name: str
    dim: int

    async def embed(self, texts: list[str], *, kind: EmbeddingKind) -> list[list[float]]:
        """Unit-length vectors, one per text. ``kind``: a question being searched with
        ("query") or a text being searched in ("passage"); models trained that way (E5)
        prefix them differently, others ignore it. Raises ``ProviderError``."""
        ...

    async def aclose(self) -> None: ...

"""A company's AI settings, its LLM (when it turned one on), and the usage counted against its
monthly limit.

Every LLM call goes through ``call_llm``: it returns None — and the caller answers with the
builtin provider — when no LLM is configured, the month's token limit is reached, or the
provider fails (timeout, refused key, rate limit, unreadable answer). Each call, failure and
fallback is counted in ``ai_usage`` for the month. The call is made with no database
transaction open (a model may think for seconds); the caller reads what it needs first into an
``LLMSettings`` snapshot."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai.models import (
    DEFAULT_ANSWER_THRESHOLD,
    DEFAULT_TAG_THRESHOLD,
    AISettings,
    AIUsage,
)
from invekto.ai.providers.anthropic import AnthropicGenerator
from invekto.ai.providers.base import Generator, ProviderError, Usage
from invekto.ai.providers.openai_compat import OpenAICompatGenerator
from invekto.ai.schemas import AISettingsIn
from invekto.audit import service as audit
from invekto.channels.models import Channel
from invekto.core import outbound
from invekto.core.actor import Actor, Permission
from invekto.core.crypto import secret_box
from invekto.core.errors import NotFound, ValidationFailed

log = structlog.get_logger(__name__)
Result = TypeVar("Result")

# Generators kept per company and settings version: their HTTP clients pool connections.
_GENERATORS_KEPT = 64


def _defaults(tenant_id: uuid.UUID) -> AISettings:
    """The settings of a company that never saved any (not added to a session)."""
    return AISettings(tenant_id=tenant_id, provider="builtin", request_timeout_seconds=20,
                      suggestions_enabled=True, answer_threshold=DEFAULT_ANSWER_THRESHOLD,
                      tagging_mode="suggest", tag_threshold=DEFAULT_TAG_THRESHOLD,
                      auto_answer_channel_ids=[])


async def get_settings(session: AsyncSession, tenant_id: uuid.UUID) -> AISettings:
    found = await session.scalar(select(AISettings).where(AISettings.tenant_id == tenant_id))
    return found or _defaults(tenant_id)


async def save_settings(session: AsyncSession, actor: Actor, data: AISettingsIn) -> AISettings:
    """Admins'. An LLM provider needs its model (and an OpenAI-compatible one its address,
    Anthropic a key); the address must be public (``core.outbound``)."""
    actor.require(Permission.MANAGE_SETTINGS)
    current = await session.scalar(select(AISettings).where(
        AISettings.tenant_id == actor.tenant_id))
    key_stored = bool(current and current.credentials_encrypted)
    model = (data.model or "").strip() or None
    base_url = (data.base_url or "").strip().rstrip("/") or None
    if data.provider != "builtin" and not model:
        raise ValidationFailed("name the model", field="model")
    if data.provider == "openai" and not base_url:
        raise ValidationFailed("give the endpoint's address", field="base_url")
    if base_url:
        if not base_url.startswith(("https://", "http://")):
            raise ValidationFailed("the address must start with https:// or http://",
                                   field="base_url")
        outbound.check_url(base_url, field="base_url")
    new_key = (data.api_key or "").strip()
    keeps_key = key_stored and not data.clear_api_key
    if data.provider == "anthropic" and not (new_key or keeps_key):
        raise ValidationFailed("give the API key", field="api_key")
    await _check_channels(session, actor, data.auto_answer_channel_ids)
    if current is None:
        current = AISettings(tenant_id=actor.tenant_id)
        session.add(current)
    current.provider = data.provider
    current.model = model
    current.base_url = base_url
    if new_key:
        current.credentials_encrypted = secret_box().encrypt_json({"api_key": new_key})
    elif data.clear_api_key:
        current.credentials_encrypted = None
    current.request_timeout_seconds = data.request_timeout_seconds
    current.monthly_token_limit = data.monthly_token_limit
    current.suggestions_enabled = data.suggestions_enabled
    current.answer_threshold = data.answer_threshold
    current.tagging_mode = data.tagging_mode
    current.tag_threshold = data.tag_threshold
    current.auto_answer_channel_ids = list(dict.fromkeys(data.auto_answer_channel_ids))
    await session.flush()
    await session.refresh(current)
    await audit.record(session, actor, "ai.settings_saved", target_type="ai_settings",
                       target_id=current.id, data={
                           **data.model_dump(mode="json", exclude={"api_key", "clear_api_key"}),
                           "api_key_changed": bool(new_key) or data.clear_api_key})
    return current


async def _check_channels(session: AsyncSession, actor: Actor,
                          channel_ids: list[uuid.UUID]) -> None:
    if not channel_ids:
        return
    found = set(await session.scalars(select(Channel.id).where(
        Channel.tenant_id == actor.tenant_id, Channel.id.in_(channel_ids))))
    if missing := [str(channel) for channel in channel_ids if channel not in found]:
        raise NotFound("channel not found", field="auto_answer_channel_ids",
                       params={"ids": ", ".join(missing)})


def has_api_key(settings: AISettings) -> bool:
    return bool(settings.credentials_encrypted)


# -- usage ----------------------------------------------------------------------------------


def this_month() -> date:
    return datetime.now(UTC).date().replace(day=1)


async def usage(session: AsyncSession, actor: Actor, *, months: int = 12) -> list[AIUsage]:
    """The company's monthly counts, newest first. Admins'."""
    actor.require(Permission.MANAGE_SETTINGS)
    return list(await session.scalars(select(AIUsage).where(
        AIUsage.tenant_id == actor.tenant_id).order_by(AIUsage.month.desc(), AIUsage.provider)
        .limit(months * 3)))


async def tokens_this_month(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    return await session.scalar(select(func.coalesce(func.sum(
        AIUsage.input_tokens + AIUsage.output_tokens), 0)).where(
        AIUsage.tenant_id == tenant_id, AIUsage.month == this_month())) or 0


async def record_usage(session: AsyncSession, tenant_id: uuid.UUID, provider: str, *,
                       used: Usage | None = None, attempted: bool = True, failed: bool = False,
                       fell_back: bool = False) -> None:
    """Add one call to the month's counts (an upsert: concurrent calls all count).
    ``attempted``: the provider was called (not when the limit was already reached)."""
    used = used or Usage()
    counts = {"requests": int(attempted), "input_tokens": used.input_tokens,
              "output_tokens": used.output_tokens, "failures": int(failed),
              "fallbacks": int(fell_back)}
    statement = pg_insert(AIUsage).values(tenant_id=tenant_id, month=this_month(),
                                          provider=provider, **counts)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "month", "provider"],
        set_={name: getattr(AIUsage, name) + value for name, value in counts.items()}))


# -- calling the LLM ---------------------------------------------------------------------


@dataclass(frozen=True)
class LLMSettings:
    """What a call needs, read in a transaction and used after it ended."""

    tenant_id: uuid.UUID
    provider: str
    model: str | None
    base_url: str | None
    api_key: str | None
    timeout: float
    version: datetime | None  # the settings' updated_at: a changed setting, a new client
    over_limit: bool

    @property
    def enabled(self) -> bool:
        return self.provider != "builtin"


async def llm_settings(session: AsyncSession, tenant_id: uuid.UUID) -> LLMSettings:
    settings = await get_settings(session, tenant_id)
    over = (settings.provider != "builtin" and settings.monthly_token_limit is not None
            and await tokens_this_month(session, tenant_id) >= settings.monthly_token_limit)
    key = (secret_box().decrypt_json(settings.credentials_encrypted)["api_key"]
           if settings.credentials_encrypted else None)
    return LLMSettings(tenant_id, settings.provider, settings.model, settings.base_url, key,
                       float(settings.request_timeout_seconds), settings.updated_at, over)


_generators: OrderedDict[tuple, Generator] = OrderedDict()


def generator(settings: LLMSettings) -> Generator:
    """The company's generator, reused while its settings stay the same."""
    key = (settings.tenant_id, settings.version, settings.provider)
    if key in _generators:
        _generators.move_to_end(key)
        return _generators[key]
    made: Generator
    if settings.provider == "anthropic":
        made = AnthropicGenerator(api_key=settings.api_key or "", model=settings.model or "",
                                  timeout=settings.timeout,
                                  **({"base_url": settings.base_url} if settings.base_url
                                     else {}))
    else:
        made = OpenAICompatGenerator(base_url=settings.base_url or "",
                                     model=settings.model or "", api_key=settings.api_key,
                                     timeout=settings.timeout)
    _generators[key] = made
    while len(_generators) > _GENERATORS_KEPT:
        _generators.popitem(last=False)  # its connections close with the client
    return made


async def call_llm(db, settings: LLMSettings,
                   call: Callable[[Generator], Awaitable[tuple[Result, Usage]]]
                   ) -> Result | None:
    """``call`` the company's LLM, counting it; None when the builtin provider must answer
    instead (no LLM, limit reached, or the call failed: logged with its kind, never the
    key). ``db``: the runtime's database, for the usage counts' own short transaction."""
    if not settings.enabled:
        return None
    result, used, failed = None, None, False
    if not settings.over_limit:
        try:
            result, used = await call(generator(settings))
        except ProviderError as error:
            failed = True
            log.warning("ai.provider_failed", provider=settings.provider, kind=error.kind,
                        tenant_id=str(settings.tenant_id), error=str(error))
    async with db.tenant_session(settings.tenant_id) as session:
        await record_usage(session, settings.tenant_id, settings.provider, used=used,
                           attempted=not settings.over_limit, failed=failed,
                           fell_back=result is None)
    return result

"""The integration adapters this deployment offers, by kind. Each provider module adds its
adapter to ``_ADAPTERS`` below; nothing else needs to know the list."""

from __future__ import annotations

from invekto.integrations.base import Capability, IntegrationAdapter

_ADAPTERS: dict[str, IntegrationAdapter] = {}


def register(adapter: IntegrationAdapter) -> IntegrationAdapter:
    _ADAPTERS[adapter.kind] = adapter
    return adapter


def adapter_for(kind: str) -> IntegrationAdapter | None:
    _load()
    return _ADAPTERS.get(kind)


def all_adapters() -> list[IntegrationAdapter]:
    _load()
    return list(_ADAPTERS.values())


def kinds_with(capability: Capability) -> list[str]:
    return [a.kind for a in all_adapters() if capability in a.capabilities]


_loaded = False


def _load() -> None:
    """Import the provider modules (each registers itself) on first use, so that importing the
    framework does not import every provider, and the providers may import the framework."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for module in PROVIDER_MODULES:
        importlib.import_module(module)


# One line per provider, in the order the settings page lists them.
PROVIDER_MODULES: tuple[str, ...] = (
    "invekto.integrations.shopify.adapter",
    "invekto.integrations.trendyol.adapter",
    "invekto.integrations.hepsiburada.adapter",
    "invekto.integrations.iyzico.adapter",
    "invekto.integrations.paytr.adapter",
    "invekto.integrations.zoho.adapter",
)

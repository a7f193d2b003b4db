"""The framework's test shops, registered for a test and removed after it."""

from __future__ import annotations

import pytest

from invekto.integrations import orders, registry
from tests.integrations.teststore import OtherStoreAdapter, TestStoreAdapter


@pytest.fixture
def test_shops():
    registry.all_adapters()  # the real providers first, as in the app
    added = [registry.register(TestStoreAdapter()), registry.register(OtherStoreAdapter())]
    orders._cache.clear()
    yield added
    for adapter in added:
        registry._ADAPTERS.pop(adapter.kind, None)
    orders._cache.clear()

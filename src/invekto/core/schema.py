"""Helpers shared by the request schemas."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def not_null(value: T | None) -> T:
    """For partial updates (``PATCH``): a field left out keeps its value, but an explicit ``null``
    for a column that cannot hold one is a 422 on that field, not a database error (a 500)."""
    if value is None:
        raise ValueError("must not be null; leave the field out to keep its value")
    return value

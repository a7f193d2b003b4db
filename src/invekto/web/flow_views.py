"""Pages of the flow screens."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

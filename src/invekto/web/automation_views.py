"""Pages of the automation screens."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

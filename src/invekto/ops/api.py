"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from invekto import runtime
from invekto.db import migrate

router = APIRouter(tags=["operations"], include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz() -> JSONResponse:
    db = runtime.current().db
    try:
        async with db.engine.connect() as connection:
            current = await connection.run_sync(migrate.current_revision)
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "database": str(exc)[:200]},
                            status_code=503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse({"status": "unavailable", "migrations": {"current": current,
                                                                     "head": head}},
                            status_code=503)
    return JSONResponse({"status": "ready", "migrations": {"current": current}})


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

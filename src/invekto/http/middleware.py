"""Pure ASGI middleware (no per-request task switching): request id, access log, metrics."""

from __future__ import annotations

import time
import uuid

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("invekto.http")

REQUESTS = Counter("invekto_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("invekto_http_request_duration_seconds", "HTTP request latency",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
_QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}


def _route_template(scope: Scope) -> str:
    """``/api/v1/users/{user_id}`` for a matched request (bounded metric labels), else
    'unmatched'. Rebuilt from the path because nested routers only know their own suffix."""
    if "route" not in scope:
        return "unmatched"
    path = scope["path"]
    for name, value in (scope.get("path_params") or {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_code = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = _route_template(scope)
            REQUESTS.labels(scope["method"], template, str(status_code)).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            if scope["path"] not in _QUIET_PATHS:
                log.info("request", method=scope["method"], path=scope["path"],
                         status=status_code, duration_ms=round(elapsed * 1000, 1))

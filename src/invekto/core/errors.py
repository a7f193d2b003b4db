"""The application's error type. Services raise these; the HTTP layer turns them into JSON
``{"error": {"code", "message", "field"}}`` with the status below, never a 500."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None,
                 params: dict[str, Any] | None = None):
        # ``message`` is English and the UI's translation key; values that vary go in
        # ``params`` as %(name)s placeholders, so the sentence itself stays translatable.
        self.template = message
        self.params = params or {}
        message = message % self.params if params else message
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details
        self.headers = headers
        if code:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return {"error": body}


class NotFound(AppError):
    """Also what another tenant's id gets: its existence is not ours to reveal."""

    status_code = 404
    code = "not_found"


class Unauthenticated(AppError):
    status_code = 401
    code = "unauthenticated"


class PermissionDenied(AppError):
    status_code = 403
    code = "forbidden"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_failed"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class UpstreamUnavailable(AppError):
    """A provider we had to ask could not answer (unreachable, refused our credentials)."""

    status_code = 502
    code = "provider_unavailable"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"

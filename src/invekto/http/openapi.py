"""The OpenAPI document as the API behaves. FastAPI declares its own 422 body (``{"detail":
[...]}``) and nothing for the other refusals; ours all answer ``{"error": {"code", "message",
"field"?, "details"?}}`` (http/errors.py), with 401, 403, 404, 409, 422 or 429. Checked by
tests/security/test_openapi_fuzz.py (schemathesis)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}
SCHEMAS: dict[str, dict[str, Any]] = {
    "ErrorDetail": {"type": "object", "required": ["message"], "properties": {
        "field": _NULLABLE_STRING, "message": {"type": "string"}}},
    "ErrorBody": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "Stable, for programs: not_found, "
                                                  "validation_failed, csrf_failed..."},
        "message": {"type": "string", "description": "For people"},
        "field": {**_NULLABLE_STRING, "description": "The value at fault, when one is"},
        "details": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorDetail"}}}},
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"$ref": "#/components/schemas/ErrorBody"}}},
}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
RESPONSES = {
    "422": {"description": "Invalid: `field` names the value at fault", "content": _ERROR_CONTENT},
    "4XX": {"description": "Refused: 401 without valid credentials, 403 not allowed (or a "
                           "browser session without its CSRF token), 404 not found (another "
                           "company's ids too), 409 in conflict with the current state, 429 "
                           "too many attempts", "content": _ERROR_CONTENT},
}
# FastAPI's own, replaced by the above.
_UNUSED = ("HTTPValidationError", "ValidationError")


def declare_errors(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _UNUSED:
        schemas.pop(name, None)
    schemas.update(SCHEMAS)
    for item in document.get("paths", {}).values():
        for operation in item.values():
            operation.setdefault("responses", {}).update(RESPONSES)


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_errors(generate())  # FastAPI keeps the document it made: amended in place
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

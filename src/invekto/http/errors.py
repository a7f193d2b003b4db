"""One JSON error shape for every failure: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from invekto.core import i18n
from invekto.core.errors import AppError, Unauthenticated

log = structlog.get_logger(__name__)


def _field_of(location: tuple) -> str | None:
    # Only the leading element says where the value was; a field may itself be named "body".
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


def _from_browser_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/webhooks/", "/ws"))


def _from_chat_widget(request: Request) -> bool:
    """The website chat widget: shown to people (translated), but never sent to our login."""
    return request.url.path.startswith("/widget/")


def _ui_language(request: Request) -> str:
    actor = getattr(request.state, "actor", None)
    if actor is not None:
        return actor.language
    return i18n.pick_language(explicit=None, cookie=request.cookies.get("lang"),
                              accept_language=request.headers.get("accept-language"))


async def _app_error(request: Request, exc: AppError) -> Response:
    if _from_browser_page(request):
        if isinstance(exc, Unauthenticated) and not _from_chat_widget(request):
            # A page asked for without a session goes to the login form; an HTMX request is told
            # to send the whole tab there.
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": "/login"})
            return RedirectResponse("/login", status_code=303)
        # The UI shows ``message`` to the user: in their language (service messages are the
        # catalogue's source strings).
        body = exc.to_dict()
        language = _ui_language(request)
        # Parameters marked with N_ ("contact", "image"...) are catalogue entries too; anything
        # else (a name someone typed) is not in the catalogue and stays as it is.
        params = {key: i18n.text(language, value) if isinstance(value, str) else value
                  for key, value in exc.params.items()}
        body["error"]["message"] = i18n.text(language, exc.template, **params)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [{"field": _field_of(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    first = details[0] if details else {"field": None, "message": "invalid request"}
    body = {"code": "validation_failed", "message": first["message"], "field": first["field"],
            "details": details}
    return JSONResponse({"error": body}, status_code=422)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated",
             403: "forbidden", 413: "payload_too_large"}
    return JSONResponse(
        {"error": {"code": codes.get(exc.status_code, "http_error"), "message": str(exc.detail)}},
        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _data_error(_request: Request, exc: DataError) -> JSONResponse:
    # SQLSTATE class 22 (and psycopg's own check for NUL characters): a value the request carried
    # that PostgreSQL cannot store, such as "\u0000" in a text or a number out of range. The
    # request's transaction has already been rolled back by the time this runs.
    log.warning("request.data_error", error=str(getattr(exc, "orig", exc))[:200])
    return JSONResponse({"error": {"code": "validation_failed",
                                   "message": "a value in the request cannot be stored (for "
                                              "example a NUL character or a number out of range)"}},
                        status_code=422)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("request.unhandled_error", error_type=type(exc).__name__)
    return JSONResponse({"error": {"code": "internal_error",
                                   "message": "something went wrong on our side"}},
                        status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

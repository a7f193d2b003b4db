"""Zoho CRM's REST API (v8) as one company's connection reaches it.

OAuth: Zoho gives no long-lived API key. The company makes a "self client" in Zoho's API
console and generates a refresh token once; we trade it for an access token (one hour) at
``{accounts}/oauth/v2/token`` (``grant_type=refresh_token``), keep that token, its expiry and the
``api_domain`` Zoho answers with in ``conn.state`` (saved encrypted by the framework after the
call), renew it a minute before it expires, and once more when Zoho says ``INVALID_TOKEN``
(revoked, or the clock disagreed). Requests carry ``Authorization: Zoho-oauthtoken <token>``.

Zoho's token endpoint answers a refused client or refresh token with HTTP 200 and
``{"error": "invalid_client"}`` / ``{"error": "invalid_code"}``; the API answers errors as
``{"code": "...", "message": "...", "details": {...}, "status": "error"}``, or per record inside
``{"data": [...]}``. Each is mapped to the framework's ``IntegrationError`` family here.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from invekto.core import outbound
from invekto.integrations.base import (
    Connection,
    IntegrationAuthFailed,
    IntegrationError,
    IntegrationRateLimited,
    IntegrationRefused,
    IntegrationUnavailable,
)

API_VERSION = "v8"
TIMEOUT_SECONDS = 15.0
# A token this close to its expiry is renewed before use: a request must not start with a token
# that expires on the way.
RENEW_BEFORE_SECONDS = 60
# Zoho's data centres: the value a company chooses, and where its accounts server is. The API
# domain comes with each token (``api_domain``); the record URL's host is crm.zoho.<dc>.
DATA_CENTRES = {
    "com": "https://accounts.zoho.com",
    "eu": "https://accounts.zoho.eu",
    "in": "https://accounts.zoho.in",
    "com.au": "https://accounts.zoho.com.au",
    "jp": "https://accounts.zoho.jp",
    "ca": "https://accounts.zohocloud.ca",
    "sa": "https://accounts.zoho.sa",
    "com.cn": "https://accounts.zoho.com.cn",
}
CRM_HOSTS = {"ca": "https://crm.zohocloud.ca"}
# Answers that mean the refresh token or the client is not (or no longer) accepted.
_AUTH_ERRORS = {"invalid_client", "invalid_code", "invalid_client_secret", "unauthorized_client",
                "invalid_grant", "access_denied"}
# API codes that mean the credentials or their scope must be fixed, not retried.
_API_AUTH_CODES = {"INVALID_TOKEN", "AUTHENTICATION_FAILURE", "OAUTH_SCOPE_MISMATCH",
                   "NO_PERMISSION", "INVALID_OAUTHTOKEN"}


def accounts_url(conn: Connection) -> str:
    return (conn.setting("accounts_url") or DATA_CENTRES.get(
        conn.setting("data_centre", "com"), DATA_CENTRES["com"])).rstrip("/")


def api_url(conn: Connection) -> str:
    """Where the API is: the ``api_domain`` Zoho gave with the token, else the API address."""
    return str(conn.state.get("api_domain") or conn.base_url).rstrip("/")


def crm_url(conn: Connection) -> str:
    centre = conn.setting("data_centre", "com")
    return CRM_HOSTS.get(centre, f"https://crm.zoho.{centre}")


async def access_token(conn: Connection, http: httpx.AsyncClient, *, renew: bool = False) -> str:
    token = conn.state.get("access_token")
    if token and not renew and float(conn.state.get("expires_at", 0)) - RENEW_BEFORE_SECONDS \
            > time.time():
        return str(token)
    try:
        response = await http.post(f"{accounts_url(conn)}/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": conn.setting("client_id"),
            "client_secret": conn.secret("client_secret"),
            "refresh_token": conn.secret("refresh_token")})
    except httpx.HTTPError as exc:
        raise IntegrationUnavailable(f"Zoho accounts did not answer: {type(exc).__name__}") \
            from exc
    body = _json(response)
    if response.status_code == 429:
        raise IntegrationRateLimited("Zoho accounts: too many token requests",
                                     retry_after=_retry_after(response))
    if response.status_code >= 500:
        raise IntegrationUnavailable(f"Zoho accounts answered HTTP {response.status_code}",
                                     status=response.status_code)
    error = str(body.get("error") or "")
    if error:
        description = str(body.get("error_description") or "")
        if "too many requests" in description.lower():
            # Zoho limits how often a refresh token may be used (about ten a ten minutes).
            raise IntegrationRateLimited(f"Zoho accounts: {description}", status=400, code=error)
        if error in _AUTH_ERRORS or response.status_code in (400, 401):
            raise IntegrationAuthFailed(
                f"Zoho refused the client id, client secret or refresh token ({error})",
                status=response.status_code, code=error)
        raise IntegrationRefused(f"Zoho accounts: {error}", status=response.status_code,
                                 code=error)
    if not body.get("access_token"):
        raise IntegrationUnavailable("Zoho accounts answered without a token",
                                     status=response.status_code)
    conn.state["access_token"] = body["access_token"]
    conn.state["expires_at"] = time.time() + float(body.get("expires_in") or 3600)
    if body.get("api_domain"):
        conn.state["api_domain"] = str(body["api_domain"]).rstrip("/")
    return str(body["access_token"])


async def request(conn: Connection, method: str, path: str, *,
                  params: dict[str, Any] | None = None, json: Any = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
    """One API call (``path`` after ``/crm/v8``), renewing the token once on INVALID_TOKEN.
    Raises the mapped IntegrationError for a failure; 2xx and 304 are returned."""
    async with outbound.client(timeout=TIMEOUT_SECONDS) as http:
        for attempt in range(2):
            token = await access_token(conn, http, renew=attempt > 0)
            try:
                response = await http.request(
                    method, f"{api_url(conn)}/crm/{API_VERSION}{path}", params=params,
                    json=json, headers={**(headers or {}),
                                        "Authorization": f"Zoho-oauthtoken {token}"})
            except httpx.HTTPError as exc:
                raise IntegrationUnavailable(
                    f"Zoho CRM did not answer: {type(exc).__name__}") from exc
            if response.status_code == 401 and attempt == 0 and \
                    _json(response).get("code") == "INVALID_TOKEN":
                continue
            break
    if response.is_success or response.status_code == 304:
        return response
    raise error_of(response)


def error_of(response: httpx.Response) -> IntegrationError:
    body = _json(response)
    code = str(body.get("code") or "")
    if isinstance(body.get("data"), list) and body["data"]:
        record = body["data"][0]
        if isinstance(record, dict) and record.get("status") == "error":
            return record_error(record, status=response.status_code)
    message = str(body.get("message") or f"HTTP {response.status_code}")
    if response.status_code == 429 or code == "TOO_MANY_REQUESTS":
        return IntegrationRateLimited(f"Zoho CRM: {message}", retry_after=_retry_after(response),
                                      code=code or None)
    if response.status_code >= 500:
        return IntegrationUnavailable(f"Zoho CRM: {message}", status=response.status_code,
                                      code=code or None)
    if response.status_code in (401, 403) or code in _API_AUTH_CODES:
        return IntegrationAuthFailed(f"Zoho CRM: {message} ({code})", status=response.status_code,
                                     code=code or None)
    return ZohoRefused(message, body.get("details"), status=response.status_code,
                       code=code or None)


def record_error(record: dict[str, Any], *, status: int | None = None) -> IntegrationError:
    """One record's error inside ``data``: a refused value names its Zoho field."""
    code = str(record.get("code") or "")
    message = str(record.get("message") or code or "refused")
    if code in _API_AUTH_CODES:
        return IntegrationAuthFailed(f"Zoho CRM: {message} ({code})", status=status, code=code)
    return ZohoRefused(message, record.get("details"), status=status, code=code or None)


class ZohoRefused(IntegrationRefused):
    """Zoho refused a value or a parameter; ``field`` is its API name when Zoho said."""

    def __init__(self, message: str, details: Any, *, status: int | None, code: str | None):
        self.field = str(details.get("api_name") or details.get("param_name") or "") \
            if isinstance(details, dict) else ""
        super().__init__(f"Zoho CRM: {message} ({self.field})" if self.field
                         else f"Zoho CRM: {message}", status=status, code=code)


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None

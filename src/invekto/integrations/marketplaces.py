"""What the Turkish marketplace adapters (Trendyol, Hepsiburada) share: Basic-auth GET requests
with their mandatory User-Agent, their HTTP answers as ``IntegrationError``s, a per-seller
request budget kept in this process, and amounts as decimals.

Both marketplaces answer with plain HTTP status codes (no error envelope worth more than its
message), count requests per seller, and refuse a request without the User-Agent they expect
with 403 before they look at the credentials: so 403 is reported as a settings problem.
"""

from __future__ import annotations

import base64
import time
from collections import deque
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from invekto.core import outbound
from invekto.integrations.base import (
    IntegrationAuthFailed,
    IntegrationError,
    IntegrationRateLimited,
    IntegrationRefused,
    IntegrationUnavailable,
)

REQUEST_SECONDS = 6.0  # orders.LOOKUP_SECONDS is 8: one slow page must not eat it all


class RequestBudget:
    """At most ``limit`` requests per ``window`` seconds for each key (a seller), counted in this
    process: a company's look-ups stay under the marketplace's documented rate instead of
    running into its 429s. Over budget, a request is not made: the caller gets
    IntegrationRateLimited with the seconds until a slot frees."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._sent: dict[str, deque[float]] = {}

    def take(self, key: str, label: str) -> None:
        now = time.monotonic()
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        if len(sent) >= self.limit:
            wait = max(sent[0] + self.window - now, 0.0)
            raise IntegrationRateLimited(
                f"{label}: too many requests from this company; try again in "
                f"{max(round(wait), 1)} s", retry_after=wait, status=None, code="local_budget")
        sent.append(now)


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


async def get_json(url: str, *, params: dict[str, Any], headers: dict[str, str], label: str,
                   not_found_is_none: bool = False) -> tuple[Any, httpx.Headers] | None:
    """GET ``url``; the decoded JSON body and the answer's headers. Errors as IntegrationError;
    404 is None when ``not_found_is_none`` (an order that is not there), else refused."""
    try:
        async with outbound.client(timeout=REQUEST_SECONDS) as http:
            response = await http.get(url, params=params, headers=headers)
    except outbound.RefusedAddress as exc:
        raise IntegrationRefused(f"{label}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise IntegrationUnavailable(f"{label} did not answer: {type(exc).__name__}") from exc
    if response.status_code == 404 and not_found_is_none:
        return None
    if response.status_code >= 400:
        raise error_for(response, label)
    try:
        return response.json(), response.headers
    except ValueError as exc:
        raise IntegrationUnavailable(f"{label} answered something that is not JSON",
                                     status=response.status_code) from exc


def error_for(response: httpx.Response, label: str) -> IntegrationError:
    status = response.status_code
    detail, code = _error_detail(response)
    if status == 401:
        return IntegrationAuthFailed(
            f"{label} refused the credentials (401{': ' + detail if detail else ''}); "
            "check them in the settings", status=status, code=code)
    if status == 403:
        return IntegrationAuthFailed(
            f"{label} refused the request (403): the User-Agent name or the seller/merchant id "
            "is not the one registered with it; check the settings", status=status, code=code)
    if status == 429:
        return IntegrationRateLimited(f"{label}: rate limit reached",
                                      retry_after=retry_after(response.headers), code=code)
    if status >= 500:
        return IntegrationUnavailable(f"{label} is not available ({status})", status=status,
                                      code=code)
    return IntegrationRefused(f"{label} refused the request ({status}"
                              f"{': ' + detail if detail else ''})", status=status, code=code)


def _error_detail(response: httpx.Response) -> tuple[str, str | None]:
    """A readable line from an error body: Trendyol's ``{"exception", "errors": [{"key",
    "message"}]}``, a ``message``/``title`` field, or the plain text (cut short)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200], None
    if not isinstance(body, dict):
        return str(body)[:200], None
    code = body.get("exception") or body.get("code") or body.get("error")
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        message = first.get("message") or first.get("key") or ""
    else:
        message = body.get("message") or body.get("title") or body.get("error") or ""
    return str(message or code or "")[:200], str(code) if code else None


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait: ``Retry-After`` (seconds or an HTTP date), else Hepsiburada's
    ``X-RateLimit-Reset`` (seconds until the window renews; an epoch time is also read)."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                pass
    value = headers.get("x-ratelimit-reset")
    if value:
        try:
            seconds = float(value)
        except ValueError:
            return None
        return max(seconds - time.time(), 0.0) if seconds > 1e9 else max(seconds, 0.0)
    return None


# How far along an order is. An order in several packages (or lines) is as far as its least
# advanced live one: "shipped" only when nothing is still being prepared.
_PROGRESS = ("pending", "paid", "preparing", "shipped", "delivered")


def merged_state(states: list[str]) -> str:
    """One state for an order from its packages' states (each one of base.ORDER_STATES):
    cancelled only when all are; a parcel that could not be delivered is what the customer
    needs to hear first; else the least advanced; all returned or refunded is that."""
    live = [s for s in states if s != "cancelled"]
    if not live:
        return "cancelled"
    if "undelivered" in live:
        return "undelivered"
    moving = [s for s in live if s in _PROGRESS]
    if not moving:
        return live[0]
    return min(moving, key=_PROGRESS.index)


def decimal(value: Any) -> Decimal | None:
    """A JSON amount (a float, a string, an int) as the decimal it was written as."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def tracking_number(value: Any) -> str | None:
    """A tracking number as text: Trendyol sends it as a JSON number (7330001234567); 0 or
    empty means none yet."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else value
    shown = str(value).strip()
    return None if shown in ("", "0") else shown

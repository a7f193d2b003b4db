"""An İYS simulator: the calls Invekto makes (``iys.py`` lists them), for one service provider
and brand, kept in memory.

* ``POST /oauth2/token``: the password grant (``username``, ``password``) or the refresh grant
  (``refresh_token``, or ``refreshToken`` as one integration writes it) gives an access and a
  refresh token; wrong ones answer 401.
* ``POST /sps/{iysCode}/brands/{brandCode}/consents``: checks the bearer token, the codes and
  each documented field (recipient ``+905XXXXXXXXX`` or an e-mail address for EPOSTA, type,
  source, status, ``consentDate`` in ``YYYY-MM-DD HH:MM:SS`` not in the future nor older than
  three working days, recipientType), refuses a first record that is a RET (H175), keeps it
  and answers ``transactionId`` and ``creationDate``.
* ``POST /sps/{iysCode}/brands/{brandCode}/consents/status``: the recipient's latest consent, or
  404.
* ``GET /sps/{iysCode}/brands/{brandCode}/consents/changes?source=IYS&after&limit``: the changes
  customers made at İYS itself (``customer_changes``), after the cursor, oldest first.

Errors are ``{"errors": [{"code", "message"}]}``. The codes H124 (rate limit), H175 (first RET)
and H351 (bad token) are İYS's, as public clients quote them; the others (H100 a missing or bad
field, H101 wrong user name or password, H102 unknown brand, H174 no such consent) are this
simulator's own.

Test controls: ``customer_changes`` records a change made at İYS (a customer's RET through İYS's
site), ``fail_next`` makes the next calls to an endpoint fail (an İYS error or a bare HTTP
status), ``expire_tokens`` ends every token given so far.

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))``. As a server:
``python -m invekto.consent.simulator --port 8040``.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from invekto.consent.iys import DATE_FORMAT, SOURCES, TURKEY, parse_date

IYS_CODE = "612345"
BRAND_CODE = "612346"
USERNAME = "entegrasyon@ornekklinik.com.tr"
PASSWORD = "simulator-iys-password-0001"
ENDPOINTS = ("token", "consents", "status", "changes")
_PHONE = re.compile(r"\+90[0-9]{10}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
WORKING_DAYS_BACK = 3


def iys_error(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


def _now_text() -> str:
    return datetime.now(UTC).astimezone(TURKEY).strftime(DATE_FORMAT)


def _oldest_allowed(now: datetime) -> datetime:
    """Three working days (Monday to Friday) back from ``now``, in Türkiye, from midnight."""
    day = now.astimezone(TURKEY).date()
    left = WORKING_DAYS_BACK
    while left:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day, datetime.min.time(), TURKEY)


@dataclass
class Failure:
    status: int
    body: dict[str, Any] | None  # None: a bare error page


@dataclass
class SimulatorState:
    # (recipient, type, recipientType) -> every consent recorded, oldest first.
    consents: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    added: list[dict[str, Any]] = field(default_factory=list)  # the bodies the brand sent
    changes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (cursor, consent)
    tokens: dict[str, datetime] = field(default_factory=dict)  # access token -> expiry
    refresh_tokens: set[str] = field(default_factory=set)
    logins: int = 0
    refreshes: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    failures: dict[str, deque[Failure]] = field(
        default_factory=lambda: {name: deque() for name in ENDPOINTS})


class IysSimulator:
    """An ASGI app speaking İYS's API for one service provider (``iys_code``) and brand."""

    def __init__(self, *, iys_code: str = IYS_CODE, brand_code: str = BRAND_CODE,
                 username: str = USERNAME, password: str = PASSWORD,
                 token_seconds: int = 7200) -> None:
        self.iys_code, self.brand_code = iys_code, brand_code
        self.username, self.password = username, password
        self.token_seconds = token_seconds
        self.state = SimulatorState()
        self._transactions = itertools.count(1)
        self._cursors = itertools.count(1_597_740_617)
        base = "/sps/{iys_code}/brands/{brand_code}/consents"
        self._app = Starlette(routes=[
            Route("/oauth2/token", self._token, methods=["POST"]),
            Route(base, self._add, methods=["POST"]),
            Route(base + "/status", self._status, methods=["POST"]),
            Route(base + "/changes", self._changes, methods=["GET"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- controls ------------------------------------------------------------------------------

    def customer_changes(self, recipient: str, *, type_: str = "MESAJ", status: str = "RET",
                         recipient_type: str = "BIREYSEL", source: str = "IYS_WEB",
                         at: datetime | None = None) -> dict[str, Any]:
        """A change the customer made at İYS itself (its site, app or call centre): kept as the
        recipient's consent and listed by ``changes``. Returns it as listed."""
        consent = {"recipient": recipient, "type": type_, "status": status, "source": source,
                   "consentDate": (at or datetime.now(UTC)).astimezone(TURKEY).strftime(
                       DATE_FORMAT),
                   "recipientType": recipient_type, "creationDate": _now_text(),
                   "transactionId": self._transaction_id()}
        self.state.consents.setdefault((recipient, type_, recipient_type), []).append(consent)
        cursor = f"{next(self._cursors)}_{secrets.token_hex(16)}"
        self.state.changes.append((cursor, consent))
        return consent

    def current(self, recipient: str, type_: str = "MESAJ", recipient_type: str = "BIREYSEL"
                ) -> dict[str, Any] | None:
        """The recipient's latest consent of that kind, as İYS holds it."""
        found = self.state.consents.get((recipient, type_, recipient_type))
        return found[-1] if found else None

    def fail_next(self, count: int = 1, *, endpoint: str = "consents", status: int = 500,
                  code: str | None = "H103", message: str = "Sunucuda bir hata oluştu.") -> None:
        """The next ``count`` calls to ``endpoint`` (token, consents, status, changes) answer
        ``status`` with İYS's error ``code``, or (``code=None``) a bare error page."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"no endpoint {endpoint!r}")
        for _ in range(count):
            body = iys_error(code, message) if code is not None else None
            self.state.failures[endpoint].append(Failure(status, body))

    def expire_tokens(self) -> None:
        self.state.tokens = {token: datetime.min.replace(tzinfo=UTC)
                             for token in self.state.tokens}

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- İYS's side ----------------------------------------------------------------------------

    def _transaction_id(self) -> str:
        return f"{next(self._transactions):08d}{secrets.token_hex(28)}"

    def _injected(self, endpoint: str) -> Response | None:
        if self.state.failures[endpoint]:
            failure = self.state.failures[endpoint].popleft()
            if failure.body is None:
                return PlainTextResponse("Internal Server Error", status_code=failure.status)
            return JSONResponse(failure.body, status_code=failure.status)
        return None

    def _gate(self, request: Request, endpoint: str) -> Response | None:
        """Record the call; the answer instead of the endpoint's own, if any."""
        self.state.requests.append((request.method, request.url.path))
        if (injected := self._injected(endpoint)) is not None:
            return injected
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        expires = self.state.tokens.get(token)
        if expires is None or expires <= datetime.now(UTC):
            return JSONResponse(iys_error("H351", "Eksik veya geçersiz jeton!"), status_code=401)
        params = request.path_params
        if (params.get("iys_code"), params.get("brand_code")) != (self.iys_code,
                                                                  self.brand_code):
            return JSONResponse(iys_error("H102", "Marka bulunamadı."), status_code=404)
        return None

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return None

    def _issue(self) -> JSONResponse:
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        self.state.tokens[access] = datetime.now(UTC) + timedelta(seconds=self.token_seconds)
        self.state.refresh_tokens.add(refresh)
        return JSONResponse({"access_token": access, "refresh_token": refresh,
                             "expires_in": self.token_seconds,
                             "refresh_expires_in": self.token_seconds * 2,
                             "token_type": "bearer"})

    async def _token(self, request: Request) -> Response:
        self.state.requests.append((request.method, request.url.path))
        if (injected := self._injected("token")) is not None:
            return injected
        body = await self._json(request)
        if not isinstance(body, dict):
            return JSONResponse(iys_error("H100", "Geçersiz istek."), status_code=400)
        if body.get("grant_type") == "refresh_token":
            refresh = body.get("refresh_token") or body.get("refreshToken")
            if refresh not in self.state.refresh_tokens:
                return JSONResponse(iys_error("H351", "Eksik veya geçersiz jeton!"),
                                    status_code=401)
            self.state.refresh_tokens.discard(refresh)
            self.state.refreshes += 1
            return self._issue()
        if body.get("grant_type") != "password":
            return JSONResponse(iys_error("H100", "grant_type geçersiz."), status_code=400)
        if (body.get("username"), body.get("password")) != (self.username, self.password):
            return JSONResponse(iys_error("H101", "Kullanıcı adı veya şifre hatalı."),
                                status_code=401)
        self.state.logins += 1
        return self._issue()

    @staticmethod
    def _field_error(name: str) -> JSONResponse:
        return JSONResponse(iys_error("H100", f"{name} alanı eksik veya geçersiz."),
                            status_code=422)

    def _check(self, body: dict[str, Any]) -> JSONResponse | None:
        type_ = body.get("type")
        if type_ not in ("MESAJ", "ARAMA", "EPOSTA"):
            return self._field_error("type")
        recipient = str(body.get("recipient") or "")
        pattern = _EMAIL if type_ == "EPOSTA" else _PHONE
        if not pattern.fullmatch(recipient):
            return self._field_error("recipient")
        if body.get("recipientType") not in ("BIREYSEL", "TACIR"):
            return self._field_error("recipientType")
        if body.get("status") not in ("ONAY", "RET"):
            return self._field_error("status")
        if body.get("source") not in SOURCES:
            return self._field_error("source")
        when = parse_date(str(body.get("consentDate") or ""))
        now = datetime.now(UTC)
        if when is None or when > now + timedelta(minutes=1):
            return self._field_error("consentDate")
        if when < _oldest_allowed(now):
            return JSONResponse(iys_error(
                "H110", "İzin tarihi (consentDate) 3 iş gününden eski olamaz."), status_code=422)
        return None

    async def _add(self, request: Request) -> Response:
        if (answer := self._gate(request, "consents")) is not None:
            return answer
        body = await self._json(request)
        if not isinstance(body, dict):
            return JSONResponse(iys_error("H100", "Geçersiz istek."), status_code=400)
        if (refused := self._check(body)) is not None:
            return refused
        key = (body["recipient"], body["type"], body["recipientType"])
        if body["status"] == "RET" and not self.state.consents.get(key):
            return JSONResponse(iys_error(
                "H175", "İlk izin kayıt işlemlerinde RET durum (status) bilgisi içeren izinler "
                        "kaydedilmez."), status_code=422)
        consent = {name: body[name] for name in ("recipient", "type", "source", "status",
                                                 "consentDate", "recipientType")}
        consent.update(creationDate=_now_text(), transactionId=self._transaction_id())
        self.state.added.append(dict(body))
        self.state.consents.setdefault(key, []).append(consent)
        return JSONResponse({"transactionId": consent["transactionId"],
                             "creationDate": consent["creationDate"]})

    async def _status(self, request: Request) -> Response:
        if (answer := self._gate(request, "status")) is not None:
            return answer
        body = await self._json(request)
        if not isinstance(body, dict) or not body.get("recipient") or not body.get("type"):
            return JSONResponse(iys_error("H100", "Geçersiz istek."), status_code=400)
        found = self.current(str(body["recipient"]), str(body["type"]),
                             str(body.get("recipientType") or "BIREYSEL"))
        if found is None:
            return JSONResponse(iys_error("H174", "İzin bulunamadı."), status_code=404)
        return JSONResponse({**found, "retailerAccessCount": 0})

    async def _changes(self, request: Request) -> Response:
        if (answer := self._gate(request, "changes")) is not None:
            return answer
        query = request.query_params
        if query.get("source", "IYS") != "IYS":
            return JSONResponse({"after": query.get("after"), "list": []})
        try:
            limit = int(query.get("limit", "500"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 999:
            return self._field_error("limit")
        after = query.get("after")
        cursors = [cursor for cursor, _ in self.state.changes]
        if after and after not in cursors:
            return self._field_error("after")
        start = cursors.index(after) + 1 if after else 0
        page = self.state.changes[start:start + limit]
        return JSONResponse({"after": page[-1][0] if page else after,
                             "list": [dict(consent) for _, consent in page]})


def create_simulator(**options: Any) -> IysSimulator:
    """A new simulator; ``options`` are ``IysSimulator``'s keyword arguments."""
    return IysSimulator(**options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="İYS API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8040)
    args = parser.parse_args()
    uvicorn.run(create_simulator(), host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

"""İYS (İleti Yönetim Sistemi), Türkiye's register of consents to commercial electronic messages:
the provider interface and its HTTP client.

What we use of İYS's API (the service provider's side, per brand):

* ``POST /oauth2/token`` with JSON ``{"grant_type": "password", "username", "password"}``, or
  ``{"grant_type": "refresh_token", "refresh_token"}``; answers ``access_token``,
  ``refresh_token``, ``expires_in`` and ``refresh_expires_in`` (seconds), ``token_type``.
  Every other call carries ``Authorization: Bearer <access_token>``.
* ``POST /sps/{iysCode}/brands/{brandCode}/consents``: add one consent, body ``{"recipient":
  "+905XXXXXXXXX" or an e-mail address, "type": "MESAJ" | "ARAMA" | "EPOSTA", "source":
  "HS_WEB"..., "status": "ONAY" | "RET", "consentDate": "YYYY-MM-DD HH:MM:SS" (Türkiye's clock),
  "recipientType": "BIREYSEL" | "TACIR"}``; answers ``transactionId`` and ``creationDate``.
  İYS refuses a first record that is a RET (error H175) and a consentDate older than three
  working days; its rate limit is 50 calls a minute.
* ``POST /sps/{iysCode}/brands/{brandCode}/consents/status`` with ``{"recipient", "recipientType",
  "type"}``: the recipient's current consent (the same fields plus ``creationDate``,
  ``transactionId``, ``retailerAccessCount``), 404 when İYS has none.
* ``GET /sps/{iysCode}/brands/{brandCode}/consents/changes?source=IYS&after=<cursor>&limit=<n>``:
  consent changes made at İYS itself (a customer's RET through İYS's site, app or call
  centre), ``{"after": <cursor>, "list": [<consent>...]}``, oldest first; the next pull passes
  the ``after`` of the last answer. ``source=HS`` would list the brand's own (ours) instead.
* Errors: an HTTP status with ``{"errors": [{"code": "H…", "message": "…"}]}``.

Sources followed (İYS's own reference at apidocs.iys.org.tr was not reachable from here): the
public client libraries and integrations ozgur-yalcin/iys (token request, source and type
constants), netgsm/netiys (the fields, the list of sources, a status answer), the macellan/iys
tests (token, change-list and error answers, codes H124, H175, H351), and an İYS gateway's
controller notes (the endpoint paths, the status body, the changes' query parameters, limits,
"no first RET", "consentDate within three working days", "+905XXXXXXXXX").

Assumed where the sources disagree or say nothing: the refresh request's field is
``refresh_token`` (one integration sends ``refreshToken``; a refused refresh falls back to the
password grant, so either works); an empty change list keeps the cursor; the brief's
``HS_KAMPANYA_KATILIM`` is in none of the sources, so it is not offered. ``simulator.py`` speaks
this same format for the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from invekto.core import outbound

TURKEY = ZoneInfo("Europe/Istanbul")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Our consent kinds in İYS's words.
TYPES = {"message": "MESAJ", "call": "ARAMA", "email": "EPOSTA"}
CONSENT_TYPE_OF = {value: key for key, value in TYPES.items()}
# How a consent was given, as İYS names the ways ("HS": hizmet sağlayıcı, the brand).
SOURCES = ("HS_FIZIKSEL_ORTAM", "HS_ISLAK_IMZA", "HS_WEB", "HS_CAGRI_MERKEZI", "HS_SOSYAL_MEDYA",
           "HS_EPOSTA", "HS_MESAJ", "HS_MOBIL", "HS_EORTAM", "HS_ETKINLIK", "HS_2015", "HS_ATM",
           "HS_KARAR")
FIRST_RET = "H175"  # "a first consent record cannot be a RET"
TIMEOUT_SECONDS = 15
# A token is renewed this long before İYS says it expires.
TOKEN_MARGIN = timedelta(seconds=60)


def consent_date(moment: datetime) -> str:
    """``moment`` as İYS writes dates: Türkiye's clock, to the second."""
    return moment.astimezone(TURKEY).strftime(DATE_FORMAT)


def parse_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value.strip(), DATE_FORMAT).replace(tzinfo=TURKEY)
    except (AttributeError, ValueError):
        return None


@dataclass(frozen=True)
class Account:
    base_url: str
    iys_code: str
    brand_code: str
    username: str
    password: str

    @property
    def consents_path(self) -> str:
        return f"/sps/{self.iys_code}/brands/{self.brand_code}/consents"


@dataclass(frozen=True)
class Token:
    access_token: str
    refresh_token: str | None
    expires_at: datetime
    refresh_expires_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return now < self.expires_at - TOKEN_MARGIN

    def refreshable(self, now: datetime) -> bool:
        return bool(self.refresh_token) and (self.refresh_expires_at is None
                                             or now < self.refresh_expires_at - TOKEN_MARGIN)

    def to_json(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "expires_at": self.expires_at.isoformat(),
                "refresh_expires_at": self.refresh_expires_at.isoformat()
                if self.refresh_expires_at else None}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Token:
        refresh_at = value.get("refresh_expires_at")
        return cls(value["access_token"], value.get("refresh_token"),
                   datetime.fromisoformat(value["expires_at"]),
                   datetime.fromisoformat(refresh_at) if refresh_at else None)


@dataclass(frozen=True)
class Consent:
    """One consent as İYS holds it (or as we send it)."""

    recipient: str
    type: str  # MESAJ, ARAMA, EPOSTA
    status: str  # ONAY, RET
    source: str
    consent_date: str  # YYYY-MM-DD HH:MM:SS, Türkiye
    recipient_type: str = "BIREYSEL"
    transaction_id: str | None = None
    creation_date: str | None = None

    def payload(self) -> dict[str, str]:
        return {"recipient": self.recipient, "type": self.type, "source": self.source,
                "status": self.status, "consentDate": self.consent_date,
                "recipientType": self.recipient_type}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Consent:
        return cls(recipient=str(value.get("recipient") or ""), type=str(value.get("type") or ""),
                   status=str(value.get("status") or ""), source=str(value.get("source") or ""),
                   consent_date=str(value.get("consentDate") or ""),
                   recipient_type=str(value.get("recipientType") or "BIREYSEL"),
                   transaction_id=value.get("transactionId") or None,
                   creation_date=value.get("creationDate") or None)


@dataclass(frozen=True)
class Changes:
    after: str | None  # the cursor to pass next time
    consents: list[Consent]


class IysError(Exception):
    """İYS did not do what was asked. ``code``: İYS's (H175...) or ours (unreachable, auth,
    bad_answer); ``temporary``: worth trying again later as it is."""

    temporary = False

    def __init__(self, code: str, message: str, *, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class IysRefused(IysError):
    """İYS refused the request as it stands (a field, a rule): sending it again changes nothing."""


class IysUnavailable(IysError):
    """No answer, a server error, or the rate limit: try again later."""

    temporary = True


class IysAuthFailed(IysError):
    """İYS refused the user name or password: nothing works until the settings are fixed."""

    temporary = True  # the changes wait for the right password; they are not refused


class IysProvider(Protocol):
    """What the consent domain needs of İYS (``IysClient``; a test may give its own)."""

    token: Token | None

    async def add_consent(self, consent: Consent) -> Consent: ...

    async def consent_status(self, recipient: str, type_: str, recipient_type: str
                             ) -> Consent | None: ...

    async def changes(self, after: str | None, *, limit: int = 500) -> Changes: ...

    async def authenticate(self) -> Token: ...


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
        first = (body.get("errors") or [{}])[0]
        return str(first.get("code") or response.status_code), str(first.get("message") or "")
    except (ValueError, AttributeError, IndexError, TypeError):
        return str(response.status_code), response.text[:300]


class IysClient:
    """İYS's API for one brand, over HTTPS. The base URL is a company's setting, so requests go
    through ``core.outbound`` (public addresses only). ``token``: the last one İYS gave, reused
    until it expires; read it back after use to keep the newest."""

    def __init__(self, account: Account, *, token: Token | None = None,
                 http: httpx.AsyncClient | None = None):
        self.account = account
        self.token = token
        self._http = http or outbound.client(timeout=TIMEOUT_SECONDS)
        self._own_http = http is None

    async def __aenter__(self) -> IysClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._own_http:
            await self._http.aclose()

    def _url(self, path: str) -> str:
        return self.account.base_url.rstrip("/") + path

    async def _post_token(self, body: dict[str, str]) -> httpx.Response:
        try:
            return await self._http.post(self._url("/oauth2/token"), json=body)
        except httpx.HTTPError as exc:
            raise IysUnavailable("unreachable", str(exc) or type(exc).__name__) from exc

    def _token_from(self, response: httpx.Response, now: datetime) -> Token:
        try:
            body = response.json()
            access = str(body["access_token"])
            expires_in = int(body.get("expires_in") or 3600)
            refresh_in = body.get("refresh_expires_in")
        except (ValueError, KeyError, TypeError) as exc:
            raise IysUnavailable("bad_answer", "İYS's token answer could not be read",
                                 status=response.status_code) from exc
        return Token(access, body.get("refresh_token") or None,
                     now + timedelta(seconds=expires_in),
                     now + timedelta(seconds=int(refresh_in)) if refresh_in else None)

    async def authenticate(self) -> Token:
        """A usable token: the one held, refreshed, or a new login (in that order)."""
        now = datetime.now(UTC)
        if self.token is not None and self.token.usable(now):
            return self.token
        if self.token is not None and self.token.refreshable(now):
            response = await self._post_token({"grant_type": "refresh_token",
                                               "refresh_token": self.token.refresh_token or ""})
            if response.status_code == 200:
                self.token = self._token_from(response, now)
                return self.token
        response = await self._post_token({"grant_type": "password",
                                           "username": self.account.username,
                                           "password": self.account.password})
        if response.status_code in (400, 401, 403):
            code, message = _error_of(response)
            raise IysAuthFailed("auth", message or code, status=response.status_code)
        if response.status_code != 200:
            code, message = _error_of(response)
            raise IysUnavailable(code, message, status=response.status_code)
        self.token = self._token_from(response, now)
        return self.token

    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: dict[str, str] | None = None, missing_ok: bool = False
                    ) -> httpx.Response | None:
        """One authenticated call; a token İYS no longer takes is renewed once."""
        for attempt in (1, 2):
            token = await self.authenticate()
            try:
                response = await self._http.request(
                    method, self._url(path), json=json, params=params,
                    headers={"Authorization": f"Bearer {token.access_token}"})
            except httpx.HTTPError as exc:
                raise IysUnavailable("unreachable", str(exc) or type(exc).__name__) from exc
            if response.status_code == 401 and attempt == 1:
                self.token = None  # revoked or expired early: log in again
                continue
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code in (200, 201):
                return response
            code, message = _error_of(response)
            if response.status_code == 401:
                raise IysAuthFailed(code, message, status=401)
            if response.status_code == 429 or response.status_code >= 500:
                raise IysUnavailable(code, message, status=response.status_code)
            raise IysRefused(code, message, status=response.status_code)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise IysUnavailable("bad_answer", "İYS's answer could not be read",
                                 status=response.status_code) from exc

    async def add_consent(self, consent: Consent) -> Consent:
        """Record ``consent`` at İYS; returns it with İYS's transaction id and creation date."""
        response = await self._call("POST", self.account.consents_path, json=consent.payload())
        assert response is not None
        body = self._json(response)
        if not isinstance(body, dict):
            raise IysUnavailable("bad_answer", "İYS's answer could not be read")
        return Consent(**{**consent.__dict__,
                          "transaction_id": body.get("transactionId") or None,
                          "creation_date": body.get("creationDate") or None})

    async def consent_status(self, recipient: str, type_: str, recipient_type: str
                             ) -> Consent | None:
        """What İYS holds for the recipient and kind (None: nothing)."""
        response = await self._call(
            "POST", self.account.consents_path + "/status", missing_ok=True,
            json={"recipient": recipient, "recipientType": recipient_type, "type": type_})
        if response is None:
            return None
        body = self._json(response)
        return Consent.from_json(body) if isinstance(body, dict) else None

    async def changes(self, after: str | None, *, limit: int = 500) -> Changes:
        """Consent changes made at İYS (not by us) since ``after``, oldest first."""
        params = {"source": "IYS", "limit": str(limit)}
        if after:
            params["after"] = after
        response = await self._call("GET", self.account.consents_path + "/changes",
                                    params=params)
        assert response is not None
        body = self._json(response)
        if not isinstance(body, dict) or not isinstance(body.get("list", []), list):
            raise IysUnavailable("bad_answer", "İYS's answer could not be read")
        items = [Consent.from_json(item) for item in body.get("list") or []
                 if isinstance(item, dict)]
        return Changes(body.get("after") or after, items)

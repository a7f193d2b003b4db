"""Single sign-on through OpenID Connect, per company (``sso_settings``): the authorization-code
flow with PKCE (S256), ``state`` and ``nonce``, against the provider the company names by its
issuer URL. See docs/decisions/0022-oidc-with-pyjwt-and-httpx.md.

1. ``begin``: the provider's endpoints from ``<issuer>/.well-known/openid-configuration``, a
   fresh state, nonce and PKCE verifier kept in an encrypted, short-lived cookie of the browser
   (``flow_cookie``: the callback must come back to the browser that started it), and the
   provider's authorization URL to send the browser to.
2. ``complete``: the state compared with the cookie's, the code exchanged at the token endpoint
   (with the verifier and the client secret), the ID token's signature checked against the
   provider's JWKS, and its issuer, audience, expiry and nonce (PyJWT). The person: the user
   linked to the provider's subject (``sso_identities``), else the one user whose e-mail matches
   a *verified* e-mail of the token (then linked), else, when the company allows it, a new user
   with its default role; never anyone else.

Every request to the provider goes through ``core.outbound`` (an issuer is an address a company
typed). A single sign-on login skips our own second factor: the provider's applies.

Like a password login, ``complete`` does not raise for a refused sign-in: it records why
(``auth.sso_failed``) and returns ``LoginResult.refusal`` for the caller to report after the
commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.auth import policy as security_policy
from invekto.auth import service as auth
from invekto.auth.models import SSO_DEFAULT_ROLES, SsoIdentity, SsoSettings
from invekto.auth.schemas import SsoSettingsIn
from invekto.config import get_settings
from invekto.core import outbound
from invekto.core.actor import Actor, Permission
from invekto.core.crypto import SecretBox, box_for, secret_box
from invekto.core.errors import NotFound, ValidationFailed
from invekto.tenants.models import Tenant
from invekto.users import service as users
from invekto.users.models import User
from invekto.users.schemas import UserCreate

log = structlog.get_logger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
CALLBACK_PATH = "/login/sso/callback"
FLOW_LIFETIME_SECONDS = 600
REQUEST_TIMEOUT = 10.0
# Asymmetric signatures only: "none" and the HMAC family (keyed with the client secret, which
# we would then have to trust the provider not to share) are refused.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                      "ES512", "EdDSA")
CLOCK_SKEW_SECONDS = 60
# Why a sign-in was refused (``LoginResult.refusal``), as the login page words it.
REFUSALS = {
    "sso_state": "The sign-in took too long or was started in another browser; try again.",
    "sso_denied": "The identity provider did not sign you in.",
    "sso_unreachable": "The identity provider could not be reached; try again later.",
    "sso_invalid": "The identity provider's answer could not be verified.",
    "sso_no_user": "No user of this company matches your account; ask your administrator.",
    "sso_ambiguous": "Several users of this company have your e-mail address; ask your "
                     "administrator.",
    "sso_inactive": "Your user has been deactivated.",
    "sso_disabled": "This company does not use single sign-on.",
}


def _now() -> datetime:
    return datetime.now(UTC)


class ProviderError(Exception):
    """The provider could not be asked, or answered what it must not (``reason``: a key of
    ``REFUSALS``); ``detail`` is for the audit trail and the log."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# ---- the company's settings --------------------------------------------------------------------

async def settings_row(session: AsyncSession, tenant_id: uuid.UUID) -> SsoSettings | None:
    return await session.scalar(select(SsoSettings).where(SsoSettings.tenant_id == tenant_id))


async def enabled_for(session: AsyncSession, tenant_id: uuid.UUID) -> SsoSettings | None:
    """The company's single sign-on if it is on (the login page shows its button)."""
    row = await settings_row(session, tenant_id)
    return row if row is not None and row.enabled else None


async def get_settings_of(session: AsyncSession, actor: Actor) -> SsoSettings | None:
    actor.require(Permission.MANAGE_SECURITY)
    return await settings_row(session, actor.tenant_id)


def has_client_secret(row: SsoSettings | None) -> bool:
    return row is not None and bool(row.client_secret_encrypted)


def callback_url(base_url: str) -> str:
    """Where the provider sends the browser back: to register at the provider."""
    return (get_settings().public_url or base_url).rstrip("/") + CALLBACK_PATH


def _checked_issuer(value: str) -> str:
    issuer = value.strip()
    try:
        url = httpx.URL(issuer)
    except (httpx.InvalidURL, TypeError, ValueError):
        url = None
    # OpenID Connect wants https; plain http only where private addresses are allowed
    # (development, and the tests' stub provider on 127.0.0.1).
    schemes = ("https", "http") if outbound.private_allowed() else ("https",)
    if url is None or url.scheme not in schemes or not url.host or url.query or url.fragment:
        raise ValidationFailed("give the provider's issuer address, such as "
                               "https://login.example.com", field="issuer")
    outbound.check_url(issuer, field="issuer")
    return issuer


_SETTINGS_FIELDS = ("enabled", "display_name", "issuer", "client_id", "create_users",
                    "default_role", "sso_only")


async def save_settings(session: AsyncSession, actor: Actor, data: SsoSettingsIn
                        ) -> SsoSettings:
    """Checked before anything changes; turned on, the provider's discovery document must be
    readable and name the same issuer. The client secret is write-only (left empty, the saved
    one stays)."""
    actor.require(Permission.MANAGE_SECURITY)
    row = await settings_row(session, actor.tenant_id)
    display_name = " ".join(data.display_name.split())
    issuer = data.issuer.strip()
    client_id = data.client_id.strip()
    new_secret = (data.client_secret or "").strip()
    if issuer:
        issuer = _checked_issuer(issuer)
    if data.default_role not in SSO_DEFAULT_ROLES:
        raise ValidationFailed("choose agent or supervisor", field="default_role")
    if data.sso_only and not data.enabled:
        raise ValidationFailed("turn single sign-on on before refusing passwords",
                               field="sso_only")
    if data.enabled:
        if not issuer:
            raise ValidationFailed("give the provider's issuer address", field="issuer")
        if not client_id:
            raise ValidationFailed("give the client ID the provider gave you", field="client_id")
        keeps_secret = has_client_secret(row) and not data.clear_client_secret
        if not new_secret and not keeps_secret:
            raise ValidationFailed("give the client secret the provider gave you",
                                   field="client_secret")
        try:
            issuer = (await discover(issuer)).issuer
        except ProviderError as exc:
            raise ValidationFailed(
                "the provider's settings could not be read from %(url)s", field="issuer",
                params={"url": issuer.rstrip("/") + DISCOVERY_PATH}) from exc
        display_name = display_name or (httpx.URL(issuer).host or issuer)
    before = _public_values(row)
    if row is None:
        row = SsoSettings(tenant_id=actor.tenant_id)
        session.add(row)
    row.enabled, row.display_name, row.issuer, row.client_id = (
        data.enabled, display_name or "SSO", issuer, client_id)
    row.create_users, row.default_role, row.sso_only = (
        data.create_users, data.default_role, data.sso_only)
    secret_changed = bool(new_secret) or (data.clear_client_secret and has_client_secret(row))
    if new_secret:
        row.client_secret_encrypted = secret_box().encrypt_json({"client_secret": new_secret})
    elif data.clear_client_secret:
        row.client_secret_encrypted = None
    await session.flush()
    after = _public_values(row)
    changed = sorted(name for name in _SETTINGS_FIELDS if before.get(name) != after[name])
    await audit.record(session, actor, "sso.settings_changed", target_type="sso_settings",
                       target_id=row.id, data={"client_secret_changed": secret_changed},
                       before={name: before.get(name) for name in changed},
                       after={name: after[name] for name in changed})
    return row


def _public_values(row: SsoSettings | None) -> dict[str, Any]:
    """The settings as the audit trail keeps them (never the secret)."""
    if row is None:
        return {}
    return {name: getattr(row, name) for name in _SETTINGS_FIELDS}


# ---- talking to the provider -------------------------------------------------------------------

@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with outbound.client(timeout=REQUEST_TIMEOUT) as http:
            response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ProviderError("sso_unreachable", f"GET {url}: {exc}") from exc
    if response.status_code != 200:
        raise ProviderError("sso_unreachable", f"GET {url}: HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError("sso_unreachable", f"GET {url}: not JSON") from exc
    if not isinstance(body, dict):
        raise ProviderError("sso_unreachable", f"GET {url}: not a JSON object")
    return body


async def discover(issuer: str) -> Provider:
    """The provider's endpoints. Its document must name the issuer asked for (a trailing slash
    aside): anything else could be someone else's provider."""
    document = await _get_json(issuer.rstrip("/") + DISCOVERY_PATH)
    named = document.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise ProviderError("sso_invalid", f"discovery names issuer {named!r}, not {issuer!r}")
    endpoints = {}
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(key)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise ProviderError("sso_invalid", f"discovery has no usable {key}")
        endpoints[key] = value
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return Provider(issuer=named, token_auth_methods=tuple(m for m in methods
                                                           if isinstance(m, str)),
                    **endpoints)


def _flow_box() -> SecretBox:
    return box_for(b"invekto/oidc-login-flow")


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Begun:
    authorization_url: str
    flow_cookie: str  # encrypted: the state, nonce and PKCE verifier, for the callback


async def begin(session: AsyncSession, tenant: Tenant, *, redirect_uri: str) -> Begun:
    """Where to send the browser to sign in at the company's provider. NotFound when the
    company has no single sign-on; ProviderError when its provider cannot be asked."""
    row = await enabled_for(session, tenant.id)
    if row is None:
        raise NotFound("this company does not use single sign-on")
    provider = await discover(row.issuer)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    query = urlencode({
        "response_type": "code", "client_id": row.client_id, "redirect_uri": redirect_uri,
        "scope": "openid email profile", "state": state, "nonce": nonce,
        "code_challenge": _pkce_challenge(verifier), "code_challenge_method": "S256"})
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    cookie = _flow_box().encrypt_json({
        "tenant_id": str(tenant.id), "state": state, "nonce": nonce, "verifier": verifier,
        "redirect_uri": redirect_uri, "expires": int(time.time()) + FLOW_LIFETIME_SECONDS})
    return Begun(f"{provider.authorization_endpoint}{separator}{query}", cookie)


@dataclass(frozen=True)
class Flow:
    tenant_id: uuid.UUID
    state: str
    nonce: str
    verifier: str
    redirect_uri: str


def read_flow(cookie: str | None) -> Flow | None:
    """The sign-in this browser started, if it is this server's and not too old."""
    if not cookie:
        return None
    try:
        value = _flow_box().decrypt_json(cookie)
        if int(value["expires"]) < time.time():
            return None
        return Flow(tenant_id=uuid.UUID(value["tenant_id"]), state=value["state"],
                    nonce=value["nonce"], verifier=value["verifier"],
                    redirect_uri=value["redirect_uri"])
    except (ValueError, KeyError, TypeError):
        return None


async def _exchange(provider: Provider, row: SsoSettings, flow: Flow, code: str) -> str:
    """The code for an ID token, at the token endpoint (the client authenticated the way the
    provider supports: HTTP Basic by default, else in the form)."""
    client_secret = (secret_box().decrypt_json(row.client_secret_encrypted)["client_secret"]
                     if row.client_secret_encrypted else "")
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": flow.redirect_uri, "code_verifier": flow.verifier}
    auth_header = None
    if "client_secret_basic" in provider.token_auth_methods:
        auth_header = httpx.BasicAuth(row.client_id, client_secret)
    else:
        form |= {"client_id": row.client_id, "client_secret": client_secret}
    try:
        async with outbound.client(timeout=REQUEST_TIMEOUT) as http:
            response = await http.post(provider.token_endpoint, data=form, auth=auth_header,
                                       headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ProviderError("sso_unreachable", f"token endpoint: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body.get("id_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        raise ProviderError("sso_invalid",
                            f"token endpoint: HTTP {response.status_code} {error or ''}".strip())
    return body["id_token"]


async def _verified_claims(provider: Provider, row: SsoSettings, flow: Flow, id_token: str
                           ) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise ProviderError("sso_invalid", f"ID token: {exc}") from exc
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise ProviderError("sso_invalid", f"ID token signed with {algorithm!r}")
    keys = [k for k in (await _get_json(provider.jwks_uri)).get("keys") or []
            if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    kid = header.get("kid")
    candidates = [k for k in keys if k.get("kid") == kid] if kid else keys
    if len(candidates) != 1:
        raise ProviderError("sso_invalid", f"no single key {kid!r} in the provider's JWKS")
    try:
        key = jwt.PyJWK(candidates[0], algorithm=algorithm)
        claims = jwt.decode(
            id_token, key=key, algorithms=[algorithm], audience=row.client_id,
            issuer=provider.issuer, leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]})
    except jwt.PyJWTError as exc:
        raise ProviderError("sso_invalid", f"ID token: {exc}") from exc
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != row.client_id:
        raise ProviderError("sso_invalid", "ID token for several audiences without our azp")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(),
                                                             flow.nonce.encode()):
        raise ProviderError("sso_invalid", "ID token nonce does not match")
    return claims


# ---- who signs in ------------------------------------------------------------------------------

def _verified_email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    verified = claims.get("email_verified")
    if isinstance(email, str) and "@" in email and verified in (True, "true"):
        return email.strip()
    return None


_USERNAME_CHARACTERS = re.compile(r"[^a-z0-9._-]+")


async def _free_username(session: AsyncSession, tenant_id: uuid.UUID, wanted: str) -> str:
    base = _USERNAME_CHARACTERS.sub("", wanted.lower()).lstrip("._-")[:56] or "user"
    base = base if len(base) >= 2 else f"{base}-user"
    candidate, number = base, 1
    while await users.find_by_username(session, tenant_id, candidate) is not None:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


async def _create_user(session: AsyncSession, row: SsoSettings, claims: dict[str, Any],
                       email: str, actor: Actor) -> User:
    tenant = await session.get(Tenant, row.tenant_id)
    wanted = claims.get("preferred_username")
    wanted = wanted if isinstance(wanted, str) and wanted.strip() else email.split("@")[0]
    username = await _free_username(session, row.tenant_id, wanted.split("@")[0])
    name = claims.get("name")
    user, _ = await users.create_user(session, actor, UserCreate(
        username=username, display_name=(name.strip()[:200] if isinstance(name, str)
                                         and name.strip() else email)[:200],
        role=row.default_role, email=email, password=None,
        language=tenant.default_language if tenant else "tr"))
    await audit.record(session, actor, "auth.sso_user_created", target_type="user",
                       target_id=user.id, data={"issuer": row.issuer, "email": email})
    return user


async def _person(session: AsyncSession, row: SsoSettings, claims: dict[str, Any],
                  actor: Actor, now: datetime) -> User | str:
    """The user the token stands for (linked on first sign-in), or why there is none."""
    subject = str(claims["sub"])[:255]
    link = await session.scalar(select(SsoIdentity).where(
        SsoIdentity.tenant_id == row.tenant_id, SsoIdentity.issuer == row.issuer,
        SsoIdentity.subject == subject))
    if link is not None:
        link.last_login_at = now
        user = await session.get(User, link.user_id)
        assert user is not None
        return user
    email = _verified_email(claims)
    user = None
    if email is not None:
        matches = (await session.scalars(select(User).where(
            User.tenant_id == row.tenant_id,
            func.lower(User.email) == email.lower()).limit(2))).all()
        if len(matches) > 1:
            return "sso_ambiguous"
        user = matches[0] if matches else None
        if user is None and row.create_users:
            user = await _create_user(session, row, claims, email, actor)
    if user is None:
        return "sso_no_user"
    session.add(SsoIdentity(tenant_id=row.tenant_id, user_id=user.id, issuer=row.issuer,
                            subject=subject, created_at=now, last_login_at=now))
    await session.flush()
    await audit.record(session, actor, "auth.sso_linked", target_type="user",
                       target_id=user.id, data={"issuer": row.issuer, "subject": subject})
    return user


async def complete(session: AsyncSession, flow: Flow, *, state: str, code: str, error: str,
                   ip: str | None, user_agent: str = "") -> auth.LoginResult:
    """The provider sent the browser back: a session, or ``refusal`` (``REFUSALS``), audited
    either way. ``flow``: this browser's cookie (``read_flow``)."""
    # The system acts (it may create the user); the person is not known yet.
    actor = replace(Actor.system(flow.tenant_id), ip=ip)

    async def refused(reason: str, detail: str) -> auth.LoginResult:
        log.info("auth.sso_failed", reason=reason, detail=detail)
        await audit.record(session, actor, "auth.sso_failed",
                           data={"reason": reason, "detail": detail[:300]})
        return auth.LoginResult(refusal=reason)

    if not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
        return await refused("sso_state", "state does not match this browser's sign-in")
    if error:
        return await refused("sso_denied", f"provider answered error={error[:100]}")
    row = await enabled_for(session, flow.tenant_id)
    tenant = await session.get(Tenant, flow.tenant_id)
    if row is None or tenant is None or tenant.status != "active":
        return await refused("sso_disabled", "single sign-on is off, or the company is")
    if not code:
        return await refused("sso_invalid", "no code in the callback")
    now = _now()
    try:
        provider = await discover(row.issuer)
        claims = await _verified_claims(provider, row, flow,
                                        await _exchange(provider, row, flow, code))
    except ProviderError as exc:
        return await refused(exc.reason, exc.detail)
    found = await _person(session, row, claims, actor, now)
    if isinstance(found, str):
        return await refused(found, f"subject {claims['sub']!r}")
    if not found.is_active:
        return await refused("sso_inactive", f"user {found.username} is deactivated")
    return await auth.open_login(
        session, found, ip=ip, user_agent=user_agent, now=now,
        limits=await security_policy.policy_of(session, flow.tenant_id),
        data={"method": "sso", "issuer": row.issuer})

"""A stand-in OpenID Connect provider: the few endpoints Invekto's single sign-on uses
(``auth.oidc``), for one client and one person, kept in memory. Tests serve it over real HTTP
(``tests.processes.serving``); ``python -m invekto.auth.oidc_stub --port 8029`` runs it for the
demo.

* ``GET /.well-known/openid-configuration``: discovery; the issuer is the address the request
  came to (or ``issuer`` when given).
* ``GET /jwks``: the public half of an RSA key made when the stub starts.
* ``GET /authorize``: checks the client, the redirect address, ``response_type=code``, the
  ``openid`` scope, a ``state`` and an S256 PKCE challenge; then approves ``user`` at once (no
  login page) and sends the browser back with a one-time code and the state, or with
  ``error=access_denied`` when ``deny`` is set. A bad request is a 400 shown to the browser, as
  a provider does (it never redirects to an address it does not trust).
* ``POST /token``: the code for an ID token (RS256), after checking the client's secret (HTTP
  Basic or in the form), the redirect address and the PKCE verifier. ``tamper`` spoils the next
  token on purpose: "nonce", "audience", "issuer", "expired", "signature" or "key" (signed
  with a key not in the JWKS).

Each token request is recorded in ``token_requests``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

CLIENT_ID = "invekto-stub-client"
CLIENT_SECRET = "stub-client-secret-not-for-production"
KEY_ID = "stub-key-1"


def default_user() -> dict[str, Any]:
    return {"sub": "stub-user-0001", "email": "ayla@example.com", "email_verified": True,
            "name": "Ayla Yılmaz", "preferred_username": "ayla.yilmaz"}


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: dict[str, Any]
    issued_at: float


@dataclass
class StubState:
    codes: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)


def _b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcStub:
    """The provider as an ASGI app. ``user``: who is signed in at it; ``redirect_uris``: the
    addresses it sends browsers back to (None: any)."""

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET,
                 user: dict[str, Any] | None = None, issuer: str | None = None,
                 redirect_uris: list[str] | None = None, token_lifetime: int = 300) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user = user or default_user()
        self.issuer = issuer
        self.redirect_uris = redirect_uris
        self.token_lifetime = token_lifetime
        self.deny = False
        self.tamper: str | None = None
        self.state = StubState()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self._discovery, methods=["GET"]),
            Route("/jwks", self._jwks, methods=["GET"]),
            Route("/authorize", self._authorize, methods=["GET"]),
            Route("/token", self._token, methods=["POST"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def _issuer_of(self, request: Request) -> str:
        return self.issuer or f"{request.url.scheme}://{request.url.netloc}"

    # ---- endpoints -----------------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        issuer = self._issuer_of(request)
        return JSONResponse({
            "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        })

    async def _jwks(self, request: Request) -> Response:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return JSONResponse({"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]})

    async def _authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.state.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client", status_code=400)
        if not redirect_uri or (self.redirect_uris is not None
                                and redirect_uri not in self.redirect_uris):
            return PlainTextResponse("redirect_uri not registered", status_code=400)
        problems = [name for name, ok in (
            ("response_type", query.get("response_type") == "code"),
            ("scope", "openid" in query.get("scope", "").split()),
            ("state", bool(query.get("state"))),
            ("code_challenge", bool(query.get("code_challenge"))),
            ("code_challenge_method", query.get("code_challenge_method") == "S256"),
        ) if not ok]
        if problems:
            return PlainTextResponse(f"bad request: {', '.join(problems)}", status_code=400)
        if self.deny:
            answer = {"error": "access_denied", "state": query["state"]}
        else:
            code = secrets.token_urlsafe(24)
            self.state.codes[code] = Grant(
                client_id=self.client_id, redirect_uri=redirect_uri,
                code_challenge=query["code_challenge"], nonce=query.get("nonce"),
                user=dict(self.user), issued_at=time.time())
            answer = {"code": code, "state": query["state"]}
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(answer)}",
                                status_code=302)

    async def _token(self, request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.state.token_requests.append(form)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or not secrets.compare_digest(
                (client_secret or "").encode(), self.client_secret.encode()):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        grant = self.state.codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if _b64url_sha256(form.get("code_verifier", "")) != grant.code_challenge:
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": "PKCE verification failed"},
                                status_code=400)
        return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                             "expires_in": self.token_lifetime,
                             "id_token": self._id_token(request, grant)})

    def _id_token(self, request: Request, grant: Grant) -> str:
        now = int(time.time())
        tamper, self.tamper = self.tamper, None
        claims = {**grant.user, "iss": self._issuer_of(request), "aud": grant.client_id,
                  "iat": now, "exp": now + self.token_lifetime, "auth_time": now}
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if tamper == "nonce":
            claims["nonce"] = "not-the-nonce-that-was-sent"
        elif tamper == "audience":
            claims["aud"] = "some-other-client"
        elif tamper == "issuer":
            claims["iss"] = "https://impostor.example.com"
        elif tamper == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        key = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
               if tamper == "key" else self._key)
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})
        if tamper == "signature":
            head, body, signature = token.split(".")
            flipped = "A" if signature[10] != "A" else "B"
            token = f"{head}.{body}.{signature[:10]}{flipped}{signature[11:]}"
        return token


def main() -> None:  # pragma: no cover - a tool for the demo
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8029)
    arguments = parser.parse_args()
    uvicorn.run(OidcStub(), host=arguments.host, port=arguments.port)


if __name__ == "__main__":  # pragma: no cover
    main()

"""Security headers on every HTTP response (pure ASGI, like ``middleware.py``).

A header a route set itself wins: the attachment routes answer ``Content-Security-Policy:
sandbox`` and the public help centre a policy without any script, and both stay as they are.
Cookies get ``Secure`` whenever the request came over TLS, whatever the route that set them
asked for; uvicorn (``proxy_headers``) already turned a trusted proxy's ``X-Forwarded-Proto``
into the request's scheme, so ``scope["scheme"]`` is the one place that knows.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts only from our own files: no inline script or event handler anywhere (they live in
# web/static). 'unsafe-eval' is Alpine.js's: its standard build compiles each x-data/x-on
# expression with the Function constructor (its CSP build would need every component
# rewritten). HTMX's own eval is switched off in base.html (htmx-config allowEval=false).
# Styles keep 'unsafe-inline': templates use style attributes, HTMX and Drawflow set styles.
# Twilio's Voice SDK (the softphone) talks to Twilio and plays its ring tones from there.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "media-src 'self' blob: https://sdk.twilio.com",
    "connect-src 'self' https://*.twilio.com wss://*.twilio.com",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    # Nothing of ours is meant to be framed: the website chat widget draws itself into the
    # customer's page (a shadow root), not through an iframe of ours.
    "frame-ancestors 'none'",
])

# FastAPI's API reference pages (Swagger UI, ReDoc) load their code and fonts from a CDN and
# start it with an inline script of FastAPI's; they show the OpenAPI document, nobody's data.
API_DOCS_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    "font-src 'self' https://fonts.gstatic.com",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
API_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

# The softphone and the composer's voice notes record from the microphone on our own pages.
PERMISSIONS_POLICY = ("camera=(), geolocation=(), microphone=(self), payment=(), usb=(), "
                      "display-capture=()")
HSTS = "max-age=31536000; includeSubDomains"

_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", PERMISSIONS_POLICY.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _secure_cookie(value: bytes) -> bytes:
    attributes = {part.strip().lower() for part in value.split(b";")[1:]}
    return value if b"secure" in attributes else value + b"; Secure"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over_tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                if over_tls:
                    headers = [(name, _secure_cookie(value)
                                if name.lower() == b"set-cookie" else value)
                               for name, value in headers]
                    if b"strict-transport-security" not in present:
                        headers.append((b"strict-transport-security", HSTS.encode()))
                if scope["path"] in API_DOCS_PATHS and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", API_DOCS_POLICY.encode()))
                    present.add(b"content-security-policy")
                headers.extend((name, value) for name, value in _HEADERS
                               if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

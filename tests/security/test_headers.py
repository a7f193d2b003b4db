"""Security headers and cookie flags (http/security_headers.py).

Every answer of every GET route of the browser's carries the headers; the few routes that set a
narrower Content-Security-Policy of their own keep it. Pages contain no inline script and no
inline event handler, so the policy needs no 'unsafe-inline' for scripts. HSTS and Secure cookies
come only over TLS: a direct https request, or a trusted proxy's X-Forwarded-Proto.
"""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from invekto.http.security_headers import (
    API_DOCS_PATHS,
    API_DOCS_POLICY,
    CONTENT_SECURITY_POLICY,
    PERMISSIONS_POLICY,
)
from tests.factories import PASSWORD
from tests.processes import serving

FIXED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": PERMISSIONS_POLICY,
    "cross-origin-opener-policy": "same-origin",
}
# Routes whose own Content-Security-Policy is narrower than the app's, and stays.
OWN_POLICY = {
    "/inbox/media/{attachment_id}": "sandbox",  # a customer's file: never runs anything
    "/help/{company_slug}": "default-src 'none'",  # the public help centre: no script at all
    "/help/{company_slug}/search": "default-src 'none'",
    "/help/{company_slug}/{article_slug}": "default-src 'none'",
    # FastAPI's Swagger UI and ReDoc: an inline script of FastAPI's and code from a CDN.
    **dict.fromkeys(API_DOCS_PATHS, API_DOCS_POLICY),
}
# Pages that must be among those walked and drawn (200, HTML): the main screens.
MAIN_PAGES = {"/login", "/inbox", "/settings/users", "/settings/channels", "/settings/email",
              "/settings/knowledge", "/settings/ai", "/reports", "/campaigns", "/campaigns/new",
              "/automation", "/automation/rules/new", "/flows", "/monitor"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_the_policy_allows_no_inline_script_and_no_framing():
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert not any(source.startswith(("'nonce-", "'sha", "http", "data:", "*"))
                   for source in policy["script-src"])
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "microphone=(self)" in PERMISSIONS_POLICY
    assert {"camera=()", "geolocation=()"} <= set(PERMISSIONS_POLICY.split(", "))


def test_every_answer_carries_the_headers(walked):
    checked = 0
    for fetched in walked:
        headers = fetched.response.headers
        for name, value in FIXED.items():
            assert headers.get(name) == value, (fetched.url, name, headers.get(name))
        own = OWN_POLICY.get(fetched.route.path)
        policy = headers.get("content-security-policy", "")
        if own and fetched.response.status_code == 200:
            assert policy.startswith(own), (fetched.url, policy)
        elif not own:
            assert policy == CONTENT_SECURITY_POLICY, (fetched.url, policy)
        assert "strict-transport-security" not in headers, fetched.url  # plain http here
        checked += 1
    print(f"\nsecurity headers: {checked} answers of "
          f"{len({f.route for f in walked})} GET routes checked, "
          f"{sum(f.is_html and f.response.status_code == 200 for f in walked)} of them pages")
    assert checked == len(walked) > 80


def test_the_main_pages_were_drawn(walked):
    drawn = {f.url for f in walked if f.is_html and f.response.status_code == 200}
    missing = MAIN_PAGES - drawn
    assert not missing, missing
    assert len(drawn) >= 50
    assert {"/help/{company_slug}", "/help/{company_slug}/{article_slug}"} <= {
        f.route.path for f in walked if f.is_html and f.response.status_code == 200}


class _InlineCode(HTMLParser):
    """Collects what a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip() \
                    .lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script" and "src" not in attributes and \
                attributes.get("type") != "application/json":
            self._in_script = True

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"<script>{data.strip()[:80]}")


def test_no_page_has_inline_script_or_event_handlers(walked):
    pages = [f for f in walked if f.is_html and f.route.path not in API_DOCS_PATHS]
    for fetched in pages:
        parser = _InlineCode()
        parser.feed(fetched.response.text)
        assert parser.found == [], (fetched.url, parser.found)
    assert len(pages) >= 50


def test_htmx_evaluates_no_code(walked):
    """hx-on, js: values and scripts in swapped HTML are off: the policy allows eval for
    Alpine.js only."""
    inbox = next(f for f in walked if f.url == "/inbox").response.text
    config = """content='{"allowEval": false, "allowScriptTags": false}'"""
    assert f'<meta name="htmx-config" {config}>' in inbox


def _cookie_attributes(response: httpx.Response, name: str) -> set[str]:
    """``{"httponly", "path", "samesite=lax", ...}`` of the cookie ``response`` sets."""
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")]
    attributes = set()
    for part in header.split(";")[1:]:
        key, _, value = part.strip().lower().partition("=")
        attributes.add(f"samesite={value}" if key == "samesite" else key)
    return attributes


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_cookie_flags_and_hsts_follow_the_scheme(app, world, scheme):
    home = world.home
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=f"{scheme}://testserver") as client:
        form = await client.get("/login")
        csrf = client.cookies["invekto_csrf"]
        login = await client.post("/login", data={
            "company": home.slug, "username": "ayla", "password": PASSWORD, "csrf_token": csrf})
    assert login.status_code == 303, login.text
    session = _cookie_attributes(login, "invekto_session")
    form_token = _cookie_attributes(form, "invekto_csrf")
    assert {"httponly", "samesite=lax", "path"} <= session
    assert {"httponly", "samesite=strict"} <= form_token
    over_tls = scheme == "https"
    assert ("secure" in session, "secure" in form_token) == (over_tls, over_tls)
    for response in (form, login):
        assert ("strict-transport-security" in response.headers) == over_tls
        if over_tls:
            assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_a_trusted_proxys_forwarded_https_turns_hsts_on(app):
    """As `invekto serve` runs it: uvicorn trusts X-Forwarded-Proto from its own machine's
    proxy (FORWARDED_ALLOW_IPS, 127.0.0.1 by default)."""
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        behind_tls = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
        plain = await client.get("/login")
    assert behind_tls.headers["strict-transport-security"].startswith("max-age=")
    assert "secure" in _cookie_attributes(behind_tls, "invekto_csrf")
    assert "strict-transport-security" not in plain.headers
    assert "secure" not in _cookie_attributes(plain, "invekto_csrf")


async def test_a_routes_own_policy_is_kept(walked):
    media = [f for f in walked if f.route.path == "/inbox/media/{attachment_id}"]
    assert [f.response.status_code for f in media] == [200]
    assert media[0].response.headers["content-security-policy"] == "sandbox"
    assert media[0].response.headers["content-disposition"].startswith("attachment;")

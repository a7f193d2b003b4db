"""CSRF on every form: each route that changes something, called with a valid session cookie
but without the session's CSRF token, is refused (403 ``csrf_failed``) before it does anything,
except the few that a browser session does not drive, named below with the reason. And every
form the pages draw sends the token: a ``csrf_token`` field, or HTMX's header from ``<body
hx-headers>``.

/api/v1 is walked the same way here (cheap); tests/api/test_endpoint_matrix.py also checks that
nothing changed for each of those routes.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser

import httpx
import pytest

from tests.factories import Company
from tests.security.support import real_values, routes, urls

# The routes a session cookie does not authorise: nothing to forge with it.
PUBLIC = {
    ("POST", "/webhooks/{kind}/{channel_id}"): "providers' deliveries, checked by their signature",
    ("POST", "/hooks/integrations/{kind}/{integration_id}"):
        "connected providers' events and payment callbacks, each checked by its signature",
    ("POST", "/hooks/integrations/{kind}/{integration_id}/{topic}"):
        "the same, with the provider's topic in the path",
    ("POST", "/widget/api/{channel_id}/visitors"): "the website widget: a visitor starts a chat",
    ("POST", "/widget/api/{channel_id}/messages"): "the widget: the visitor's bearer token",
    ("POST", "/widget/api/{channel_id}/files"): "the widget: the visitor's bearer token",
    ("POST", "/widget/api/{channel_id}/read"): "the widget: the visitor's bearer token",
    ("POST", "/login"): "no session yet: a double-submit cookie token instead (tested below)",
    ("POST", "/api/v1/auth/login"): "no session yet: answers a session and its token",
    ("POST", "/api/v1/auth/login/2fa"): "a login's second step: a pending-login token, no session "
                                        "yet",
    ("POST", "/login/2fa"): "a login's second step: no session yet, the login form's "
                            "double-submit token (tests/web/test_login_page.py)",
    ("POST", "/logout"): "without the token it only drops this browser's cookie; the session "
                         "itself ends only with the token (tested below)",
}
# Demo mode's customer phone (/demo/phone/...) exists only under `invekto run`, not here: the
# simulated customer's own page, with no session of ours.


def _unsafe(app) -> list:
    return [r for r in routes(app) if r.method in ("POST", "PUT", "PATCH", "DELETE")]


def _without_token(company: Company, username: str = "ayla") -> httpx.AsyncClient:
    """The person's browser session (the cookie), but no x-csrf-token header."""
    client = company.people[username].client
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=company.app),
                             base_url="http://testserver", cookies=client.cookies)


def test_the_public_routes_exist(app):
    unsafe = {(r.method, r.path) for r in _unsafe(app)}
    assert set(PUBLIC) <= unsafe, set(PUBLIC) - unsafe


async def test_every_unsafe_route_needs_the_csrf_token(app, walk_company):
    values = await real_values(walk_company)
    refused, wrong, kinds = [], [], {"web": 0, "api": 0}
    async with _without_token(walk_company) as forged:
        for route in _unsafe(app):
            if (route.method, route.path) in PUBLIC:
                continue
            url = urls(route, values)[0]
            if route.path.startswith("/api/v1"):
                response = await forged.request(route.method, url, json={})
            else:
                response = await forged.request(route.method, url, data={"probe": "1"})
            if response.status_code != 403 or \
                    response.json().get("error", {}).get("code") != "csrf_failed":
                wrong.append((route.method, route.path, response.status_code,
                              response.text[:200]))
                continue
            refused.append(route)
            kinds["api" if route.path.startswith("/api/v1") else "web"] += 1
    assert wrong == []
    print(f"\ncsrf: {len(refused)} unsafe routes refused without the token "
          f"({kinds['web']} of the web UI, {kinds['api']} of /api/v1), {len(PUBLIC)} public")
    assert kinds["web"] >= 100 and kinds["api"] >= 100


async def test_a_token_of_another_session_is_refused(app, walk_company):
    """The token is bound to its session: Bora's token does not pass with Ayla's cookie."""
    async with _without_token(walk_company) as forged:
        response = await forged.post("/settings/tags", data={
            "name": "sahte", "csrf_token": walk_company.people["bora"].csrf})
        header = await forged.post("/settings/tags", data={"name": "sahte"},
                                   headers={"x-csrf-token": walk_company.people["bora"].csrf})
    for answer in (response, header):
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "csrf_failed"


async def test_login_form_needs_its_double_submit_token(app, walk_company):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as browser:
        await browser.get("/login")
        response = await browser.post("/login", data={
            "company": walk_company.slug, "username": "ayla", "password": "x"})
    assert response.status_code == 403
    assert "invekto_session" not in response.cookies


async def test_logout_without_the_token_leaves_the_session_alive(app, world):
    home = world.home
    async with _without_token(home, "bora") as forged:
        response = await forged.post("/logout")
    assert response.status_code == 303
    # The real browser's session still works: nobody else could end it.
    assert (await home.bora.client.get("/api/v1/auth/me")).status_code == 200
    logout = await home.bora.client.post("/logout", data={"csrf_token": home.bora.csrf})
    assert logout.status_code == 303
    assert (await home.bora.client.get("/api/v1/auth/me")).status_code == 401


class _Forms(HTMLParser):
    """Each form's attributes and its hidden csrf_token value; and <body hx-headers>."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.body_headers: dict | None = None
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "body" and attributes.get("hx-headers"):
            self.body_headers = json.loads(attributes["hx-headers"])
        elif tag == "form":
            self._open = {"attrs": attributes, "token": None}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and attributes.get("name") == "csrf_token":
            self._open["token"] = attributes.get("value")

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


_HTMX_VERBS = ("hx-post", "hx-put", "hx-patch", "hx-delete")
# Pages shown before there is a session (the public help centre has no form that posts).
BEFORE_A_SESSION = ("/login", "/help/")


def _posts(attrs: dict) -> bool:
    return attrs.get("method", "get").lower() == "post" or any(v in attrs for v in _HTMX_VERBS)


def test_every_form_sends_the_csrf_token(walked, walk_company):
    token = walk_company.people["ayla"].csrf
    posting = htmx = 0
    for fetched in walked:
        if not fetched.is_html:
            continue
        parser = _Forms()
        parser.feed(fetched.response.text)
        forms = [form for form in parser.forms if _posts(form["attrs"])]
        if fetched.url.startswith(BEFORE_A_SESSION):
            # The login's forms carry the double-submit token of the login cookie instead.
            assert all(form["token"] for form in forms), fetched.url
            continue
        if parser.body_headers is not None:
            assert parser.body_headers == {"x-csrf-token": token}, fetched.url
        for form in forms:
            attrs = form["attrs"]
            driven_by_htmx = any(verb in attrs for verb in _HTMX_VERBS)
            posting += 1
            if form["token"] is not None:
                assert form["token"] == token, (fetched.url, attrs)
            else:
                # A fragment goes into a page whose <body hx-headers> carries the token.
                assert driven_by_htmx, (fetched.url, attrs)
                htmx += 1
    print(f"\ncsrf: {posting} posting forms in the pages, {posting - htmx} with the field, "
          f"{htmx} through HTMX's header")
    assert posting >= 50


@pytest.mark.parametrize("path", ["/inbox", "/settings/tags"])
def test_pages_carry_the_token_for_htmx(walked, walk_company, path):
    page = next(f for f in walked if f.url == path)
    parser = _Forms()
    parser.feed(page.response.text)
    assert parser.body_headers == {"x-csrf-token": walk_company.people["ayla"].csrf}

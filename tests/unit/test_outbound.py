"""The guard on requests to addresses a company typed in (core/outbound.py): which addresses are
public, what is refused when a URL is saved, the look-up when it is called, and the client's
connections to a stub server on 127.0.0.1 (refused, or reached with private addresses allowed).
Public addresses are only judged here: nothing connects to the internet."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Route

from invekto.core import outbound
from invekto.core.errors import ValidationFailed
from tests.processes import serving

NOT_PUBLIC = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254",  # the cloud's metadata service
    "0.0.0.0", "100.64.0.1", "192.0.2.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
    "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",  # IPv4-mapped
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111",
          "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_inside_addresses_are_not_public(address):
    assert not outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_internet_addresses_are_public(address):
    assert outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8000/x", "https://LOCALHOST./x",
    "http://api.localhost/x", "http://[::1]:8080/", "http://[::ffff:127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/", "https://192.168.1.1/",
    "http://0.0.0.0:5432/", "http://user:pw@172.16.0.1/",
    # The resolver's other spellings of 127.0.0.1.
    "http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/",
])
def test_saving_a_plainly_private_url_names_the_field(url):
    with pytest.raises(ValidationFailed) as refused:
        outbound.check_url(url, field="actions.0.url", allow_private=False)
    assert refused.value.field == "actions.0.url"
    outbound.check_url(url, field="actions.0.url", allow_private=True)


@pytest.mark.parametrize("url", [
    "https://example.com/hook", "http://93.184.216.34/x", "https://[2606:4700:4700::1111]/",
    "https://api.example.com/orders/{{ var.order }}",
    "http://{{ var.host }}/x",  # known when called: checked then
    "https://localhost.example.com/",  # a name like any other, looked up when called
])
def test_public_or_not_yet_known_urls_may_be_saved(url):
    outbound.check_url(url, field="url", allow_private=False)


async def test_the_look_up_refuses_a_name_that_points_inside():
    # "localhost" is no literal: it is refused for what the resolver (/etc/hosts) says.
    with pytest.raises(outbound.RefusedAddress, match=r"localhost \(127\.0\.0\.1\)"):
        await outbound.resolve("localhost", 80, allow_private=False)
    for literal in ("::1", "::ffff:127.0.0.1", "169.254.169.254", "127.1"):
        with pytest.raises(outbound.RefusedAddress):
            await outbound.resolve(literal, 80, allow_private=False)
    assert "127.0.0.1" in await outbound.resolve("localhost", 80, allow_private=True)


async def test_the_look_up_lets_public_addresses_through():
    # Literal addresses: the resolver answers from the text, no DNS and no connection.
    assert await outbound.resolve("8.8.8.8", 443, allow_private=False) == ["8.8.8.8"]
    assert await outbound.resolve("2606:4700:4700::1111", 443, allow_private=False) == [
        "2606:4700:4700::1111"]


def _stub() -> Starlette:
    seen: list[str] = []

    async def ping(request: Request):
        seen.append(request.url.path)
        return PlainTextResponse("pong")

    async def moved(request: Request):
        seen.append(request.url.path)
        return RedirectResponse("/ping", status_code=302)

    app = Starlette(routes=[Route("/ping", ping), Route("/moved", moved)])
    app.state.seen = seen
    return app


@pytest.fixture
async def stub():
    app = _stub()
    async with serving(app) as url:
        yield url, app.state.seen


async def test_the_client_refuses_to_connect_inside_when_private_addresses_are_not_allowed(
        stub):
    url, seen = stub
    port = url.rsplit(":", 1)[1]
    async with outbound.client(timeout=5, allow_private=False) as client:
        for target in (f"{url}/ping", f"http://localhost:{port}/ping",
                       f"http://127.1:{port}/ping", f"http://[::ffff:127.0.0.1]:{port}/ping"):
            with pytest.raises(outbound.RefusedAddress, match="not a public internet address"):
                await client.get(target)
    assert seen == []


async def test_the_client_reaches_a_stub_server_when_private_addresses_are_allowed(
        stub, monkeypatch):
    url, seen = stub
    port = url.rsplit(":", 1)[1]
    # A proxy from the environment is never used: the address checked must be the one called.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with outbound.client(timeout=5, allow_private=True) as client:
        answer = await client.get(f"http://localhost:{port}/ping")
        assert (answer.status_code, answer.text) == (200, "pong")
        # The connection went to an address the look-up returned and checked.
        peer = answer.extensions["network_stream"].get_extra_info("server_addr")
        assert peer[0] in await outbound.resolve("localhost", 80, allow_private=True)
        redirected = await client.get(f"{url}/moved")
        assert redirected.status_code == 302  # not followed
    assert seen == ["/ping", "/moved"]


async def test_the_setting_decides_when_nothing_is_given(settings, monkeypatch):
    assert settings.allow_private_urls  # tests/conftest.py turns it on for the stub servers
    outbound.check_url("http://127.0.0.1/", field="url")
    monkeypatch.setattr(settings, "allow_private_urls", False)
    with pytest.raises(ValidationFailed):
        outbound.check_url("http://127.0.0.1/", field="url")
    async with outbound.client(timeout=5) as client:
        with pytest.raises(outbound.RefusedAddress):
            await client.get("http://127.0.0.1:9/")

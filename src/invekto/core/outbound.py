"""Requests our server makes to addresses a company typed in (a rule's webhook, a flow's HTTP
step): only to the public internet, never to this machine, the private network around it or
the cloud's metadata service (169.254.169.254). Otherwise a company could have our server read
what only it can reach (server-side request forgery).

Two checks:

- When a rule or a flow is saved, ``check_url`` refuses what is plainly inside: "localhost" and
  an address written as private digits. A host name is not looked up then (what it points to
  may change, and saving must not wait on DNS).
- When the request is made, ``client()`` gives an httpx client whose every connection first
  looks up the host, refuses it if any of its addresses is not public, and then connects to
  the very address it checked. httpx would otherwise look the name up again itself, and a
  name's owner can answer the check with a public address and the connection with 127.0.0.1
  (DNS rebinding). The check sits in the network backend of httpcore (the layer that opens
  sockets), so it also holds for redirects and retries; the clients follow no redirects anyway.

``INVEKTO_ALLOW_PRIVATE_URLS`` (off by default) lets private addresses through, for development
and the test suite's stub servers on 127.0.0.1; the connection still goes to the checked address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx

from invekto.config import get_settings
from invekto.core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits, reaching it through a
# gateway: NAT64's well-known prefix (RFC 6052). IPv4-mapped and 6to4 addresses are unwrapped
# with ``ipaddress``'s own properties.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class RefusedAddress(httpx.RequestError):
    """A request to a host that is not on the public internet. An ``httpx.RequestError``, so code
    that treats any failed request as a failure stays safe; callers that can say better (a
    final failure, not one to retry) catch it first."""


def private_allowed() -> bool:
    return get_settings().allow_private_urls


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is on the public internet: not loopback, private, link-local (the
    metadata service), multicast, reserved, unspecified, shared (100.64/10, carrier NAT),
    documentation..., nor an IPv6 address that wraps one of those."""
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = address.ipv4_mapped or address.sixtofour
        if wrapped is None and address in _NAT64:
            wrapped = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if wrapped is not None:
            return is_public(wrapped)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified)


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as digits stands for, in any form the system's resolver
    accepts ("127.0.0.1", "::1", "127.1", "2130706433", "0x7f.0.0.1"); None for a name."""
    host = host.strip("[]").split("%", 1)[0]  # an IPv6 zone ("fe80::1%eth0") names no host
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def is_local_name(host: str) -> bool:
    """Whether ``host`` is "localhost" or a subdomain of it: this machine always (RFC 6761)."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def check_url(url: str, *, field: str, allow_private: bool | None = None) -> None:
    """When a URL is saved: ValidationFailed(field=...) when its host is plainly not public.
    The scheme is the caller's to check (each words it for its form); an address that does not
    parse, or whose host is still a ``{{ variable }}``, is left to the check when it is called."""
    if private_allowed() if allow_private is None else allow_private:
        return
    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, TypeError, ValueError):
        return
    if not host:
        return
    address = literal_address(host)
    if is_local_name(host) or (address is not None and not is_public(address)):
        raise ValidationFailed(
            "this address is inside a private network; give one on the internet", field=field)


async def resolve(host: str, port: int, *, allow_private: bool | None = None,
                  seconds: float | None = None) -> list[str]:
    """The addresses of ``host`` to connect to, every one of them checked; RefusedAddress if
    any is not public (a name that also points inside is refused, not half used). ``seconds``:
    how long the look-up may take (the request's connect timeout)."""
    allow = private_allowed() if allow_private is None else allow_private
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), seconds)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"looking up {host} timed out") from exc
    except OSError as exc:  # socket.gaierror: no such name
        raise httpcore.ConnectError(f"cannot find {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not allow:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address.split("%", 1)[0])):
                named = address if host.strip("[]") == address else f"{host} ({address})"
                raise RefusedAddress(
                    f"address not allowed: {named} is not a public internet address")
    if not addresses:
        raise httpcore.ConnectError(f"cannot find {host}")
    return addresses


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's sockets, opened only to addresses ``resolve`` checked: the host name never
    reaches the resolver a second time. TLS still verifies the certificate for the host name
    (httpcore passes the URL's host as the server name, not the address connected to)."""

    def __init__(self, *, allow_private: bool):
        self._allow_private = allow_private
        self._sockets = httpcore.AnyIOBackend()

    # ``timeout`` parameters: httpcore's interface, which passes them by name.
    async def connect_tcp(self, host: str, port: int,
                          timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None,
                          socket_options: Iterable | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port, allow_private=self._allow_private,
                                  seconds=timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._sockets.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str,
                                  timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Iterable | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("address not allowed: a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._sockets.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, allow_private: bool):
        super().__init__(trust_env=False)
        # httpx 0.28 builds its httpcore pool itself and takes no network backend (an open
        # pull request, encode/httpx#3749, adds one), so the pool is built again here, with
        # httpx's certificate checks and our backend (its size limits do not matter: a client
        # here makes one request). ``tests/unit/test_outbound.py`` fails if this stops being
        # the pool httpx uses.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_CheckedBackend(allow_private=allow_private))


def client(*, timeout: float, allow_private: bool | None = None) -> httpx.AsyncClient:
    """An httpx client for a company's URL: checked connections, no redirects followed, and no
    proxy from the environment (through a proxy, the address checked would be the proxy's)."""
    allow = private_allowed() if allow_private is None else allow_private
    return httpx.AsyncClient(transport=_CheckedTransport(allow_private=allow), timeout=timeout,
                             follow_redirects=False, trust_env=False)

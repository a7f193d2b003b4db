"""Handing a message to a company's mail server with ``aiosmtplib``, and what went wrong when
it could not be.

The server is an address a company typed in, so it is reached like the other such addresses
(``core.outbound``): the host is looked up here, every address it has must be on the public
internet (unless ``INVEKTO_ALLOW_PRIVATE_URLS``), and the connection goes to the address that
was checked. TLS still verifies the certificate against the host name.

A failure becomes ``MailFailure(code, detail)``: ``code`` one of ``FAILURES`` (a sentence for
people, translated where it is shown), ``detail`` the server's own words. The password is never
part of either.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import httpcore
import httpx

from invekto.core import outbound
from invekto.core.i18n import N_

# Each step of the conversation (connecting, STARTTLS, logging in, each command) may take this
# long; a server that is slower than that is treated as unreachable.
STEP_SECONDS = 20
DETAIL_LIMIT = 500

FAILURES = {
    "not_allowed": N_("This address is inside a private network; give one on the internet."),
    "unreachable": N_("The mail server could not be reached."),
    "timeout": N_("The mail server did not answer in time."),
    "tls": N_("A secure connection to the mail server could not be made."),
    "auth": N_("The mail server did not accept the user name or password."),
    "refused": N_("The mail server refused the message."),
    "error": N_("The mail server answered with an error."),
}


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    security: str  # models.SECURITY_MODES
    username: str | None
    password: str | None  # decrypted, for this connection only

    def __repr__(self) -> str:  # a server in a log line or a traceback shows no password
        return f"Server({self.host}:{self.port}, {self.security}, user={self.username!r})"


class MailFailure(Exception):
    def __init__(self, code: str, detail: str = ""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Delivered:
    """The server took the message; ``refused``: recipients it would not take (the others
    get it)."""

    refused: tuple[str, ...] = ()


async def send(server: Server, message: EmailMessage) -> Delivered:
    """Hand ``message`` to ``server`` for everyone in its To header; MailFailure if the server
    took it for none of them."""
    connection = await _open_checked(server.host, server.port)
    smtp = aiosmtplib.SMTP(hostname=server.host, sock=connection, timeout=STEP_SECONDS,
                           use_tls=server.security == "tls", start_tls=False)
    step = "connect"
    try:
        await smtp.connect()
        if server.security == "starttls":
            step = "tls"
            await smtp.starttls()
        if server.username:
            step = "auth"
            await smtp.login(server.username, server.password or "")
        step = "send"
        refused, _reply = await smtp.send_message(message)
        # Taken already: a server that hangs up rudely changes nothing.
        with contextlib.suppress(aiosmtplib.SMTPException):
            await smtp.quit()
        return Delivered(tuple(sorted(refused)))
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise _failure(step, exc, server) from None
    finally:
        smtp.close()
        connection.close()


async def _open_checked(host: str, port: int) -> socket.socket:
    """A TCP connection to ``host``: to one of its addresses, each checked first."""
    try:
        addresses = await outbound.resolve(host, port, seconds=STEP_SECONDS)
    except outbound.RefusedAddress as exc:
        raise MailFailure("not_allowed", str(exc)) from None
    except httpcore.ConnectTimeout as exc:
        raise MailFailure("timeout", str(exc)) from None
    except (httpcore.ConnectError, httpx.RequestError) as exc:
        raise MailFailure("unreachable", str(exc)) from None
    loop = asyncio.get_running_loop()
    failure: MailFailure | None = None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        connection = socket.socket(family, socket.SOCK_STREAM)
        connection.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(connection, (address, port)),
                                   STEP_SECONDS)
            return connection
        except TimeoutError:
            connection.close()
            failure = MailFailure("timeout", f"{host}:{port} did not answer")
        except OSError as exc:
            connection.close()
            failure = MailFailure("unreachable", f"{host}:{port}: {exc.strerror or exc}")
    raise failure or MailFailure("unreachable", f"cannot find {host}")


def _failure(step: str, exc: BaseException, server: Server) -> MailFailure:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = f"{exc.code} {exc.message}"
    else:
        detail = str(exc)
    if server.password:  # no server repeats it, but a log line must never hold it
        detail = detail.replace(server.password, "•••")
    detail = detail[:DETAIL_LIMIT]
    if isinstance(exc, TimeoutError):
        code = "timeout"
    elif step == "tls" or isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__,
                                                                     ssl.SSLError):
        code = "tls"
    elif step == "auth":
        code = "auth"
    elif step == "connect" and isinstance(exc, OSError | aiosmtplib.SMTPConnectError):
        code = "unreachable"
    elif isinstance(exc, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPSenderRefused
                    | aiosmtplib.SMTPDataError):
        code = "refused"
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}"
                               for r in exc.recipients)[:DETAIL_LIMIT]
    else:
        code = "error"
    return MailFailure(code, detail)

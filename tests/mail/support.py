"""Mail under test: a real SMTP server on 127.0.0.1 (aiosmtpd, in a thread of its own) that
keeps what it is given (the ``smtp_stub`` fixture), the company's mail settings made through
the API, and the hourly job run for one company at a moment the test chooses (the service
takes ``now``)."""

from __future__ import annotations

import email
import socket
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from invekto.mail import service as mail
from invekto.mail.service import SendResult

SMTP_USER = "rapor@example.com"
SMTP_PASSWORD = "Gizli-Parola-42!"  # the stub's own


def free_port() -> int:
    """A port nothing listens on (until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None

    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None and part.get_content_subtype() == "html" \
            else None


@dataclass
class SmtpStub:
    """The server's inbox: every message it accepted, with who logged in to send it."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook
        login = (session.auth_data.login.decode()
                 if session.authenticated and isinstance(session.auth_data, LoginPassword)
                 else None)
        self.received.append(Received(
            envelope.mail_from, list(envelope.rcpt_tos),
            email.message_from_bytes(envelope.content, policy=default_policy), login))
        return "250 OK: queued"

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    accepted = (isinstance(auth_data, LoginPassword)
                and auth_data.login == SMTP_USER.encode()
                and auth_data.password == SMTP_PASSWORD.encode())
    return AuthResult(success=accepted, handled=False, auth_data=auth_data if accepted else None)


@pytest.fixture
def smtp_stub():
    """A plain-text SMTP server offering AUTH PLAIN/LOGIN (it would refuse a wrong password;
    mail without a login is taken too)."""
    stub = SmtpStub(port=free_port())
    stub.controller = Controller(stub, hostname="127.0.0.1", port=stub.port,
                                 authenticator=_authenticate, auth_require_tls=False)
    stub.controller.start()
    yield stub
    stub.stop()


async def save_server(company, port: int, **changes) -> dict:
    body = {"host": "127.0.0.1", "port": port, "security": "none", "username": SMTP_USER,
            "password": SMTP_PASSWORD, "from_address": "rapor@example.com",
            "from_name": "Test Kliniği Raporları", **changes}
    response = await company.ayla.client.put("/api/v1/settings/email/smtp", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def save_summary(company, recipients: list[str], **changes) -> dict:
    body = {"enabled": True, "recipients": recipients, "weekday": 1, "hour": 8,
            "language": "en", **changes}
    response = await company.ayla.client.put("/api/v1/settings/email/summary", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def run_hour(company, now: datetime) -> list[SendResult]:
    """The hourly job at ``now``, for this company only (other tests' companies are left
    alone): what each send it made returned."""
    async with company.rt.db.system_session() as session:
        due = await mail.due_summaries(session, now=now)
    results = []
    for tenant_id, week_start in due:
        if tenant_id == company.tenant_id:
            async with company.rt.db.tenant_session(tenant_id) as session:
                result = await mail.send_due_summary(session, tenant_id, week_start, now=now)
            if result is not None:
                results.append(result)
    return results

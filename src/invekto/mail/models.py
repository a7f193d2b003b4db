"""A company's mail server (SMTP) settings, its weekly summary's settings, and a record of each
week's summary: sent, or why not.

``mail_summary_sends`` is also what keeps a summary from going twice: one row per company and
week (UNIQUE), taken under its row lock by whoever sends (``service.send_due_summary``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, one_of

# How the connection to the mail server is protected: STARTTLS after connecting (usually port
# 587), TLS from the first byte (465), or not at all (25, a relay on a trusted network).
SECURITY_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
# "sending" only inside the transaction that sends: a committed row is sent or failed.
SEND_STATUSES = ("sending", "sent", "failed")
SUMMARY_LANGUAGES = ("tr", "en")


class SmtpSettings(IdMixin, TenantMixin, TimestampMixin, Base):
    """Where the company's e-mail goes out. No row: no mail server, nothing is sent."""

    __tablename__ = "mail_smtp_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint(one_of("security", SECURITY_MODES), name="security_valid"),
        CheckConstraint("port BETWEEN 1 AND 65535", name="port_range"),
    )

    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int]
    security: Mapped[str] = mapped_column(String(10))
    username: Mapped[str | None] = mapped_column(String(320))
    # The password, encrypted (core.crypto); never logged, never sent back to a browser.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    from_address: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))


class SummarySettings(IdMixin, TenantMixin, TimestampMixin, Base):
    """Whether, to whom, when and in which language the weekly summary goes. No row: off."""

    __tablename__ = "mail_summary_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday_iso"),
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour_of_day"),
        CheckConstraint(one_of("language", SUMMARY_LANGUAGES), name="language_valid"),
    )

    enabled: Mapped[bool] = mapped_column(server_default="false")
    recipients: Mapped[list[str]] = mapped_column(ARRAY(String(320)), server_default="{}")
    # The day (ISO: 1 Monday ... 7 Sunday) and local hour of the company's zone to send on.
    weekday: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    hour: Mapped[int] = mapped_column(SmallInteger, server_default="8")
    language: Mapped[str] = mapped_column(String(5))


class SummarySend(IdMixin, TenantMixin, Base):
    """One week's summary (the local Monday–Sunday from ``week_start``): sent, or failed and
    to be tried again."""

    __tablename__ = "mail_summary_sends"
    __table_args__ = (
        UniqueConstraint("tenant_id", "week_start"),
        CheckConstraint(one_of("status", SEND_STATUSES), name="status_valid"),
    )

    week_start: Mapped[date]
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    attempted_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # The last failure: what kind (``smtp.FAILURES``) and the server's own words.
    error_code: Mapped[str | None] = mapped_column(String(20))
    error_detail: Mapped[str | None] = mapped_column(Text)

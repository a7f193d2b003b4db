"""What the mail settings take and give. The values are checked by ``service`` (each refusal
naming its field, in words the UI translates); these only bound their sizes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Security = Literal["starttls", "tls", "none"]
Language = Literal["tr", "en"]


class SmtpSettingsIn(BaseModel):
    """``password`` is write-only: left out or empty, the saved one stays; ``clear_password``
    removes it (a relay that needs no login)."""

    host: str = Field(max_length=253)
    port: int
    security: Security = "starttls"
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=500)
    clear_password: bool = False
    from_address: str = Field(max_length=320)
    from_name: str | None = Field(default=None, max_length=200)


class SmtpSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    host: str
    port: int
    security: Security
    username: str | None
    has_password: bool
    from_address: str
    from_name: str | None


class SummarySettingsIn(BaseModel):
    """``weekday``: ISO (1 Monday ... 7 Sunday); ``hour``: 0–23 in the company's time zone;
    ``language`` left out: as saved, else the company's default language."""

    enabled: bool = False
    recipients: list[str] = Field(default=[], max_length=100)
    weekday: int = 1
    hour: int = 8
    language: Language | None = None


class SummarySettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    enabled: bool
    recipients: list[str]
    weekday: int
    hour: int
    language: Language


class SummarySendOut(BaseModel):
    """A week's summary: ``week_start`` the Monday of the week it tells about."""

    model_config = ConfigDict(from_attributes=True)

    week_start: date
    status: Literal["sent", "failed"]
    attempts: int
    attempted_at: datetime
    sent_at: datetime | None
    error_code: str | None
    error_detail: str | None


class MailSettingsOut(BaseModel):
    smtp: SmtpSettingsOut | None
    summary: SummarySettingsOut
    last_send: SummarySendOut | None


class SendTestIn(BaseModel):
    to: str = Field(max_length=320)


class SendResultOut(BaseModel):
    """Whether the server took the message, why not (``error_code``, a sentence in the caller's
    language, the server's own words in ``detail``)."""

    model_config = ConfigDict(from_attributes=True)

    ok: bool
    error_code: str | None
    message: str
    detail: str

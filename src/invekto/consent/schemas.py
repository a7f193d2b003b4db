"""What the consent history, the consent import and the İYS settings take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from invekto.contacts.schemas import ConsentOut

ConsentType = Literal["message", "call", "email"]
Source = Literal["widget", "keyword", "import", "manual", "iys"]
IysSource = Literal["HS_FIZIKSEL_ORTAM", "HS_ISLAK_IMZA", "HS_WEB", "HS_CAGRI_MERKEZI",
                    "HS_SOSYAL_MEDYA", "HS_EPOSTA", "HS_MESAJ", "HS_MOBIL", "HS_EORTAM",
                    "HS_ETKINLIK", "HS_2015", "HS_ATM", "HS_KARAR"]
PushState = Literal["pending", "sending", "sent", "failed", "skipped"]


class IysPushOut(BaseModel):
    """How telling İYS of a change went."""

    model_config = ConfigDict(from_attributes=True)

    state: PushState
    attempts: int
    sent_at: datetime | None
    transaction_id: str | None
    error_code: str | None
    error: str | None


class ConsentEventOut(BaseModel):
    """One change of a contact's consent: what, through what, when, by whom, and the evidence."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    consent_type: ConsentType
    granted: bool
    source: Source
    iys_status: Literal["ONAY", "RET"] | None
    iys_source: str | None
    recipient: str | None
    occurred_at: datetime
    recorded_at: datetime
    actor_kind: Literal["user", "api_key", "system", "iys"]
    actor_id: uuid.UUID | None
    evidence: dict[str, Any]
    iys_push: IysPushOut | None = None


class ImportRowError(BaseModel):
    row_number: int
    code: Literal["missing_phone", "invalid_phone", "duplicate", "invalid_consent",
                  "invalid_date"]


class ConsentImportOut(BaseModel):
    """What an imported file changed: its rows, those that changed a consent, those that
    confirmed what was known, new contacts, rows without a consent value, and the bad rows
    (the first 200)."""

    rows: int
    changed: int
    unchanged: int
    contacts_created: int
    blank: int
    errors: list[ImportRowError]
    error_count: int
    phone_column: str
    consent_column: str


class IysSettingsIn(BaseModel):
    """``password`` is write-only: left out or empty, the saved one stays."""

    enabled: bool = False
    base_url: str = Field(default="https://api.iys.org.tr", max_length=300)
    iys_code: str = Field(default="", max_length=20)
    brand_code: str = Field(default="", max_length=20)
    username: str = Field(default="", max_length=200)
    password: str | None = Field(default=None, max_length=500)
    recipient_type: Literal["BIREYSEL", "TACIR"] = "BIREYSEL"


class IysFailureOut(BaseModel):
    """A change İYS refused, or that kept failing."""

    event_id: uuid.UUID
    contact_id: uuid.UUID
    recipient: str
    type: str
    status: str
    attempts: int
    error_code: str | None
    error: str | None
    failed_at: datetime | None


class IysSettingsOut(BaseModel):
    """The settings as saved (the password only as ``has_password``) and how the
    synchronisation goes: changes by state, the latest failures, the last pull."""

    configured: bool
    enabled: bool
    base_url: str
    iys_code: str
    brand_code: str
    username: str
    has_password: bool
    recipient_type: Literal["BIREYSEL", "TACIR"]
    pushes: dict[str, int]
    failures: list[IysFailureOut]
    pulled_at: datetime | None
    pull_error: str | None


class IysTestOut(BaseModel):
    """Whether İYS took the user name and password (``error_code``, ``message`` if not)."""

    ok: bool
    error_code: str | None
    message: str


class IysRetryOut(BaseModel):
    retried: int


class IysCheckOut(BaseModel):
    """What İYS holds for the contact (nothing: all None) and the consent as now recorded."""

    iys_status: Literal["ONAY", "RET"] | None
    iys_consent_date: str | None
    iys_source: str | None
    consent: ConsentOut | None

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from invekto.core.masking import Masker
from invekto.core.schema import not_null

FieldType = Literal["text", "number", "date", "boolean", "select", "url", "email"]


class ContactCreate(BaseModel):
    name: str = Field(default="", max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    language: Literal["tr", "en"] | None = None
    tags: list[str] = []
    custom_fields: dict[str, Any] = {}


class ContactUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    language: Literal["tr", "en"] | None = None
    tags: list[str] | None = None
    custom_fields: dict[str, Any] | None = None


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    language: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    created_at: datetime
    last_activity_at: datetime | None
    blocked_at: datetime | None = None
    # True when phone, e-mail and personal custom fields are shown masked (the caller lacks
    # "see personal data"; POST /contacts/{id}/reveal shows them, audited).
    masked: bool = False

    @classmethod
    def shown(cls, contact: Any, masker: Masker) -> ContactOut:
        out = cls.model_validate(contact)
        if not masker.active:
            return out
        return out.model_copy(update={
            "phone": masker.phone(out.phone), "email": masker.email(out.email),
            "custom_fields": masker.custom_fields(out.custom_fields), "masked": True})


class CustomFieldCreate(BaseModel):
    key: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=100)
    field_type: FieldType
    options: list[str] = []
    position: int = Field(default=0, ge=-(2**31), le=2**31 - 1)  # an INTEGER column
    is_personal: bool = False  # masked for people without "see personal data"


class CustomFieldUpdate(BaseModel):
    label: str | None = Field(default=None, min_length=1, max_length=100)
    options: list[str] | None = None
    position: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    is_personal: bool | None = None

    _not_null = field_validator("label", "options", "position", "is_personal")(not_null)


class CustomFieldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    label: str
    field_type: FieldType
    options: list[str]
    position: int
    is_personal: bool = False


class TagCreate(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    color: str = Field(default="#6c757d", pattern=r"^#[0-9a-fA-F]{6}$")
    marks_conversion: bool = False  # a sale, a booking: counted as a conversion in reports


class TagUpdate(BaseModel):
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    marks_conversion: bool | None = None


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    color: str
    marks_conversion: bool


ConsentSource = Literal["manual", "import", "keyword", "widget", "iys"]


class ConsentIn(BaseModel):
    """A contact's marketing consent for one kind of contact, as they gave or withdrew it.
    ``occurred_at``: when they did (now by default); ``iys_source``: how, in İYS's words
    (HS_FIZIKSEL_ORTAM, HS_ISLAK_IMZA, HS_CAGRI_MERKEZI, HS_MESAJ, HS_WEB...); ``note``: kept
    with the change as its evidence."""

    granted: bool
    source: ConsentSource = "manual"
    # İYS's record, for commercial SMS and calls: ONAY (approved) or RET (refused).
    iys_status: Literal["ONAY", "RET"] | None = None
    occurred_at: datetime | None = None
    iys_source: Literal["HS_FIZIKSEL_ORTAM", "HS_ISLAK_IMZA", "HS_WEB", "HS_CAGRI_MERKEZI",
                        "HS_SOSYAL_MEDYA", "HS_EPOSTA", "HS_MESAJ", "HS_MOBIL", "HS_EORTAM",
                        "HS_ETKINLIK", "HS_2015", "HS_ATM", "HS_KARAR"] | None = None
    note: str | None = Field(default=None, max_length=500)


class ConsentOut(BaseModel):
    """A contact's current consent of one kind: given or not, through what, İYS's status, and
    since when."""

    model_config = ConfigDict(from_attributes=True)

    consent_type: Literal["message", "call", "email"]
    granted: bool
    source: ConsentSource
    iys_status: Literal["ONAY", "RET"] | None
    recorded_at: datetime

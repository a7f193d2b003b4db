from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from invekto.core.actor import Permission
from invekto.core.schema import not_null

Role = Literal["agent", "supervisor", "admin"]
Language = Literal["tr", "en"]
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    display_name: str = Field(min_length=1, max_length=200)
    role: Role = "agent"
    email: EmailStr | None = None
    language: Language = "tr"
    # Omit to have one generated and returned once.
    password: str | None = Field(default=None, min_length=10, max_length=200)
    group_ids: list[uuid.UUID] = []
    # A custom role decides what the user may do; ``role`` stays the built-in one beside it.
    custom_role_id: uuid.UUID | None = None


class UserUpdate(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    email: EmailStr | None = None
    language: Language | None = None
    is_active: bool | None = None
    group_ids: list[uuid.UUID] | None = None
    custom_role_id: uuid.UUID | None = None  # null: the built-in role alone
    # Routing gives the agent no new conversation while this many open ones are theirs; null:
    # no limit.
    max_open_conversations: int | None = Field(default=None, ge=1, le=1000)

    _not_null = field_validator("display_name", "role", "language", "is_active")(not_null)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    email: str | None
    language: str
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime
    group_ids: list[uuid.UUID] = []
    max_open_conversations: int | None = None
    custom_role_id: uuid.UUID | None = None


class UserCreated(UserOut):
    generated_password: str | None = None


class GroupCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    member_ids: list[uuid.UUID] = []


class GroupUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    member_ids: list[uuid.UUID] | None = None

    _not_null = field_validator("name", "description")(not_null)


class GroupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    member_ids: list[uuid.UUID] = []


class RoleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    permissions: list[Permission] = Field(max_length=len(Permission))


class RoleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    permissions: list[str]
    user_count: int = 0


class PermissionOut(BaseModel):
    name: str
    label: str
    roles: list[str]  # the built-in roles that include it

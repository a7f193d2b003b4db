from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from invekto.users.schemas import UserOut


class LoginIn(BaseModel):
    company: str = Field(min_length=1, max_length=40)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class Me(BaseModel):
    user: UserOut
    tenant_id: uuid.UUID
    csrf_token: str


class LoginChallenge(BaseModel):
    """The password was right; the login needs a second step, sent to ``/auth/login/2fa`` with
    ``pending_token`` before ``expires_at``: a code from the user's authenticator (``verify``)
    or, when the company requires two-factor authentication and the user has none, a code from
    an authenticator set up now with ``secret`` (``enrol``)."""

    two_factor: Literal["verify", "enrol"]
    pending_token: str
    expires_at: datetime
    secret: str | None = None
    otpauth_uri: str | None = None


class TwoFactorLoginIn(BaseModel):
    pending_token: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=40)


class LoggedIn(Me):
    # Set when the login set up two-factor authentication: shown once, never again.
    recovery_codes: list[str] | None = None


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=200)
    # The company's password policy decides (auth.policy), naming this field.
    new_password: str = Field(min_length=1, max_length=200)


# ---- two-factor authentication -----------------------------------------------------------------

class TwoFactorStatus(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
    required_by_company: bool


class TwoFactorSetup(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class CodeIn(BaseModel):
    """A code from the authenticator app, or (where it is accepted) a recovery code."""

    code: str = Field(min_length=1, max_length=40)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]  # shown once


# ---- sessions ----------------------------------------------------------------------------------

class SessionOut(BaseModel):
    id: uuid.UUID
    device: str  # "Chrome on Windows", from the user agent
    user_agent: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


class SessionsEnded(BaseModel):
    ended: int


# ---- the company's security settings -----------------------------------------------------------

class SecuritySettingsIn(BaseModel):
    require_two_factor: bool = False
    session_idle_minutes: int = 12 * 60
    session_absolute_hours: int = 14 * 24
    password_min_length: int = 10
    password_needs_letters_and_digits: bool = False


class SecuritySettingsOut(SecuritySettingsIn):
    model_config = ConfigDict(from_attributes=True)


class SsoSettingsIn(BaseModel):
    enabled: bool = False
    display_name: str = Field(default="", max_length=100)
    issuer: str = Field(default="", max_length=500)
    client_id: str = Field(default="", max_length=255)
    # Write-only: empty keeps the saved one; ``clear_client_secret`` removes it.
    client_secret: str | None = Field(default=None, max_length=1000)
    clear_client_secret: bool = False
    create_users: bool = False
    default_role: Literal["agent", "supervisor"] = "agent"
    sso_only: bool = False


class SsoSettingsOut(BaseModel):
    enabled: bool
    display_name: str
    issuer: str
    client_id: str
    has_client_secret: bool
    create_users: bool
    default_role: str
    sso_only: bool
    # What to register at the identity provider as the allowed redirect address.
    redirect_uri: str


class SecurityOut(BaseModel):
    policy: SecuritySettingsOut
    sso: SsoSettingsOut


class ApiKeyCreate(BaseModel):
    """``scopes``: permission names narrowing the role (empty: everything the role allows)."""

    name: str = Field(min_length=1, max_length=100)
    role: Literal["agent", "supervisor", "admin"] = "admin"
    scopes: list[str] = Field(default=[], max_length=50)
    rate_limit_per_minute: int = 600


class ApiKeyPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=50)
    rate_limit_per_minute: int | None = None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: str
    display_prefix: str
    scopes: list[str]
    rate_limit_per_minute: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str  # shown once

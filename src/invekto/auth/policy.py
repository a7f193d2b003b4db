"""A company's security policy (``security_settings``; no row: the defaults): whether everyone
must use two-factor authentication, how long a session may sit idle and live at most, and what
a password must be.

The password rules are checked wherever a password is chosen: a new user (``users.service``),
a password change (``auth.service``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.auth.models import SecuritySettings
from invekto.auth.schemas import SecuritySettingsIn
from invekto.config import get_settings
from invekto.core import security
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.tenants.models import Tenant

DEFAULT_IDLE_MINUTES = 12 * 60
IDLE_MINUTES_RANGE = (15, 30 * 24 * 60)
ABSOLUTE_HOURS_RANGE = (1, 90 * 24)
# The lowest a company may choose is today's rule for everyone: a policy only makes it stricter.
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128


def default_absolute_hours() -> int:
    """A session's longest life unless the company chose one: the deployment's
    ``INVEKTO_SESSION_DAYS``."""
    return get_settings().session_days * 24


# ---- passwords ---------------------------------------------------------------------------------

# Refused as they are (any case). Long enough to pass the length rule, and among the first
# anyone guesses, in Türkiye too.
COMMON_PASSWORDS = frozenset((
    "1234567890", "0123456789", "9876543210", "12345678910", "123456789012", "1234567890a",
    "123456789a", "1111111111", "0000000000", "123123123123", "1q2w3e4r5t", "1q2w3e4r5t6y",
    "1qaz2wsx3edc", "qwertyuiop", "qwertyuiop123", "qwerty12345", "qwerty123456", "asdfghjkl1",
    "asdfghjkl123", "zxcvbnm123", "asdasdasdasd", "qweqweqweqwe", "abcdefghij", "abc1234567",
    "aaaaaaaaaa", "password123", "password1234", "password12345", "passw0rd123", "password1!",
    "password123!", "iloveyou123", "welcome123", "welcome1234", "letmein123", "administrator",
    "adminadmin", "admin12345", "admin123456", "football123", "sunshine123", "princess123",
    "monkey12345", "dragon12345", "master12345", "superman123", "baseball123", "trustno1234",
    "changeme123", "sifre12345", "sifre123456", "sifresifre", "parola1234", "parola12345",
    "parolaparola", "sifre1234567", "galatasaray", "galatasaray1905", "fenerbahce",
    "fenerbahce1907", "besiktas1903", "trabzonspor", "trabzonspor1967", "istanbul34",
    "istanbul1453", "ankara0606", "izmir35izmir", "turkiye1923", "türkiye1923", "ataturk1881",
    "mustafakemal", "mustafakemalataturk", "invekto123", "invekto1234", "merhaba123", "merhaba1234"
))
# A common word padded with digits or symbols ("Galatasaray2024!", "Password#1") is refused too.
COMMON_WORDS = frozenset((
    "password", "passw0rd", "qwerty", "qwertyuiop", "asdfgh", "asdfghjkl", "zxcvbnm", "iloveyou",
    "welcome", "letmein", "admin", "administrator", "football", "sunshine", "princess", "monkey",
    "dragon", "master", "superman", "baseball", "trustno", "changeme", "sifre", "parola",
    "galatasaray", "fenerbahce", "besiktas", "trabzonspor", "istanbul", "ankara", "izmir",
    "turkiye", "türkiye", "ataturk", "merhaba", "invekto"
))
_PADDING = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$")
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = PASSWORD_MIN_LENGTH
    needs_letters_and_digits: bool = False
    # The company's name and code, squashed (``_squash``): a password must not contain them.
    company_words: tuple[str, ...] = field(default_factory=tuple)


DEFAULT_PASSWORD_POLICY = PasswordPolicy()


def _squash(text: str) -> str:
    """Lower case, letters and digits only: "Test Kliniği" → "testkliniği"."""
    return _NOT_LETTER_OR_DIGIT.sub("", text.casefold())


def is_common(password: str) -> bool:
    lowered = password.casefold()
    core = _PADDING.match(lowered).group(1)  # type: ignore[union-attr]
    return (lowered in COMMON_PASSWORDS or core in COMMON_WORDS
            or len(set(lowered)) < 4)  # "aaaaaaaaaaaa", "abababababab"


def check_password(password: str, policy: PasswordPolicy, *, username: str,
                   field: str = "password") -> None:
    """ValidationFailed(field=``field``) naming the first rule ``password`` breaks."""
    if len(password) < policy.min_length:
        raise ValidationFailed("password must be at least %(count)s characters", field=field,
                               params={"count": policy.min_length})
    if len(password) > PASSWORD_MAX_LENGTH:
        raise ValidationFailed("password must be at most %(count)s characters", field=field,
                               params={"count": PASSWORD_MAX_LENGTH})
    if username and username.lower() in password.lower():
        raise ValidationFailed("password must not contain the username", field=field)
    squashed = _squash(password)
    if any(len(word) >= 4 and word in squashed for word in policy.company_words):
        raise ValidationFailed("password must not contain the company's name or code",
                               field=field)
    if is_common(password):
        raise ValidationFailed("this password is too common; choose a less guessable one",
                               field=field)
    if policy.needs_letters_and_digits and not (
            any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise ValidationFailed("password must contain both letters and digits", field=field)


def generate_password(policy: PasswordPolicy) -> str:
    """A readable random password that keeps ``policy`` (shown once to whoever made the user)."""
    while True:
        password = security.generate_password(max(16, policy.min_length))
        try:
            check_password(password, policy, username="")
        except ValidationFailed:
            continue  # by chance without a digit, or containing the company's code
        return password


async def password_policy(session: AsyncSession, tenant_id: uuid.UUID) -> PasswordPolicy:
    """The rules a new password of the company must keep (no permission needed: whoever sets a
    password is checked against them)."""
    row = await settings_row(session, tenant_id)
    tenant = await session.get(Tenant, tenant_id)
    words = tuple(w for w in (_squash(tenant.name), _squash(tenant.slug)) if w) if tenant else ()
    if row is None:
        return PasswordPolicy(company_words=words)
    return PasswordPolicy(min_length=row.password_min_length,
                          needs_letters_and_digits=row.password_needs_letters_and_digits,
                          company_words=words)


# ---- the company's settings --------------------------------------------------------------------

@dataclass(frozen=True)
class SecurityPolicy:
    require_two_factor: bool
    session_idle_minutes: int
    session_absolute_hours: int
    password_min_length: int
    password_needs_letters_and_digits: bool

    @property
    def session_idle(self) -> timedelta:
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def session_absolute(self) -> timedelta:
        return timedelta(hours=self.session_absolute_hours)


def _of(row: SecuritySettings | None) -> SecurityPolicy:
    if row is None:
        return SecurityPolicy(require_two_factor=False, session_idle_minutes=DEFAULT_IDLE_MINUTES,
                              session_absolute_hours=default_absolute_hours(),
                              password_min_length=PASSWORD_MIN_LENGTH,
                              password_needs_letters_and_digits=False)
    return SecurityPolicy(
        require_two_factor=row.require_two_factor, session_idle_minutes=row.session_idle_minutes,
        session_absolute_hours=row.session_absolute_hours,
        password_min_length=row.password_min_length,
        password_needs_letters_and_digits=row.password_needs_letters_and_digits)


async def settings_row(session: AsyncSession, tenant_id: uuid.UUID) -> SecuritySettings | None:
    return await session.scalar(select(SecuritySettings).where(
        SecuritySettings.tenant_id == tenant_id))


async def policy_of(session: AsyncSession, tenant_id: uuid.UUID) -> SecurityPolicy:
    """The company's policy as login and sessions apply it (no permission needed)."""
    return _of(await settings_row(session, tenant_id))


async def get_policy(session: AsyncSession, actor: Actor) -> SecurityPolicy:
    actor.require(Permission.MANAGE_SECURITY)
    return await policy_of(session, actor.tenant_id)


def _check_range(value: int, bounds: tuple[int, int], field: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValidationFailed("give a whole number from %(low)s to %(high)s", field=field,
                               params={"low": low, "high": high})


async def save_policy(session: AsyncSession, actor: Actor, data: SecuritySettingsIn
                      ) -> SecurityPolicy:
    """Takes effect at once: the next request of every session is measured by the new limits;
    the next login of anyone without two-factor authentication asks them to set it up."""
    actor.require(Permission.MANAGE_SECURITY)
    _check_range(data.session_idle_minutes, IDLE_MINUTES_RANGE, "session_idle_minutes")
    _check_range(data.session_absolute_hours, ABSOLUTE_HOURS_RANGE, "session_absolute_hours")
    _check_range(data.password_min_length, (PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH),
                 "password_min_length")
    if data.session_idle_minutes > data.session_absolute_hours * 60:
        raise ValidationFailed("the idle limit cannot be longer than a session's longest life",
                               field="session_idle_minutes")
    row = await settings_row(session, actor.tenant_id)
    before = _of(row)
    if row is None:
        row = SecuritySettings(tenant_id=actor.tenant_id)
        session.add(row)
    values = data.model_dump()
    for name, value in values.items():
        setattr(row, name, value)
    await session.flush()
    changed = {name for name, value in values.items() if getattr(before, name) != value}
    await audit.record(session, actor, "security.settings_changed",
                       target_type="security_settings", target_id=row.id,
                       before={name: getattr(before, name) for name in sorted(changed)},
                       after={name: values[name] for name in sorted(changed)})
    return _of(row)

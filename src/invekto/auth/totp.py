"""The arithmetic of two-factor authentication, apart from any storage: TOTP codes (RFC 6238,
through ``pyotp``: 6 digits, 30-second steps, SHA-1, what every authenticator app makes),
the QR code an app scans, and recovery codes with their digests."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
import segno

DIGITS = 6
# A phone's clock may be a little off, and a code typed at the end of its 30 seconds arrives in
# the next step: the step before and after the server's are accepted too.
ALLOWED_DRIFT = 1
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: a code is read off paper. 16 characters of 31: about 79 bits, so that its
# plain SHA-256 cannot be reversed by trying codes (an unkeyed digest survives a rotation of
# the deployment's secret key, which a keyed one would not).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 16
_CODE = re.compile(rf"\d{{{DIGITS}}}")


def new_secret() -> str:
    """A random shared secret: 32 base32 characters, 160 bits (RFC 4226's recommendation)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The address as an inline SVG QR code: the secret is in its modules, not in markup."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=2)


def grouped(secret: str) -> str:
    """The secret in groups of four, as people type it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def code_at(secret: str, moment: datetime) -> str:
    """The code an authenticator shows at ``moment`` (tests and the stub use it)."""
    return pyotp.TOTP(secret).at(moment)


def is_totp_code(code: str) -> bool:
    """Six digits (spaces ignored) are an authenticator's code; anything else may be a
    recovery code."""
    return bool(_CODE.fullmatch(code.replace(" ", "")))


def matching_step(secret: str, code: str, *, moment: datetime, after_step: int | None
                  ) -> int | None:
    """The time step ``code`` belongs to, within the allowed drift of ``moment`` and later than
    ``after_step`` (the last one used: a code is good once); None when it matches none."""
    code = code.replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(moment)
    for step in range(now - ALLOWED_DRIFT, now + ALLOWED_DRIFT + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            return step
    return None


# ---- recovery codes ----------------------------------------------------------------------------

def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Codes as shown to the user: ``abcd-efgh-jkmn-pqrs``."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def normalise_recovery_code(code: str) -> str:
    """As typed: any case, with or without the dash and spaces."""
    return re.sub(r"[\s-]", "", code).lower()


def recovery_digest(code: str) -> bytes:
    """What is stored of a code: found by its digest, without trying each hash in turn."""
    return hashlib.sha256(normalise_recovery_code(code).encode()).digest()

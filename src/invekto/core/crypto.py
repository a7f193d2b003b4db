"""Encryption of secrets at rest (channel credentials, integration tokens, TOTP secrets).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``, keyed by HKDF over the deployment's
secret key, so one configured secret yields independent keys per purpose.

Rotation: set a new ``INVEKTO_SECRET_KEY`` and list the old one in
``INVEKTO_PREVIOUS_SECRET_KEYS``. Everything encrypted with an old key still decrypts
(MultiFernet tries each); new values use the new key; ``invekto rotate-secrets`` re-encrypts
what is stored (ops/secrets.py), after which the old key can be dropped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRETS_AT_REST = b"invekto/secrets-at-rest"


def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class SecretBox:
    def __init__(self, secret_key: str, purpose: bytes = SECRETS_AT_REST,
                 previous_keys: Sequence[str] = ()):
        self._current = _fernet(secret_key, purpose)
        self._fernet = MultiFernet([self._current,
                                    *(_fernet(old, purpose) for old in previous_keys)])

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def decrypt_json(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with the configured secret key") from exc

    def uses_current_key(self, token: str) -> bool:
        try:
            self._current.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same secret encrypted with the current key (ValueError if no key opens it)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with the configured secret key") from exc


@lru_cache
def box_for(purpose: bytes) -> SecretBox:
    """The deployment's box for ``purpose``, knowing the previous keys (cached: HKDF per call
    would cost on every request that reads a secret)."""
    from invekto.config import get_settings

    settings = get_settings()
    return SecretBox(settings.resolved_secret_key(), purpose, settings.previous_keys())


def secret_box() -> SecretBox:
    return box_for(SECRETS_AT_REST)

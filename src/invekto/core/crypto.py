"""Encryption of secrets at rest (channel credentials, integration tokens).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``, keyed by HKDF over the deployment's
secret key, so one configured secret yields independent keys per purpose.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    def __init__(self, secret_key: str, purpose: bytes = b"invekto/secrets-at-rest"):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def decrypt_json(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with the configured secret key") from exc


@lru_cache
def secret_box() -> SecretBox:
    from invekto.config import get_settings

    return SecretBox(get_settings().resolved_secret_key())

"""iyzico's signatures (docs: "Authentication" IYZWSv2, checkout form response signatures and
merchant webhooks' X-IYZ-SIGNATURE-V3), shared by the adapter and the simulator. Each is pinned
by a golden vector in the reference's signature_test_vectors.json."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from typing import Any


def _hex(secret_key: str, message: str) -> str:
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def request_signature(secret_key: str, random_key: str, uri_path: str, body: str) -> str:
    """HMAC over the random key, the path (no host, no query) and the exact JSON sent."""
    return _hex(secret_key, random_key + uri_path + body)


def authorization(api_key: str, secret_key: str, random_key: str, uri_path: str,
                  body: str) -> str:
    signature = request_signature(secret_key, random_key, uri_path, body)
    plain = f"apiKey:{api_key}&randomKey:{random_key}&signature:{signature}"
    return "IYZWSv2 " + base64.b64encode(plain.encode()).decode()


def parse_authorization(header: str) -> dict[str, str] | None:
    """The parts of an IYZWSv2 header (apiKey, randomKey, signature), None if it is not one."""
    scheme, _, encoded = header.partition(" ")
    if scheme != "IYZWSv2" or not encoded:
        return None
    try:
        plain = base64.b64decode(encoded, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    parts = dict(part.partition(":")[::2] for part in plain.split("&"))
    if not {"apiKey", "randomKey", "signature"} <= parts.keys():
        return None
    return parts


def price_text(value: Any) -> str:
    """A price as iyzico signs it: the number as returned, without trailing zeros
    (1.0 → "1", 1249.90 → "1249.9")."""
    number = Decimal(str(value)).normalize()
    return format(number, "f")


def initialize_signature(secret_key: str, conversation_id: str, token: str) -> str:
    return _hex(secret_key, f"{conversation_id}:{token}")


def retrieve_signature(secret_key: str, body: dict[str, Any]) -> str:
    parts = [str(body.get("paymentStatus") or ""), str(body.get("paymentId") or ""),
             str(body.get("currency") or ""), str(body.get("basketId") or ""),
             str(body.get("conversationId") or ""), price_text(body.get("paidPrice") or 0),
             price_text(body.get("price") or 0), str(body.get("token") or "")]
    return _hex(secret_key, ":".join(parts))


def webhook_signature(secret_key: str, body: dict[str, Any]) -> str:
    """X-IYZ-SIGNATURE-V3: the secret key is the HMAC key and also the message's first part.
    The hosted-page format (a ``token`` in the body) and the direct API format differ."""
    if body.get("token"):
        message = (secret_key + str(body.get("iyziEventType", "")) +
                   str(body.get("iyziPaymentId", "")) + str(body["token"]) +
                   str(body.get("paymentConversationId", "")) + str(body.get("status", "")))
    else:
        message = (secret_key + str(body.get("iyziEventType", "")) +
                   str(body.get("paymentId", "")) + str(body.get("paymentConversationId", "")) +
                   str(body.get("status", "")))
    return _hex(secret_key, message)


def matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, str(given).lower())

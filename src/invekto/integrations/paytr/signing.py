"""PayTR's hashes (iFrame API step 1 ``paytr_token`` and step 2 the notification's ``hash``),
shared by the adapter and the simulator; pinned by the reference's golden vectors."""

from __future__ import annotations

import base64
import hashlib
import hmac

# The fields, in order, whose values (as posted) make the get-token hash.
TOKEN_FIELDS = ("merchant_id", "user_ip", "merchant_oid", "email", "payment_amount",
                "user_basket", "no_installment", "max_installment", "currency", "test_mode")


def _b64_hmac(merchant_key: str, message: str) -> str:
    digest = hmac.new(merchant_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def paytr_token(fields: dict[str, str], merchant_key: str, merchant_salt: str) -> str:
    hash_str = "".join(str(fields.get(name, "")) for name in TOKEN_FIELDS)
    return _b64_hmac(merchant_key, hash_str + merchant_salt)


def callback_hash(merchant_key: str, merchant_salt: str, merchant_oid: str, status: str,
                  total_amount: str) -> str:
    return _b64_hmac(merchant_key, merchant_oid + merchant_salt + status + total_amount)


def matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, str(given))

"""PayTR's hashes against the reference's golden vectors and samples."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

from invekto.integrations.paytr import signing
from invekto.integrations.paytr.adapter import basket

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers"
VECTORS = json.loads((FIXTURES / "signature_test_vectors.json").read_text())


def test_the_paytr_token_of_get_token():
    v = VECTORS["paytr_iframe_paytr_token"]
    assert "".join(v[name] for name in signing.TOKEN_FIELDS) == v["hash_str"]
    assert signing.paytr_token(v, v["merchant_key"], v["merchant_salt"]) == v["paytr_token"]
    sample = json.loads((FIXTURES / "paytr.get_token.request.form.json").read_text())
    assert signing.paytr_token(sample, v["merchant_key"], v["merchant_salt"]) == \
        sample["paytr_token"]


def test_the_basket_is_encoded_as_paytrs_sample():
    v = VECTORS["paytr_iframe_paytr_token"]
    assert basket("Ornek Urun", Decimal("100.00")) == v["user_basket"]
    # Turkish letters are escaped as PHP's json_encode does.
    assert json.loads(base64.b64decode(basket("Kışlık mont", Decimal("5")))) == [
        ["Kışlık mont", "5.00", 1]]


def test_the_notification_hash():
    v = VECTORS["paytr_callback_hash"]
    assert signing.callback_hash(v["merchant_key"], v["merchant_salt"], v["merchant_oid"],
                                 v["status"], v["total_amount"]) == v["hash"]
    sample = json.loads((FIXTURES / "paytr.callback.form.json").read_text())
    assert signing.matches(signing.callback_hash(
        v["merchant_key"], v["merchant_salt"], sample["merchant_oid"], sample["status"],
        sample["total_amount"]), sample["hash"])
    assert not signing.matches(signing.callback_hash(
        v["merchant_key"], v["merchant_salt"], "ORD123", "success", "10001"), v["hash"])

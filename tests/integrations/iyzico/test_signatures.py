"""iyzico's signatures against the reference's golden vectors and samples."""

from __future__ import annotations

import json
from pathlib import Path

from invekto.integrations.iyzico import signing

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers"
VECTORS = json.loads((FIXTURES / "signature_test_vectors.json").read_text())


def test_the_authorization_header_is_iyzwsv2_exactly():
    v = VECTORS["iyzico_authorization_IYZWSv2"]
    assert signing.request_signature(v["secret_key"], v["x-iyzi-rnd"], v["uri_path"],
                                     v["json_body"]) == v["signature_hex"]
    header = signing.authorization(v["api_key"], v["secret_key"], v["x-iyzi-rnd"],
                                   v["uri_path"], v["json_body"])
    assert header == v["authorization_header"]
    assert signing.parse_authorization(header) == {
        "apiKey": v["api_key"], "randomKey": v["x-iyzi-rnd"], "signature": v["signature_hex"]}
    assert signing.parse_authorization("IYZWS " + header.split()[1]) is None
    assert signing.parse_authorization("IYZWSv2 !!!") is None


def test_the_checkout_initialize_answer_signature():
    v = VECTORS["iyzico_checkout_init_response_signature"]
    assert signing.initialize_signature(v["secret_key"], *v["fields_in_order"]) == \
        v["signature_hex"]


def test_the_retrieve_answer_signature_drops_trailing_zeros_of_prices():
    v = VECTORS["iyzico_checkout_retrieve_response_signature"]
    values = dict(zip(v["fields_in_order"], v["values"], strict=True))
    # As the JSON answer carries them: numbers, 1.0 for "1".
    answer = {**values, "paidPrice": 1.2, "price": 1.0}
    assert signing.retrieve_signature(v["secret_key"], answer) == v["signature_hex"]
    assert signing.price_text("1249.90") == "1249.9"
    assert signing.price_text(150.0) == "150"
    assert signing.retrieve_signature(v["secret_key"], {**answer, "price": 2.0}) != \
        v["signature_hex"]


def test_the_merchant_webhook_signatures_v3_in_both_formats():
    hpp = VECTORS["iyzico_webhook_X-IYZ-SIGNATURE-V3_hpp"]
    sample = json.loads((FIXTURES / "iyzico.webhook_hpp.json").read_text())
    assert signing.webhook_signature(hpp["secret_key"], sample) == hpp["header_hex"]
    direct = VECTORS["iyzico_webhook_X-IYZ-SIGNATURE-V3_direct"]
    sample = json.loads((FIXTURES / "iyzico.webhook_direct.json").read_text())
    assert signing.webhook_signature(direct["secret_key"], sample) == direct["header_hex"]
    assert not signing.matches(direct["header_hex"], None)
    assert not signing.matches(direct["header_hex"], hpp["header_hex"])

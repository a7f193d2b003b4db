import pytest

from invekto.core import security
from invekto.core.crypto import SecretBox


def test_passwords_verify_only_against_their_own_hash():
    digest = security.hash_password("doğru-parola-123")
    assert digest.startswith("$argon2id$")
    assert security.verify_password(digest, "doğru-parola-123")
    assert not security.verify_password(digest, "yanlis-parola-123")
    assert not security.verify_password(None, "anything")
    assert not security.verify_password("not-a-hash", "anything")


def test_generated_passwords_avoid_lookalike_characters():
    passwords = {security.generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 16 and not set(p) & set("0O1lI") for p in passwords)


def test_secrets_round_trip_and_need_the_same_key():
    box = SecretBox("key-one")
    token = box.encrypt_json({"access_token": "EAAG-secret"})
    assert "EAAG" not in token
    assert box.decrypt_json(token) == {"access_token": "EAAG-secret"}
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox("key-two").decrypt_json(token)

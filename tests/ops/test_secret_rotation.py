"""Changing the secret key: old secrets keep decrypting through the previous keys, and
`invekto rotate-secrets` re-encrypts what is stored so that the old key can go."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.models import Channel
from invekto.channels.schemas import ChannelCreate
from invekto.core.crypto import SecretBox, secret_box
from invekto.mail import service as mail
from invekto.mail.models import SmtpSettings
from invekto.mail.schemas import SmtpSettingsIn
from invekto.ops.secrets import encrypted_columns, rotate_all

OLD, NEW = "eski-anahtar-" + "x" * 40, "yeni-anahtar-" + "y" * 40


def test_previous_keys_decrypt_and_rotation_moves_to_the_current_key():
    old = SecretBox(OLD)
    token = old.encrypt_json({"access_token": "EAAG-gizli"})
    both = SecretBox(NEW, previous_keys=[OLD])
    assert both.decrypt_json(token) == {"access_token": "EAAG-gizli"}
    assert not both.uses_current_key(token)
    rotated = both.rotate(token)
    assert both.uses_current_key(rotated)
    assert SecretBox(NEW).decrypt_json(rotated) == {"access_token": "EAAG-gizli"}
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(NEW).decrypt_json(token)  # without the previous key the old token is lost
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(NEW).rotate(token)


def test_every_encrypted_column_follows_the_naming_convention():
    named = {f"{table.name}.{column}" for table, column in encrypted_columns()}
    assert {"channels.credentials_encrypted", "mail_smtp_settings.password_encrypted",
            "ai_settings.credentials_encrypted"} <= named


async def test_rotation_re_encrypts_a_companys_stored_secrets(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="telegram", name="Telegram", credentials={"bot_token": "123:gizli"}))
        await mail.save_smtp(session, home.system, SmtpSettingsIn(
            host="smtp.example.com", port=587, security="starttls", username="klinik",
            password="smtp-parolasi", from_address="klinik@example.com"))

    # The deployment moves from its key (the tests' current one) to a new key.
    current_key = secret_box()
    moved = SecretBox(NEW, previous_keys=[_current_secret(home)])
    first = await rotate_all(home.rt.db, moved, tenant_ids=[home.tenant_id])
    assert first.per_column["channels.credentials_encrypted"] >= 1
    assert first.per_column["mail_smtp_settings.password_encrypted"] == 1

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        stored = await session.scalar(select(Channel.credentials_encrypted).where(
            Channel.id == channel.id))
        smtp = await session.scalar(select(SmtpSettings.password_encrypted))
    only_new = SecretBox(NEW)
    assert only_new.decrypt_json(stored)["bot_token"] == "123:gizli"
    assert only_new.decrypt_json(smtp) == {"password": "smtp-parolasi"}
    with pytest.raises(ValueError):
        current_key.decrypt_json(stored)

    again = await rotate_all(home.rt.db, moved, tenant_ids=[home.tenant_id])
    assert again.rotated == 0 and again.current == first.rotated + first.current

    # Back to the tests' key, so the company's secrets stay usable for its other tests.
    back = SecretBox(_current_secret(home), previous_keys=[NEW])
    assert (await rotate_all(home.rt.db, back, tenant_ids=[home.tenant_id])).rotated == \
        first.rotated + first.current


def _current_secret(company) -> str:
    return company.rt.settings.resolved_secret_key()

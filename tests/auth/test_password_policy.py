"""The company's password rules: the length it chose (never below 10), no username, no company
name or code, no common password, letters and digits when asked; on new users (typed or
generated passwords) and on password changes."""

from __future__ import annotations

import pytest

from invekto.auth.policy import DEFAULT_PASSWORD_POLICY, PasswordPolicy, check_password
from invekto.core.errors import ValidationFailed
from tests.auth.support import assert_error
from tests.factories import PASSWORD

COMPANY = PasswordPolicy(company_words=("testkliniği", "acmeklinik"))


@pytest.mark.parametrize(("password", "message"), [
    ("kisa-sifre", None),  # ten characters: enough by default
    ("dokuzharf", "password must be at least %(count)s characters"),
    ("bora-is-my-name", "password must not contain the username"),
    ("Test Kliniği 2024!", "password must not contain the company's name or code"),
    ("acme-klinik-2024", "password must not contain the company's name or code"),
    ("1234567890", "this password is too common; choose a less guessable one"),
    ("Galatasaray1905!", "this password is too common; choose a less guessable one"),
    ("PASSWORD#2024", "this password is too common; choose a less guessable one"),
    ("ababababababab", "this password is too common; choose a less guessable one"),
    (PASSWORD, None),
])
def test_the_rules_in_order(password, message):
    if message is None:
        check_password(password, COMPANY, username="bora")
        return
    with pytest.raises(ValidationFailed) as refused:
        check_password(password, COMPANY, username="bora", field="new_password")
    assert refused.value.template == message and refused.value.field == "new_password"


def test_length_and_letters_and_digits_as_the_company_chose():
    strict = PasswordPolicy(min_length=14, needs_letters_and_digits=True)
    with pytest.raises(ValidationFailed) as refused:
        check_password("kisa-ama-iyi", strict, username="x")
    assert refused.value.params == {"count": 14}
    with pytest.raises(ValidationFailed) as refused:
        check_password("harfler-yalnizca-burada", strict, username="x")
    assert refused.value.template == "password must contain both letters and digits"
    check_password("harfler-ve-rakamlar-42", strict, username="x")
    check_password("harfler-yalnizca-burada", DEFAULT_PASSWORD_POLICY, username="x")


async def strict_company(company, **changes) -> None:
    response = await company.ayla.client.put("/api/v1/settings/security", json={
        "require_two_factor": False, "session_idle_minutes": 720,
        "session_absolute_hours": 336, "password_min_length": 16,
        "password_needs_letters_and_digits": True, **changes})
    assert response.status_code == 200, response.text


async def test_new_users_keep_the_companys_rules_typed_or_generated(world):
    home = world.home
    await strict_company(home)
    new = {"username": "yeni", "display_name": "Yeni Kişi", "role": "agent"}
    for password in (PASSWORD,  # no digits
                     "15-karakter-abc",  # too short
                     "test-kliniği-2024-x"):  # the company's name ("Test Kliniği")
        response = await home.ayla.client.post("/api/v1/users",
                                               json={**new, "password": password})
        assert_error(response, 422, "validation_failed", field="password")
    created = await home.ayla.client.post("/api/v1/users",
                                          json={**new, "password": "uzun-ve-rakamli-42"})
    assert created.status_code == 201, created.text
    generated = await home.ayla.client.post("/api/v1/users", json={
        **new, "username": "uretilen"})
    assert generated.status_code == 201, generated.text
    password = generated.json()["generated_password"]
    assert len(password) >= 16
    assert any(c.isdigit() for c in password) and any(c.isalpha() for c in password)
    # Another company keeps the defaults.
    charlie = await world.charlie.ayla.client.post("/api/v1/users", json={
        **new, "password": PASSWORD})
    assert charlie.status_code == 201, charlie.text


async def test_a_password_change_keeps_the_companys_rules(world):
    home = world.home
    await strict_company(home)
    change = "/api/v1/auth/password"
    for weak in ("yeni-ama-rakamsiz-sifre", "kisa-42", "bora-ve-42-rakam-var"):
        assert_error(await home.bora.client.post(change, json={
            "current_password": PASSWORD, "new_password": weak}),
            422, "validation_failed", field="new_password")
    response = await home.bora.client.post(change, json={
        "current_password": PASSWORD, "new_password": "uzun-ve-rakamli-2024"})
    assert response.status_code == 204, response.text

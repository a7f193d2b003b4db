"""Two-factor authentication through the JSON API: setting it up, the two-step login (a pending
token that is not a session), codes good once, recovery codes, the lockout counting wrong codes,
turning it off, new recovery codes, an admin's reset, and the company requiring it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from invekto.auth import totp
from invekto.auth.models import PendingLogin, RecoveryCode, TwoFactor
from invekto.core.crypto import secret_box
from tests.auth.support import (
    LOGIN_2FA,
    ME,
    assert_error,
    audit_actions,
    code,
    enable_two_factor,
    failed_attempts,
    fresh_client,
    password_login,
    session_count,
    time_passes,
    two_factor_login,
)

SETUP = "/api/v1/auth/2fa/setup"
ENABLE = "/api/v1/auth/2fa/enable"
DISABLE = "/api/v1/auth/2fa/disable"
STATUS = "/api/v1/auth/2fa"
REGENERATE = "/api/v1/auth/2fa/recovery-codes"


async def stored(company, user_id) -> tuple[TwoFactor | None, list[RecoveryCode]]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        row = await session.scalar(select(TwoFactor).where(TwoFactor.user_id == user_id))
        codes = (await session.scalars(select(RecoveryCode).where(
            RecoveryCode.user_id == user_id))).all()
    return row, list(codes)


# ---- setting up --------------------------------------------------------------------------------

async def test_setting_up_keeps_the_secret_encrypted_and_hands_out_ten_hashed_codes(world):
    home = world.home
    bora = home.bora.client
    setup = await bora.post(SETUP)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    assert len(secret) == 32
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/Invekto:bora%40")
    assert f"secret={secret}" in setup.json()["otpauth_uri"]
    assert setup.json()["qr_svg"].startswith("<svg")
    status = (await bora.get(STATUS)).json()
    assert status == {"enabled": False, "enabled_at": None, "recovery_codes_left": 0,
                      "required_by_company": False}

    # Not on until a code of the app confirms it: a wrong one is refused on its field.
    assert_error(await bora.post(ENABLE, json={"code": "000000" if code(secret) != "000000"
                                               else "111111"}),
                 422, "code_invalid", field="code")
    row, _ = await stored(home, home.bora.user_id)
    assert row is not None and row.confirmed_at is None

    enabled = await bora.post(ENABLE, json={"code": code(secret)})
    assert enabled.status_code == 200, enabled.text
    recovery = enabled.json()["recovery_codes"]
    assert len(recovery) == 10 == len(set(recovery))
    assert all(len(c) == 19 and c[4] == c[9] == c[14] == "-" for c in recovery)

    row, codes = await stored(home, home.bora.user_id)
    assert row.confirmed_at is not None and row.last_used_step is not None
    assert secret not in row.secret_encrypted
    assert secret_box().decrypt_json(row.secret_encrypted) == {"totp": secret}
    assert sorted(c.code_hash for c in codes) == sorted(totp.recovery_digest(c) for c in recovery)
    assert all(c.encode() not in h.code_hash for c in recovery for h in codes)
    status = (await bora.get(STATUS)).json()
    assert status["enabled"] is True and status["recovery_codes_left"] == 10
    assert [e.action for e in await audit_actions(home, "auth.2fa")] == ["auth.2fa_enabled"]

    # A second app needs the first turned off.
    assert_error(await bora.post(SETUP), 409, "conflict")


async def test_an_api_key_has_no_second_factor(world):
    async with world.home.api_client() as key:
        assert_error(await key.post(SETUP), 422, "validation_failed")
        assert_error(await key.get(STATUS), 422, "validation_failed")


# ---- the two-step login ------------------------------------------------------------------------

async def test_login_with_two_factor_needs_the_code_and_the_pending_token_is_no_session(
        world, app):
    home = world.home
    secret, _ = await enable_two_factor(home.deniz.client)
    sessions_before = await session_count(home, home.deniz.user_id)

    async with fresh_client(home) as browser:
        challenge = await password_login(browser, home, "deniz")
        assert challenge.status_code == 200, challenge.text
        body = challenge.json()
        assert body["two_factor"] == "verify" and body["secret"] is None
        assert "invekto_session" not in browser.cookies
        assert "csrf_token" not in body and "user" not in body
        assert await session_count(home, home.deniz.user_id) == sessions_before
        token = body["pending_token"]
        assert token.startswith(f"{home.tenant_id}.")
        # The pending token opens nothing: not as a session cookie, not as an API key.
        async with fresh_client(home, cookies={"invekto_session": token}) as forged:
            assert_error(await forged.get(ME), 401, "unauthenticated")
        async with fresh_client(home, headers={"Authorization": f"Bearer {token}"}) as forged:
            assert_error(await forged.get(ME), 401, "unauthenticated")

        done = await browser.post(LOGIN_2FA, json={"pending_token": token,
                                                   "code": code(secret, steps=1)})
        assert done.status_code == 200, done.text
        assert done.json()["user"]["username"] == "deniz"
        assert done.json()["recovery_codes"] is None
        browser.headers["x-csrf-token"] = done.json()["csrf_token"]
        assert (await browser.get(ME)).status_code == 200
        # The pending token was used up.
        again = await browser.post(LOGIN_2FA, json={"pending_token": token,
                                                    "code": code(secret, steps=1)})
        assert_error(again, 401, "login_expired")
    assert await session_count(home, home.deniz.user_id) == sessions_before + 1
    login = [e for e in await audit_actions(home, "auth.login")
             if e.action == "auth.login" and e.actor_id == home.deniz.user_id][-1]
    assert login.data == {"two_factor": "totp"}
    assert [e.data for e in await audit_actions(home, "auth.password_accepted")] == [
        {"next": "verify"}]


async def test_a_code_is_good_once(world):
    home = world.home
    secret, _ = await enable_two_factor(home.deniz.client)
    now = datetime.now(UTC)
    # That code, and the older ones still within the drift (from one moment: the 30 seconds
    # may turn meanwhile).
    used, older, oldest = (totp.code_at(secret, now + timedelta(seconds=30 * steps))
                           for steps in (1, 0, -1))
    first = await two_factor_login(home, "deniz", used, is_code=True)
    await first.aclose()
    # The same code again: refused, and counted as a failure.
    async with fresh_client(home) as browser:
        challenge = (await password_login(browser, home, "deniz")).json()
        for again in (used, older, oldest):
            refused = await browser.post(LOGIN_2FA, json={
                "pending_token": challenge["pending_token"], "code": again})
            assert_error(refused, 401, "code_invalid", field="code")
        assert "invekto_session" not in browser.cookies
    assert await failed_attempts(home, "deniz") == 3
    assert len([e for e in await audit_actions(home, "auth.2fa_failed")]) == 3


async def test_a_recovery_code_logs_in_once_and_is_used_up(world):
    home = world.home
    _, recovery = await enable_two_factor(home.deniz.client)
    # Typed as people do: capitals, without the dash, with spaces around.
    typed = f"  {recovery[3].replace('-', '').upper()} "
    client = await two_factor_login(home, "deniz", typed, is_code=True)
    status = (await client.get(STATUS)).json()
    assert status["recovery_codes_left"] == 9
    await client.aclose()
    async with fresh_client(home) as browser:
        challenge = (await password_login(browser, home, "deniz")).json()
        assert_error(await browser.post(LOGIN_2FA, json={
            "pending_token": challenge["pending_token"], "code": recovery[3]}),
            401, "code_invalid")
        assert (await browser.post(LOGIN_2FA, json={
            "pending_token": challenge["pending_token"], "code": recovery[4]})).status_code == 200
    assert len(await audit_actions(home, "auth.recovery_code_used")) == 2
    _, codes = await stored(home, home.deniz.user_id)
    assert len([c for c in codes if c.used_at is not None]) == 2


async def test_wrong_codes_count_toward_the_lockout_and_a_right_password_does_not_reset_it(
        world):
    home = world.home
    secret, _ = await enable_two_factor(home.deniz.client)
    wrong = "123456" if code(secret) != "123456" else "654321"
    async with fresh_client(home) as browser:
        for attempt in range(5):
            if attempt in (0, 3):  # the password again (a success) in between
                token = (await password_login(browser, home, "deniz")).json()["pending_token"]
            assert_error(await browser.post(LOGIN_2FA, json={"pending_token": token,
                                                             "code": wrong}),
                         401, "code_invalid")
        # Locked: even the right code is not checked, and the pending login is gone.
        locked = await browser.post(LOGIN_2FA, json={"pending_token": token,
                                                     "code": code(secret, steps=1)})
        assert_error(locked, 429, "login_locked")
        assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
        assert_error(await browser.post(LOGIN_2FA, json={"pending_token": token,
                                                         "code": code(secret, steps=1)}),
                     401, "login_expired")
        # And the password itself is locked out, like after five wrong passwords.
        assert_error(await password_login(browser, home, "deniz"), 429, "login_locked")
        assert "invekto_session" not in browser.cookies
    assert await failed_attempts(home, "deniz") == 5
    assert [e.data for e in await audit_actions(home, "auth.locked_out")] == [
        {"username": "deniz"}]


async def test_an_expired_or_malformed_pending_token_is_refused(world):
    home = world.home
    secret, _ = await enable_two_factor(home.deniz.client)
    async with fresh_client(home) as browser:
        token = (await password_login(browser, home, "deniz")).json()["pending_token"]
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await session.execute(update(PendingLogin).values(
                expires_at=PendingLogin.created_at - timedelta(seconds=1)))
        for bad in (token, "garbage", f"{world.charlie.tenant_id}.{token.split('.')[1]}",
                    f"{home.tenant_id}.not-a-token"):
            assert_error(await browser.post(LOGIN_2FA, json={
                "pending_token": bad, "code": code(secret, steps=1)}), 401, "login_expired")
        assert "invekto_session" not in browser.cookies


async def test_a_user_deactivated_between_the_two_steps_gets_no_session(world):
    home = world.home
    secret, _ = await enable_two_factor(home.deniz.client)
    async with fresh_client(home) as browser:
        token = (await password_login(browser, home, "deniz")).json()["pending_token"]
        response = await home.ayla.client.patch(f"/api/v1/users/{home.deniz.user_id}",
                                                json={"is_active": False})
        assert response.status_code == 200
        assert_error(await browser.post(LOGIN_2FA, json={
            "pending_token": token, "code": code(secret, steps=1)}), 401, "login_expired")


# ---- turning off, new codes, reset -------------------------------------------------------------

async def test_turning_off_needs_a_current_code_and_a_wrong_one_is_counted(world):
    home = world.home
    bora = home.bora.client
    secret, recovery = await enable_two_factor(bora)
    wrong = "000000" if code(secret) != "000000" else "111111"
    assert_error(await bora.post(DISABLE, json={"code": wrong}), 422, "code_invalid",
                 field="code")
    # The refusal's failed attempt was committed all the same.
    assert await failed_attempts(home, "bora") == 1
    assert (await stored(home, home.bora.user_id))[0] is not None

    response = await bora.post(DISABLE, json={"code": code(secret, steps=1)})
    assert response.status_code == 204, response.text
    row, codes = await stored(home, home.bora.user_id)
    assert row is None and codes == []
    assert (await bora.get(STATUS)).json()["enabled"] is False
    actions = [e.action for e in await audit_actions(home, "auth.2fa")]
    assert actions == ["auth.2fa_enabled", "auth.2fa_failed", "auth.2fa_disabled"]
    # The password alone logs in again.
    async with fresh_client(home) as browser:
        login = await password_login(browser, home, "bora")
        assert login.status_code == 200 and "csrf_token" in login.json()
    assert_error(await bora.post(DISABLE, json={"code": recovery[0]}), 422,
                 "validation_failed", field="code")


async def test_new_recovery_codes_void_the_old_ones(world):
    home = world.home
    bora = home.bora.client
    secret, old = await enable_two_factor(bora)
    assert_error(await bora.post(REGENERATE, json={"code": "nope-nope"}), 422, "code_invalid")
    response = await bora.post(REGENERATE, json={"code": code(secret, steps=1)})
    assert response.status_code == 200, response.text
    new = response.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    async with fresh_client(home) as browser:
        token = (await password_login(browser, home, "bora")).json()["pending_token"]
        assert_error(await browser.post(LOGIN_2FA, json={"pending_token": token,
                                                         "code": old[0]}),
                     401, "code_invalid")
        assert (await browser.post(LOGIN_2FA, json={"pending_token": token,
                                                    "code": new[0]})).status_code == 200
    assert len(await audit_actions(home, "auth.recovery_codes_regenerated")) == 1


async def test_an_admin_resets_a_users_two_factor_and_others_may_not(world):
    home = world.home
    await enable_two_factor(home.bora.client)
    reset = f"/api/v1/users/{home.bora.user_id}/2fa"
    assert_error(await home.sevgi.client.delete(reset), 403, "forbidden")
    assert_error(await world.charlie.ayla.client.delete(reset), 404, "not_found")
    assert (await stored(home, home.bora.user_id))[0] is not None
    assert (await home.ayla.client.delete(reset)).status_code == 204
    assert (await stored(home, home.bora.user_id)) == (None, [])
    assert_error(await home.ayla.client.delete(reset), 422, "validation_failed")
    [event] = await audit_actions(home, "auth.2fa_reset")
    assert event.actor_id == home.ayla.user_id and event.target_id == home.bora.user_id


# ---- the company requires it -------------------------------------------------------------------

async def require_two_factor(company, on: bool = True) -> None:
    response = await company.ayla.client.put("/api/v1/settings/security", json={
        "require_two_factor": on, "session_idle_minutes": 720, "session_absolute_hours": 336,
        "password_min_length": 10, "password_needs_letters_and_digits": False})
    assert response.status_code == 200, response.text


async def test_a_company_requiring_it_has_users_set_it_up_right_after_the_password(world):
    home = world.home
    await require_two_factor(home)
    async with fresh_client(home) as browser:
        challenge = await password_login(browser, home, "bora")
        assert challenge.status_code == 200, challenge.text
        body = challenge.json()
        assert body["two_factor"] == "enrol" and "invekto_session" not in browser.cookies
        secret = body["secret"]
        assert f"secret={secret}" in body["otpauth_uri"]
        # Not yet the user's: nothing is stored on them until a code confirms it.
        assert (await stored(home, home.bora.user_id)) == (None, [])

        wrong = await browser.post(LOGIN_2FA, json={
            "pending_token": body["pending_token"], "code": "12345" + "6"})
        if code(secret) != "123456":
            assert_error(wrong, 401, "code_invalid")
        done = await browser.post(LOGIN_2FA, json={"pending_token": body["pending_token"],
                                                   "code": code(secret)})
        assert done.status_code == 200, done.text
        assert len(done.json()["recovery_codes"]) == 10
        browser.headers["x-csrf-token"] = done.json()["csrf_token"]
        status = (await browser.get(STATUS)).json()
        assert status["enabled"] and status["required_by_company"]
    row, codes = await stored(home, home.bora.user_id)
    assert row.confirmed_at is not None and len(codes) == 10
    assert secret_box().decrypt_json(row.secret_encrypted) == {"totp": secret}
    [enabled] = await audit_actions(home, "auth.2fa_enabled")
    assert enabled.data == {"at_login": True}

    # From now on the usual second step.
    await time_passes(home, home.bora.user_id)
    client = await two_factor_login(home, "bora", secret)
    await client.aclose()


async def test_an_enrolment_at_login_cannot_be_skipped(world):
    """The pending token of an enrolment opens no session without the code, and the password
    login stays an enrolment until it is done."""
    home = world.home
    await require_two_factor(home)
    async with fresh_client(home) as browser:
        first = (await password_login(browser, home, "deniz")).json()
        second = (await password_login(browser, home, "deniz")).json()
        assert second["two_factor"] == "enrol" and second["secret"] != first["secret"]
        assert_error(await browser.post(LOGIN_2FA, json={"pending_token": first["pending_token"],
                                                         "code": ""}), 422,
                     "validation_failed")
        assert_error(await browser.get(ME), 401, "unauthenticated")
    # Turned off again: the password alone suffices for who has none.
    await require_two_factor(home, on=False)
    async with fresh_client(home) as browser:
        assert "csrf_token" in (await password_login(browser, home, "deniz")).json()

"""Our İYS client against the İYS simulator over real HTTP: the login and its token (kept,
refreshed, renewed when İYS stops taking it), adding a consent in İYS's format, a recipient's
status, the list of changes with its cursor, and İYS's refusals told apart from its outages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from invekto.consent import iys
from invekto.consent.simulator import BRAND_CODE, IYS_CODE, PASSWORD, USERNAME


def account(url: str, password: str = PASSWORD) -> iys.Account:
    return iys.Account(url, IYS_CODE, BRAND_CODE, USERNAME, password)


def consent(status: str = "ONAY", **fields) -> iys.Consent:
    return iys.Consent(**{"recipient": "+905321112233", "type": "MESAJ", "status": status,
                          "source": "HS_WEB", "consent_date": iys.consent_date(
                              datetime.now(UTC) - timedelta(minutes=5)), **fields})


async def test_a_consent_is_added_in_iys_format_and_its_status_read_back(iys_stub):
    async with iys.IysClient(account(iys_stub.url)) as client:
        added = await client.add_consent(consent())
        held = await client.consent_status("+905321112233", "MESAJ", "BIREYSEL")
        nothing = await client.consent_status("+905329998877", "MESAJ", "BIREYSEL")
    (body,) = iys_stub.simulator.state.added
    assert set(body) == {"recipient", "type", "source", "status", "consentDate",
                         "recipientType"}
    assert body["recipientType"] == "BIREYSEL" and body["consentDate"] == consent().consent_date
    assert added.transaction_id and added.creation_date
    assert (held.status, held.source, held.transaction_id) == ("ONAY", "HS_WEB",
                                                               added.transaction_id)
    assert nothing is None
    assert ("POST", "/oauth2/token") in iys_stub.simulator.state.requests
    assert iys_stub.simulator.state.logins == 1  # one login served all three calls


async def test_a_kept_token_is_reused_refreshed_when_old_and_renewed_when_refused(iys_stub):
    simulator = iys_stub.simulator
    async with iys.IysClient(account(iys_stub.url)) as client:
        token = await client.authenticate()
    async with iys.IysClient(account(iys_stub.url), token=token) as client:
        await client.changes(None)
    assert simulator.state.logins == 1
    aged = iys.Token(token.access_token, token.refresh_token,
                     datetime.now(UTC) - timedelta(seconds=1), token.refresh_expires_at)
    async with iys.IysClient(account(iys_stub.url), token=aged) as client:
        await client.changes(None)
        assert client.token.access_token != token.access_token
    assert (simulator.state.logins, simulator.state.refreshes) == (1, 1)
    simulator.expire_tokens()  # İYS ends them early: a 401, then a new login
    async with iys.IysClient(account(iys_stub.url), token=client.token) as again:
        await again.changes(None)
    assert simulator.state.logins == 2


async def test_changes_made_at_iys_are_listed_from_the_cursor(iys_stub):
    simulator = iys_stub.simulator
    first = simulator.customer_changes("+905321112233", status="RET")
    second = simulator.customer_changes("+905447778899", type_="ARAMA", status="RET")
    async with iys.IysClient(account(iys_stub.url)) as client:
        page = await client.changes(None, limit=1)
        assert [c.transaction_id for c in page.consents] == [first["transactionId"]]
        rest = await client.changes(page.after)
        assert [(c.recipient, c.type, c.status) for c in rest.consents] == [
            ("+905447778899", "ARAMA", "RET")]
        assert rest.consents[0].transaction_id == second["transactionId"]
        empty = await client.changes(rest.after)
    assert empty.consents == [] and empty.after == rest.after


async def test_refusals_outages_and_a_wrong_password_are_told_apart(iys_stub):
    simulator = iys_stub.simulator
    async with iys.IysClient(account(iys_stub.url)) as client:
        with pytest.raises(iys.IysRefused) as refused:
            await client.add_consent(consent("RET"))  # İYS never had an approval to withdraw
        assert refused.value.code == iys.FIRST_RET and not refused.value.temporary
        with pytest.raises(iys.IysRefused) as bad_source:
            await client.add_consent(consent(source="HS_KAMPANYA_KATILIM"))
        assert bad_source.value.status == 422
        simulator.fail_next(endpoint="consents", status=503, code=None)
        with pytest.raises(iys.IysUnavailable) as down:
            await client.add_consent(consent())
        assert down.value.temporary
        simulator.fail_next(endpoint="changes", status=429, code="H124",
                            message="Saniyede kabul edilen istek limitine ulaşıldı.")
        with pytest.raises(iys.IysUnavailable) as limited:
            await client.changes(None)
        assert limited.value.code == "H124"
    async with iys.IysClient(account(iys_stub.url, "yanlis-parola")) as wrong:
        with pytest.raises(iys.IysAuthFailed):
            await wrong.changes(None)
    assert simulator.state.added == []


async def test_an_address_nobody_answers_is_an_outage(iys_stub):
    async with iys.IysClient(account("http://127.0.0.1:9")) as client:
        with pytest.raises(iys.IysUnavailable) as unreachable:
            await client.changes(None)
    assert unreachable.value.code == "unreachable"

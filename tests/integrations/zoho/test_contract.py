"""The adapter against the Zoho CRM simulator over real HTTP: the OAuth refresh-token flow and
its renewal, the upsert's body and duplicate check, the pull's If-Modified-Since and paging,
and Zoho's errors mapped to the framework's."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from invekto.core.errors import ValidationFailed
from invekto.integrations.base import (
    IntegrationAuthFailed,
    IntegrationRateLimited,
    IntegrationRefused,
    IntegrationUnavailable,
)
from invekto.integrations.zoho import adapter as adapter_module
from invekto.integrations.zoho import mapping
from invekto.integrations.zoho.adapter import adapter
from invekto.integrations.zoho.simulator import CLIENT_ID, ORG, REFRESH_TOKEN


async def test_a_refresh_token_gives_an_access_token_which_is_kept_until_near_expiry(zoho):
    conn = zoho.connection()
    result = await adapter.check(conn)
    assert result.ok and result.detail == f"Zoho CRM: {ORG['company_name']}"
    (grant,) = zoho.simulator.state.token_grants
    assert grant["grant_type"] == "refresh_token" and grant["client_id"] == CLIENT_ID
    assert grant["refresh_token"] == REFRESH_TOKEN
    assert conn.state["api_domain"] == zoho.url and conn.state["org_domain"] == ORG["domain_name"]
    assert conn.state["expires_at"] > time.time() + 3000

    await adapter.check(conn)
    assert len(zoho.simulator.state.token_grants) == 1  # the kept token was used

    conn.state["expires_at"] = time.time() + 30  # about to expire: renewed before use
    await adapter.check(conn)
    assert len(zoho.simulator.state.token_grants) == 2


async def test_a_token_zoho_no_longer_accepts_is_renewed_once(zoho):
    conn = zoho.connection()
    await adapter.check(conn)
    first = conn.state["access_token"]
    zoho.simulator.expire_tokens()  # revoked, or Zoho's clock disagreed
    assert (await adapter.check(conn)).ok
    assert conn.state["access_token"] != first
    assert len(zoho.simulator.state.token_grants) == 2


@pytest.mark.parametrize(("overrides", "code"), [
    ({"client_secret": "wrong"}, "invalid_client"),
    ({"refresh_token": "1000.revoked.token"}, "invalid_code"),
])
async def test_refused_credentials_are_an_auth_failure(zoho, overrides, code):
    with pytest.raises(IntegrationAuthFailed) as refused:
        await adapter.check(zoho.connection(**overrides))
    assert refused.value.code == code
    assert zoho.simulator.state.requests == []  # no API call without a token


async def test_the_upsert_sends_mapped_values_and_finds_the_record_by_its_duplicate_fields(zoho):
    conn = zoho.connection(field_mapping="first_name=First_Name, last_name=Last_Name, "
                                         "phone=Mobile, email=Email")
    first = await adapter.upsert(conn, {"First_Name": "Ayşe", "Last_Name": "Yılmaz",
                                        "Mobile": "+905321112233", "Email": "ayse@example.com"})
    assert first.action == "insert" and isinstance(first.modified_at, datetime)
    assert zoho.simulator.state.upserts[-1] == {
        "data": [{"First_Name": "Ayşe", "Last_Name": "Yılmaz", "Mobile": "+905321112233",
                  "Email": "ayse@example.com"}],
        "duplicate_check_fields": ["Email", "Mobile"]}

    again = await adapter.upsert(conn, {"Last_Name": "Yılmaz-Demir",
                                        "Email": "ayse@example.com"})
    assert (again.action, again.record_id) == ("update", first.record_id)
    by_id = await adapter.upsert(conn, {"Last_Name": "Demir"}, record_id=first.record_id)
    assert by_id.record_id == first.record_id
    assert zoho.simulator.state.upserts[-1]["data"][0]["id"] == first.record_id
    (record,) = zoho.simulator.records("Leads")
    assert (record["Last_Name"], record["Mobile"]) == ("Demir", "+905321112233")


async def test_a_refused_value_names_its_zoho_field(zoho):
    conn = zoho.connection()
    with pytest.raises(IntegrationRefused) as bad_email:
        await adapter.upsert(conn, {"Last_Name": "Kaya", "Email": "not-an-address"})
    assert "(Email)" in bad_email.value.message and bad_email.value.code == "INVALID_DATA"
    with pytest.raises(IntegrationRefused) as no_name:
        await adapter.upsert(conn, {"Phone": "+905447778899"})
    assert "(Last_Name)" in no_name.value.message


async def test_the_pull_pages_through_changes_after_if_modified_since(zoho):
    conn = zoho.connection()
    seeded = [zoho.simulator.seed(Last_Name=f"Müşteri {i}", Phone=f"+9053211{i:05d}")
              for i in range(450)]
    changed = await adapter.changed_since(conn, None)
    assert [r["id"] for r in changed.records] == [r["id"] for r in seeded]
    assert changed.more is False
    pages = [q for method, path, q in zoho.simulator.state.requests if path == "/crm/v8/Leads"]
    assert [p["page"] for p in pages] == ["1", "2", "3"]
    assert pages[0]["per_page"] == "200" and pages[0]["sort_by"] == "Modified_Time"
    assert set(pages[0]["fields"].split(",")) == {"First_Name", "Last_Name", "Phone", "Email",
                                                  "Modified_Time"}

    since = seeded[-3]["Modified_Time"]
    later = await adapter.changed_since(conn, since)
    assert [r["id"] for r in later.records] == [r["id"] for r in seeded[-2:]]
    assert (await adapter.changed_since(conn, seeded[-1]["Modified_Time"])).records == []


async def test_a_pull_stops_at_zohos_page_limit_and_says_more_remain(zoho, monkeypatch):
    monkeypatch.setattr(adapter_module, "PER_PAGE", 2)
    monkeypatch.setattr(adapter_module, "MAX_PAGES", 2)
    for i in range(5):
        zoho.simulator.seed(Last_Name=f"K{i}")
    changed = await adapter.changed_since(zoho.connection(), None)
    assert len(changed.records) == 4 and changed.more is True


async def test_rate_limits_and_server_errors_are_temporary(zoho):
    conn = zoho.connection()
    zoho.simulator.fail_next(429, "TOO_MANY_REQUESTS")
    with pytest.raises(IntegrationRateLimited) as limited:
        await adapter.check(conn)
    assert limited.value.retry_after == 30 and limited.value.temporary
    zoho.simulator.fail_next(500, "INTERNAL_ERROR")
    with pytest.raises(IntegrationUnavailable) as down:
        await adapter.upsert(conn, {"Last_Name": "Kaya"})
    assert down.value.temporary and not isinstance(down.value, IntegrationRateLimited)
    assert (await adapter.check(conn)).ok


async def test_the_record_link_follows_the_data_centre_and_the_organisation(zoho):
    conn = zoho.connection(data_centre="eu")
    assert adapter.record_url(conn, "Leads", "42") == "https://crm.zoho.eu/crm/tab/Leads/42"
    await adapter.check(conn)
    assert adapter.record_url(conn, "Contacts", "42") == \
        f"https://crm.zoho.eu/crm/{ORG['domain_name']}/tab/Contacts/42"


@pytest.mark.parametrize("text", [
    "first_name=First_Name",  # neither phone nor e-mail
    "phone=Phone, email=Email",  # no last name
    "last_name=Last_Name, phone=Phone, email=Phone",
    "last_name=Last_Name, phone=Phone, city=City",
    "last_name=Last Name, phone=Phone",
    "last_name, phone=Phone",
])
def test_a_malformed_mapping_is_refused_naming_the_setting(text):
    with pytest.raises(ValidationFailed) as refused:
        mapping.parse(text)
    assert refused.value.field == mapping.FIELD


def test_the_mapping_splits_names_and_keeps_custom_fields():
    fields = mapping.parse("first_name=First_Name, last_name=Last_Name, phone=Mobile, "
                           "custom.city=City")
    assert fields["custom.city"] == "City"
    assert mapping.split_name("Ayşe Nur Yılmaz") == ("Ayşe Nur", "Yılmaz")
    assert mapping.split_name("Mehmet") == ("", "Mehmet")


async def test_a_linked_record_deleted_in_zoho_is_found_again_or_made_anew(zoho):
    conn = zoho.connection()
    first = await adapter.upsert(conn, {"Last_Name": "Kaya", "Email": "kaya@example.com"})
    del zoho.simulator.state.records["Leads"][first.record_id]
    again = await adapter.upsert(conn, {"Last_Name": "Kaya", "Email": "kaya@example.com"},
                                 record_id=first.record_id)
    assert again.action == "insert" and again.record_id != first.record_id
    assert [u["data"][0].get("id") for u in zoho.simulator.state.upserts] == [
        None, first.record_id, None]

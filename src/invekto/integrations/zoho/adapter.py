"""Zoho CRM: contacts kept the same as Zoho's Leads or Contacts (``sync``), and the Zoho record
of a contact on its card.

The calls (``client``) are Zoho CRM API v8: ``GET /org`` to test the connection, ``POST
/{module}/upsert`` with ``duplicate_check_fields`` to push a contact, ``GET /{module}`` with
``If-Modified-Since`` (sorted by ``Modified_Time``, ``page``/``per_page``) to pull the records
changed since the last pull. docs/integrations.md ("Zoho CRM") says what was confirmed in Zoho's
documentation and what is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from invekto.core.i18n import N_
from invekto.integrations import registry
from invekto.integrations.base import (
    Capability,
    CheckResult,
    Connection,
    IntegrationAdapter,
    IntegrationAuthFailed,
    IntegrationUnavailable,
    SettingField,
)
from invekto.integrations.zoho import client, mapping

MODULES = ("Leads", "Contacts")
PER_PAGE = 200  # Zoho's most per page
# Zoho pages through at most 2,000 records with page/per_page; a pull takes that many at most
# and the next one goes on from the last record's Modified_Time.
MAX_PAGES = 10
MAX_UPSERT = 100  # records per upsert request, Zoho's limit


@dataclass(frozen=True)
class Upserted:
    record_id: str
    action: str  # insert or update
    modified_at: datetime | None


@dataclass(frozen=True)
class Changed:
    """Records changed in Zoho since a time, oldest change first."""

    records: list[dict[str, Any]]
    more: bool  # more than one pull takes: the next pull goes on


def modified_time(record: dict[str, Any]) -> datetime | None:
    value = record.get("Modified_Time")
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


class ZohoAdapter(IntegrationAdapter):
    kind = "zoho"
    label = "Zoho CRM"
    description = N_("Keep contacts the same as Zoho CRM's leads or contacts, both ways, and "
                     "open a contact's Zoho record from its card.")
    capabilities = frozenset({Capability.CONTACT_SYNC, Capability.CONTACT_LOOKUP})
    default_base_url = "https://www.zohoapis.com"
    fields = (
        SettingField("data_centre", N_("Zoho data centre"), kind="select", default="com",
                     required=False,
                     choices=tuple((dc, f"zoho.{dc}") for dc in client.DATA_CENTRES),
                     help=N_("Where your Zoho account is: the end of the address you sign in "
                             "at (zoho.com, zoho.eu...).")),
        SettingField("client_id", N_("Client ID"), max_length=200,
                     help=N_("From a Self Client in Zoho's API console (api-console.zoho.com).")),
        SettingField("client_secret", N_("Client secret"), secret=True, kind="password",
                     max_length=200),
        SettingField("refresh_token", N_("Refresh token"), secret=True, kind="password",
                     max_length=300,
                     help=N_("Generated once in the Self Client with the scopes "
                             "ZohoCRM.modules.ALL and ZohoCRM.org.READ.")),
        SettingField("module", N_("Keep contacts as"), kind="select", default="Leads",
                     required=False,
                     choices=(("Leads", N_("Leads")), ("Contacts", N_("Contacts")))),
        SettingField(mapping.FIELD, N_("Field mapping"), required=False,
                     default=mapping.DEFAULT_MAPPING, max_length=1000,
                     help=N_("ours=Zoho_Field pairs, separated by commas. Ours: name, "
                             "first_name, last_name, phone, email, custom.<key>.")),
        SettingField("create_contacts", N_("Create contacts for new Zoho records"),
                     kind="select", default="no", required=False,
                     choices=(("no", N_("No: only update contacts we have")),
                              ("yes", N_("Yes")))),
        SettingField("accounts_url", N_("Zoho accounts address"), required=False, kind="url",
                     help=N_("Leave empty: it follows the data centre.")),
    )

    def clean_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        mapping.parse(str(settings.get(mapping.FIELD) or ""))
        return settings

    async def contact_changed(self, session: Any, conn: Connection, contact: Any) -> None:
        """CONTACT_SYNC: our contact changed; its push is deferred in the same transaction."""
        from invekto.integrations.zoho import sync

        await sync.defer_push(session, contact.tenant_id, contact.id)

    # ---- the connection ----------------------------------------------------------------------

    async def check(self, conn: Connection) -> CheckResult:
        """A token, then the organisation's name (``GET /org``; it needs ZohoCRM.org.READ,
        without which one record of the module is asked for instead)."""
        try:
            body = (await client.request(conn, "GET", "/org")).json()
        except IntegrationAuthFailed as exc:
            if exc.code != "OAUTH_SCOPE_MISMATCH":
                raise
            await client.request(conn, "GET", f"/{self.module(conn)}",
                                 params={"fields": "Last_Name", "per_page": 1})
            return CheckResult(True, f"Zoho CRM: {self.module(conn)}")
        org = (body.get("org") or [{}])[0]
        if org.get("domain_name"):
            conn.state["org_domain"] = str(org["domain_name"])
        return CheckResult(True, f"Zoho CRM: {org.get('company_name') or org.get('id') or '?'}")

    def module(self, conn: Connection) -> str:
        module = conn.setting("module", "Leads")
        return module if module in MODULES else "Leads"

    def mapping(self, conn: Connection) -> dict[str, str]:
        return mapping.parse(conn.setting(mapping.FIELD, mapping.DEFAULT_MAPPING))

    def record_url(self, conn: Connection, module: str, record_id: str) -> str:
        """The record in Zoho CRM's web app. With the organisation's domain name (learnt by the
        connection test), the address Zoho itself shows; else the short form, which Zoho sends
        on to the signed-in user's organisation."""
        org = conn.state.get("org_domain")
        path = f"/crm/{org}/tab/{module}/{record_id}" if org else \
            f"/crm/tab/{module}/{record_id}"
        return client.crm_url(conn) + path

    # ---- the sync's calls --------------------------------------------------------------------

    async def upsert(self, conn: Connection, record: dict[str, Any], *,
                     record_id: str | None = None) -> Upserted:
        """Create or update one record: the linked one by its id, else the one Zoho finds by
        the mapped phone or e-mail (``duplicate_check_fields``), else a new one."""
        fields = self.mapping(conn)
        body: dict[str, Any] = {"data": [{**record, **({"id": record_id} if record_id else {})}]}
        checks = [fields[k] for k in ("email", "phone") if k in fields]
        if checks:
            body["duplicate_check_fields"] = checks
        try:
            response = await client.request(conn, "POST", f"/{self.module(conn)}/upsert",
                                            json=body)
            answered = (response.json().get("data") or [{}])[0]
            if answered.get("status") != "success":
                raise client.record_error(answered, status=response.status_code)
        except client.ZohoRefused as exc:
            if record_id and exc.field == "id":
                # The linked record was deleted (or merged) in Zoho: found again by phone or
                # e-mail, or made anew.
                return await self.upsert(conn, record)
            raise
        details = answered.get("details") or {}
        if not details.get("id"):
            raise IntegrationUnavailable("Zoho CRM answered the upsert without a record id")
        return Upserted(str(details["id"]), str(answered.get("action") or ""),
                        modified_time(details))

    async def changed_since(self, conn: Connection, since: str | None) -> Changed:
        """The module's records changed after ``since`` (Zoho's ISO time), oldest change first,
        with the mapped fields; at most ``MAX_PAGES`` pages. Zoho answers 204 (or 304) when
        none changed."""
        wanted = sorted({*self.mapping(conn).values(), "Modified_Time"})
        headers = {"If-Modified-Since": since} if since else {}
        records: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            response = await client.request(
                conn, "GET", f"/{self.module(conn)}", headers=headers,
                params={"fields": ",".join(wanted), "page": page, "per_page": PER_PAGE,
                        "sort_by": "Modified_Time", "sort_order": "asc"})
            if response.status_code in (204, 304) or not response.content:
                return Changed(records, more=False)
            body = response.json()
            records.extend(r for r in body.get("data") or [] if isinstance(r, dict))
            if not (body.get("info") or {}).get("more_records"):
                return Changed(records, more=False)
        return Changed(records, more=True)


adapter = registry.register(ZohoAdapter())

"""A Zoho CRM simulator: the accounts server's token endpoint and the CRM API v8 calls Invekto
makes, for one organisation, kept in memory.

* ``POST /oauth/v2/token`` (form or query): ``grant_type=refresh_token`` with the client id,
  secret and refresh token gives ``{access_token, api_domain, token_type, expires_in}``;
  a wrong client is Zoho's HTTP 200 ``{"error": "invalid_client"}``, a wrong refresh token
  ``{"error": "invalid_code"}``. ``api_domain`` is the simulator's own address.
* ``GET /crm/v8/org``; ``GET /crm/v8/{module}`` (``fields`` required, ``page``/``per_page``
  ≤ 200 and ≤ 2,000 records deep, ``sort_by``/``sort_order``, ``If-Modified-Since``: only
  records modified after it; 204 when none); ``GET /crm/v8/{module}/search`` (``phone``,
  ``email`` or ``criteria=(Field:equals:value)``); ``POST /crm/v8/{module}/upsert`` (≤ 100
  records; by ``id``, else by ``duplicate_check_fields``, else inserted; ``Last_Name`` required
  on insert; an ``Email`` that is no address is ``INVALID_DATA`` naming it).
* Every API call needs ``Authorization: Zoho-oauthtoken <a live token>``: an unknown or
  expired one is 401 ``INVALID_TOKEN`` (``expire_tokens()`` expires them all).
* ``fail_next(status, code)`` answers the next API calls with an error (429, 500...).

Helpers: ``seed(module, **fields)`` and ``edit(module, id, **fields)`` change records as a
Zoho user would (``Modified_Time`` moves on, one second at least per change); ``records``,
``upserts`` (the bodies received) and ``token_grants`` to inspect.

As a server: ``python -m invekto.integrations.zoho.simulator --port 8036``.
"""

from __future__ import annotations

import argparse
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

CLIENT_ID = "1000.SIMULATORCLIENT0000000000000"
CLIENT_SECRET = "simulator-client-secret-0123456789abcdef"
REFRESH_TOKEN = "1000.simulatorrefreshtoken.0123456789abcdef"
ORG = {"id": "20070000000000001", "company_name": "Örnek Butik", "domain_name": "org70000001",
       "time_zone": "Europe/Istanbul"}
OWNER = {"name": "Ayla Demir", "id": "20070000000000101", "email": "ayla@ornek.example"}
ZONE = timezone(timedelta(hours=3))  # Zoho answers in the organisation's time zone
MODULES = ("Leads", "Contacts")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def zoho_time(moment: datetime) -> str:
    return moment.astimezone(ZONE).isoformat(timespec="seconds")


def api_error(code: str, message: str, status: int, **details: Any) -> JSONResponse:
    return JSONResponse({"code": code, "details": details, "message": message,
                         "status": "error"}, status_code=status)


@dataclass
class State:
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {m: {} for m in MODULES})
    tokens: dict[str, bool] = field(default_factory=dict)  # token: still valid
    token_grants: list[dict[str, str]] = field(default_factory=list)
    upserts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    failures: deque[tuple[int, str]] = field(default_factory=deque)


class ZohoSimulator:
    def __init__(self, *, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.state = State()
        self._next_id = 5725767000000500001
        self._clock = datetime.now(UTC) - timedelta(hours=1)
        self._app = Starlette(routes=[
            Route("/oauth/v2/token", self._token, methods=["POST"]),
            Route("/crm/v8/org", self._org, methods=["GET"]),
            Route("/crm/v8/{module}/upsert", self._upsert, methods=["POST"]),
            Route("/crm/v8/{module}/search", self._search, methods=["GET"]),
            Route("/crm/v8/{module}", self._list, methods=["GET"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- controls ------------------------------------------------------------------------------

    def tick(self) -> datetime:
        """The next modification time: now, and at least a second after the last one."""
        self._clock = max(datetime.now(UTC).replace(microsecond=0),
                          self._clock + timedelta(seconds=1))
        return self._clock

    def seed(self, module: str = "Leads", **fields: Any) -> dict[str, Any]:
        """A record made in Zoho by a user."""
        self._next_id += 1
        moment = zoho_time(self.tick())
        record = {"id": str(self._next_id), "Owner": dict(OWNER), **fields,
                  "Created_Time": moment, "Modified_Time": moment}
        self.state.records[module][record["id"]] = record
        return record

    def edit(self, module: str, record_id: str, **fields: Any) -> dict[str, Any]:
        record = self.state.records[module][record_id]
        record.update(fields, Modified_Time=zoho_time(self.tick()))
        return record

    def records(self, module: str = "Leads") -> list[dict[str, Any]]:
        return list(self.state.records[module].values())

    def expire_tokens(self) -> None:
        for token in self.state.tokens:
            self.state.tokens[token] = False

    def fail_next(self, status: int = 500, code: str = "INTERNAL_ERROR", count: int = 1) -> None:
        for _ in range(count):
            self.state.failures.append((status, code))

    # ---- accounts ------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        params = {**dict(request.query_params), **dict(await request.form())}
        self.state.token_grants.append({k: str(v) for k, v in params.items()})
        if params.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"})
        if params.get("client_id") != CLIENT_ID or params.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"})
        if params.get("refresh_token") != REFRESH_TOKEN:
            return JSONResponse({"error": "invalid_code"})
        token = "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16)
        self.state.tokens[token] = True
        return JSONResponse({"access_token": token, "scope": "ZohoCRM.modules.ALL ZohoCRM.org.READ",
                             "api_domain": str(request.base_url).rstrip("/"),
                             "token_type": "Bearer", "expires_in": self.expires_in})

    # ---- the API -------------------------------------------------------------------------------

    def _refused(self, request: Request) -> Response | None:
        self.state.requests.append((request.method, request.url.path,
                                    dict(request.query_params)))
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Zoho-oauthtoken ")
        if not header.startswith("Zoho-oauthtoken ") or not self.state.tokens.get(token):
            return api_error("INVALID_TOKEN", "invalid oauth token", 401)
        if self.state.failures:
            status, code = self.state.failures.popleft()
            response = api_error(code, code.lower().replace("_", " "), status)
            if status == 429:
                response.headers["Retry-After"] = "30"
            return response
        module = request.path_params.get("module")
        if module is not None and module not in MODULES:
            return api_error("INVALID_MODULE", "the module name given seems to be invalid",
                             400, resource_path_index=0)
        return None

    async def _org(self, request: Request) -> Response:
        return self._refused(request) or JSONResponse({"org": [dict(ORG)]})

    async def _list(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        query = request.query_params
        if not query.get("fields"):
            return api_error("REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                             400, param_name="fields")
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 200))
        if per_page > 200:
            return api_error("LIMIT_EXCEEDED", "the per_page limit exceeded", 400, limit=200,
                             param_name="per_page")
        if page * per_page > 2000:
            return api_error("DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                             "cannot fetch more than 2000 records", 400, limit=2000)
        found = self.records(request.path_params["module"])
        since = request.headers.get("if-modified-since")
        if since:
            after = datetime.fromisoformat(since)
            found = [r for r in found if datetime.fromisoformat(r["Modified_Time"]) > after]
        sort_by = query.get("sort_by", "id")
        found.sort(key=lambda r: (r["Modified_Time"] if sort_by == "Modified_Time"
                                  else int(r["id"])), reverse=query.get("sort_order") == "desc")
        chunk = found[(page - 1) * per_page: page * per_page]
        if not chunk:
            return Response(status_code=204)
        wanted = set(query["fields"].split(",")) | {"id"}
        return JSONResponse({"data": [{k: v for k, v in r.items() if k in wanted} for r in chunk],
                             "info": {"per_page": per_page, "count": len(chunk), "page": page,
                                      "sort_by": sort_by,
                                      "sort_order": query.get("sort_order", "desc"),
                                      "more_records": len(found) > page * per_page,
                                      "next_page_token": None, "previous_page_token": None,
                                      "page_token_expiry": None}})

    async def _search(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        query = request.query_params
        wanted: tuple[str, str] | None = None
        if query.get("phone"):
            wanted = ("Phone", query["phone"])
        elif query.get("email"):
            wanted = ("Email", query["email"])
        elif query.get("criteria"):
            match = re.fullmatch(r"\(?\((\w+):equals:(.+?)\)\)?", query["criteria"])
            if match is None:
                return api_error("INVALID_QUERY", "invalid query formed", 400,
                                 param_name="criteria")
            wanted = (match.group(1), match.group(2))
        if wanted is None:
            return api_error("REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                             400, param_name="criteria")
        found = [r for r in self.records(request.path_params["module"])
                 if str(r.get(wanted[0]) or "").lower() == wanted[1].lower()]
        if not found:
            return Response(status_code=204)
        return JSONResponse({"data": found, "info": {
            "per_page": 200, "count": len(found), "page": 1, "more_records": False}})

    async def _upsert(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        module = request.path_params["module"]
        body = await request.json()
        self.state.upserts.append(body)
        data = body.get("data") or []
        if not data or len(data) > 100:
            return api_error("INVALID_DATA", "data must hold 1 to 100 records", 400,
                             param_name="data")
        results = [self._upsert_one(module, record, body.get("duplicate_check_fields") or
                                    ["Email"], index) for index, record in enumerate(data)]
        failed = [r for r in results if r["status"] == "error"]
        status = 200 if not failed else 400 if len(failed) == len(results) else 207
        return JSONResponse({"data": results}, status_code=status)

    def _upsert_one(self, module: str, values: dict[str, Any], checks: list[str],
                    index: int) -> dict[str, Any]:
        email = values.get("Email")
        if email is not None and not _EMAIL.match(str(email)):
            return {"code": "INVALID_DATA", "details": {
                "expected_data_type": "email", "api_name": "Email",
                "json_path": f"$.data[{index}].Email"}, "message": "invalid data",
                "status": "error"}
        records = self.state.records[module]
        target, duplicate_field = None, None
        if values.get("id"):
            target = records.get(str(values["id"]))
            if target is None:
                return {"code": "INVALID_DATA", "details": {
                    "api_name": "id", "json_path": f"$.data[{index}].id"},
                    "message": "the related id given seems to be invalid", "status": "error"}
        else:
            for check in checks:
                if values.get(check):
                    target = next((r for r in records.values()
                                   if str(r.get(check) or "").lower() ==
                                   str(values[check]).lower()), None)
                    if target is not None:
                        duplicate_field = check
                        break
        fields = {k: v for k, v in values.items() if k != "id"}
        if target is None:
            if not fields.get("Last_Name"):
                return {"code": "MANDATORY_NOT_FOUND", "details": {
                    "api_name": "Last_Name", "json_path": f"$.data[{index}].Last_Name"},
                    "message": "required field not found", "status": "error"}
            target, action, message = self.seed(module, **fields), "insert", "record added"
        else:
            self.edit(module, target["id"], **fields)
            action, message = "update", "record updated"
        return {"code": "SUCCESS", "duplicate_field": duplicate_field, "action": action,
                "details": {"Modified_Time": target["Modified_Time"], "Modified_By": {
                    "name": OWNER["name"], "id": OWNER["id"]},
                    "Created_Time": target["Created_Time"], "id": target["id"],
                    "Created_By": {"name": OWNER["name"], "id": OWNER["id"]}},
                "message": message, "status": "success"}



def create_simulator(**options: Any) -> ZohoSimulator:
    return ZohoSimulator(**options)


def main() -> None:  # pragma: no cover - a development server
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8036)
    args = parser.parse_args()
    simulator = create_simulator()
    simulator.seed("Leads", First_Name="Mehmet", Last_Name="Kaya", Phone="+905447778899",
                   Email="mehmet@example.com")
    print(f"Zoho CRM simulator on http://127.0.0.1:{args.port} - client id {CLIENT_ID}, "
          f"client secret {CLIENT_SECRET}, refresh token {REFRESH_TOKEN}")
    uvicorn.run(simulator, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":  # pragma: no cover
    main()

"""Reports and the inbox at size: the large company of `invekto demo --scale large` (100,000
conversations, about 1,000,000 messages, its report facts derived by the real refresher), served
by `invekto serve` over HTTP to a signed-in supervisor.

- ``reports_p95``: the p95 time of each report (the dashboard's JSON over 30 and 90 days, with a
  tag filter, the agents' table, the HTML dashboard, the Excel export); the value is the slowest.
  Baseline: the bare SQL a report would run without the rollups, counting the last 30 days'
  messages by day straight from ``messages``.
- ``inbox_list_p95``: GET /api/v1/conversations?status=open (50 rows), against the bare SELECT
  of those 50 rows.
- ``inbox_search_p95``: GET /api/v1/conversations?q=zirkonyum (full text over the messages: a
  treatment the customers of one conversation in 15 ask about),
  against the bare full-text SELECT of 50 matching messages.
- ``reports_derive_rate``: conversations derived per second by the refresher, from nothing,
  against the rate the generator writes them at.

Each p95 is over sequential requests from one client after warm-up requests (a report is read by
a person at a time; the throughput benchmarks load the inbox concurrently).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg

from bench import common
from invekto import demo_large
from invekto.config import Settings
from invekto.db.provision import to_libpq_url

REQUESTS = 40
WARM_UP = 3
SEARCHED = "zirkonyum"


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def _time_requests(client: httpx.Client, path: str, params: dict | None = None) -> float:
    samples = []
    for attempt in range(WARM_UP + REQUESTS):
        started = time.perf_counter()
        response = client.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        if attempt >= WARM_UP:
            samples.append(elapsed)
    return p95(samples)


def _time_sql(url: str, tenant: uuid.UUID, statement: str, params: dict) -> float:
    """The bare query's p95, as the app's role in the company's scope (row-level security on)."""
    with psycopg.connect(to_libpq_url(url), autocommit=True) as connection:
        connection.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant),))
        samples = []
        for attempt in range(WARM_UP + REQUESTS):
            started = time.perf_counter()
            connection.execute(statement, params).fetchall()
            if attempt >= WARM_UP:
                samples.append((time.perf_counter() - started) * 1000)
    return p95(samples)


def run() -> list[dict]:
    with common.database() as (_server, url, directory):
        settings = Settings(database_url=url, data_dir=directory)
        company = common.run_async(demo_large.build(settings, url))
        tenant = company.tenant_id
        today = date.today()
        month = {"start": str(today - timedelta(days=29)), "end": str(today)}
        quarter = {"start": str(today - timedelta(days=89)), "end": str(today)}
        bare_report = _time_sql(url, tenant, """
            SELECT (created_at AT TIME ZONE 'Europe/Istanbul')::date, direction, count(*)
            FROM messages WHERE created_at >= %(since)s GROUP BY 1, 2""",
                                {"since": today - timedelta(days=29)})
        bare_list = _time_sql(url, tenant, """
            SELECT id, contact_id, status, last_message_at, last_message_preview
            FROM conversations WHERE status = 'open'
            ORDER BY last_message_at DESC, id DESC LIMIT 50""", {})
        bare_search = _time_sql(url, tenant, """
            SELECT id, conversation_id FROM messages
            WHERE search_vector @@ plainto_tsquery('invekto_turkish', %(q)s)
            ORDER BY created_at DESC LIMIT 50""", {"q": SEARCHED})
        env = {"INVEKTO_DATABASE_URL": url, "INVEKTO_LOG_LEVEL": "WARNING",
               "INVEKTO_DATA_DIR": str(directory), "INVEKTO_AI_WARM_UP": "false"}
        port = common.free_port()
        with common.process([sys.executable, "-m", "invekto", "serve", "--port", str(port)],
                            env, port), httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                                     timeout=60) as client:
            login = client.post("/api/v1/auth/login", json={
                "company": demo_large.SLUG, "username": "supervizor",
                "password": demo_large.PASSWORD})
            login.raise_for_status()
            reports = {
                "overview, 30 days": _time_requests(client, "/api/v1/reports/overview", month),
                "overview, 90 days": _time_requests(client, "/api/v1/reports/overview",
                                                    quarter),
                "overview, 30 days, one tag": _time_requests(
                    client, "/api/v1/reports/overview", {**month, "tag": "implant"}),
                "agents, 30 days": _time_requests(client, "/api/v1/reports/agents", month),
                "dashboard page (HTML), 30 days": _time_requests(client, "/reports", month),
                "Excel export, 30 days": _time_requests(
                    client, "/api/v1/reports/overview/export", {**month, "format": "xlsx"}),
            }
            listing = _time_requests(client, "/api/v1/conversations", {"status": "open"})
            search = _time_requests(client, "/api/v1/conversations", {"q": SEARCHED})
    slowest = max(reports, key=reports.get)
    shared = {"conversations": company.conversations, "messages": company.messages,
              "requests": REQUESTS, "warm_up_requests": WARM_UP, "client": "one, sequential",
              "server_processes": 1, "data": "invekto demo --scale large (seeded, 120 days)",
              "time_zone": str(ZoneInfo("Europe/Istanbul"))}
    return [
        common.write_result("reports_p95", reports[slowest], "ms", bare_report, {
            **shared, "slowest": slowest,
            "each_p95_ms": {name: round(value, 1) for name, value in reports.items()},
            "baseline": "bare SQL: the last 30 days' messages counted per day and direction "
                        "from the messages table", "target_ms": 1000}),
        common.write_result("inbox_list_p95", listing, "ms", bare_list, {
            **shared, "endpoint": "GET /api/v1/conversations?status=open (50 rows, session)",
            "baseline": "bare SQL: the same 50 open conversations", "target_ms": 100}),
        common.write_result("inbox_search_p95", search, "ms", bare_search, {
            **shared, "endpoint": f"GET /api/v1/conversations?q={SEARCHED} (full text; the "
                                  "customers of one conversation in 15 name it)",
            "baseline": "bare SQL: 50 newest messages matching the word", "target_ms": 100}),
        common.write_result(
            "reports_derive_rate", company.conversations / company.seconds_deriving,
            "conversations/s", company.conversations / company.seconds_writing, {
                **shared, "seconds_deriving": round(company.seconds_deriving, 1),
                "baseline": "the generator's own rate writing the same conversations "
                            "set-based (contacts, conversations, messages, events, surveys)"}),
    ]

"""The agent's screens at size: a company with 100,000 conversations (200,000 messages) and one
customer with a 5,000-message history.

- ``inbox_page_rps``: GET /inbox as a signed-in supervisor (the page, its 4 tab counts over the
  100,000 conversations and the first 30 rows), against the bare SELECT of 50 rows.
- ``thread_open_rps``: opening the long thread (GET /inbox/c/{id}: the latest 40 messages with
  their notes and events, the contact card), against a bare SELECT of the same 40 messages.
"""

from __future__ import annotations

import sys
import uuid

import httpx
import psycopg

from bench import common
from invekto import runtime
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.config import Settings
from invekto.core.actor import Actor
from invekto.provisioning import provision_tenant
from invekto.users import service as users
from invekto.users.schemas import UserCreate

SECONDS = 10.0
CONCURRENCY = 8
CONVERSATIONS = 100_000
LONG_HISTORY = 5_000
PASSWORD = "bench-password-1234"


async def _company(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    rt = runtime.build(Settings(database_url=url), url, application_name="bench-seed")
    async with rt.db.transaction() as session:
        tenant, _ = await provision_tenant(session, slug="bench", name="Bench",
                                           admin_username="admin")
        system = Actor.system(tenant.id)
        channel = await channels.create_channel(session, system, ChannelCreate(
            kind="webchat", name="Web"))
        await users.create_user(session, system, UserCreate(
            username="sup", display_name="Süpervizör", role="supervisor", password=PASSWORD))
    await rt.db.dispose()
    return tenant.id, channel.id


def _seed_rows(superuser_url: str, tenant: uuid.UUID, channel: uuid.UUID) -> uuid.UUID:
    """Set-based, as the superuser (row-level security does not apply to it); returns the
    conversation with the long history."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        params = {"t": tenant, "c": channel, "n": CONVERSATIONS}
        conn.execute("""
            INSERT INTO contacts (id, tenant_id, name, phone)
            SELECT gen_random_uuid(), %(t)s, 'Müşteri ' || i, '+90532' || lpad(i::text, 7, '0')
            FROM generate_series(1, %(n)s) i""", params)
        conn.execute("""
            INSERT INTO conversations (id, tenant_id, contact_id, channel_id, status,
                                       last_message_at, last_message_preview, unread_count)
            SELECT gen_random_uuid(), tenant_id, id, %(c)s,
                   (ARRAY['open', 'open', 'pending', 'closed'])[1 + (row_number() OVER ()) %% 4],
                   now() - (row_number() OVER ()) * interval '1 minute', 'Merhaba', 1
            FROM contacts WHERE tenant_id = %(t)s""", params)
        conn.execute("""
            INSERT INTO messages (id, tenant_id, conversation_id, contact_id, channel_id,
                                  direction, sender_kind, body, status, created_at)
            SELECT gen_random_uuid(), tenant_id, id, contact_id, channel_id, 'inbound',
                   'contact', 'Randevu almak istiyorum, ' || k || '. mesaj', 'delivered',
                   last_message_at - k * interval '1 second'
            FROM conversations, generate_series(1, 2) k WHERE tenant_id = %(t)s""", params)
        long_one = conn.execute("""
            SELECT id FROM conversations WHERE tenant_id = %(t)s AND status = 'open'
            ORDER BY last_message_at DESC LIMIT 1""", params).fetchone()[0]
        conn.execute("""
            INSERT INTO messages (id, tenant_id, conversation_id, contact_id, channel_id,
                                  direction, sender_kind, body, status, created_at)
            SELECT gen_random_uuid(), tenant_id, id, contact_id, channel_id,
                   CASE WHEN k %% 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'contact',
                   'Uzun geçmiş, mesaj ' || k, 'read', now() - k * interval '1 minute'
            FROM conversations, generate_series(1, %(long)s) k WHERE id = %(id)s""",
                     {"long": LONG_HISTORY, "id": long_one})
        conn.execute("ANALYZE")
    return long_one


def _session_headers(base: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/v1/auth/login", json={
        "company": "bench", "username": "sup", "password": PASSWORD})
    response.raise_for_status()
    return {"Cookie": f"invekto_session={response.cookies['invekto_session']}",
            "hx-request": "true"}


def run() -> list[dict]:
    with common.database() as (server, url, directory):
        tenant, channel = common.run_async(_company(url))
        conversation = _seed_rows(server.superuser_url("bench"), tenant, channel)
        env = {"INVEKTO_DATABASE_URL": url, "INVEKTO_LOG_LEVEL": "WARNING",
               "INVEKTO_DATA_DIR": str(directory),
               "BENCH_DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
               "BENCH_TENANT_ID": str(tenant), "BENCH_CONVERSATION_ID": str(conversation)}
        port = common.free_port()
        with common.process([sys.executable, "-m", "uvicorn", "bench.baseline_app:app",
                             "--port", str(port), "--log-level", "warning"], env, port):
            base = f"http://127.0.0.1:{port}"
            bare_list = common.load(f"{base}/conversations", headers={}, seconds=SECONDS,
                                    concurrency=CONCURRENCY)
            bare_thread = common.load(f"{base}/thread", headers={}, seconds=SECONDS,
                                      concurrency=CONCURRENCY)
        port = common.free_port()
        with common.process([sys.executable, "-m", "invekto", "serve", "--port", str(port)],
                            env, port):
            base = f"http://127.0.0.1:{port}"
            headers = _session_headers(base)
            page = common.load(f"{base}/inbox?tab=all", headers=headers, seconds=SECONDS,
                               concurrency=CONCURRENCY)
            thread = common.load(f"{base}/inbox/c/{conversation}", headers=headers,
                                 seconds=SECONDS, concurrency=CONCURRENCY)
    for measured in (bare_list, bare_thread, page, thread):
        assert measured["errors"] == 0, measured
    shared = {"conversations": CONVERSATIONS, "messages": 2 * CONVERSATIONS + LONG_HISTORY,
              "concurrency": CONCURRENCY, "seconds": SECONDS, "server_processes": 1}
    return [
        common.write_result("inbox_page_rps", page["rps"], "requests/s", bare_list["rps"], {
            **shared, "endpoint": "GET /inbox?tab=all (HTML page: 4 tab counts capped at "
                                  "1,000, first 30 rows, signed-in supervisor)",
            "baseline": "bare Starlette + psycopg: SELECT 50 open conversations as JSON",
            "p50_ms": round(page["p50_ms"], 1), "p99_ms": round(page["p99_ms"], 1),
            "baseline_p50_ms": round(bare_list["p50_ms"], 1)}),
        common.write_result("thread_open_rps", thread["rps"], "requests/s", bare_thread["rps"], {
            **shared, "endpoint": f"GET /inbox/c/<id> (HTML: latest 40 of {LONG_HISTORY} "
                                  "messages, notes, events, contact card)",
            "baseline": "bare Starlette + psycopg: SELECT the same 40 messages as JSON",
            "p50_ms": round(thread["p50_ms"], 1), "p99_ms": round(thread["p99_ms"], 1),
            "baseline_p50_ms": round(bare_thread["p50_ms"], 1)}),
    ]

"""WhatsApp webhooks at load, on this machine, against a bare baseline measured in the same run.

- ``webhook_intake``: signed deliveries per second our intake accepts (signature check, one
  INSERT keyed by the body's hash, the ingest job deferred in the same transaction), against a
  bare Starlette endpoint that verifies the same HMAC and does one INSERT.
- ``ingest_end_to_end``: messages per second one worker turns from stored deliveries into
  contacts, conversations and messages (with their live events).
- ``webhook_to_browser_p95``: at 100 deliveries/s, milliseconds from posting a delivery until a
  supervisor's WebSocket receives its ``message.created`` event (serve + worker running).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from websockets.asyncio.client import connect

from bench import common
from bench.webhook_load import delivery
from invekto import runtime
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.config import Settings, get_settings
from invekto.core.actor import Actor
from invekto.provisioning import provision_tenant
from invekto.users import service as users
from invekto.users.schemas import UserCreate

SECONDS = 10.0
CONCURRENCY = 16
APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "109876543210987"
PASSWORD = "bench-password-1234"
LATENCY_RATE = 100  # deliveries per second for the latency measurement
EXTRA_DELIVERIES = 20_000  # stored before the ingest drain, besides the intake run's
SECRET_KEY = "bench-secret-key-not-for-production"


async def _company(url: str) -> uuid.UUID:
    # The same secret key as the server's: it decrypts the channel's credentials.
    rt = runtime.build(Settings(database_url=url, secret_key=SECRET_KEY), url,
                       application_name="bench-seed")
    async with rt.db.transaction() as session:
        tenant, _ = await provision_tenant(session, slug="bench", name="Bench",
                                           admin_username="admin")
        system = Actor.system(tenant.id)
        channel = await channels.create_channel(session, system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp", external_id=PHONE_NUMBER_ID,
            credentials={"app_secret": APP_SECRET, "access_token": "unused"}))
        await users.create_user(session, system, UserCreate(
            username="sup", display_name="Süpervizör", role="supervisor", password=PASSWORD))
    await rt.db.dispose()
    return channel.id


def _post_load(url: str) -> dict:
    script = Path(__file__).with_name("webhook_load.py")
    done = subprocess.run([sys.executable, str(script), url, APP_SECRET, PHONE_NUMBER_ID,
                           str(SECONDS), str(CONCURRENCY)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"load failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def _count(libpq_url: str, sql: str) -> int:
    with psycopg.connect(libpq_url) as conn:
        conn.execute("SELECT set_config('app.scope', 'system', false)")
        return conn.execute(sql).fetchone()[0]


def _store_more(libpq_url: str, channel_id: uuid.UUID, count: int) -> None:
    """More waiting deliveries, stored as the intake stores them, so that the drain below runs
    long enough to be a sustained rate (the intake run alone leaves a few thousand)."""
    with psycopg.connect(libpq_url) as conn:
        conn.execute("SELECT set_config('app.scope', 'system', false)")
        tenant_id = conn.execute("SELECT tenant_id FROM channels WHERE id = %s",
                                 (channel_id,)).fetchone()[0]
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_id),))
        rows = []
        for _ in range(count):
            body, _headers = delivery(APP_SECRET, PHONE_NUMBER_ID)
            rows.append((tenant_id, channel_id, hashlib.sha256(body).hexdigest(), body.decode()))
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO webhook_events (id, tenant_id, channel_id, event_key, "
                               "payload) VALUES (gen_random_uuid(), %s, %s, %s, %s)", rows)
            # The job the intake would have left waiting for them.
            cursor.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, lock, "
                           "queueing_lock, args) VALUES ('ingest', 'channels:ingest_webhooks', "
                           "%s, %s, %s) ON CONFLICT DO NOTHING",
                           (f"ingest:{channel_id}", f"ingest:{channel_id}", json.dumps({
                               "tenant_id": str(tenant_id), "channel_id": str(channel_id)})))


def _drain_rate(libpq_url: str, env: dict[str, str]) -> tuple[int, float]:
    """Start one worker on the stored deliveries. Timed from its first finished batch (so the
    worker's start-up is not counted) until every delivery is ingested."""
    unprocessed = "SELECT count(*) FROM webhook_events WHERE processed_at IS NULL"
    total = _count(libpq_url, unprocessed)
    worker = subprocess.Popen([sys.executable, "-m", "invekto", "worker", "--concurrency", "8"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.perf_counter() + 600
    try:
        while (left_at_start := _count(libpq_url, unprocessed)) == total:
            time.sleep(0.01)
        started = time.perf_counter()
        while _count(libpq_url, unprocessed) > 0:
            if time.perf_counter() > deadline:
                raise RuntimeError("ingest did not finish in 10 minutes")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return left_at_start, elapsed


async def _latencies(base: str, channel_id: uuid.UUID, libpq_url: str) -> list[float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await http.post("/api/v1/auth/login", json={
            "company": "bench", "username": "sup", "password": PASSWORD})
        login.raise_for_status()
        cookie = f"invekto_session={login.cookies['invekto_session']}"
        sent_at: dict[str, float] = {}
        received_at: dict[str, float] = {}
        async with connect(base.replace("http", "ws") + "/ws",
                           additional_headers={"Cookie": cookie}) as socket:
            await socket.recv()  # hello

            async def listen() -> None:
                async for raw in socket:
                    event = json.loads(raw)
                    if event["type"] == "message.created":
                        received_at[event["data"]["message_id"]] = time.perf_counter()

            listener = asyncio.create_task(listen())
            url = f"/webhooks/whatsapp_cloud/{channel_id}"
            posts = []
            for _ in range(int(LATENCY_RATE * SECONDS)):
                body, headers = delivery(APP_SECRET, PHONE_NUMBER_ID)
                provider_id = json.loads(body)["entry"][0]["changes"][0]["value"][
                    "messages"][0]["id"]
                sent_at[provider_id] = time.perf_counter()
                posts.append(asyncio.create_task(http.post(url, content=body, headers=headers)))
                await asyncio.sleep(1 / LATENCY_RATE)
            await asyncio.gather(*posts)
            await asyncio.sleep(5)  # let the last ones arrive
            listener.cancel()
    with psycopg.connect(libpq_url) as conn:
        conn.execute("SELECT set_config('app.scope', 'system', false)")
        ids = dict(conn.execute(
            "SELECT id::text, provider_message_id FROM messages WHERE provider_message_id = "
            "ANY(%s)", (list(sent_at),)).fetchall())
    return sorted((received_at[m] - sent_at[p]) * 1000 for m, p in ids.items()
                  if m in received_at)


def run() -> list[dict]:
    # Credentials are encrypted with the process-wide settings' key (config.get_settings): the
    # seeding here and the servers below must share it.
    os.environ["INVEKTO_SECRET_KEY"] = SECRET_KEY
    get_settings.cache_clear()
    with common.database() as (_server, url, directory):
        channel_id = common.run_async(_company(url))
        libpq_url = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(libpq_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_webhooks (id bigserial PRIMARY KEY, "
                         "key text UNIQUE, payload jsonb)")
        env = {"INVEKTO_DATABASE_URL": url, "INVEKTO_LOG_LEVEL": "WARNING",
               "INVEKTO_DATA_DIR": str(directory), "BENCH_DATABASE_URL": libpq_url,
               "BENCH_TENANT_ID": str(uuid.uuid4()), "BENCH_APP_SECRET": APP_SECRET,
               "INVEKTO_SECRET_KEY": SECRET_KEY}
        port = common.free_port()
        with common.process([sys.executable, "-m", "uvicorn", "bench.baseline_app:app",
                             "--port", str(port), "--log-level", "warning"], env, port):
            bare = _post_load(f"http://127.0.0.1:{port}/webhook")
        port = common.free_port()
        with common.process([sys.executable, "-m", "invekto", "serve", "--port", str(port)],
                            env, port):
            ours = _post_load(f"http://127.0.0.1:{port}/webhooks/whatsapp_cloud/{channel_id}")
            _store_more(libpq_url, channel_id, EXTRA_DELIVERIES)
            ingested, seconds = _drain_rate(libpq_url, {**os.environ, **env})
            worker = subprocess.Popen([sys.executable, "-m", "invekto", "worker"],
                                      env={**os.environ, **env},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(2)
                latencies = common.run_async(_latencies(f"http://127.0.0.1:{port}", channel_id,
                                                        libpq_url))
            finally:
                worker.terminate()
                worker.wait(timeout=30)
    assert ours["errors"] == 0 and bare["errors"] == 0, (ours, bare)
    assert latencies, "no live event arrived"
    p95 = latencies[int(len(latencies) * 0.95)]
    machine = {"concurrency": CONCURRENCY, "seconds": SECONDS, "server_processes": 1}
    return [
        common.write_result("webhook_intake", ours["rps"], "requests/s", bare["rps"], {
            **machine, "endpoint": "POST /webhooks/whatsapp_cloud/<id> (signed, 1 message each)",
            "baseline": "bare Starlette + psycopg pool: verify the HMAC, one INSERT",
            "p50_ms": round(ours["p50_ms"], 1), "p99_ms": round(ours["p99_ms"], 1),
            "baseline_p50_ms": round(bare["p50_ms"], 1), "target_ratio": 0.8}),
        common.write_result("ingest_end_to_end", ingested / seconds, "messages/s",
                            bare["rps"], {
            "worker_processes": 1, "worker_concurrency": 8, "deliveries": ingested,
            "messages_per_delivery": 1, "distinct_customers": 500,
            "seconds": round(seconds, 1), "target": ">= 1000 messages/s on 2 cores",
            "timed": "from the worker's first finished batch until none waits",
            "baseline": "the bare intake's requests/s (store only, no parsing)"}),
        common.write_result("webhook_to_browser_p95", p95, "ms", latencies[len(latencies) // 2], {
            "rate_per_second": LATENCY_RATE, "seconds": SECONDS, "events": len(latencies),
            "baseline": "the same run's median (p50) latency", "target": "< 150 ms",
            "p99_ms": round(latencies[int(len(latencies) * 0.99)], 1)}),
    ]

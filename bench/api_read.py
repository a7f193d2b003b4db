"""Inbox list throughput: GET /api/v1/conversations (API key auth, tenant scope, RLS, ORM, 50 rows)
against a bare Starlette endpoint that runs the same SELECT on a psycopg pool."""

from __future__ import annotations

import sys
import uuid

from bench import common
from invekto import runtime
from invekto.config import Settings
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage
from invekto.provisioning import provision_tenant

SECONDS = 10.0
CONCURRENCY = 16
CONVERSATIONS = 2000


async def _seed(url: str) -> tuple[uuid.UUID, str]:
    rt = runtime.build(Settings(database_url=url), url, application_name="bench-seed")
    async with rt.db.transaction() as session:
        tenant, provisioned = await provision_tenant(session, slug="bench", name="Bench",
                                                     admin_username="admin")
        from invekto.channels import service as channels
        from invekto.channels.schemas import ChannelCreate
        from invekto.core.actor import Actor

        channel = await channels.create_channel(session, Actor.system(tenant.id), ChannelCreate(
            kind="webchat", name="Web"))
        for index in range(CONVERSATIONS):
            await inbox.receive_inbound(session, tenant.id, InboundMessage(
                channel_id=channel.id, handle=f"visitor-{index}", provider_message_id=str(index),
                contact_name=f"Müşteri {index}", body=f"Merhaba, {index} numaralı soru"))
    await rt.db.dispose()
    return tenant.id, provisioned.api_key


def run() -> dict:
    with common.database() as (_server, url, directory):
        tenant_id, api_key = common.run_async(_seed(url))
        env = {"INVEKTO_DATABASE_URL": url, "INVEKTO_LOG_LEVEL": "WARNING",
               "INVEKTO_DATA_DIR": str(directory), "BENCH_DATABASE_URL":
               url.replace("postgresql+psycopg://", "postgresql://"),
               "BENCH_TENANT_ID": str(tenant_id)}
        port = common.free_port()
        with common.process([sys.executable, "-m", "uvicorn", "bench.baseline_app:app",
                             "--port", str(port), "--log-level", "warning"], env, port):
            baseline = common.load(f"http://127.0.0.1:{port}/conversations", headers={},
                                   seconds=SECONDS, concurrency=CONCURRENCY)
        port = common.free_port()
        with common.process([sys.executable, "-m", "invekto", "serve", "--port", str(port)],
                            env, port):
            ours = common.load(f"http://127.0.0.1:{port}/api/v1/conversations?status=open",
                               headers={"Authorization": f"Bearer {api_key}"},
                               seconds=SECONDS, concurrency=CONCURRENCY)
    assert ours["errors"] == 0 and baseline["errors"] == 0, (ours, baseline)
    return common.write_result(
        "api_conversation_list_rps", ours["rps"], "requests/s", baseline["rps"], {
            "endpoint": "GET /api/v1/conversations?status=open (50 of 2000 rows)",
            "baseline": "bare Starlette + psycopg pool, same SELECT, no auth",
            "concurrency": CONCURRENCY, "seconds": SECONDS, "server_processes": 1,
            "p50_ms": round(ours["p50_ms"], 1), "p99_ms": round(ours["p99_ms"], 1),
            "baseline_p50_ms": round(baseline["p50_ms"], 1),
            "baseline_p99_ms": round(baseline["p99_ms"], 1)})

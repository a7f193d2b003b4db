import json
import logging
from pathlib import Path

from sqlalchemy import select

from invekto.channels.models import Channel
from invekto.core import logging as app_logging
from invekto.db import migrate


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "migrations": {"current": migrate.head_revision()}}
    # The newest migration file is the head the database reports.
    newest = max(p.name[:4] for p in (Path(migrate.__file__).parents[1] / "migrations"
                                      / "versions").glob("[0-9]*.py"))
    assert migrate.head_revision() == newest


async def test_metrics_count_requests_by_route_template(world):
    bora = world.home.bora
    await bora.client.get("/api/v1/users")
    metrics = (await bora.client.get("/metrics")).text
    assert 'invekto_http_requests_total{method="GET",route="/api/v1/users",status="200"}' \
        in metrics
    assert "invekto_http_request_duration_seconds_bucket" in metrics


async def test_request_ids_are_echoed_or_made(client):
    assert (await client.get("/healthz", headers={"x-request-id": "abc-123"})
            ).headers["x-request-id"] == "abc-123"
    made = (await client.get("/healthz")).headers["x-request-id"]
    assert len(made) == 32


async def test_logs_are_json_with_request_and_tenant_ids_and_no_secrets(world, capsys):
    app_logging.configure("INFO", json_output=True)
    try:
        response = await world.home.ayla.client.post("/api/v1/channels", json={
            "kind": "whatsapp_cloud", "name": "WA", "credentials": {"access_token": "EAAG-s3cr3t"}})
        assert response.status_code == 201
        # Log records go to stderr through the root handler configured above.
        logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()
                  if line.startswith("{")]
    finally:
        logging.getLogger().handlers[:] = []
    request_line = next(line for line in logged if line.get("path") == "/api/v1/channels")
    assert request_line["tenant_id"] == str(world.home.tenant_id)
    assert len(request_line["request_id"]) == 32
    assert all("EAAG-s3cr3t" not in json.dumps(line) for line in logged)


async def test_channel_credentials_are_encrypted_at_rest_and_never_returned(world, rt):
    response = await world.home.ayla.client.post("/api/v1/channels", json={
        "kind": "telegram", "name": "Bot", "credentials": {"bot_token": "123:ABC-secret"}})
    assert response.status_code == 201
    body = response.json()
    assert body["has_credentials"] is True
    assert "123:ABC-secret" not in response.text
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        stored = await session.scalar(select(Channel.credentials_encrypted).where(
            Channel.id == body["id"]))
    assert stored and "123:ABC-secret" not in stored

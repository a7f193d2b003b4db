"""The webhook intake over HTTP: Meta's handshake, signatures, raw storage keyed by the body, the
ingest job deferred once, and refusals that store nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from invekto.channels import service as channels
from invekto.channels.models import WebhookEvent
from invekto.channels.schemas import ChannelCreate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
APP_SECRET = "test-app-secret-do-not-use"
VERIFY_TOKEN = "dogrulama-jetonu-42"
PHONE_NUMBER_ID = "109876543210987"  # the fixtures' metadata.phone_number_id


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


@pytest.fixture
async def whatsapp(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp", external_id=PHONE_NUMBER_ID,
            credentials={"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
                         "access_token": "EAAG-test"}))
    return channel


def url(channel, kind: str = "whatsapp_cloud") -> str:
    return f"/webhooks/{kind}/{channel.id}"


async def stored_events(world, channel) -> int:
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.channel_id == channel.id))


async def deferred_ingests(world, channel) -> int:
    """Ingest jobs waiting for the channel (one is enough for any number of deliveries)."""
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await session.scalar(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
            "'channels:ingest_webhooks' AND status = 'todo' AND args->>'channel_id' = :id"),
            {"id": str(channel.id)})


# ---- handshake ---------------------------------------------------------------------------------

async def test_the_handshake_echoes_the_challenge_for_the_right_token(client, whatsapp):
    response = await client.get(url(whatsapp), params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.challenge": "1"},
])
async def test_the_handshake_refuses_anything_else(client, whatsapp, params):
    response = await client.get(url(whatsapp), params=params)
    assert response.status_code == 403
    assert response.text != "1"


async def test_unknown_channels_and_kinds_are_404(client, whatsapp):
    for path in (f"/webhooks/whatsapp_cloud/{uuid.uuid4()}", url(whatsapp, "messenger"),
                 url(whatsapp, "telegramx")):
        assert (await client.get(path, params={"hub.mode": "subscribe"})).status_code == 404
        body = fixture("whatsapp_cloud.inbound_text.json")
        assert (await client.post(path, content=body, headers=signed(body))).status_code == 404


async def test_a_deactivated_channel_takes_no_deliveries(client, world, whatsapp):
    home = world.home
    response = await home.ayla.client.patch(f"/api/v1/channels/{whatsapp.id}",
                                            json={"is_active": False})
    assert response.status_code == 200
    body = fixture("whatsapp_cloud.inbound_text.json")
    assert (await client.post(url(whatsapp), content=body,
                              headers=signed(body))).status_code == 404
    assert await stored_events(world, whatsapp) == 0


# ---- signatures --------------------------------------------------------------------------------

async def test_a_signed_delivery_is_stored_once_and_its_ingest_deferred(client, world, whatsapp):
    body = fixture("whatsapp_cloud.inbound_text.json")
    response = await client.post(url(whatsapp), content=body, headers=signed(body))
    assert response.status_code == 200
    assert await stored_events(world, whatsapp) == 1
    assert await deferred_ingests(world, whatsapp) == 1
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        event = await session.scalar(select(WebhookEvent).where(
            WebhookEvent.channel_id == whatsapp.id))
    assert event.payload == json.loads(body)
    assert event.event_key == hashlib.sha256(body).hexdigest()


async def test_the_same_delivery_five_times_is_stored_and_ingested_once(client, world, whatsapp):
    body = fixture("whatsapp_cloud.inbound_text.json")
    for _ in range(5):
        assert (await client.post(url(whatsapp), content=body,
                                  headers=signed(body))).status_code == 200
    assert await stored_events(world, whatsapp) == 1
    assert await deferred_ingests(world, whatsapp) == 1


def _altered(body: bytes) -> bytes:
    index = body.index(b"Merhaba")
    return body[:index] + b"N" + body[index + 1:]


@pytest.mark.parametrize("case", ["missing", "bad", "wrong secret", "altered body",
                                  "no prefix", "sha1 header"])
async def test_a_bad_or_missing_signature_is_401_and_stores_nothing(client, world, whatsapp,
                                                                    case):
    body = fixture("whatsapp_cloud.inbound_text.json")
    headers = {"Content-Type": "application/json"}
    if case == "bad":
        headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    elif case == "wrong secret":
        headers = signed(body, secret="another-app-secret")
    elif case == "altered body":
        headers = signed(body)
        body = _altered(body)
    elif case == "no prefix":
        headers["X-Hub-Signature-256"] = signed(body)["X-Hub-Signature-256"].removeprefix(
            "sha256=")
    elif case == "sha1 header":
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(APP_SECRET.encode(), body,
                                                        hashlib.sha1).hexdigest()
    response = await client.post(url(whatsapp), content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    assert await stored_events(world, whatsapp) == 0


# ---- malformed bodies --------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"object": "x"}', b'{"entry": {}}',
                                  b"\xff\xfe"])
async def test_a_malformed_body_is_400_and_stores_nothing(client, world, whatsapp, body):
    response = await client.post(url(whatsapp), content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "malformed_body", "field": "body",
                                        "message": response.json()["error"]["message"]}
    assert await stored_events(world, whatsapp) == 0


# ---- a BSP (360dialog): our own token header ---------------------------------------------------

async def test_a_bsp_delivery_needs_the_channels_webhook_token(client, world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_bsp", name="360dialog", external_id=PHONE_NUMBER_ID,
            credentials={"api_key": "d360-key", "webhook_token": "gizli-jeton"}))
    body = fixture("whatsapp_cloud.inbound_text.json")
    path = url(channel, "whatsapp_bsp")
    for headers in ({}, {"x-invekto-webhook-token": "yanlis"}, signed(body)):
        assert (await client.post(path, content=body, headers=headers)).status_code == 401
    assert await stored_events(world, channel) == 0
    response = await client.post(path, content=body,
                                 headers={"x-invekto-webhook-token": "gizli-jeton"})
    assert response.status_code == 200
    assert await stored_events(world, channel) == 1


async def test_creating_a_channel_answers_with_its_webhook_url_and_secret_once(world, client):
    admin = world.home.ayla.client
    response = await admin.post("/api/v1/channels", json={
        "kind": "whatsapp_cloud", "name": "WhatsApp 2", "external_id": PHONE_NUMBER_ID,
        "credentials": {"app_secret": APP_SECRET, "access_token": "EAAG-test"}})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["webhook_url"] == f"http://testserver/webhooks/whatsapp_cloud/{created['id']}"
    token = created["webhook_secret"]
    assert token and len(token) >= 24
    # The generated token passes Meta's handshake; it is not shown again.
    again = (await admin.get(f"/api/v1/channels/{created['id']}")).json()
    assert again["webhook_secret"] is None and again["webhook_url"] == created["webhook_url"]
    handshake = await client.get(f"/webhooks/whatsapp_cloud/{created['id']}", params={
        "hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "77"})
    assert (handshake.status_code, handshake.text) == (200, "77")
    web = (await admin.post("/api/v1/channels", json={"kind": "webchat", "name": "Site"})).json()
    assert web["webhook_url"] is None and web["webhook_secret"] is None

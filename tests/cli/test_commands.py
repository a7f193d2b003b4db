"""The command line, run as real processes against the test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.factories import unique_slug


def invekto(*args: str, database_url: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "INVEKTO_DATABASE_URL": database_url, "INVEKTO_LOG_LEVEL": "WARNING"}
    result = subprocess.run([sys.executable, "-m", "invekto", *args], env=env,
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _value(output: str, label: str) -> str:
    match = re.search(rf"^{label}:\s+(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


async def test_create_tenant_prints_an_admin_password_and_an_api_key_that_work(
        database_url, client):
    slug = unique_slug("acme")
    output = invekto("create-tenant", slug, "--name", "Acme Otel", "--admin", "patron",
                     database_url=database_url).stdout
    password, key = _value(output, "admin password"), _value(output, "api key")

    login = await client.post("/api/v1/auth/login", json={
        "company": slug, "username": "patron", "password": password})
    assert login.status_code == 200
    assert login.json()["user"]["role"] == "admin"
    users = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {key}"})
    assert [u["username"] for u in users.json()] == ["patron"]

    second = invekto("create-api-key", slug, "--name", "zapier", "--role", "agent",
                     database_url=database_url).stdout.strip()
    assert second.startswith("ivk_") and second != key
    agent_call = await client.post("/api/v1/tags", json={"name": "vip"},
                                   headers={"Authorization": f"Bearer {second}"})
    assert agent_call.status_code == 403


def test_create_tenant_refuses_a_taken_code_and_a_bad_one(database_url):
    slug = unique_slug("dup")
    invekto("create-tenant", slug, "--name", "Bir", database_url=database_url)
    taken = invekto("create-tenant", slug, "--name", "İki", database_url=database_url,
                    check=False)
    assert taken.returncode != 0
    assert f"company code '{slug}' is taken" in taken.stderr
    bad = invekto("create-tenant", "Kötü Kod", "--name", "X", database_url=database_url,
                  check=False)
    assert bad.returncode != 0
    assert "company code must be" in bad.stderr


async def test_demo_seed_creates_the_demo_company_once(database_url, client):
    first = invekto("demo", database_url=database_url).stdout
    assert first.startswith("Demo data created.")
    second = invekto("demo", database_url=database_url).stdout
    assert second.startswith("Demo data already present.")
    password = re.search(r"supervisor\s+password: (\S+)", second).group(1)
    assert password == re.search(r"supervisor\s+password: (\S+)", first).group(1)

    login = await client.post("/api/v1/auth/login", json={
        "company": "demo", "username": "supervisor", "password": password})
    assert login.status_code == 200
    client.headers["x-csrf-token"] = login.json()["csrf_token"]
    conversations = (await client.get("/api/v1/conversations")).json()["items"]
    assert len(conversations) == 5
    previews = {c["last_message_preview"] for c in conversations}
    assert "İyi günler, diş beyazlatma fiyatınız nedir?" in previews
    users = {u["username"]: u["role"] for u in (await client.get("/api/v1/users")).json()}
    assert users == {"admin": "admin", "supervisor": "supervisor", "agent1": "agent",
                     "agent2": "agent"}
    groups = (await client.get("/api/v1/groups")).json()
    assert len(groups) == 2
    # The clinic's FAQ is indexed: the whitening question gets its answer suggested.
    articles = (await client.get("/api/v1/kb/articles")).json()
    assert len(articles) == 9 and {a["index_state"] for a in articles} == {"ready"}
    whitening = next(c for c in conversations
                     if c["last_message_preview"].startswith("İyi günler, diş beyazlatma"))
    suggested = (await client.get(
        f"/api/v1/conversations/{whitening['id']}/suggestions")).json()
    assert suggested["items"][0]["title"] == "Diş beyazlatma ne kadar, kaç seans sürer?"
    # The ad two customers came from, one of them booked: the reports attribute it.
    overview = (await client.get("/api/v1/reports/overview")).json()
    assert overview["referrals"] == [
        {"name": "120210455", "conversations": 2, "conversions": 1}]


def test_migrate_is_idempotent(database_url):
    assert "latest schema" in invekto("migrate", database_url=database_url).stdout


def test_serve_refuses_a_superuser_connection(pg_server):
    result = invekto("serve", "--port", "1", database_url=pg_server.superuser_url(
        "invekto_test"), check=False)
    assert result.returncode != 0
    assert "row-level security would not isolate tenants" in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_commands_refuse_a_database_that_is_not_migrated(pg_server, command):
    from invekto.db import provision

    url = provision.provision(pg_server, f"unmigrated_{command}")
    result = invekto(command, database_url=url, check=False)
    assert result.returncode != 0
    assert "invekto migrate" in result.stderr


def test_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "invekto", "--help"], capture_output=True,
                            text=True, check=True)
    for command in ("serve", "worker", "run", "migrate", "demo", "create-tenant",
                    "create-api-key"):
        assert command in result.stdout

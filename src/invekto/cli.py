"""``invekto`` command line: serve, worker, run, migrate, demo, create-tenant, create-api-key."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer

from invekto.config import Settings, get_settings
from invekto.core import logging as app_logging

cli = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Invekto: customer messaging CRM.")


def _settings() -> Settings:
    settings = get_settings()
    app_logging.configure(settings.log_level, settings.log_json)
    return settings


def _database(settings: Settings, *, require_head: bool = True):
    from invekto.db import connect, migrate

    server, url = connect.resolve(settings)
    try:
        connect.check_role(url)
        if require_head and not migrate.is_at_head(url):
            raise typer.BadParameter("the database schema is not up to date: run `invekto "
                                     "migrate` first")
    except BaseException:
        if server:
            server.stop()
        raise
    return server, url


@cli.command()
def serve(host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option()] = None) -> None:
    """Run one web process (HTTP API, pages and WebSocket). Run several behind a load balancer
    to scale; live events cross processes through PostgreSQL."""
    import uvicorn

    from invekto import runtime
    from invekto.app import create_app

    configured = _settings()
    # The address actually served: the demo wires its WhatsApp channel to it.
    settings = configured.model_copy(update={"host": host or configured.host,
                                             "port": port or configured.port})
    server, url = _database(settings)
    try:
        rt = runtime.build(settings, url, application_name="invekto-serve")
        config = uvicorn.Config(create_app(rt), host=settings.host, port=settings.port,
                                log_config=None,
                                proxy_headers=True, ws_ping_interval=20,
                                timeout_graceful_shutdown=10)
        uvicorn.Server(config).run()
    finally:
        if server:
            server.stop()


@cli.command()
def worker(concurrency: Annotated[int, typer.Option(min=1, max=64)] = 8,
           ai_concurrency: Annotated[int, typer.Option(min=1, max=16)] = 2) -> None:
    """Run one job worker: the message queues (ingest, outbound, campaigns, default, periodic
    jobs) with CONCURRENCY slots, and the AI's background queue with AI_CONCURRENCY."""
    from invekto import runtime, tasks  # noqa: F401
    from invekto.core import jobs
    from invekto.db.provision import to_libpq_url

    settings = _settings()
    server, url = _database(settings)
    rt = runtime.build(settings, url, application_name="invekto-worker")
    runtime.install(rt)

    async def work() -> None:
        # A connection per slot, and for each of the two workers one to listen and one to fetch.
        pool_size = concurrency + ai_concurrency + 4
        async with jobs.opened(to_libpq_url(url), max_size=pool_size) as app:
            await jobs.run_workers(app, name=f"worker-{os.getpid()}", slots=[
                (jobs.MESSAGE_QUEUES, concurrency), ((jobs.AI_QUEUE,), ai_concurrency)])
        await rt.db.dispose()

    try:
        asyncio.run(work())
    finally:
        if server:
            server.stop()


@cli.command()
def migrate() -> None:
    """Apply all database migrations."""
    from invekto.db import migrate as migrations

    settings = _settings()
    server, url = _database(settings, require_head=False)
    try:
        migrations.upgrade(url)
        typer.echo("database is at the latest schema")
    finally:
        if server:
            server.stop()


@cli.command()
def demo(scale: Annotated[str, typer.Option(
        help="small: the demo company (code `demo`); large: a company (code `buyuk`) with "
             "100,000 conversations and about 1,000,000 messages, for reports and benchmarks"
        )] = "small") -> None:
    """Seed the demo company unless it exists (or, with --scale large, a large one); print its
    logins."""
    from invekto import demo as demo_data
    from invekto import demo_large

    if scale not in ("small", "large"):
        raise typer.BadParameter("small or large", param_hint="--scale")
    settings = _settings()
    server, url = _database(settings)
    try:
        if scale == "large":
            typer.echo(demo_large.describe(asyncio.run(demo_large.build(settings, url))))
            return
        typer.echo(asyncio.run(demo_data.seed_and_describe(settings, url)))
    finally:
        if server:
            server.stop()


@cli.command("create-tenant")
def create_tenant(slug: str,
                  name: Annotated[str, typer.Option(help="Company name")],
                  admin: Annotated[str, typer.Option(help="Admin username")] = "admin") -> None:
    """Create a company with an admin user; print the admin password and an API key."""
    from invekto import provisioning

    settings = _settings()
    server, url = _database(settings)
    try:
        result = asyncio.run(provisioning.create_tenant(settings, url, slug=slug, name=name,
                                                        admin_username=admin))
    finally:
        if server:
            server.stop()
    typer.echo(f"company:        {result.slug}\nadmin user:     {result.admin_username}\n"
               f"admin password: {result.admin_password}\napi key:        {result.api_key}")


@cli.command("create-api-key")
def create_api_key(slug: str, name: Annotated[str, typer.Option()] = "cli",
                   role: Annotated[str, typer.Option()] = "admin") -> None:
    """Create another API key for a company; print it (it is not stored in clear)."""
    from invekto import provisioning

    settings = _settings()
    server, url = _database(settings)
    try:
        key = asyncio.run(provisioning.create_api_key(settings, url, slug=slug, name=name,
                                                      role=role))
    finally:
        if server:
            server.stop()
    typer.echo(key)


@cli.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret with the current INVEKTO_SECRET_KEY (after a key change,
    with the old key in INVEKTO_PREVIOUS_SECRET_KEYS); then the old key can be removed."""
    from invekto.core.crypto import secret_box
    from invekto.db.session import Database
    from invekto.ops.secrets import rotate_all

    settings = _settings()
    server, url = _database(settings)

    async def rotate():
        db = Database(url, application_name="invekto-rotate-secrets")
        try:
            return await rotate_all(db, secret_box())
        finally:
            await db.dispose()
    try:
        result = asyncio.run(rotate())
    finally:
        if server:
            server.stop()
    for column, count in sorted(result.per_column.items()):
        typer.echo(f"{column}: {count}")
    typer.echo(f"re-encrypted: {result.rotated}, already current: {result.current}")


@cli.command()
def run() -> None:
    """Development all-in-one: database, migrations, demo data, one web process and one worker.
    Ctrl-C stops everything."""
    from invekto import demo as demo_data
    from invekto.db import migrate as migrations

    settings = _settings()
    server, url = _database(settings, require_head=False)
    children: list[subprocess.Popen] = []
    try:
        migrations.upgrade(url)
        typer.echo(asyncio.run(demo_data.seed_and_describe(settings, url)))
        # Demo mode: the demo's WhatsApp number talks to the simulator in the web process.
        # Private URLs: the demo's iyzico is a simulator in the web process too, and calls to
        # payment providers go through the SSRF guard (core.outbound), which refuses this
        # machine's own address unless allowed. Only this development all-in-one allows it;
        # production (`invekto serve` / `invekto worker`) never sets it.
        env = {**os.environ, "INVEKTO_DATABASE_URL": url, "INVEKTO_DEMO": "true",
               "INVEKTO_ALLOW_PRIVATE_URLS": "true"}
        for command in ("serve", "worker"):
            children.append(subprocess.Popen(  # noqa: S603 - our own entry point
                [sys.executable, "-m", "invekto", command], env=env))
        typer.echo(f"Write to the demo's WhatsApp as a customer: "
                   f"http://{settings.host}:{settings.port}/demo/phone")
        typer.echo("Payment links in the demo go to a simulated iyzico: open one, press Pay.")
        typer.echo(f"Invekto is running on http://{settings.host}:{settings.port} "
                   "(Ctrl-C to stop)")
        _wait_for_signal_or_exit(children)
    finally:
        _stop_children(children)
        if server:
            server.stop()


def _wait_for_signal_or_exit(children: list[subprocess.Popen]) -> None:
    stop = False

    def request_stop(_signum, _frame) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop:
        if any(child.poll() is not None for child in children):
            typer.echo("a process exited; stopping", err=True)
            return
        time.sleep(0.2)


def _stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> None:
    cli()

"""Shared pieces of the benchmarks: a throw-away database, servers as subprocesses, a load loop."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from invekto.db import embedded, migrate, provision

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database():
    """A fresh embedded PostgreSQL with the migrated schema: (server, app url)."""
    directory = Path(tempfile.mkdtemp(prefix="invekto-bench-"))
    server = embedded.start(directory / "postgres")
    try:
        url = provision.provision(server, "bench")
        migrate.upgrade(url)
        yield server, url, directory
    finally:
        server.stop()


def env_with(**variables: str) -> dict[str, str]:
    return {**os.environ, "INVEKTO_LOG_LEVEL": "WARNING", **variables}


def wait_for_port(port: int, *, seconds: float = 30) -> None:
    """Until something listens on ``port`` (a server that has no /healthz)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port}") from None
            time.sleep(0.1)


@contextmanager
def process(args: list[str], env: dict[str, str], port: int):
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def load(url: str, *, headers: dict[str, str], seconds: float, concurrency: int) -> dict:
    """Run the load loop in its own process (so it does not share the server's interpreter)."""
    script = Path(__file__).with_name("loadgen.py")
    output = subprocess.run(
        [sys.executable, str(script), url, json.dumps(headers), str(seconds), str(concurrency)],
        capture_output=True, text=True, check=True).stdout
    return json.loads(output)


def write_result(name: str, value: float, unit: str, baseline: float, conditions: dict) -> dict:
    result = {
        "name": name, "value": round(value, 2), "unit": unit,
        "baseline_value": round(baseline, 2), "ratio": round(value / baseline, 3),
        "conditions": {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                       "python": platform.python_version(), **conditions},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def run_async(coroutine):
    return asyncio.run(coroutine)

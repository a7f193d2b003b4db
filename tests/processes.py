"""Real `invekto` processes for tests that need them: web servers reached over HTTP by other
processes (a second server, a browser) and job workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def invekto_processes(database_url: str, *, servers: int = 1, workers: int = 0,
                      env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """Start ``servers`` × `invekto serve` (and ``workers`` × `invekto worker`) on the test
    database, with ``env`` added to their environment; yield the servers' ``host:port`` once
    each answers /healthz."""
    env = {**os.environ, "INVEKTO_DATABASE_URL": database_url, "INVEKTO_LOG_LEVEL": "WARNING",
           **(env or {})}
    ports = [free_port() for _ in range(servers)]
    processes = [subprocess.Popen([sys.executable, "-m", "invekto", "serve", "--port", str(p)],
                                  env=env) for p in ports]
    processes += [start_worker(database_url, env=env) for _ in range(workers)]
    try:
        deadline = time.monotonic() + 60
        for port in ports:
            while not _healthy(port):
                assert time.monotonic() < deadline, "servers did not start"
                assert all(p.poll() is None for p in processes), "a process exited"
                time.sleep(0.1)
        yield [f"127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def start_worker(database_url: str, *, env: dict[str, str] | None = None) -> subprocess.Popen:
    """One `invekto worker` on the test database, for a test to stop (or kill) itself."""
    return subprocess.Popen([sys.executable, "-m", "invekto", "worker"], env={
        **os.environ, "INVEKTO_DATABASE_URL": database_url, "INVEKTO_LOG_LEVEL": "WARNING",
        **(env or {})})


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.TransportError:
        return False


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """An ASGI app (a provider simulator, a customer's web page) as a real server on this test's
    event loop, for other processes (our server and worker, a browser) to reach; yields its
    base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="warning", ws="none"))
    task = asyncio.create_task(server.serve())
    url = ""
    try:
        while not server.started:
            if task.done():
                task.result()  # it could not start: say why
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        _serving[url] = server
        yield url
    finally:
        _serving.pop(url, None)
        server.should_exit = True
        await task


_serving: dict[str, uvicorn.Server] = {}


async def until_idle(url: str, *, seconds: float = 30) -> None:
    """Wait until the server at ``url`` (from `serving`) has no open connection and no request
    still being handled. A client killed mid-request can leave a request whose bytes had already
    arrived: the server still handles it after the client is gone, as a real provider would."""
    state = _serving[url].server_state
    deadline = time.monotonic() + seconds
    while state.connections or state.tasks:
        assert time.monotonic() < deadline, f"{url} still busy after {seconds} s"
        await asyncio.sleep(0.01)

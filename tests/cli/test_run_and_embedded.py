"""`invekto run` (what `make run` starts) and the embedded server's lifecycle, end to end."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil

from invekto.db import embedded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(data_dir.resolve()) in cmdline:
            found.append(process)
    return found


def _wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_run_serves_the_demo_and_ctrl_c_stops_everything(tmp_path):
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "INVEKTO_DATABASE_URL"}
    env.pop("INVEKTO_SECRET_KEY")  # generated under the data dir, as on a fresh machine
    env.pop("INVEKTO_ALLOW_PRIVATE_URLS", None)  # `run` allows them itself (the demo's iyzico)
    env.update({"INVEKTO_DATA_DIR": str(tmp_path / "var"), "INVEKTO_PORT": str(port),
                "INVEKTO_LOG_LEVEL": "WARNING"})

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "invekto", "run"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_ready(process: subprocess.Popen) -> str:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Invekto is running" in line:
                break
        _wait_until(lambda: _healthy(port), timeout=60)
        return "".join(lines)

    with start() as process:
        try:
            banner = wait_ready(process)
            password = re.search(r"supervisor\s+password: (\S+)", banner).group(1)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                login = http.post("/api/v1/auth/login", json={
                    "company": "demo", "username": "supervisor", "password": password})
                assert login.status_code == 200
                conversations = http.get("/api/v1/conversations").json()["items"]
                assert len(conversations) == 5
                assert http.get("/").headers["location"] == "/inbox"
                page = http.get("/inbox?tab=all")
                assert "Elif Kaya" in page.text  # the signed-in supervisor
                assert "Zeynep Arslan" in page.text  # a demo conversation in the list
                phone = http.get("/demo/phone")  # `run` is demo mode: the customer's phone
                assert phone.status_code == 200 and "Gülüş Diş Kliniği" in phone.text
                _a_payment_link_is_paid_on_the_simulated_iyzico(
                    http, port, login.json()["csrf_token"], conversations)
            assert _postgres_processes(tmp_path / "var" / "postgres")
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0
    assert _postgres_processes(tmp_path / "var" / "postgres") == []

    # A second run reuses the data: same passwords, no second seeding.
    with start() as process:
        try:
            banner = wait_ready(process)
            assert "Demo data already present." in banner
            assert re.search(r"supervisor\s+password: (\S+)", banner).group(1) == password
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0
    assert _postgres_processes(tmp_path / "var" / "postgres") == []


def _a_payment_link_is_paid_on_the_simulated_iyzico(http: httpx.Client, port: int, csrf: str,
                                                     conversations: list[dict]) -> None:
    """The demo's payment links end to end: made with the demo's iyzico (the simulator in the
    web process), paid on its page, the merchant notification settles the link, the browser's
    callback shows the customer it was received, and the demo's rule thanks them."""
    (mehmet,) = [c for c in conversations
                 if c["last_message_preview"].startswith("İyi günler, diş beyazlatma")]
    made = http.post(f"/api/v1/conversations/{mehmet['id']}/payment-links",
                     headers={"x-csrf-token": csrf},
                     json={"amount": "750", "description": "İlk muayene"})
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["url"].startswith(f"http://127.0.0.1:{port}/demo/provider/iyzico/checkout?token=")
    page = http.get(link["url"])
    assert page.status_code == 200 and "750.00 TRY" in page.text and "iyzico-pay" in page.text
    token = re.search(r"name='token' value='([^']+)'", page.text).group(1)
    paid = http.post("/demo/provider/iyzico/checkout", data={"token": token,
                                                              "outcome": "success"})
    assert "data-status='SUCCESS'" in paid.text
    assert http.get(f"/api/v1/payment-links/{link['id']}").json()["status"] == "paid"
    callback = re.search(r"<form method='post' action='([^']+)'>", paid.text).group(1)
    assert callback.startswith(f"http://127.0.0.1:{port}/hooks/integrations/iyzico/")
    back = http.post(callback, data={"token": token})
    assert back.status_code == 200 and "Ödeme alındı" in back.text

    def thanked() -> bool:
        messages = http.get(f"/api/v1/conversations/{mehmet['id']}/messages").json()["items"]
        return any("Ödemeniz alındı (750,00 TL)" in m["body"] for m in messages)

    _wait_until(thanked, timeout=60)
    assert "ödendi" in http.get(f"/api/v1/conversations/{mehmet['id']}").json()["tags"]


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_a_killed_owner_leaves_no_orphan_and_no_lock_that_blocks_the_next_start(tmp_path):
    data_dir = tmp_path / "pg"
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from invekto.core import logging
        from invekto.db import embedded
        logging.configure("WARNING")
        server = embedded.start(Path({str(data_dir)!r}))
        print(server.process.pid, flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    with owner:
        postgres_pid = int(owner.stdout.readline())
        assert psutil.pid_exists(postgres_pid)
        owner.send_signal(signal.SIGKILL)  # no cleanup code runs in the owner
        owner.wait()
    _wait_until(lambda: not psutil.pid_exists(postgres_pid)
                or psutil.Process(postgres_pid).status() == psutil.STATUS_ZOMBIE)

    server = embedded.start(data_dir)
    try:
        import psycopg

        with psycopg.connect(server.superuser_url()) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    assert _postgres_processes(data_dir) == []

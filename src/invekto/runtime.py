"""Process-wide resources, set once at startup by ``invekto serve``/``worker`` (or a test), and
read by job tasks, which procrastinate calls with only their arguments."""

from __future__ import annotations

from dataclasses import dataclass

from invekto.config import Settings
from invekto.core.storage import LocalStorage, Storage
from invekto.db.session import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    storage: Storage


_current: Runtime | None = None


def build(settings: Settings, database_url: str, *, application_name: str) -> Runtime:
    return Runtime(
        settings=settings,
        db=Database(database_url, pool_size=settings.db_pool_size,
                    application_name=application_name),
        storage=LocalStorage(settings.attachments_dir),
    )


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("invekto runtime is not initialised")
    return _current

"""Settings, read once from ``INVEKTO_*`` environment variables (and ``.env`` if present)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVEKTO_", env_file=".env", extra="ignore")

    # When unset, an embedded PostgreSQL server is started with its data under ``data_dir``.
    database_url: str | None = None
    data_dir: Path = Path("var")

    # Signs nothing by itself; derives the key that encrypts channel credentials and other
    # secrets at rest. Generated into ``data_dir/secret_key`` on first start when unset.
    secret_key: str | None = None
    # Keys used before the current one, comma-separated: what they encrypted still decrypts
    # until `invekto rotate-secrets` has re-encrypted it with the current key.
    previous_secret_keys: str = ""

    host: str = "127.0.0.1"
    port: int = 8000
    # Where providers reach this app (https://crm.example.com): for the callbacks the app gives
    # them itself, such as Twilio's per-message StatusCallback. Unset: none are given.
    public_url: str | None = None
    # Demo mode (`invekto run` turns it on): the demo company's WhatsApp number talks to a
    # provider simulator inside the web process, with a customer's phone at /demo/phone. Off in
    # production, where nothing under /demo exists.
    demo: bool = False
    # Webhooks of rules and HTTP steps of flows (addresses a company types in) may call this
    # machine and private networks: for development and the tests' stub servers only. Off,
    # they reach only public internet addresses (core/outbound.py).
    allow_private_urls: bool = False
    # Set behind HTTPS; off by default so the demo works on http://127.0.0.1.
    cookie_secure: bool = False
    session_days: int = 14
    # Each web process loads the offline AI's models and fits its seed classifiers (~5 s of
    # CPU) in a background thread as it starts, so a person's first analysis or suggestion
    # does not wait for them. The tests turn it off but for their browser servers.
    ai_warm_up: bool = True

    login_max_failures: int = 5
    login_lockout_minutes: int = 15

    db_pool_size: int = 10
    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON when stderr is not a terminal

    default_phone_region: str = "TR"
    default_language: str = "tr"

    # npm-installed front-end libraries (package.json at the repository root).
    assets_dir: Path = Path("node_modules")

    storage_backend: str = "local"
    storage_dir: Path | None = None  # defaults to data_dir/attachments
    max_attachment_bytes: int = Field(default=100 * 1024 * 1024)

    @property
    def attachments_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "attachments"

    def previous_keys(self) -> list[str]:
        return [key.strip() for key in self.previous_secret_keys.split(",") if key.strip()]

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept under the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()

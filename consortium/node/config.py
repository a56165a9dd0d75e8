"""The node configuration file (``node.toml`` in the data directory).

Only what an operator may want to change lives here; everything the ledger proves (the key,
the origin) is fixed at ``consortium init``. ``CONSORTIUM_DATABASE_URL`` in the environment
overrides the database URL so that a password need not be written to disk; for the same
reason the SMTP password is read only from ``CONSORTIUM_SMTP_PASSWORD``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

CONFIG_FILE = "node.toml"
KEY_FILE = "node.key"
WITNESS_KEY_FILE = "witness.key"
DATABASE_FILE = "node.db"
DATABASE_ENV = "CONSORTIUM_DATABASE_URL"
DEFAULT_CHECKPOINT_INTERVAL = 5.0
SMTP_PASSWORD_ENV = "CONSORTIUM_SMTP_PASSWORD"


class NodeConfigError(Exception):
    """The configuration is missing or invalid; the message says what to fix."""


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def default_origin(name: str) -> str:
    return f"consortium.example/{slug(name) or 'node'}"


def check_database_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise NodeConfigError(f"invalid database URL: {exc}") from exc
    if parsed.drivername not in ("sqlite", "postgresql+psycopg"):
        raise NodeConfigError(
            "the database URL must start with sqlite:/// or postgresql+psycopg://"
        )
    return url


@dataclass(frozen=True)
class SmtpConfig:
    """The ``[smtp]`` table: where e-mail notifications are sent from."""

    host: str
    from_address: str
    port: int = 25
    username: str | None = None
    starttls: bool = False

    @property
    def password(self) -> str | None:
        """From the environment at the moment of use, so it is never held in a file."""
        return os.environ.get(SMTP_PASSWORD_ENV)

    @classmethod
    def parse(cls, raw: Any, path: Path) -> SmtpConfig:
        if not isinstance(raw, dict):
            raise NodeConfigError(f"{path}: [smtp] must be a table")
        if "password" in raw:
            raise NodeConfigError(
                f"{path}: do not write the SMTP password in the file; set {SMTP_PASSWORD_ENV}"
            )
        unknown = set(raw) - {"host", "port", "username", "starttls", "from"}
        host, sender = raw.get("host"), raw.get("from")
        port, username, starttls = raw.get("port", 25), raw.get("username"), raw.get("starttls")
        if unknown:
            problem = f"unknown setting(s) {', '.join(sorted(unknown))}"
        elif not (isinstance(host, str) and host):
            problem = "host is required"
        elif not (isinstance(sender, str) and "@" in sender):
            problem = "from must be an e-mail address"
        elif not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
            problem = "port must be a number from 1 to 65535"
        elif not (username is None or (isinstance(username, str) and username)):
            problem = "username must be text"
        elif not isinstance(starttls, bool | None):
            problem = "starttls must be true or false"
        else:
            return cls(host, sender, port, username, bool(starttls))
        raise NodeConfigError(f"{path}: [smtp] {problem}")


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    name: str
    origin: str
    database_url: str | None = None
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    smtp: SmtpConfig | None = None
    # Reverse proxies in front of `serve` that append the client's address to
    # X-Forwarded-For: sign-in throttling counts per client address, and without this every
    # client would seem to come from the proxy.
    trusted_proxies: int = 0

    @property
    def key_path(self) -> Path:
        return self.data_dir / KEY_FILE

    @property
    def witness_key_path(self) -> Path:
        return self.data_dir / WITNESS_KEY_FILE

    @property
    def path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    def effective_database_url(self) -> str:
        url = os.environ.get(DATABASE_ENV) or self.database_url
        if url:
            return check_database_url(url)
        return f"sqlite:///{(self.data_dir / DATABASE_FILE).resolve()}"

    def write(self) -> None:
        lines = [
            "# consortium node configuration",
            f"name = {json.dumps(self.name, ensure_ascii=False)}",
            "# The log's origin: the name its checkpoints carry. Fixed at init.",
            f"origin = {json.dumps(self.origin, ensure_ascii=False)}",
            "# Seconds between checkpoints while `consortium serve` runs.",
            f"checkpoint_interval = {self.checkpoint_interval}",
            "# Reverse proxies in front of `serve` that set X-Forwarded-For (e.g. 1 for nginx).",
            f"trusted_proxies = {self.trusted_proxies}",
            "# Default: SQLite in this directory. For PostgreSQL, e.g.",
            '# database_url = "postgresql+psycopg://consortium@db.example.org/consortium"',
        ]
        if self.database_url:
            lines.append(f"database_url = {json.dumps(self.database_url)}")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    @classmethod
    def load(cls, data_dir: Path) -> NodeConfig:
        path = data_dir / CONFIG_FILE
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise NodeConfigError(
                f"no node in {data_dir}: point at your node with --data-dir DIR (or set "
                f"CONSORTIUM_DATA_DIR), or create one with `consortium init --data-dir "
                f"{data_dir} --name NAME`"
            ) from exc
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise NodeConfigError(f"cannot read {path}: {exc}") from exc
        try:
            config = cls(
                data_dir=data_dir,
                name=str(raw["name"]),
                origin=str(raw["origin"]),
                database_url=raw.get("database_url"),
                checkpoint_interval=float(raw.get("checkpoint_interval", 5.0)),
                smtp=SmtpConfig.parse(raw["smtp"], path) if "smtp" in raw else None,
                trusted_proxies=raw.get("trusted_proxies", 0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeConfigError(f"{path}: missing or invalid setting {exc}") from exc
        if config.database_url:
            check_database_url(config.database_url)
        if config.checkpoint_interval <= 0:
            raise NodeConfigError(f"{path}: checkpoint_interval must be positive")
        proxies = config.trusted_proxies
        if not (isinstance(proxies, int) and not isinstance(proxies, bool) and 0 <= proxies <= 5):
            raise NodeConfigError(f"{path}: trusted_proxies must be a number from 0 to 5")
        return config

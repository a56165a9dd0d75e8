"""The node configuration file (``node.toml`` in the data directory).

Only what an operator may want to change lives here; everything the ledger proves (the key,
the origin) is fixed at ``consortium init``. ``CONSORTIUM_DATABASE_URL`` in the environment
overrides the database URL so that a password need not be written to disk.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

CONFIG_FILE = "node.toml"
KEY_FILE = "node.key"
DATABASE_FILE = "node.db"
DATABASE_ENV = "CONSORTIUM_DATABASE_URL"
DEFAULT_CHECKPOINT_INTERVAL = 5.0


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
class NodeConfig:
    data_dir: Path
    name: str
    origin: str
    database_url: str | None = None
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL

    @property
    def key_path(self) -> Path:
        return self.data_dir / KEY_FILE

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
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeConfigError(f"{path}: missing or invalid setting {exc}") from exc
        if config.database_url:
            check_database_url(config.database_url)
        if config.checkpoint_interval <= 0:
            raise NodeConfigError(f"{path}: checkpoint_interval must be positive")
        return config

"""`consortium serve`: the node's API under gunicorn, with its scheduled jobs in the master.

Each gunicorn worker builds its own app (and database engine) after forking; the scheduled
jobs run once, in a process of their own that the master starts and stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from consortium.api import create_app


class NodeServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, data_dir: Path, options: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:
            # Newer gunicorn opens a control socket in the user's home; the node needs none.
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Flask:
        return create_app(self.data_dir)


def serve(data_dir: Path, host: str, port: int, workers: int, threads: int = 4) -> None:
    """Run the node until interrupted."""
    from consortium.jobs import start_jobs_process

    state: dict[str, Any] = {}

    def when_ready(_server: Any) -> None:
        state["jobs"] = start_jobs_process(data_dir)

    def on_exit(_server: Any) -> None:
        if "jobs" in state:
            state["jobs"].terminate()
            state["jobs"].join(10)

    NodeServer(
        data_dir,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "accesslog": "-",
            "when_ready": when_ready,
            "on_exit": on_exit,
            "proc_name": "consortium",
        },
    ).run()

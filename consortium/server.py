"""`consortium serve`: the node's API under gunicorn, with its scheduled jobs beside it.

Each gunicorn worker builds its own app (and database engine) after forking; the scheduled
jobs run once, in a process of their own that the master starts when it is ready and stops
when it exits (see `consortium.jobs`).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from consortium.api import create_app

GRACEFUL_TIMEOUT_S = 3


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


def freeze_heap(_worker: Any = None) -> None:
    """Keep what was loaded so far (the whole application) out of the garbage collector.

    A process that imported the node's code holds a great many objects; the collections the
    interpreter runs as it exits walk them all and kept each worker busy for seconds after it
    was told to stop. Frozen objects are never walked (they are freed all the same when the
    process ends), and collections while serving get cheaper too.
    """
    gc.freeze()


def serve(
    data_dir: Path,
    host: str,
    port: int,
    workers: int,
    threads: int = 4,
    log_level: str = "info",
) -> None:
    """Run the node until interrupted (SIGTERM or SIGINT: a clean stop in a few seconds)."""
    from consortium.jobs import start_jobs_process, stop_jobs_process

    state: dict[str, Any] = {}

    def when_ready(_server: Any) -> None:
        state["jobs"] = start_jobs_process(data_dir, log_level)
        freeze_heap()  # the master's too: it exits last

    def on_exit(_server: Any) -> None:
        if "jobs" in state:
            stop_jobs_process(state["jobs"])

    NodeServer(
        data_dir,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "accesslog": "-",
            "loglevel": log_level,
            # Requests still running when the node is told to stop get this long to finish:
            # the node stops within seconds, as a service manager expects.
            "graceful_timeout": GRACEFUL_TIMEOUT_S,
            "when_ready": when_ready,
            "on_exit": on_exit,
            "post_worker_init": freeze_heap,
            "proc_name": "consortium",
        },
    ).run()

"""Scheduled jobs (APScheduler). For now one: cut a checkpoint when the ledger has grown.

Jobs are small, separate and idempotent, like REMS's expirer and approver bots: if two
processes run the same job, the ledger's write lock makes the second one a no-op.
"""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from consortium.node import Node

log = logging.getLogger(__name__)


def checkpoint_job(node: Node) -> None:
    note = node.ledger.checkpoint()
    if note is not None:
        log.info("checkpoint at size %s", note.split("\n", 2)[1])


def start_scheduler(data_dir: Path) -> BackgroundScheduler:
    """Start the node's background jobs in this process; the caller shuts them down."""
    node = Node.open(data_dir)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        checkpoint_job,
        "interval",
        args=[node],
        seconds=node.config.checkpoint_interval,
        id="checkpoint",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler

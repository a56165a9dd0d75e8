"""Scheduled jobs (APScheduler): cut a checkpoint when the ledger has grown; expire contracts
and grants whose term has ended; remind and escalate access-request reviews; mail
notifications.

Jobs are small, separate and idempotent, like REMS's expirer and approver bots: if two
processes run the same job, the ledger's write lock makes the second one a no-op. They run
in a process of their own (`start_jobs_process`), not as threads of the server: gunicorn
forks its workers from the master, and a fork taken while a job thread holds a lock (the
database driver's, the logging module's) leaves the worker waiting on it forever.
"""

from __future__ import annotations

import logging
import multiprocessing
from datetime import UTC, date, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler

from consortium.access.grants import expire_grants
from consortium.access.obligations import remind_obligations
from consortium.auth.roles import NODE
from consortium.contracts.lifecycle import expire_contracts
from consortium.node import Node
from consortium.notifications import review_deadlines, send_notifications

log = logging.getLogger(__name__)


def checkpoint_job(node: Node) -> None:
    note = node.ledger.checkpoint()
    if note is not None:
        log.info("checkpoint at size %s", note.split("\n", 2)[1])


def expiry_job(node: Node) -> None:
    for event in expire_contracts(node.ledger, NODE):
        log.info("contract %s v%s expired", event.body["contract"], event.body["version"])
    for event in expire_grants(node.ledger, NODE):
        log.info("grant %s expired", event.body["grant"])
    for event in remind_obligations(node.ledger, NODE):
        log.info("%s for grant %s", event.kind, event.body["grant"])


def review_deadline_job(node: Node, today: date | None = None) -> None:
    """Remind and escalate access-request reviews as they fall due (``today``: for tests)."""
    for event in review_deadlines(node.ledger, NODE, today):
        log.info("%s for request %s (due %s)", event.kind, event.body["request"], event.body["due"])


def email_job(node: Node) -> None:
    """Mail pending notifications, if the node has an ``[smtp]`` configuration."""
    if node.config.smtp is not None:
        sent = send_notifications(node.engine, node.config.smtp, node.name)
        if sent:
            log.info("mailed %s notifications", sent)


def run_jobs(data_dir: str) -> None:
    """Run the node's jobs in this process until it is terminated."""
    logging.basicConfig(level=logging.INFO, format="[jobs] %(levelname)s %(message)s")
    node = Node.open(Path(data_dir))
    scheduler = BlockingScheduler(timezone=UTC)
    scheduler.add_job(
        checkpoint_job,
        "interval",
        args=[node],
        seconds=node.config.checkpoint_interval,
        id="checkpoint",
        max_instances=1,
        coalesce=True,
    )
    # Hourly, and once at start-up: a contract or grant ends within an hour of its last day.
    scheduler.add_job(
        expiry_job,
        "interval",
        args=[node],
        hours=1,
        next_run_time=datetime.now(UTC),
        id="expire-contracts",
        max_instances=1,
        coalesce=True,
    )
    # Every 15 minutes, and at start-up: reminders and escalations fall due as the UTC day
    # changes, so they go out shortly after it.
    scheduler.add_job(
        review_deadline_job,
        "interval",
        args=[node],
        minutes=15,
        next_run_time=datetime.now(UTC),
        id="review-deadlines",
        max_instances=1,
        coalesce=True,
    )
    # Every minute: mail should arrive about as soon as the inbox shows it.
    scheduler.add_job(
        email_job,
        "interval",
        args=[node],
        minutes=1,
        next_run_time=datetime.now(UTC),
        id="email",
        max_instances=1,
        coalesce=True,
    )
    try:
        scheduler.start()
    finally:
        node.close()


def start_jobs_process(data_dir: Path) -> BaseProcess:
    """Start `run_jobs` in a fresh interpreter (spawned, not forked)."""
    process = multiprocessing.get_context("spawn").Process(
        target=run_jobs, args=(str(data_dir),), name="consortium-jobs", daemon=True
    )
    process.start()
    return process

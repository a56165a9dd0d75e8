"""Scheduled jobs (APScheduler): cut a checkpoint when the ledger has grown; expire contracts
and grants whose term has ended; remind and escalate access-request reviews; mail
notifications.

Jobs are small, separate and idempotent, like REMS's expirer and approver bots: if two
processes run the same job, the ledger's write lock makes the second one a no-op. They run
in a process of their own (`start_jobs_process`), not as threads of the server: gunicorn
forks its workers from the master, and a fork taken while a job thread holds a lock (the
database driver's, the logging module's) leaves the worker waiting on it forever. That
process is a plain subprocess (``python -m consortium.jobs``), not a `multiprocessing` one:
workers forked from the master would inherit multiprocessing's record of it as their own
child, and each, on exiting, would try to stop and join it ("can only join a child
process").

A job logs at INFO only when it did something (a checkpoint cut, a contract expired, mail
sent); a run that found nothing to do logs at DEBUG, so an idle node's log stays quiet.
"""

from __future__ import annotations

import gc
import logging
import signal
import subprocess
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from consortium.access.grants import expire_grants
from consortium.access.obligations import remind_obligations
from consortium.auth.roles import NODE
from consortium.contracts.lifecycle import expire_contracts
from consortium.node import Node
from consortium.notifications import review_deadlines, send_notifications

log = logging.getLogger(__name__)
# How long `stop_jobs_process` lets a job in progress finish before killing the process; a
# killed job leaves nothing half-done (its transaction rolls back) and runs again next time.
STOP_TIMEOUT_S = 1.5


def _done(job: str, count: int) -> None:
    if not count:
        log.debug("%s: nothing to do", job)


def checkpoint_job(node: Node) -> None:
    note = node.ledger.checkpoint()
    if note is not None:
        log.info("checkpoint at size %s", note.split("\n", 2)[1])
    _done("checkpoint", int(note is not None))


def expiry_job(node: Node) -> None:
    count = 0
    for event in expire_contracts(node.ledger, NODE):
        log.info("contract %s v%s expired", event.body["contract"], event.body["version"])
        count += 1
    for event in expire_grants(node.ledger, NODE):
        log.info("grant %s expired", event.body["grant"])
        count += 1
    for event in remind_obligations(node.ledger, NODE):
        log.info("%s for grant %s", event.kind, event.body["grant"])
        count += 1
    _done("expiry", count)


def review_deadline_job(node: Node, today: date | None = None) -> None:
    """Remind and escalate access-request reviews as they fall due (``today``: for tests)."""
    count = 0
    for event in review_deadlines(node.ledger, NODE, today):
        log.info("%s for request %s (due %s)", event.kind, event.body["request"], event.body["due"])
        count += 1
    _done("review deadlines", count)


def email_job(node: Node) -> None:
    """Mail pending notifications, if the node has an ``[smtp]`` configuration."""
    sent = 0
    if node.config.smtp is not None:
        sent = send_notifications(node.engine, node.config.smtp, node.name)
        if sent:
            log.info("mailed %s notifications", sent)
    _done("e-mail", sent)


def run_jobs(data_dir: str, level: str = "INFO") -> None:
    """Run the node's jobs in this process until it receives SIGTERM or SIGINT."""
    logging.basicConfig(level=level.upper(), format="[jobs] %(levelname)s %(message)s")
    # APScheduler says at INFO each time it runs a job, and Alembic each time the schema is
    # checked; neither is news. Errors in a job are still logged, at ERROR.
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    node = Node.open(Path(data_dir))
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

    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()  # only this: the scheduler is stopped below, outside the handler

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("jobs started (checkpoint every %ss)", node.config.checkpoint_interval)
    gc.freeze()  # see `consortium.server.freeze_heap`
    scheduler.start()
    try:
        stopping.wait()
    finally:
        scheduler.shutdown(wait=True)  # a job in progress finishes; no new one starts
        node.close()
    log.debug("jobs stopped")


# The jobs process ignores Ctrl-C until `run_jobs` handles it: a terminal's SIGINT reaches the
# whole process group, and one arriving while the process still imports would otherwise end it
# with a KeyboardInterrupt traceback. The server stops it with SIGTERM in any case.
_LAUNCH = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "runpy.run_module('consortium.jobs', run_name='__main__')"
)


def start_jobs_process(data_dir: Path, level: str = "INFO") -> subprocess.Popen[bytes]:
    """Start `run_jobs` in a fresh interpreter; its log goes to this process's stderr."""
    return subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(data_dir), level], stdin=subprocess.DEVNULL
    )


def stop_jobs_process(process: subprocess.Popen[bytes]) -> None:
    """Ask the jobs process to stop; kill it if a job keeps it past `STOP_TIMEOUT_S`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("a job was still running after %ss; stopping it", STOP_TIMEOUT_S)
        process.kill()
        process.wait()


if __name__ == "__main__":
    run_jobs(*sys.argv[1:3])

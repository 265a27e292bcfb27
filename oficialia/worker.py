"""The RQ worker process: ``flask --app app worker``.

A ``SimpleWorker`` (jobs run in the worker process itself, inside the app context; the heavy
OCR already runs in a resource-limited child process) whose periodic maintenance also sweeps
for documents left pending. Start as many as needed, on as many machines as needed: jobs have
deterministic ids and are safe to run twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import click
from flask import current_app
from rq import Queue, SimpleWorker
from sqlalchemy.exc import SQLAlchemyError

from .db import db, utcnow
from .dispatch import RqDispatcher, get_dispatcher

log = logging.getLogger(__name__)


class SweepingWorker(SimpleWorker):
    """Runs the OCR sweeper with RQ's own maintenance (registry clean-up) on every interval."""

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        from .jobs import sweep

        try:
            report = sweep(db.session, get_dispatcher(), stale_seconds=int(current_app.config["OCR_STALE_SECONDS"]))
            if report.queued or report.restarted:
                log.info("sweep: %s queued, %s restarted", report.queued, report.restarted)
        finally:
            db.session.remove()
        self.run_workflow_maintenance()

    def run_workflow_maintenance(self) -> None:
        """Deadline warnings and escalations, e-mails left pending (queue was down), and a
        checkpoint of the logbook's head; each in its own transaction, none stopping the others."""
        from workflows.deadlines import sweep_deadlines
        from workflows.logbook import take_checkpoint
        from workflows.notifications import STALE_AFTER, MailSettings, send_pending

        cfg = current_app.config

        def deadlines() -> None:
            sweep_deadlines(db.session, now=utcnow(), warning_days=int(cfg["DEADLINE_WARNING_DAYS"]),
                            tz=str(cfg["TIMEZONE"]), audit_department=str(cfg["AUDIT_DEPARTMENT"]))

        def notifications() -> None:
            send_pending(db.session, settings=MailSettings.from_config(cfg), older_than=STALE_AFTER)

        def checkpoint() -> None:
            take_checkpoint(db.session)
            db.session.commit()

        tasks: dict[str, Callable[[], None]] = {
            "deadlines": deadlines, "notifications": notifications, "checkpoint": checkpoint}
        for name, task in tasks.items():
            try:
                task()
            except SQLAlchemyError:
                db.session.rollback()
                log.exception("maintenance task %s failed; it runs again on the next interval", name)
            finally:
                db.session.remove()


def run_worker(*, burst: bool = False) -> None:
    dispatcher = get_dispatcher()
    if not isinstance(dispatcher, RqDispatcher):
        raise click.ClickException("Configure OFICIALIA_REDIS_URL: sin Redis, los trabajos se ejecutan en el "
                                   "propio proceso web y no hace falta un worker.")
    worker = SweepingWorker([dispatcher.queue, Queue("default", connection=dispatcher.redis)],
                            connection=dispatcher.redis,
                            maintenance_interval=int(current_app.config["OCR_SWEEP_SECONDS"]))
    worker.work(burst=burst, with_scheduler=True)

"""The RQ worker process: ``flask --app app worker``.

A ``SimpleWorker`` (jobs run in the worker process itself, inside the app context; the heavy
OCR already runs in a resource-limited child process) whose periodic maintenance also sweeps
for documents left pending. Start as many as needed, on as many machines as needed: jobs have
deterministic ids and are safe to run twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import click
from flask import Flask, current_app
from rq import Queue, SimpleWorker
from sqlalchemy.exc import SQLAlchemyError

from .db import db, utcnow
from .dispatch import RqDispatcher, get_dispatcher

log = logging.getLogger(__name__)


def run_maintenance() -> None:
    """Everything that runs periodically, in the current app context: the OCR sweep (documents
    left pending or whose job died), deadline warnings and escalations, e-mails left pending, and
    a checkpoint of the logbook's head. Each task has its own transaction; none stops the others."""
    from workflows.deadlines import sweep_deadlines
    from workflows.logbook import take_checkpoint
    from workflows.notifications import STALE_AFTER, MailSettings, send_pending

    from .jobs import sweep

    cfg = current_app.config

    def ocr() -> None:
        report = sweep(db.session, get_dispatcher(), stale_seconds=int(cfg["OCR_STALE_SECONDS"]))
        if report.queued or report.restarted:
            log.info("OCR sweep: %s queued, %s restarted", report.queued, report.restarted)

    def deadlines() -> None:
        sweep_deadlines(db.session, now=utcnow(), warning_days=int(cfg["DEADLINE_WARNING_DAYS"]),
                        tz=str(cfg["TIMEZONE"]), audit_department=str(cfg["AUDIT_DEPARTMENT"]))

    def notifications() -> None:
        send_pending(db.session, settings=MailSettings.from_config(cfg), older_than=STALE_AFTER)

    def checkpoint() -> None:
        from functools import partial

        from firma import timestamp_digest

        tsa_url = str(cfg.get("TSA_URL") or "")
        stamp = partial(timestamp_digest, tsa_url=tsa_url, timeout=float(cfg["SIGNING_TIMEOUT"])) if tsa_url else None
        take_checkpoint(db.session, timestamp=stamp)
        db.session.commit()

    def webhook_retries() -> None:
        from .webhooks import sweep as sweep_webhooks

        sweep_webhooks(db.session)

    def idempotency_keys() -> None:
        from .idempotency import prune

        prune(db.session, days=int(cfg["IDEMPOTENCY_DAYS"]))

    def turns() -> None:  # no-shows expire, appointment reminders
        from .turn_views import sweep_turns

        sweep_turns()

    tasks: dict[str, Callable[[], None]] = {
        "ocr": ocr, "deadlines": deadlines, "notifications": notifications, "checkpoint": checkpoint,
        "webhooks": webhook_retries, "idempotency": idempotency_keys, "turns": turns}
    for name, task in tasks.items():
        try:
            task()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("maintenance task %s failed; it runs again on the next interval", name)
        finally:
            db.session.remove()


class SweepingWorker(SimpleWorker):
    """Runs :func:`run_maintenance` with RQ's own maintenance (registry clean-up) on every interval."""

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        run_maintenance()


def start_in_process_maintenance(app: Flask) -> threading.Thread:
    """The embedded default has no worker: a daemon thread of the web process runs the same
    maintenance every ``OCR_SWEEP_SECONDS``."""
    interval = int(app.config["OCR_SWEEP_SECONDS"])

    def loop() -> None:
        while True:
            time.sleep(interval)
            with app.app_context():
                try:
                    run_maintenance()
                except Exception:  # keep the loop alive; the next round retries
                    log.exception("in-process maintenance failed")

    thread = threading.Thread(target=loop, name="maintenance", daemon=True)
    thread.start()
    return thread


def run_worker(*, burst: bool = False) -> None:
    dispatcher = get_dispatcher()
    if not isinstance(dispatcher, RqDispatcher):
        raise click.ClickException("Configure OFICIALIA_REDIS_URL: sin Redis, los trabajos se ejecutan en el "
                                   "propio proceso web y no hace falta un worker.")
    worker = SweepingWorker([dispatcher.queue, Queue("default", connection=dispatcher.redis)],
                            connection=dispatcher.redis,
                            maintenance_interval=int(current_app.config["OCR_SWEEP_SECONDS"]))
    worker.work(burst=burst, with_scheduler=True)

"""The RQ worker process: ``flask --app app worker``.

A ``SimpleWorker`` (jobs run in the worker process itself, inside the app context; the heavy
OCR already runs in a resource-limited child process) whose periodic maintenance also sweeps
for documents left pending. Start as many as needed, on as many machines as needed: jobs have
deterministic ids and are safe to run twice.
"""

from __future__ import annotations

import logging

import click
from flask import current_app
from rq import SimpleWorker

from .db import db
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


def run_worker(*, burst: bool = False) -> None:
    dispatcher = get_dispatcher()
    if not isinstance(dispatcher, RqDispatcher):
        raise click.ClickException("Configure OFICIALIA_REDIS_URL: sin Redis, los trabajos se ejecutan en el "
                                   "propio proceso web y no hace falta un worker.")
    worker = SweepingWorker([dispatcher.queue], connection=dispatcher.redis,
                            maintenance_interval=int(current_app.config["OCR_SWEEP_SECONDS"]))
    worker.work(burst=burst, with_scheduler=True)

"""Where background jobs go: RQ on Redis when ``OFICIALIA_REDIS_URL`` is set, otherwise a thread
pool inside the web process (the embedded default). Both run the same job functions of
:mod:`oficialia.jobs`, which take ids, re-read state and are safe to run twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from flask import Flask
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

OCR_QUEUE = "ocr"
#: seconds between RQ retries of a job that failed for a passing reason (storage, database)
RETRY_INTERVALS = [30, 120, 600]
LIVE_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def ocr_job_id(document_id: int) -> str:
    return f"ocr-{document_id}"


class Dispatcher(Protocol):
    def enqueue_ocr(self, document_id: int) -> bool:
        """Queue the OCR of a document; ``False`` if the queue is unreachable (the sweeper
        will queue it later)."""
        ...

    def is_live(self, document_id: int) -> bool:
        """Whether a job for the document is queued or running."""
        ...

    def enqueue(self, func: Callable[..., Any], *args: Any, job_id: str) -> bool:
        """Queue any job function (notifications, …); ``False`` if the queue is unreachable."""
        ...


class RqDispatcher:
    """Jobs on Redis, run by ``flask --app app worker`` processes on any machine."""

    def __init__(self, redis_url: str, *, job_timeout: int) -> None:
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=10)
        self.queue = Queue(OCR_QUEUE, connection=self.redis)
        self.default_queue = Queue("default", connection=self.redis)
        self.job_timeout = job_timeout
        self._batch = threading.local()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Queue the jobs enqueued in the block (by this thread) in one round trip to Redis, when
        the block ends without an exception. If Redis is unreachable then, none is queued and
        the sweeps queue them later (pending OCR, e-mail and webhook deliveries)."""
        if getattr(self._batch, "pipeline", None) is not None:  # nested: the outer block sends
            yield
            return
        pipeline = self.redis.pipeline()
        self._batch.pipeline = pipeline
        try:
            yield
        finally:
            self._batch.pipeline = None
        try:
            pipeline.execute()
        except RedisError:
            log.warning("%d queued commands not sent: Redis unreachable; the sweeps will queue the jobs",
                        len(pipeline))

    def _pipeline(self) -> Pipeline | None:
        pipeline: Pipeline | None = getattr(self._batch, "pipeline", None)
        return pipeline

    def enqueue_ocr(self, document_id: int) -> bool:
        from .jobs import run_ocr

        try:
            self.queue.enqueue(run_ocr, document_id, job_id=ocr_job_id(document_id),
                               retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
                               job_timeout=self.job_timeout, result_ttl=3600, failure_ttl=7 * 86400,
                               pipeline=self._pipeline())
        except RedisError:
            log.warning("OCR of document %s not queued: Redis unreachable; the sweeper will retry", document_id)
            return False
        return True

    def enqueue(self, func: Callable[..., Any], *args: Any, job_id: str) -> bool:
        try:
            self.default_queue.enqueue(
                func, *args, job_id=job_id, retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
                result_ttl=3600, failure_ttl=7 * 86400, pipeline=self._pipeline())
        except RedisError:
            log.warning("job %s not queued: Redis unreachable", job_id)
            return False
        return True

    def is_live(self, document_id: int) -> bool:
        try:
            job = Job.fetch(ocr_job_id(document_id), connection=self.redis)
            return job.get_status(refresh=False) in LIVE_STATUSES
        except NoSuchJobError:
            return False


class ThreadDispatcher:
    """Jobs in a small thread pool of the web process, each inside an app context."""

    def __init__(self, app: Flask, workers: int) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr")
        self.live: dict[int, Future[Any]] = {}

    def _run(self, func: Callable[..., Any], *args: Any) -> None:
        with self.app.app_context():
            try:
                func(*args)
            except Exception:  # the job already recorded the failure on the document
                log.exception("background job %s%r failed", func.__name__, args)

    def enqueue_ocr(self, document_id: int) -> bool:
        from .jobs import run_ocr

        if self.is_live(document_id):
            return True
        self.live[document_id] = self.pool.submit(self._run, run_ocr, document_id)
        return True

    def enqueue(self, func: Callable[..., Any], *args: Any, job_id: str) -> bool:
        self.pool.submit(self._run, func, *args)
        return True

    def is_live(self, document_id: int) -> bool:
        future = self.live.get(document_id)
        return future is not None and not future.done()


def _start_maintenance_when_serving(app: Flask) -> None:
    """Start the in-process maintenance thread with the first request, so that command-line
    runs (``db upgrade``, ``demo``…) never start one."""
    started = threading.Event()
    lock = threading.Lock()

    def start() -> None:
        if started.is_set():
            return
        with lock:
            if not started.is_set():
                from .worker import start_in_process_maintenance

                start_in_process_maintenance(app)
                started.set()

    app.before_request(start)


def batched(dispatcher: Dispatcher | None) -> contextlib.AbstractContextManager[None]:
    """The dispatcher's :meth:`RqDispatcher.batch`, or nothing for one that runs jobs itself."""
    batch = getattr(dispatcher, "batch", None)
    return batch() if batch is not None else contextlib.nullcontext()


def get_dispatcher() -> Dispatcher:
    """The current app's dispatcher."""
    from flask import current_app

    dispatcher: Dispatcher = current_app.extensions["dispatcher"]
    return dispatcher


def init_dispatcher(app: Flask) -> Dispatcher:
    cfg = app.config
    dispatcher: Dispatcher
    if cfg.get("REDIS_URL"):
        dispatcher = RqDispatcher(str(cfg["REDIS_URL"]), job_timeout=int(cfg["OCR_TIMEOUT_SECONDS"]) + 120)
    else:
        dispatcher = ThreadDispatcher(app, int(cfg["OCR_WORKERS"]))
        if cfg.get("MAINTENANCE_IN_PROCESS") and not app.testing:
            _start_maintenance_when_serving(app)
    app.extensions["dispatcher"] = dispatcher
    return dispatcher

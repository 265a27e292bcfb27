"""The RQ dispatcher against a real Redis: jobs of a batch go out together, or not at all."""

from __future__ import annotations

import logging
import socket

import pytest
from rq import Queue

from oficialia.dispatch import OCR_QUEUE, RqDispatcher, ThreadDispatcher, batched

pytestmark = pytest.mark.redis


def _job(value: int) -> int:
    return value


def test_a_batch_queues_its_jobs_when_it_ends(redis_url):
    dispatcher = RqDispatcher(redis_url, job_timeout=60)
    ocr, default = Queue(OCR_QUEUE, connection=dispatcher.redis), Queue("default", connection=dispatcher.redis)
    try:
        with dispatcher.batch():
            assert dispatcher.enqueue_ocr(41)
            assert dispatcher.enqueue(_job, 7, job_id="aviso-7")
            with dispatcher.batch():  # nested: the outer block sends
                assert dispatcher.enqueue(_job, 8, job_id="aviso-8")
            assert (ocr.count, default.count) == (0, 0)  # nothing sent yet

        assert ocr.job_ids == ["ocr-41"]
        assert default.job_ids == ["aviso-7", "aviso-8"]
        assert dispatcher.is_live(41)
    finally:
        dispatcher.redis.close()


def test_a_batch_that_fails_sends_nothing(redis_url):
    dispatcher = RqDispatcher(redis_url, job_timeout=60)
    try:
        with pytest.raises(RuntimeError), dispatcher.batch():
            dispatcher.enqueue_ocr(42)
            raise RuntimeError("la transacción falló")
        assert Queue(OCR_QUEUE, connection=dispatcher.redis).count == 0
    finally:
        dispatcher.redis.close()


def test_redis_gone_never_fails_the_caller(caplog):
    """GIVEN Redis unreachable, WHEN jobs are batched, THEN the caller goes on: the sweeps will
    queue the work later."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dispatcher = RqDispatcher(f"redis://127.0.0.1:{port}/0", job_timeout=60)
    with caplog.at_level(logging.WARNING, logger="oficialia.dispatch"), dispatcher.batch():
        dispatcher.enqueue_ocr(43)
        dispatcher.enqueue(_job, 9, job_id="aviso-9")
    assert "Redis unreachable" in caplog.text


def test_dispatchers_without_batches_run_as_before(app):
    with batched(None), batched(ThreadDispatcher(app, workers=1)):
        pass

"""The OCR pipeline for real: Redis, RQ workers, ocrmypdf and tesseract, the database search.

Fault tests: Redis down during intake, a worker killed mid-job, an OCR that fails — each ends
with every document ``done`` or ``failed`` with a reason, and no filing lost.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from rq import SimpleWorker

from oficialia.db import db
from oficialia.dispatch import RqDispatcher, ThreadDispatcher
from oficialia.jobs import sweep
from oficialia.models import Document, Filing, OcrStatus, Role
from tests.factories import scan_png

pytestmark = [pytest.mark.ocr, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LETTER = ("Solicito la reparación del alumbrado público en la calle Miguel Hidalgo número quince, "
          "colonia Centro, porque las luminarias llevan tres semanas apagadas.")


def _file(client, token, files, subject="Alumbrado público"):
    response = client.post("/api/v1/filings", headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data",
                           data={"subject": subject, "filer_name": "Ana", "filer_kind": "fisica",
                                 "files": [(io.BytesIO(data), name) for name, data in files]})
    assert response.status_code == 201, response.json
    return response.json


def _documents(app) -> list[Document]:
    with app.app_context():
        docs = db.session.execute(sa.select(Document).order_by(Document.id)).scalars().all()
        for d in docs:
            db.session.expunge(d)
        return list(docs)


def _wait(app, predicate, timeout=180.0) -> list[Document]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        docs = _documents(app)
        if predicate(docs):
            return docs
        time.sleep(0.5)
    raise AssertionError(f"timed out: {[(d.id, d.ocr_status, d.ocr_error) for d in _documents(app)]}")


def _burst(app, dispatcher: RqDispatcher) -> None:
    with app.app_context():
        SimpleWorker([dispatcher.queue], connection=dispatcher.redis).work(burst=True, with_scheduler=False)


@pytest.fixture
def token(demo, make_user, make_token):
    return make_token(make_user(Role.CLERK, department="OP"))


@pytest.fixture
def rq_app(app, redis_url):
    app.config["REDIS_URL"] = redis_url
    dispatcher = RqDispatcher(redis_url, job_timeout=600)
    app.extensions["dispatcher"] = dispatcher
    yield app, dispatcher
    dispatcher.redis.close()


def test_in_process_pipeline_makes_a_searchable_stamped_copy(app, client, token):
    """GIVEN the embedded default (no Redis): jobs run in a thread pool of the web process."""
    app.extensions["dispatcher"] = ThreadDispatcher(app, workers=1)
    body = _file(client, token, [("carta.png", scan_png(LETTER))])
    docs = _wait(app, lambda ds: all(d.ocr_status in (OcrStatus.DONE, OcrStatus.FAILED) for d in ds))
    assert docs[0].ocr_status is OcrStatus.DONE, docs[0].ocr_error
    headers = {"Authorization": f"Bearer {token}"}
    record = client.get(f"/api/v1/filings/{body['folio']}", headers=headers).json
    copy = client.get(record["documents"][0]["searchable_url"], headers=headers)
    assert copy.status_code == 200
    text = PdfReader(io.BytesIO(copy.data)).pages[0].extract_text()
    assert "RECIBIDO" in text and body["folio"] in text and "alumbrado" in text.lower()
    # the original is untouched
    original = client.get(record["documents"][0]["url"], headers=headers)
    assert original.data == scan_png(LETTER)
    # and the OCR text is searchable, accents and all
    found = client.get("/api/v1/filings?q=luminarias apagadas", headers=headers).json
    assert [f["folio"] for f in found["filings"]] == [body["folio"]]
    assert "<mark>" in found["filings"][0]["snippet"]
    assert client.get("/api/v1/filings?q=reparacion", headers=headers).json["total"] == 1
    app.extensions["dispatcher"].pool.shutdown(wait=True)


def test_rq_worker_runs_the_jobs(rq_app, client, token):
    app, dispatcher = rq_app
    _file(client, token, [("carta.png", scan_png(LETTER))])
    assert dispatcher.queue.count == 1
    _burst(app, dispatcher)
    docs = _documents(app)
    assert docs[0].ocr_status is OcrStatus.DONE and docs[0].derived_sha256


def test_redis_down_during_intake_loses_nothing(rq_app, client, token):
    """GIVEN Redis unreachable when the filing arrives THEN the filing is accepted with its folio,
    and the sweeper queues the document once Redis is back."""
    app, dispatcher = rq_app
    app.extensions["dispatcher"] = RqDispatcher("redis://127.0.0.1:1/0", job_timeout=600)
    body = _file(client, token, [("carta.png", scan_png(LETTER))])
    assert body["folio"] and body["documents"][0]["ocr"] == "pending"
    app.extensions["dispatcher"] = dispatcher
    with app.app_context():
        report = sweep(db.session, dispatcher, stale_seconds=600)
    assert report.queued == 1
    with app.app_context():  # a second sweep does not queue it twice
        assert sweep(db.session, dispatcher, stale_seconds=600).queued == 0
    _burst(app, dispatcher)
    assert _documents(app)[0].ocr_status is OcrStatus.DONE


def test_worker_killed_mid_job_is_run_again(rq_app, client, token, app_config):
    """GIVEN a worker process killed while it OCRs a 3-page scan THEN no derived copy is left
    half-written, the sweeper re-queues the document and another worker finishes it."""
    app, dispatcher = rq_app
    _file(client, token, [("expediente.pdf", _scanned_pdf(3))])
    env = os.environ | {
        "OFICIALIA_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "OFICIALIA_STORAGE_URL": app.config["STORAGE_URL"], "OFICIALIA_REDIS_URL": app.config["REDIS_URL"],
        "OFICIALIA_SECRET_KEY": "test-secret", "OFICIALIA_OCR_SWEEP_SECONDS": "3600"}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait(app, lambda ds: ds[0].ocr_status is OcrStatus.RUNNING and ds[0].ocr_pages_done >= 1, timeout=120)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    doc = _documents(app)[0]
    assert doc.ocr_status is OcrStatus.RUNNING and doc.derived_key is None
    with app.app_context():
        report = sweep(db.session, dispatcher, stale_seconds=0)
    assert report.restarted == 1 and report.queued == 1
    _burst(app, dispatcher)
    doc = _documents(app)[0]
    assert doc.ocr_status is OcrStatus.DONE and doc.ocr_attempts == 2
    assert doc.ocr_pages_done == 3


def test_ocr_failure_ends_failed_with_a_reason_and_retry_works(rq_app, client, token):
    app, dispatcher = rq_app
    app.config["OCR_TIMEOUT_SECONDS"] = 1
    body = _file(client, token, [("expediente.pdf", _scanned_pdf(3))])
    _burst(app, dispatcher)
    doc = _documents(app)[0]
    assert doc.ocr_status is OcrStatus.FAILED
    assert "tiempo" in doc.ocr_error
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(Filing.id))).scalar_one() == 1
    # the clerk fixes the limit and presses «Reintentar»
    app.config["OCR_TIMEOUT_SECONDS"] = 600
    app.extensions.pop("ocr_engine", None)
    retried = client.post(f"/api/v1/documents/{doc.id}/ocr", headers={"Authorization": f"Bearer {token}"})
    assert retried.status_code == 202
    _burst(app, dispatcher)
    assert _documents(app)[0].ocr_status is OcrStatus.DONE
    assert body["folio"]


def test_cli_sweep_and_reprocess(rq_app, client, token, runner):
    app, dispatcher = rq_app
    body = _file(client, token, [("carta.png", scan_png(LETTER))])
    dispatcher.queue.empty()
    out = runner.invoke(args=["ocr", "sweep"])
    assert out.exit_code == 0 and "encolados: 1" in out.output
    _burst(app, dispatcher)
    out = runner.invoke(args=["ocr", "reprocess", body["folio"]])
    assert out.exit_code == 0 and "1 documento(s)" in out.output
    _burst(app, dispatcher)
    assert _documents(app)[0].ocr_attempts == 2


def _scanned_pdf(pages: int) -> bytes:
    import img2pdf

    images = [scan_png(f"Hoja {n} del expediente. {LETTER}") for n in range(1, pages + 1)]
    return img2pdf.convert(images, layout_fun=img2pdf.get_fixed_dpi_layout_fun((300, 300)))

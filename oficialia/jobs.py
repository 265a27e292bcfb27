"""Background job entry points (RQ, or the in-process thread pool) and the sweeper.

Jobs take primitive ids, re-read state and are safe to run twice: ``run_ocr`` of a document
already ``done`` does nothing, and a document whose job died half-way (worker killed, machine
restarted) is found by :func:`sweep` and run again. The original is never touched: the
searchable copy is a new, content-addressed object written only after OCR succeeded, so a job
killed at any point leaves nothing half-written behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from rq import get_current_job
from sqlalchemy import select

from storage import IntegrityError, ObjectNotFound

from .db import DbSession, db, utcnow
from .delivery import stored_object
from .dispatch import Dispatcher
from .errors import OficialiaError
from .extensions import get_store
from .inspection import UploadLimits, inspect_upload
from .models import Document, DocumentPage, Filing, OcrStatus
from .ocr import OcrEngine, OcrFailed, OcrmypdfEngine, OcrOptions
from .search import index_filing
from .stamp import stamp_received

log = logging.getLogger(__name__)

MSG_DAMAGED = ("El original almacenado no coincide con su huella SHA-256 o no se encuentra; "
               "no se procesó. Avise a la unidad de sistemas.")
MSG_RETRYING = "Error temporal durante el OCR; se reintentará automáticamente."
MSG_INTERNAL = "Error interno durante el OCR. Use «Reintentar» o avise a la unidad de sistemas."
MSG_INTERRUPTED = "El proceso de OCR se interrumpió; se volverá a ejecutar."


def get_ocr_engine() -> OcrEngine:
    """The app's OCR engine (tests may put another in ``app.extensions["ocr_engine"]``)."""
    engine: OcrEngine | None = current_app.extensions.get("ocr_engine")
    if engine is None:
        cfg = current_app.config
        engine = OcrmypdfEngine(OcrOptions(
            languages=str(cfg["OCR_LANGUAGES"]), timeout_seconds=int(cfg["OCR_TIMEOUT_SECONDS"]),
            memory_mb=int(cfg["OCR_MEMORY_MB"]), max_pages=int(cfg["MAX_PAGES"]), jobs=int(cfg["OCR_JOBS"])))
        current_app.extensions["ocr_engine"] = engine
    return engine


def _claim(session: DbSession, document_id: int) -> Document | None:
    doc = session.get(Document, document_id)
    if doc is None or doc.ocr_status is OcrStatus.DONE:
        return None
    doc.ocr_status = OcrStatus.RUNNING
    doc.ocr_attempts += 1
    doc.ocr_pages_done = 0
    doc.ocr_pages_total = doc.pages
    doc.ocr_error = None
    doc.ocr_updated_at = utcnow()
    session.commit()
    return doc


def _fail(session: DbSession, document_id: int, message: str, status: OcrStatus = OcrStatus.FAILED) -> None:
    session.rollback()
    doc = session.get(Document, document_id)
    if doc is not None:
        doc.ocr_status = status
        doc.ocr_error = message
        doc.ocr_updated_at = utcnow()
        session.commit()


def _stamp(data: bytes, doc: Document) -> bytes:
    cfg = current_app.config
    filing: Filing = doc.filing
    local = filing.received_at.astimezone(ZoneInfo(str(cfg["TIMEZONE"])))
    return stamp_received(data, institution=str(cfg["INSTITUTION"]), office=str(cfg["OFFICE_NAME"]),
                          folio=filing.folio, received_at=local.strftime("%d/%m/%Y %H:%M h"),
                          pages=filing.total_pages)


def run_ocr(document_id: int) -> None:
    """OCR one document into a stamped, searchable PDF/A copy and index its text.

    Failures the document causes (damaged, encrypted, too big, too slow) end as ``failed`` with
    a reason a clerk understands; passing ones (storage, database) are retried by RQ.
    """
    session = db.session
    try:
        doc = _claim(session, document_id)
        if doc is None:
            return
        store = get_store()
        try:
            original = store.get(stored_object(doc))
        except (IntegrityError, ObjectNotFound):
            log.exception("original of document %s unreadable", document_id)
            _fail(session, document_id, MSG_DAMAGED)
            return
        info = inspect_upload(original, doc.filename, UploadLimits(max_file_bytes=len(original) + 1,
                                                                     max_pages=int(current_app.config["MAX_PAGES"])))

        def progress(done: int, total: int) -> None:
            current = session.get(Document, document_id)
            if current is not None:
                current.ocr_pages_done, current.ocr_pages_total = done, total
                current.ocr_updated_at = utcnow()
                session.commit()

        result = get_ocr_engine().process(original, info.kind, signed=info.signed, progress=progress)
        doc = session.get(Document, document_id)
        if doc is None:  # deleted while OCR ran
            return
        derived = _stamp(result.pdf, doc) if result.ocr_applied else result.pdf
        obj = store.put(derived, prefix="derived", content_type="application/pdf")
        doc.derived_key, doc.derived_sha256 = obj.key, obj.sha256
        doc.derived_size, doc.derived_version = obj.size, obj.version_id
        doc.page_texts = [DocumentPage(number=n, text=t) for n, t in enumerate(result.pages, start=1)]
        doc.ocr_status = OcrStatus.DONE
        doc.ocr_pages_done = doc.ocr_pages_total = len(result.pages)
        doc.ocr_error = None
        doc.ocr_updated_at = utcnow()
        session.flush()
        index_filing(session, doc.filing)
        session.commit()
    except OcrFailed as e:
        _fail(session, document_id, e.message)
    except OficialiaError as e:  # e.g. the original no longer passes inspection
        _fail(session, document_id, e.message)
    except Exception:
        job = get_current_job()
        if job is not None and (job.retries_left or 0) > 0:
            _fail(session, document_id, MSG_RETRYING, OcrStatus.PENDING)
        else:
            _fail(session, document_id, MSG_INTERNAL)
        raise
    finally:
        session.remove()


@dataclass(frozen=True)
class SweepReport:
    queued: int
    restarted: int


def sweep(session: DbSession, dispatcher: Dispatcher, *, stale_seconds: int) -> SweepReport:
    """Queue every document left ``pending`` without a live job, and run again every
    ``running`` one whose job stopped giving signs of life (its worker died)."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    stale = session.execute(select(Document).where(
        Document.ocr_status == OcrStatus.RUNNING,
        (Document.ocr_updated_at.is_(None)) | (Document.ocr_updated_at < cutoff))).scalars().all()
    for doc in stale:
        doc.ocr_status = OcrStatus.PENDING
        doc.ocr_error = MSG_INTERRUPTED
    session.commit()
    pending = session.execute(select(Document.id).where(Document.ocr_status == OcrStatus.PENDING)
                              .order_by(Document.id)).scalars().all()
    restarted = {d.id for d in stale}
    queued = 0
    for document_id in pending:
        # a restarted job may still look "started" in Redis: its worker died without saying so
        if (document_id in restarted or not dispatcher.is_live(document_id)) and dispatcher.enqueue_ocr(document_id):
            queued += 1
    return SweepReport(queued=queued, restarted=len(stale))


def request_ocr(session: DbSession, dispatcher: Dispatcher, documents: list[Document]) -> int:
    """Run OCR again for ``documents`` (retry button, ``ocr reprocess``); commits first."""
    for doc in documents:
        doc.ocr_status = OcrStatus.PENDING
        doc.ocr_error = None
        doc.ocr_pages_done = 0
    session.commit()
    return sum(dispatcher.enqueue_ocr(doc.id) for doc in documents)

"""What the mail-room hands out: verified document bytes and the acuse de recibo."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Response

from storage import IntegrityError, ObjectNotFound, ObjectStore, StorageError, StoredObject, content_disposition

from . import signing
from .errors import NotFound, OficialiaError, StorageUnavailable
from .models import Document, Filing, OcrStatus
from .receipts import ReceiptData, ReceiptDocument, render_receipt


class DocumentDamaged(OficialiaError):
    """The stored bytes no longer match the SHA-256 recorded at intake."""

    #: the store (upstream) handed back bad bytes
    http_status = 502
    code = "document_integrity"
    default_message = ("El documento almacenado no coincide con su huella digital (SHA-256) registrada. "
                       "No se entrega; el incidente quedó registrado para la unidad de sistemas.")


def stored_object(document: Document) -> StoredObject:
    return StoredObject(key=document.storage_key, sha256=document.sha256, size=document.size,
                        version_id=document.storage_version)


def read_verified(store: ObjectStore, document: Document) -> bytes:
    """The document's bytes, read whole and checked against its SHA-256 before a single byte is
    handed out (a download cut short by a late mismatch would look like a good file).

    :raises DocumentDamaged: on a mismatch or a missing object.
    :raises StorageUnavailable: if the store fails.
    """
    try:
        return store.get(stored_object(document))
    except IntegrityError as e:
        raise DocumentDamaged() from e
    except ObjectNotFound as e:
        raise DocumentDamaged("El documento no se encuentra en el almacenamiento.") from e
    except StorageError as e:
        raise StorageUnavailable("El almacenamiento de documentos no está disponible; intente más tarde.") from e


def document_response(store: ObjectStore, document: Document) -> Response:
    """A download of ``document``: verified bytes, its own type, a safe file name."""
    response = Response(read_verified(store, document), mimetype=document.content_type)
    response.headers["Content-Disposition"] = content_disposition(document.filename)
    response.headers["X-Content-SHA256"] = document.sha256
    response.headers["Cache-Control"] = "private, no-store"
    return response


def derived_response(store: ObjectStore, document: Document) -> Response:
    """A download of the searchable copy of ``document`` (404 until OCR made one)."""
    if not document.derived_key or not document.derived_sha256 or document.derived_size is None:
        raise NotFound("Este documento aún no tiene copia buscable.")
    obj = StoredObject(key=document.derived_key, sha256=document.derived_sha256, size=document.derived_size,
                       version_id=document.derived_version)
    try:
        data = store.get(obj)
    except (IntegrityError, ObjectNotFound) as e:
        raise DocumentDamaged() from e
    except StorageError as e:
        raise StorageUnavailable("El almacenamiento de documentos no está disponible; intente más tarde.") from e
    stem = document.filename.rsplit(".", 1)[0]
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = content_disposition(f"{stem}-buscable.pdf")
    response.headers["X-Content-SHA256"] = document.derived_sha256
    response.headers["Cache-Control"] = "private, no-store"
    return response


def ocr_state(document: Document) -> dict[str, Any]:
    """The OCR status of a document as the UI and the API show it."""
    return {"id": document.id, "status": document.ocr_status.value, "pages_done": document.ocr_pages_done,
            "pages_total": document.ocr_pages_total or document.pages, "percent": document.ocr_percent,
            "error": document.ocr_error, "label": OCR_LABELS[document.ocr_status]}


OCR_LABELS = {
    OcrStatus.PENDING: "En espera de OCR",
    OcrStatus.RUNNING: "Procesando OCR",
    OcrStatus.DONE: "Buscable",
    OcrStatus.FAILED: "OCR fallido",
}


def tracking_url(config: dict[str, Any], folio: str, code: str | None) -> str:
    params = {"folio": folio} | ({"code": code} if code else {})
    return f"{str(config['PUBLIC_URL']).rstrip('/')}/seguimiento?{urlencode(params)}"


def build_receipt(filing: Filing, config: dict[str, Any], tracking_code: str | None) -> bytes:
    """Render the acuse of ``filing``, sealed by the institution when a seal is configured; the
    tracking code appears only when given."""
    tz = str(config["TIMEZONE"])
    data = ReceiptData(
        institution=str(config["INSTITUTION"]), office=str(config["OFFICE_NAME"]), folio=filing.folio,
        received_at=filing.received_at.astimezone(ZoneInfo(tz)), timezone_label=tz,
        filer_name=filing.filer_name, filer_kind=filing.filer_kind.value, subject=filing.subject,
        channel=filing.channel.value, department=filing.department.name if filing.department else None,
        procedure=filing.procedure.name if filing.procedure else None,
        received_by=filing.received_by.name if filing.received_by else None,
        documents=tuple(ReceiptDocument(filename=d.filename, pages=d.pages, size=d.size, sha256=d.sha256)
                        for d in filing.documents),
        physical_annexes=filing.physical_annexes, tracking_code=tracking_code,
        tracking_url=tracking_url(config, filing.folio, tracking_code), payment=_payment_line(filing))
    pdf = render_receipt(data)
    if signing.seal_configured():
        pdf = signing.seal_pdf(pdf, folio=filing.folio).data
    return pdf


def _payment_line(filing: Filing) -> str | None:
    from sqlalchemy.orm import object_session

    from .payments import receipt_line

    session = object_session(filing)
    return receipt_line(session, filing) if session is not None else None

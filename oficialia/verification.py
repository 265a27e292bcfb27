"""Signature verification as the product offers it: one service behind the public page, the API
and the command line.

:func:`verify_upload` runs :mod:`firma`'s verifier in an isolated worker (time and memory limits,
see :mod:`firma.isolation`) against the trust store, and answers the question a citizen asks of a
document that claims to come from us: "is this the document you issued?" — by its SHA-256 among
the responses the product issued, and, when the page was opened from a QR, among those of that
folio. :func:`report_json` is the one JSON shape of a report (API and ``verify --json``).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

import firma
from firma.isolation import IsolatedVerifier
from firma.report import CHANGE_LABELS, Change, SignatureReport, Verdict, VerificationReport
from storage import IntegrityError, ObjectNotFound, ObjectStore, StorageError, StoredObject

from .db import DbSession
from .errors import InvalidInput, NotFound, StorageUnavailable, UnsupportedFileType
from .models import Filing, Response, ResponseStatus
from .trust import trust_material

_lock = threading.Lock()


@dataclass(frozen=True)
class IssuedDocument:
    """A signed document the product issued."""

    #: "response" (acuse receipts are regenerated, not stored, so they are not listed)
    kind: str
    label: str
    folio: str
    sha256: str
    issued_at: datetime | None
    response_id: int | None = None
    sense: str | None = None


@dataclass(frozen=True)
class VerificationResult:
    report: VerificationReport
    #: the document the product issued with exactly these bytes, if any
    issued: IssuedDocument | None
    #: the folio the page was opened for (QR), normalised; None without one
    folio: str | None = None
    #: what the product issued for that folio
    folio_documents: tuple[IssuedDocument, ...] = ()
    #: SHA-256 of the institution seal's certificate, when a seal is configured
    seal_fingerprint: str | None = None

    def is_institution_seal(self, sig: SignatureReport) -> bool:
        return bool(self.seal_fingerprint and sig.signer and sig.signer.sha256 == self.seal_fingerprint)

    @property
    def sealed_by_us(self) -> bool:
        """A valid document that carries this institution's seal (an acuse, a response)."""
        return self.report.verdict is Verdict.VALID and any(
            self.is_institution_seal(s) for s in self.report.signatures)

    @property
    def matches_folio(self) -> bool | None:
        """Whether the file is one of the folio's issued documents (None without a folio)."""
        if self.folio is None:
            return None
        return any(d.sha256 == self.report.sha256 for d in self.folio_documents)


def get_verifier(app: Flask | None = None) -> IsolatedVerifier:
    """The app's pool of verification workers, started on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    verifier: IsolatedVerifier | None = app.extensions.get("verifier")
    if verifier is None:
        with _lock:
            verifier = app.extensions.get("verifier")
            if verifier is None:
                cfg = app.config
                verifier = IsolatedVerifier(timeout=float(cfg["VERIFY_TIMEOUT_SECONDS"]),
                                            memory_mb=int(cfg["VERIFY_MEMORY_MB"]), workers=int(cfg["VERIFY_WORKERS"]))
                app.extensions["verifier"] = verifier
    return verifier


def normalise_folio(folio: str | None) -> str | None:
    folio = (folio or "").strip().upper()
    if not folio or len(folio) > 40 or not all(c.isalnum() or c in "-_/" for c in folio):
        return None
    return folio


def check_upload(data: bytes, *, max_mb: float) -> None:
    """Refuse what is not worth a worker: nothing, too big, not a PDF.

    :raises InvalidInput: no file.
    :raises UnsupportedFileType: not a PDF (by its first bytes).
    """
    if not data:
        raise InvalidInput("Adjunte el archivo PDF firmado que desea verificar.", field="file")
    if len(data) > max_mb * 1024 * 1024:
        from .errors import FileTooLarge

        raise FileTooLarge(f"El archivo excede el tamaño máximo de {max_mb:g} MB.")
    if b"%PDF-" not in data[:1024]:
        raise UnsupportedFileType("Solo se pueden verificar documentos PDF firmados.")


def verify_upload(session: DbSession, data: bytes, *, verifier: IsolatedVerifier, config: dict[str, Any],
                  folio: str | None = None) -> VerificationResult:
    """Verify an uploaded PDF and look it up among the documents the product issued.

    Reads only; never raises for a hostile PDF (the report says NO SE PUEDE VERIFICAR).

    :raises InvalidInput: no file.
    :raises UnsupportedFileType: not a PDF.
    """
    check_upload(data, max_mb=float(config["MAX_FILE_MB"]))
    material = trust_material(session)
    # the deployment's trust folder (OFICIALIA_TRUST_DIR) counts as much as the admins' store
    from .signing import trust_roots

    folder_roots, folder_intermediates = trust_roots()
    roots = tuple(dict.fromkeys((*material.roots, *(c.dump() for c in folder_roots))))
    intermediates = tuple(dict.fromkeys((*material.intermediates, *(c.dump() for c in folder_intermediates))))
    report = verifier.verify(data, trust_roots=roots, intermediates=intermediates,
                             allow_fetch=bool(config["VERIFY_ALLOW_FETCH"]),
                             require_revocation=bool(config["VERIFY_REQUIRE_REVOCATION"]))
    folio = normalise_folio(folio)
    return VerificationResult(report=report, issued=find_issued(session, hashlib.sha256(data).hexdigest()),
                              folio=folio, folio_documents=tuple(issued_documents(session, folio)) if folio else (),
                              seal_fingerprint=seal_fingerprint())


def seal_fingerprint() -> str | None:
    """SHA-256 of the institution seal's certificate; None when no seal is configured or usable."""
    from . import signing

    if not signing.seal_configured():
        return None
    try:
        return hashlib.sha256(signing.get_seal().certificate.dump()).hexdigest()
    except firma.FirmaError:
        return None


def verify_issued_response(session: DbSession, response_id: int, *, store: ObjectStore, verifier: IsolatedVerifier,
                           config: dict[str, Any]) -> VerificationResult:
    """Verify the stored copy of an issued response (from the folio's page, for a reader who holds
    only a printout): the report, never the document itself.

    :raises NotFound: no such issued response.
    :raises StorageUnavailable: the stored copy cannot be read or no longer matches its SHA-256.
    """
    response = session.get(Response, response_id)
    if response is None or response.status is not ResponseStatus.ISSUED or not response.signed_key \
            or not response.signed_sha256:
        raise NotFound("No existe esa respuesta emitida.")
    try:
        data = store.get(StoredObject(key=response.signed_key, sha256=response.signed_sha256,
                                      size=response.signed_size or 0, version_id=response.signed_version))
    except (IntegrityError, ObjectNotFound) as e:
        raise StorageUnavailable("La copia guardada de la respuesta no se puede leer o no coincide con su huella; "
                                 "avise a la Oficialía de Partes.") from e
    except StorageError as e:
        raise StorageUnavailable() from e
    return verify_upload(session, data, verifier=verifier, config=config, folio=response.filing.folio)


def _issued(response: Response) -> IssuedDocument:
    # the label is public (the folio page lists it): the sense of the answer is not shown
    return IssuedDocument(kind="response", label="Respuesta firmada",
                          folio=response.filing.folio, sha256=response.signed_sha256 or "",
                          issued_at=response.issued_at, response_id=response.id, sense=response.sense.value)


def find_issued(session: DbSession, sha256: str) -> IssuedDocument | None:
    """The issued response whose signed PDF has exactly this SHA-256."""
    response = session.execute(
        select(Response).where(Response.signed_sha256 == sha256, Response.status == ResponseStatus.ISSUED)
        .order_by(Response.id).limit(1)).scalar_one_or_none()
    return _issued(response) if response is not None else None


def issued_documents(session: DbSession, folio: str) -> list[IssuedDocument]:
    """The signed documents issued for ``folio`` (its issued responses), oldest first."""
    rows = session.execute(
        select(Response).join(Filing, Filing.id == Response.filing_id)
        .where(Filing.folio == folio, Response.status == ResponseStatus.ISSUED, Response.signed_sha256.is_not(None))
        .order_by(Response.issued_at, Response.id)).scalars()
    return [_issued(r) for r in rows]


# --------------------------------------------------------------------------------------------
# the JSON shape


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _change_json(change: Change) -> dict[str, Any]:
    return {"kind": change.kind.value, "kind_label": CHANGE_LABELS[change.kind], "revision": change.revision,
            "object": change.object or None, "page": change.page, "description": change.description}


def _signature_json(sig: SignatureReport, result: VerificationResult) -> dict[str, Any]:
    signer = sig.signer
    return {
        "institution_seal": result.is_institution_seal(sig),
        "field": sig.field_name, "kind": sig.kind,
        "signer": signer.display_name if signer else None,
        "signer_rfc": signer.rfc if signer else None, "signer_curp": signer.curp if signer else None,
        "organisation": signer.organisation if signer else None,
        "serial": signer.serial if signer else None,
        "chain": [{"subject": c.subject, "issuer": c.issuer, "serial": c.serial, "not_before": _iso(c.not_before),
                   "not_after": _iso(c.not_after), "sha256": c.sha256} for c in sig.chain],
        "claimed_time": _iso(sig.claimed_time), "timestamp_time": _iso(sig.timestamp_time),
        "timestamp_trusted": sig.timestamp_trusted,
        "intact": sig.intact, "valid": sig.valid, "coverage": sig.coverage, "trusted": sig.trusted,
        "trust_problem": sig.trust_problem or None,
        "changes_after_signing": sig.changes_after_signing.value,
        "changes_after_signing_label": CHANGE_LABELS[sig.changes_after_signing],
        "changes": [_change_json(c) for c in sig.changes],
        "docmdp": sig.docmdp, "docmdp_ok": sig.docmdp_ok,
        "revocation": sig.revocation, "revocation_detail": sig.revocation_detail,
        "level": sig.level, "indication": sig.indication.value, "sub_indication": sig.sub_indication or None,
        "verdict": sig.verdict.value, "verdict_label": sig.verdict_label, "reason": sig.reason,
    }


def _issued_json(doc: IssuedDocument) -> dict[str, Any]:
    return {"kind": doc.kind, "label": doc.label, "folio": doc.folio, "sha256": doc.sha256,
            "issued_at": _iso(doc.issued_at), "response_id": doc.response_id}


def report_json(result: VerificationResult) -> dict[str, Any]:
    """The report as the API and ``verify --json`` give it."""
    report = result.report
    body: dict[str, Any] = {
        "verdict": report.verdict.value, "verdict_label": report.verdict_label, "reason": report.reason,
        "indication": report.indication.value, "sub_indication": report.sub_indication or None,
        "sha256": report.sha256, "size": report.size, "validation_time": _iso(report.validation_time),
        "signatures": [_signature_json(s, result) for s in report.signatures],
        "changes_after_last_signature": [_change_json(c) for c in report.changes_after_last],
        "issued_by_us": _issued_json(result.issued) if result.issued else None,
        "sealed_by_us": result.sealed_by_us,
        "notes": list(report.notes),
    }
    if result.folio is not None:
        body["folio"] = {"folio": result.folio, "matches": result.matches_folio,
                         "documents": [_issued_json(d) for d in result.folio_documents]}
    return body

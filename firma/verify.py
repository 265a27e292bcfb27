"""Verification of signed PDFs: one verifier for the web page, the API and the command line.

:func:`verify_pdf` validates every signature and document timestamp of a PDF with pyHanko
(integrity, coverage, difference analysis, DocMDP, trust, revocation, timestamps) and adds a
strict review of its own of every incremental update made after each signature: pyHanko's
difference analysis accepts form filling that DocMDP allows (esig-dss ``dss-2236/replace.pdf``
passes it), but a document whose form values changed after signing is not what was signed. Every
object an update adds, replaces or frees is classified (signature, validation data or timestamp;
form filling; annotation; other) with its page and object number.

The plain verdict: VÁLIDA only when every signature passes (intact, trusted, not revoked,
PAdES coverage) **and** nothing but signatures, validation data or timestamps came after each of
them; NO VÁLIDA when something is broken or was changed; NO SE PUEDE VERIFICAR when the verifier
cannot decide (an untrusted or unknown signer, missing revocation data, a file it cannot parse).
The function never raises for a hostile file: any exception becomes NO SE PUEDE VERIFICAR. It
does not bound its own time or memory; :mod:`firma.isolation` runs it in a limited child process.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import core as asn1_core
from asn1crypto import x509 as ax509

# SAT e.firma certificates carry x500UniqueIdentifier as a PrintableString (wbond/asn1crypto#228);
# the same narrow fix as firma's signing side, idempotent.
ax509.NameTypeAndValue._oid_specs["unique_identifier"] = ax509.DirectoryString

from pyhanko.pdf_utils import generic  # noqa: E402
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader  # noqa: E402
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel  # noqa: E402
from pyhanko.sign.general import load_cert_from_pemder  # noqa: E402, F401
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp  # noqa: E402
from pyhanko.sign.validation.dss import DocumentSecurityStore  # noqa: E402
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402

from .loop import outside_event_loop  # noqa: E402
from .report import (  # noqa: E402
    CertificateInfo,
    Change,
    ChangeKind,
    Indication,
    SignatureReport,
    Verdict,
    VerificationReport,
    worst,
)

__all__ = ["load_certificates", "verify_pdf"]

logger = logging.getLogger("firma.verify")

#: objects looked at per walk of the object graph; a hostile file cannot make a walk endless
_WALK_LIMIT = 20_000

#: what may follow the last cross-reference section: the end of an xref stream, a trailer, startxref
_TAIL = re.compile(rb"\s*(endstream\s*)?(endobj\s*)?(trailer\s*)?(<<.*>>\s*)?startxref\s+\d+\s+%%EOF[\s\x00]*",
                   re.DOTALL)
_CURP = re.compile(r"[A-Z]{4}\d{6}[HMX][A-Z]{5}[0-9A-Z]\d")
_RFC = re.compile(r"[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}")


def load_certificates(data: bytes) -> list[ax509.Certificate]:
    """Parse one or more certificates from PEM (several blocks allowed) or DER bytes.

    :raises ValueError: when nothing in ``data`` is a certificate.
    """
    from asn1crypto import pem

    if pem.detect(data):
        certs = [ax509.Certificate.load(der) for kind, _, der in pem.unarmor(data, multiple=True)
                 if kind == "CERTIFICATE"]
    else:
        certs = [ax509.Certificate.load(data)]
    for cert in certs:
        _ = cert.subject.native  # force parsing: a damaged certificate fails here, not later
    if not certs:
        raise ValueError("no certificate found")
    return certs


@outside_event_loop
def verify_pdf(
    pdf: bytes,
    *,
    trust_roots: Sequence[bytes],
    intermediates: Sequence[bytes] = (),
    at: datetime | None = None,
    allow_fetch: bool = False,
    require_revocation: bool = False,
) -> VerificationReport:
    """Verify every signature of ``pdf`` and the updates made after each of them.

    :param pdf: the file, as uploaded.
    :param trust_roots: DER (or PEM) certificates of the trust anchors.
    :param intermediates: DER (or PEM) certificates that may help build chains (not trusted by
        themselves).
    :param at: validation time (aware datetime); ``None`` means now.
    :param allow_fetch: fetch missing OCSP responses / CRLs / certificates over the network.
    :param require_revocation: a signature whose revocation status could not be checked (no
        OCSP/CRL in the file, no fetching) is INDETERMINATE instead of passing with a note.
    :return: the report; never raises for a bad file (fail closed: NO SE PUEDE VERIFICAR).
    """
    sha256 = hashlib.sha256(pdf).hexdigest()
    try:
        return _verify(pdf, sha256, trust_roots=trust_roots, intermediates=intermediates, at=at,
                       allow_fetch=allow_fetch, require_revocation=require_revocation)
    except RecursionError:
        return VerificationReport.cannot_verify(
            "La estructura del archivo es demasiado profunda para analizarla con seguridad.",
            sha256=sha256, size=len(pdf), sub_indication="FORMAT_FAILURE")
    except MemoryError:
        raise
    except Exception as e:  # fail closed: any failure of the parsers is "cannot verify", with its cause
        logger.info("verification failed: %s: %s", type(e).__name__, e)
        return VerificationReport.cannot_verify(
            "No se pudo analizar el archivo como un PDF firmado válido "
            f"({type(e).__name__}: {_short(str(e))}).",
            sha256=sha256, size=len(pdf), sub_indication="FORMAT_FAILURE")


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# the whole document


def _verify(pdf: bytes, sha256: str, *, trust_roots: Sequence[bytes], intermediates: Sequence[bytes],
            at: datetime | None, allow_fetch: bool, require_revocation: bool) -> VerificationReport:
    size = len(pdf)
    if not pdf.lstrip()[:5] == b"%PDF-":
        return VerificationReport.cannot_verify("El archivo no es un PDF.", sha256=sha256, size=size,
                                                sub_indication="FORMAT_FAILURE")
    roots = [c for data in trust_roots for c in load_certificates(data)]
    others = [c for data in intermediates for c in load_certificates(data)]
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    if reader.encrypted:
        return VerificationReport.cannot_verify(
            "El PDF está cifrado; no se puede verificar un documento cifrado.", sha256=sha256, size=size,
            sub_indication="FORMAT_FAILURE")
    embedded = list(reader.embedded_signatures)
    notes: list[str] = []
    structure = _structure_problems(pdf, reader)
    notes.extend(structure)
    if not embedded:
        return VerificationReport(
            verdict=Verdict.NOT_VALID, reason="El documento no contiene ninguna firma electrónica.",
            indication=Indication.TOTAL_FAILED, sub_indication="SIG_CONSTRAINTS_FAILURE", sha256=sha256,
            size=size, validation_time=at, notes=tuple(notes))

    context = _Context(reader, embedded)
    vc_kwargs: dict[str, Any] = {"trust_roots": roots, "other_certs": others, "allow_fetching": allow_fetch}
    if at is not None:
        vc_kwargs["moment"] = at
    dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
    has_revinfo = dss is not None and bool(dss.ocsps or dss.crls)
    if has_revinfo or allow_fetch:
        vc_kwargs["revocation_mode"] = "hard-fail"
        vc_kwargs["retroactive_revinfo"] = True
    else:
        vc_kwargs["revocation_mode"] = "soft-fail"

    def make_vc(moment: datetime | None = None) -> ValidationContext:
        kwargs = dict(vc_kwargs)
        if moment is not None:
            kwargs["moment"] = moment
        return dss.as_validation_context(kwargs) if dss is not None else ValidationContext(**kwargs)

    # document timestamps first: a trusted one proves that everything it covers existed at its time
    timestamps: dict[int, Any] = {}
    proofs: list[tuple[int, datetime]] = []
    for emb in embedded:
        if emb.sig_object_type == "/DocTimeStamp":
            try:
                timestamps[id(emb)] = status = validate_pdf_timestamp(emb, validation_context=make_vc())
            except Exception:  # noqa: BLE001, S112 - judged (and reported) with the other signatures below
                continue
            if status.intact and status.valid and status.trusted:
                proofs.append((emb.signed_revision, status.timestamp))
    reports: list[SignatureReport] = []
    for emb in sorted(embedded, key=lambda e: e.signed_revision):
        reports.append(_verify_signature(emb, make_vc, context, has_revinfo=has_revinfo,
                                         revocation_checked=has_revinfo or allow_fetch,
                                         require_revocation=require_revocation,
                                         timestamp_status=timestamps.get(id(emb)),
                                         proofs=[t for rev, t in proofs if rev > emb.signed_revision]))

    last_revision = max(r.signed_revision for r in reports)
    after_last = tuple(c for c in context.changes_since(last_revision) if c.kind is not ChangeKind.SIGNATURES)
    if structure:
        after_last += tuple(Change(ChangeKind.OTHER, reader.xrefs.total_revisions - 1, "", None, s)
                            for s in structure)
    return _document_verdict(tuple(reports), after_last, sha256=sha256, size=size, at=at, notes=tuple(notes))


def _document_verdict(reports: tuple[SignatureReport, ...], after_last: tuple[Change, ...], *, sha256: str,
                      size: int, at: datetime | None, notes: tuple[str, ...]) -> VerificationReport:
    failed = [r for r in reports if r.verdict is Verdict.NOT_VALID]
    unsure = [r for r in reports if r.verdict is Verdict.CANNOT_VERIFY]
    if after_last:
        first = after_last[0]
        where = f" (página {first.page})" if first.page else ""
        verdict, indication, sub = Verdict.NOT_VALID, Indication.TOTAL_FAILED, "FORMAT_FAILURE"
        reason = (f"El documento se modificó después de la última firma: {first.description}{where}. "
                  "Solo se admiten firmas, datos de validación o sellos de tiempo posteriores.")
    elif failed:
        verdict, indication, sub = Verdict.NOT_VALID, Indication.TOTAL_FAILED, failed[0].sub_indication
        reason = f"La firma «{failed[0].field_name}» no es válida: {failed[0].reason}"
    elif unsure:
        verdict, indication, sub = Verdict.CANNOT_VERIFY, Indication.INDETERMINATE, unsure[0].sub_indication
        reason = f"No se puede verificar la firma «{unsure[0].field_name}»: {unsure[0].reason}"
    else:
        verdict, indication, sub = Verdict.VALID, Indication.TOTAL_PASSED, ""
        signers = ", ".join(r.signer.display_name for r in reports if r.signer and r.kind == "signature")
        reason = (f"Todas las firmas ({len(reports)}) son válidas, de confianza y el documento no cambió "
                  f"después de firmarse. Firmantes: {signers or 'ninguno'}.")
    return VerificationReport(verdict=verdict, reason=reason, indication=indication, sub_indication=sub,
                              sha256=sha256, size=size, signatures=reports, changes_after_last=after_last,
                              validation_time=at, notes=notes)


def _structure_problems(pdf: bytes, reader: PdfFileReader) -> list[str]:
    """What the revision structure does not explain: bytes after the last %%EOF, a second parser
    (qpdf, through pikepdf) disagreeing with pyHanko about the pages."""
    problems = []
    # The last revision must end the file: its cross-reference data, trailer, startxref, %%EOF and
    # nothing else. Objects appended without a cross-reference section of their own are invisible to
    # a strict reader but shown by readers that rebuild the table by scanning.
    meta = reader.xrefs.get_xref_container_info(reader.xrefs.total_revisions - 1)
    tail = pdf[meta.end_location:]
    if (tail.count(b"%%EOF") != 1 or tail.count(b"startxref") != 1 or b" obj" in tail
            or _TAIL.fullmatch(tail) is None):
        problems.append("hay contenido añadido después de la última revisión del archivo, fuera de toda tabla de "
                        "referencias cruzadas")
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(pdf), attempt_recovery=False) as other:
            qpdf_pages = len(other.pages)
    except pikepdf.PdfError as e:
        problems.append(f"un segundo analizador (qpdf) no puede leer la estructura del archivo ({_short(str(e), 80)})")
        return problems
    ours = _page_refs(reader)
    if qpdf_pages != len(ours):
        problems.append(f"dos analizadores ven distinto número de páginas ({len(ours)} y {qpdf_pages})")
    return problems


# --------------------------------------------------------------------------------------------
# one signature


def _verify_signature(emb: EmbeddedPdfSignature, make_vc: Callable[..., ValidationContext], context: _Context, *,
                      has_revinfo: bool, revocation_checked: bool, require_revocation: bool,
                      timestamp_status: Any = None, proofs: Sequence[datetime] = ()) -> SignatureReport:
    is_timestamp = emb.sig_object_type == "/DocTimeStamp"
    kind = "timestamp" if is_timestamp else "signature"
    field_name = str(emb.field_name or "")
    changes = tuple(context.changes_since(emb.signed_revision))
    own = worst([c.kind for c in changes])
    try:
        signer_cert = emb.signer_cert
    except Exception:  # noqa: BLE001 - a CMS blob without a usable signer certificate
        signer_cert = None
    base: dict[str, Any] = {
        "field_name": field_name, "kind": kind, "signer": _cert_info(signer_cert) if signer_cert else None,
        "signed_revision": emb.signed_revision, "claimed_time": None, "timestamp_time": None,
        "timestamp_trusted": None, "docmdp": _docmdp(emb), "level": _level(emb, context, has_revinfo),
    }
    poe_note = ""
    try:
        if is_timestamp:
            status: Any = timestamp_status or validate_pdf_timestamp(emb, validation_context=make_vc())
        else:
            status = validate_pdf_signature(emb, signer_validation_context=make_vc())
            status, poe_note = _at_proof_of_existence(emb, status, make_vc, proofs)
    except Exception as e:  # noqa: BLE001 - pyHanko refuses the signature structure: that is the finding
        return SignatureReport(
            **base, chain=tuple(_chain(None, emb)), intact=False, valid=False, coverage="UNCLEAR",
            changes_after_signing=worst([own, ChangeKind.OTHER]) if changes else own, changes=changes,
            docmdp_ok=None, trusted=False, trust_problem="", revocation="unknown", revocation_detail="",
            indication=Indication.TOTAL_FAILED, sub_indication="FORMAT_FAILURE", verdict=Verdict.NOT_VALID,
            reason=f"la estructura de la firma no es válida ({type(e).__name__}: {_short(str(e))}).")

    coverage = status.coverage.name if status.coverage is not None else "UNCLEAR"
    pyhanko_kind = _from_pyhanko(status)
    changes_kind = worst([own, pyhanko_kind])
    if pyhanko_kind.rank > own.rank and coverage in ("ENTIRE_FILE", "ENTIRE_REVISION"):
        diff = status.diff_result
        text = "el análisis de diferencias encontró cambios que no son firmas ni datos de validación"
        if diff is not None and not isinstance(diff, DiffResult):
            text += f" ({_short(str(diff), 160)})"
        changes += (Change(pyhanko_kind, emb.signed_revision + 1, "", None, text),)
    if is_timestamp:
        base["timestamp_time"] = status.timestamp
        base["timestamp_trusted"] = bool(status.trusted)
    else:
        base["claimed_time"] = status.signer_reported_dt
        ts = status.timestamp_validity
        if ts is not None:
            base["timestamp_time"] = ts.timestamp
            base["timestamp_trusted"] = bool(ts.intact and ts.valid and ts.trusted)
    revocation, revocation_detail = _revocation(status, revocation_checked)
    trust_problem = status.trust_problem_indic.name if status.trust_problem_indic is not None else ""
    indication, sub, verdict, reason = _signature_verdict(status, coverage, changes_kind, changes, revocation,
                                                          is_timestamp, base["timestamp_trusted"])
    if verdict is Verdict.VALID and require_revocation and revocation == "not_checked":
        indication, sub, verdict = Indication.INDETERMINATE, "TRY_LATER", Verdict.CANNOT_VERIFY
        reason = _trust_reason(sub)
    if verdict is Verdict.VALID and not is_timestamp and poe_note:
        reason = f"{reason[:-1]}; {poe_note}"
    return SignatureReport(
        **base, chain=tuple(_chain(status.validation_path, emb)), intact=bool(status.intact),
        valid=bool(status.valid), coverage=coverage, changes_after_signing=changes_kind, changes=changes,
        docmdp_ok=status.docmdp_ok, trusted=bool(status.trusted), trust_problem=trust_problem,
        revocation=revocation, revocation_detail=revocation_detail, indication=indication, sub_indication=sub,
        verdict=verdict, reason=reason, detail=",".join(status.summary_fields()))


_EXPIRED = ("OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED")


def _at_proof_of_existence(emb: EmbeddedPdfSignature, status: Any, make_vc: Callable[..., ValidationContext],
                           proofs: Sequence[datetime]) -> tuple[Any, str]:
    """Long-term validation: a certificate that has expired since is judged at the earliest time a
    trusted timestamp proves the signature existed — its own signature timestamp, or a later
    document timestamp (B-LTA) — with the validation data the file carries (ETSI EN 319 102-1,
    past signature validation, simplified).

    :param proofs: times of the trusted document timestamps made after this signature.
    :return: the status to report, and a note when a timestamp's time was used.
    """
    problem = status.trust_problem_indic
    if status.trusted or problem is None or problem.name not in _EXPIRED:
        return status, ""
    ts = status.timestamp_validity
    moments = list(proofs)
    if ts is not None and ts.intact and ts.valid and ts.trusted:
        moments.append(ts.timestamp)
    for moment in sorted(moments):
        again = validate_pdf_signature(emb, signer_validation_context=make_vc(moment))
        if again.trusted:
            when = moment.strftime("%Y-%m-%d %H:%M UTC")
            return again, (f"el certificado ya venció, pero era válido cuando un sello de tiempo ({when}) probó que "
                           "la firma existía.")
    return status, ""


def _signature_verdict(status: Any, coverage: str, changes_kind: ChangeKind, changes: tuple[Change, ...],
                       revocation: str, is_timestamp: bool,
                       ts_trusted: bool | None) -> tuple[Indication, str, Verdict, str]:
    failed, indeterminate = Indication.TOTAL_FAILED, Indication.INDETERMINATE
    if not status.intact:
        return failed, "HASH_FAILURE", Verdict.NOT_VALID, "el contenido firmado fue alterado (la huella no coincide)."
    if not status.valid:
        return failed, "SIG_CRYPTO_FAILURE", Verdict.NOT_VALID, "la firma criptográfica no corresponde al certificado."
    if coverage not in ("ENTIRE_FILE", "ENTIRE_REVISION"):
        return failed, "FORMAT_FAILURE", Verdict.NOT_VALID, (
            "la firma no cubre el archivo como exige PAdES (rango de bytes irregular): se pudo ocultar contenido.")
    if changes_kind in (ChangeKind.FORM_FILLING, ChangeKind.ANNOTATIONS, ChangeKind.OTHER):
        first = next((c for c in changes if c.kind is changes_kind), None)
        where = f" (página {first.page})" if first and first.page else ""
        what = first.description if first else changes_kind.value
        return failed, "FORMAT_FAILURE", Verdict.NOT_VALID, f"el documento cambió después de esta firma: {what}{where}."
    if status.docmdp_ok is False:
        return failed, "FORMAT_FAILURE", Verdict.NOT_VALID, (
            "los cambios posteriores no están permitidos por la certificación del documento (DocMDP).")
    if revocation == "revoked":
        return failed, "REVOKED", Verdict.NOT_VALID, "el certificado del firmante está revocado."
    if not status.trusted:
        problem = status.trust_problem_indic
        sub = problem.name if problem is not None else "NO_CERTIFICATE_CHAIN_FOUND"
        return indeterminate, sub, Verdict.CANNOT_VERIFY, _trust_reason(sub)
    if ts_trusted is False and not is_timestamp:
        return indeterminate, "TIMESTAMP_ORDER_FAILURE", Verdict.CANNOT_VERIFY, (
            "el sello de tiempo de la firma no es válido o no es de confianza.")
    return Indication.TOTAL_PASSED, "", Verdict.VALID, "firma íntegra, de confianza y sin cambios posteriores."


def _trust_reason(sub: str) -> str:
    reasons = {
        "NO_CERTIFICATE_CHAIN_FOUND": "el certificado no se encadena con ninguna autoridad de confianza registrada.",
        "OUT_OF_BOUNDS_NO_POE": "el certificado estaba vencido o aún no era válido en el momento de la validación.",
        "OUT_OF_BOUNDS_NOT_REVOKED": "el certificado estaba vencido en el momento de la validación.",
        "REVOKED_NO_POE": "el certificado está revocado.",
        "REVOKED_CA_NO_POE": "un certificado de la cadena está revocado.",
        "TRY_LATER": "no hay datos de revocación (OCSP/CRL) suficientes para comprobar el certificado.",
        "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "usa un algoritmo o tamaño de clave que ya no se considera seguro.",
        "CHAIN_CONSTRAINTS_FAILURE": "la cadena del certificado no cumple las restricciones de uso.",
        "SIG_CONSTRAINTS_FAILURE": "el certificado no permite este uso (uso de clave).",
    }
    return reasons.get(sub, f"la confianza en el certificado no se pudo establecer ({sub}).")


def _revocation(status: Any, checked: bool) -> tuple[str, str]:
    details = status.revocation_details
    if details is not None:
        when = details.revocation_date.isoformat() if details.revocation_date else ""
        who = "un certificado de la cadena" if details.ca_revoked else "el certificado del firmante"
        return "revoked", f"{who} fue revocado ({when})."
    if not checked:
        return "not_checked", "El documento no incluye datos de revocación (OCSP/CRL) y no se consultaron en línea."
    if status.trusted:
        return "good", "No revocado según los datos de revocación (OCSP/CRL) disponibles."
    return "unknown", "No se pudo determinar."


def _from_pyhanko(status: Any) -> ChangeKind:
    """Map pyHanko's modification level.

    pyHanko's FORM_FILLING means "signing and form filling that DocMDP allows"; its list of changed
    fields also names fields whose widgets were merely listed again, so which values really changed
    is left to the strict review of the updates, which looks at the objects themselves.
    """
    level = status.modification_level
    if level is None or level is ModificationLevel.NONE:
        return ChangeKind.NONE
    if level in (ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING):
        return ChangeKind.SIGNATURES
    if level is ModificationLevel.ANNOTATIONS:
        return ChangeKind.ANNOTATIONS
    return ChangeKind.OTHER


def _docmdp(emb: EmbeddedPdfSignature) -> str | None:
    try:
        level = emb.docmdp_level
    except Exception:  # noqa: BLE001 - a malformed /Reference array; reported as unknown
        return "desconocido"
    if level is None:
        return None
    labels = {1: "certificación: no se permite ningún cambio",
              2: "certificación: se permite llenar formularios y firmar",
              3: "certificación: se permite llenar formularios, firmar y anotar"}
    return labels.get(int(level.value), f"certificación P={int(level.value)}")


def _level(emb: EmbeddedPdfSignature, context: _Context, has_revinfo: bool) -> str:
    if emb.sig_object_type == "/DocTimeStamp":
        return "DocTimeStamp"
    subfilter = str(emb.sig_object.get("/SubFilter", ""))
    if subfilter != "/ETSI.CAdES.detached":
        return "PKCS#7"
    unsigned = emb.signer_info["unsigned_attrs"]
    # only the attribute types: .native of the whole set would parse every embedded token
    has_ts = not isinstance(unsigned, asn1_core.Void) and any(
        a["type"].native == "signature_time_stamp_token" for a in unsigned)
    later_ts = any(r > emb.signed_revision for r in context.timestamp_revisions)
    if not (has_ts or later_ts):
        return "B-B"
    if not has_revinfo:
        return "B-T"
    if any(r > emb.signed_revision for r in context.timestamp_revisions if r >= context.dss_revision):
        return "B-LTA"
    return "B-LT"


# --------------------------------------------------------------------------------------------
# certificates


def _name_text(name: ax509.Name) -> str:
    try:
        return str(name.human_friendly)
    except Exception:  # noqa: BLE001 - an attribute asn1crypto cannot render
        return "(nombre no legible)"


def _attr(name: ax509.Name, key: str) -> str:
    try:
        value = name.native.get(key, "")
    except Exception:  # noqa: BLE001
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return str(value).strip()


def _cert_info(cert: ax509.Certificate) -> CertificateInfo:
    subject = cert.subject
    unique = _attr(subject, "unique_identifier")
    serial_attr = _attr(subject, "serial_number")
    rfc = next((m.group(0) for m in [_RFC.search(unique.upper())] if m), "")
    curp = next((m.group(0) for m in [_CURP.search(serial_attr.upper())] if m), "")
    validity = cert["tbs_certificate"]["validity"]
    return CertificateInfo(
        subject=_name_text(subject), common_name=_attr(subject, "common_name"),
        organisation=_attr(subject, "organization_name"), rfc=rfc, curp=curp, issuer=_name_text(cert.issuer),
        serial=format(cert.serial_number, "X"), not_before=validity["not_before"].native,
        not_after=validity["not_after"].native, sha256=hashlib.sha256(cert.dump()).hexdigest())


def _chain(path: Any, emb: EmbeddedPdfSignature) -> Iterator[CertificateInfo]:
    """The signer's certificate up to the anchor when a path was validated; otherwise as far as the
    certificates in the signature go (issuer by name)."""
    if path is not None:
        certs = [c for c in path if isinstance(c, ax509.Certificate)]
        for cert in reversed(certs):
            yield _cert_info(cert)
        return
    try:
        cert = emb.signer_cert
        pool = list(emb.other_embedded_certs)
    except Exception:  # noqa: BLE001
        return
    seen: set[bytes] = set()
    while cert is not None and len(seen) < 10:
        digest = cert.sha256
        if digest in seen:
            return
        seen.add(digest)
        yield _cert_info(cert)
        if cert.self_signed != "no":
            return
        cert = next((c for c in pool if c.subject == cert.issuer and c.sha256 not in seen), None)


# --------------------------------------------------------------------------------------------
# the strict review of incremental updates


@dataclass
class _Revision:
    resolver: HistoricalResolver
    root_ref: generic.Reference
    root: Any
    dss_refs: set[generic.Reference]
    acroform_ref: generic.Reference | None
    field_refs: set[generic.Reference]
    annots_arrays: set[generic.Reference]
    page_of: dict[generic.Reference, int]
    sig_fields: list[Any]
    #: objects reachable from the appearances of signature widgets, of other annotations, of
    #: signature fields not signed yet, and of form field widgets (lazy)
    appearances: tuple[set[generic.Reference], set[generic.Reference], set[generic.Reference],
                       set[generic.Reference]] | None = None


class _Context:
    """Reads the file's revisions once and classifies what each one changed."""

    def __init__(self, reader: PdfFileReader, embedded: list[EmbeddedPdfSignature]) -> None:
        self.reader = reader
        self.sig_refs: set[generic.Reference] = set()
        self.signed_field_names: set[str] = set()
        self.timestamp_revisions: list[int] = []
        for emb in embedded:
            ref = emb.sig_field.raw_get("/V")
            if isinstance(ref, generic.IndirectObject):
                self.sig_refs.add(_plain(ref.reference))
            if emb.field_name:
                self.signed_field_names.add(str(emb.field_name))
            if emb.sig_object_type == "/DocTimeStamp":
                self.timestamp_revisions.append(emb.signed_revision)
        self._revisions: dict[int, _Revision] = {}
        self._changes: dict[int, list[Change]] = {}
        self._dss_revision: int | None = None

    @property
    def dss_revision(self) -> int:
        """The first revision whose catalog has a DSS (validation data); past the end if none."""
        if self._dss_revision is None:
            total = int(self.reader.xrefs.total_revisions)
            self._dss_revision = total
            for rev in range(total):
                resolver = self.reader.get_historical_resolver(rev)
                root = resolver.get_object(resolver.root_ref)
                if isinstance(root, generic.DictionaryObject) and "/DSS" in root:
                    self._dss_revision = rev
                    break
        return self._dss_revision

    def changes_since(self, revision: int) -> list[Change]:
        out: list[Change] = []
        for rev in range(revision + 1, self.reader.xrefs.total_revisions):
            out.extend(self._changes_in(rev))
        return out

    def revision(self, rev: int) -> _Revision:
        if rev not in self._revisions:
            self._revisions[rev] = self._load(rev)
        return self._revisions[rev]

    def _load(self, rev: int) -> _Revision:
        resolver = self.reader.get_historical_resolver(rev)
        root_ref = _plain(resolver.root_ref)
        root = resolver.get_object(root_ref)
        if not isinstance(root, generic.DictionaryObject):
            # the first section of a linearized or hybrid file may not define the catalog yet
            root = generic.DictionaryObject()  # type: ignore[no-untyped-call]
        dss_refs: set[generic.Reference] = set()
        dss = root.raw_get("/DSS") if "/DSS" in root else None
        if dss is not None:
            _collect(resolver, dss, dss_refs)
        page_of = {ref: number for number, ref in enumerate(_page_refs_of(resolver, root), start=1)}
        field_refs: set[generic.Reference] = set()
        annots_arrays: set[generic.Reference] = set()
        sig_fields: list[Any] = []
        acroform_ref = None
        acroform = root.raw_get("/AcroForm") if "/AcroForm" in root else None
        if isinstance(acroform, generic.IndirectObject):
            acroform_ref = _plain(acroform.reference)
        fields = _deref(resolver, acroform).get("/Fields") if acroform is not None else None
        for fref, fdict in _walk_fields(resolver, fields):
            field_refs.add(fref)
            if fdict.get("/FT") == "/Sig" and "/AP" in fdict:
                sig_fields.append(fdict)
        for page_ref in page_of:
            page = resolver.get_object(page_ref)
            annots = page.raw_get("/Annots") if "/Annots" in page else None
            if isinstance(annots, generic.IndirectObject):
                annots_arrays.add(_plain(annots.reference))
        return _Revision(resolver, root_ref, root, dss_refs, acroform_ref, field_refs, annots_arrays, page_of,
                         sig_fields)

    @staticmethod
    def _appearances(rev: _Revision) -> tuple[set[generic.Reference], set[generic.Reference], set[generic.Reference],
                                              set[generic.Reference]]:
        if rev.appearances is None:
            resolver = rev.resolver
            sig_ap: set[generic.Reference] = set()
            annot_ap: set[generic.Reference] = set()
            unsigned_ap: set[generic.Reference] = set()
            form_ap: set[generic.Reference] = set()
            for fdict in rev.sig_fields:
                _collect(resolver, fdict.raw_get("/AP"), sig_ap if "/V" in fdict else unsigned_ap)
            for page_ref in rev.page_of:
                page = resolver.get_object(page_ref)
                annots = page.raw_get("/Annots") if "/Annots" in page else None
                for a in _deref(resolver, annots) if annots is not None else []:
                    adict = _deref(resolver, a)
                    if isinstance(adict, generic.DictionaryObject) and "/AP" in adict:
                        parent = _deref(resolver, adict.raw_get("/Parent")) if "/Parent" in adict else None
                        owner = adict if adict.get("/FT") == "/Sig" or not isinstance(
                            parent, generic.DictionaryObject) else parent
                        if owner.get("/FT") != "/Sig" and adict.get("/Subtype") == "/Widget":
                            _collect(resolver, adict.raw_get("/AP"), form_ap)
                        elif owner.get("/FT") != "/Sig":
                            _collect(resolver, adict.raw_get("/AP"), annot_ap)
                        elif "/V" in owner:
                            _collect(resolver, adict.raw_get("/AP"), sig_ap)
                        else:
                            _collect(resolver, adict.raw_get("/AP"), unsigned_ap)
            sig_ap |= unsigned_ap
            rev.appearances = (sig_ap, annot_ap, unsigned_ap, form_ap)
        return rev.appearances

    def _changes_in(self, rev: int) -> list[Change]:
        if rev in self._changes:
            return self._changes[rev]
        xrefs = self.reader.xrefs
        new = self.revision(rev)
        old = self.revision(rev - 1)
        skip = set()
        meta = xrefs.get_xref_container_info(rev)
        if meta.stream_ref is not None:
            skip.add(_plain(meta.stream_ref))
        skip |= {_plain(r) for r in xrefs.object_streams_used_in(rev)}  # type: ignore[no-untyped-call]
        out: list[Change] = []
        for ref in sorted(xrefs.refs_freed_in_revision(rev), key=lambda r: (r.idnum, r.generation)):
            out.append(Change(ChangeKind.OTHER, rev, _objid(ref), old.page_of.get(_plain(ref)),
                              "se eliminó un objeto que existía al firmar"))
        old_trailer = old.resolver.trailer_view
        new_trailer = new.resolver.trailer_view
        if new.root_ref != old.root_ref:
            out.append(Change(ChangeKind.OTHER, rev, _objid(new.root_ref), None,
                              "se sustituyó el catálogo del documento (/Root)"))
        if "/Encrypt" in new_trailer and "/Encrypt" not in old_trailer:
            out.append(Change(ChangeKind.OTHER, rev, "", None, "se añadió cifrado al documento"))
        info_ref = new_trailer.raw_get("/Info") if "/Info" in new_trailer else None
        info = _plain(info_ref.reference) if isinstance(info_ref, generic.IndirectObject) else None
        for ref in sorted(xrefs.explicit_refs_in_revision(rev), key=lambda r: (r.idnum, r.generation)):
            ref = _plain(ref)
            if ref in skip:
                continue
            out.append(self._classify(ref, rev, new, old, info))
        self._changes[rev] = out
        return out

    def _classify(self, ref: generic.Reference, rev: int, new: _Revision, old: _Revision,
                  info: generic.Reference | None) -> Change:
        existed = _existed(self.reader, ref, rev - 1)
        if ref in self.sig_refs and not existed:
            # a new signature value (its /Contents is large: not parsed again here)
            return Change(ChangeKind.SIGNATURES, rev, _objid(ref), None, "firma o sello de tiempo")
        obj = new.resolver.get_object(ref)
        before = old.resolver.get_object(ref) if existed else None
        oid = _objid(ref)
        page = new.page_of.get(ref) or old.page_of.get(ref)

        def change(kind: ChangeKind, text: str, page_no: int | None = page) -> Change:
            return Change(kind, rev, oid, page_no, text)

        if before is not None and _same(before, obj):
            return change(ChangeKind.SIGNATURES, "objeto escrito de nuevo sin cambios")
        if ref in new.dss_refs:
            return change(ChangeKind.SIGNATURES, "datos de validación (DSS: certificados, OCSP, CRL)")
        if isinstance(obj, generic.DictionaryObject) and obj.get("/Type") in ("/Sig", "/DocTimeStamp"):
            if ref in self.sig_refs and not existed:
                return change(ChangeKind.SIGNATURES, "firma o sello de tiempo")
            return change(ChangeKind.OTHER, "un diccionario de firma que no corresponde a una firma nueva")
        if isinstance(obj, generic.StreamObject) and obj.get("/Type") in ("/ObjStm", "/XRef"):
            return change(ChangeKind.SIGNATURES, "estructura de la revisión")
        if ref == new.root_ref:
            diff = _changed_keys(before, obj)
            allowed = {"/DSS", "/AcroForm", "/Extensions", "/Version"} if before is not None else set()
            if diff <= allowed:
                return change(ChangeKind.SIGNATURES, "catálogo: referencia a firmas o datos de validación")
            return change(ChangeKind.OTHER, f"catálogo del documento: cambió {', '.join(sorted(diff - allowed))}")
        if ref == info:
            trailer = old.resolver.trailer_view
            previous = _deref(old.resolver, trailer.raw_get("/Info")) if "/Info" in trailer else None
            diff = _changed_keys(previous, obj) if previous is not None else set(map(str, obj.keys()))
            shown = diff - {"/ModDate", "/Producer", "/Creator"}
            if shown:
                # a viewer shows the title (and author, subject) as if they were part of the document
                return change(ChangeKind.OTHER,
                              f"se cambiaron metadatos visibles del documento ({', '.join(sorted(shown))})")
            return change(ChangeKind.SIGNATURES, "metadatos del documento (/Info: fecha de modificación, productor)")
        metadata = new.root.raw_get("/Metadata") if "/Metadata" in new.root else None
        if isinstance(metadata, generic.IndirectObject) and _plain(metadata.reference) == ref \
                and isinstance(obj, generic.StreamObject) and obj.get("/Type") == "/Metadata":
            # signing applications refresh the XMP modification date; the text is not page content
            return change(ChangeKind.SIGNATURES, "metadatos XMP del documento")
        if ref == new.acroform_ref:
            return self._classify_acroform(before, obj, new, change)
        if ref in new.field_refs or (isinstance(obj, generic.DictionaryObject) and "/FT" in obj):
            return self._classify_field(ref, before, obj, new, change)
        if isinstance(obj, generic.DictionaryObject) and obj.get("/Type") == "/Page":
            diff = _changed_keys(before, obj)
            if before is None:
                return change(ChangeKind.OTHER, "se añadió una página")
            if diff <= {"/Annots"}:
                return change(self._annots_kind(before.get("/Annots"), obj.get("/Annots"), new),
                              "lista de anotaciones de la página")
            return change(ChangeKind.OTHER, f"se modificó la página ({', '.join(sorted(diff))})")
        if isinstance(obj, generic.DictionaryObject) and obj.get("/Type") == "/Pages":
            return change(ChangeKind.OTHER, "se modificó el árbol de páginas (páginas añadidas, quitadas o movidas)")
        if ref in new.annots_arrays:
            before_list = before if isinstance(before, generic.ArrayObject) else None
            return change(self._annots_kind(before_list, obj, new), "lista de anotaciones de la página")
        if isinstance(obj, generic.DictionaryObject) and "/Subtype" in obj and obj.get("/Type", "/Annot") == "/Annot" \
                and obj.get("/Subtype") != "/Widget" and ("/Rect" in obj):
            page = page or _annot_page(ref, new)
            verb = "se añadió" if before is None else "se modificó"
            return change(ChangeKind.ANNOTATIONS, f"{verb} una anotación ({obj.get('/Subtype')})", page)
        new_sig_ap, new_annot_ap, _, new_form_ap = self._appearances(new)
        if ref in new_sig_ap:
            if before is None or ref in self._appearances(old)[2]:
                # new, or the placeholder appearance of a field reserved for this signature
                return change(ChangeKind.SIGNATURES, "apariencia de una firma")
            if ref in self._appearances(old)[0]:
                return change(ChangeKind.OTHER, "se reescribió la apariencia de una firma ya hecha")
            return change(ChangeKind.OTHER, "se reescribió un objeto existente como apariencia de firma")
        if ref in new_form_ap:
            return change(ChangeKind.FORM_FILLING, "apariencia de un campo de formulario (su valor visible)")
        if ref in new_annot_ap:
            return change(ChangeKind.ANNOTATIONS, "apariencia de una anotación")
        if before is None:
            return change(ChangeKind.OTHER, "un objeto nuevo que no pertenece a ninguna firma")
        return change(ChangeKind.OTHER, "se reescribió un objeto que existía al firmar")

    def _classify_acroform(self, before: Any, obj: Any, new: _Revision, change: _Maker) -> Change:
        diff = _changed_keys(before, obj)
        if not diff <= {"/Fields", "/SigFlags", "/DR"}:
            return change(ChangeKind.OTHER, f"formulario: cambió {', '.join(sorted(diff))}")
        old_fields = {_plain(f.reference) for f in (_deref(new.resolver, before.raw_get("/Fields"))
                                                   if before is not None and "/Fields" in before else [])
                      if isinstance(f, generic.IndirectObject)}
        now = [f for f in _deref(new.resolver, obj.raw_get("/Fields")) if isinstance(f, generic.IndirectObject)] \
            if "/Fields" in obj else []
        now_refs = {_plain(f.reference) for f in now}
        if not old_fields <= now_refs:
            return change(ChangeKind.OTHER, "se quitaron campos del formulario")
        for f in now:
            if _plain(f.reference) not in old_fields and _deref(new.resolver, f).get("/FT") != "/Sig":
                return change(ChangeKind.OTHER, "se añadió un campo de formulario que no es de firma")
        return change(ChangeKind.SIGNATURES, "formulario: campos de firma")

    def _classify_field(self, ref: generic.Reference, before: Any, obj: Any, new: _Revision,
                        change: _Maker) -> Change:
        if not isinstance(obj, generic.DictionaryObject):
            return change(ChangeKind.OTHER, "un campo de formulario dañado")
        field_type = obj.get("/FT")
        parent = obj.get("/Parent") if "/Parent" in obj else None
        if field_type is None and isinstance(parent, generic.DictionaryObject):
            field_type = parent.get("/FT")
        name = str(obj.get("/T", "")) or "(sin nombre)"
        page = _annot_page(ref, new)
        if field_type == "/Sig":
            value = obj.raw_get("/V") if "/V" in obj else None
            signed = isinstance(value, generic.IndirectObject) and _plain(value.reference) in self.sig_refs
            if before is None:
                if signed:
                    return change(ChangeKind.SIGNATURES, f"campo de firma «{name}»", page)
                return change(ChangeKind.OTHER, f"se añadió un campo de firma vacío «{name}» (un recuadro sin firma "
                              "que puede tapar el contenido)", page)
            diff = _changed_keys(before, obj)
            if signed and "/V" not in before and diff <= {"/V", "/AP", "/F", "/Lock", "/SV", "/MK", "/DA", "/P"}:
                return change(ChangeKind.SIGNATURES, f"se firmó el campo «{name}»", page)
            return change(ChangeKind.OTHER, f"se modificó el campo de firma «{name}» ({', '.join(sorted(diff))})",
                          page)
        if before is None:
            return change(ChangeKind.OTHER, f"se añadió el campo de formulario «{name}»", page)
        diff = _changed_keys(before, obj)
        if diff <= {"/V", "/AS", "/AP"}:
            return change(ChangeKind.FORM_FILLING, f"se cambió el valor del campo «{name}»", page)
        return change(ChangeKind.OTHER, f"se modificó el campo «{name}» ({', '.join(sorted(diff))})", page)

    def _annots_kind(self, before: Any, after: Any, new: _Revision) -> ChangeKind:
        old_refs = _ref_set(_deref(new.resolver, before))
        kind = ChangeKind.SIGNATURES
        for a in _deref(new.resolver, after) or []:
            if not isinstance(a, generic.IndirectObject):
                return ChangeKind.OTHER
            aref = _plain(a.reference)
            if aref in old_refs:
                continue
            adict = _deref(new.resolver, a)
            is_sig_widget = adict.get("/Subtype") == "/Widget" and (
                adict.get("/FT") == "/Sig" or ("/Parent" in adict and adict["/Parent"].get("/FT") == "/Sig"))
            if not is_sig_widget:
                kind = worst([kind, ChangeKind.ANNOTATIONS])
        current = _ref_set(_deref(new.resolver, after))
        if not old_refs <= current:
            return ChangeKind.OTHER
        return kind


_Maker = Callable[..., Change]


def _plain(ref: generic.Reference) -> generic.Reference:
    return generic.Reference(ref.idnum, ref.generation)


def _same(before: Any, after: Any) -> bool:
    """The same object, written again: equal dictionaries (references compared by number) and, for
    streams, the same encoded bytes."""
    if type(before) is not type(after):
        return False
    if isinstance(after, generic.StreamObject):
        return bool(before.encoded_data == after.encoded_data and dict(before) == dict(after))
    return bool(before == after)


def _ref_set(items: Any) -> set[generic.Reference]:
    return {_plain(a.reference) for a in (items or []) if isinstance(a, generic.IndirectObject)}


def _objid(ref: generic.Reference) -> str:
    return f"{ref.idnum} {ref.generation}"


def _existed(reader: PdfFileReader, ref: generic.Reference, rev: int) -> bool:
    try:
        return bool(reader.xrefs.get_introducing_revision(ref) <= rev)
    except KeyError:
        return False


def _deref(resolver: HistoricalResolver, obj: Any) -> Any:
    depth = 0
    while isinstance(obj, generic.IndirectObject) and depth < 32:
        obj = resolver.get_object(obj.reference)
        depth += 1
    return obj


def _changed_keys(before: Any, after: Any) -> set[str]:
    if not isinstance(before, generic.DictionaryObject) or not isinstance(after, generic.DictionaryObject):
        return {"(tipo de objeto)"}
    keys = set(before.keys()) | set(after.keys())
    return {str(k) for k in keys if k not in before or k not in after or before.raw_get(k) != after.raw_get(k)}


def _collect(resolver: HistoricalResolver, obj: Any, seen: set[generic.Reference]) -> None:
    """Every indirect object reachable from ``obj`` (bounded, iterative)."""
    stack = [obj]
    steps = 0
    while stack and steps < _WALK_LIMIT:
        steps += 1
        item = stack.pop()
        if isinstance(item, generic.IndirectObject):
            ref = _plain(item.reference)
            if ref in seen:
                continue
            seen.add(ref)
            item = resolver.get_object(item.reference)
        if isinstance(item, generic.DictionaryObject):
            stack.extend(item.raw_get(k) for k in item.keys() if k != "/Parent" and k != "/P")
        elif isinstance(item, generic.ArrayObject):
            stack.extend(item.raw_get(i) for i in range(len(item)))


def _walk_fields(resolver: HistoricalResolver, fields: Any) -> Iterator[tuple[generic.Reference, Any]]:
    stack = list(_deref(resolver, fields) or []) if fields is not None else []
    seen: set[generic.Reference] = set()
    while stack and len(seen) < _WALK_LIMIT:
        item = stack.pop()
        if not isinstance(item, generic.IndirectObject):
            continue
        ref = _plain(item.reference)
        if ref in seen:
            continue
        seen.add(ref)
        fdict = resolver.get_object(item.reference)
        if not isinstance(fdict, generic.DictionaryObject):
            continue
        yield ref, fdict
        if "/Kids" in fdict:
            stack.extend(_deref(resolver, fdict.raw_get("/Kids")) or [])


def _page_refs_of(resolver: Any, root: Any) -> list[generic.Reference]:
    pages = root.raw_get("/Pages") if "/Pages" in root else None
    out: list[generic.Reference] = []
    stack = [pages]
    seen: set[generic.Reference] = set()
    while stack and len(seen) < _WALK_LIMIT:
        item = stack.pop()
        if not isinstance(item, generic.IndirectObject):
            continue
        ref = _plain(item.reference)
        if ref in seen:
            raise ValueError("el árbol de páginas tiene un ciclo")
        seen.add(ref)
        node = resolver.get_object(item.reference)
        if not isinstance(node, generic.DictionaryObject):
            continue
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            kids = _deref(resolver, node.raw_get("/Kids")) if "/Kids" in node else []
            stack.extend(reversed(list(kids)))
        else:
            out.append(ref)
    return out


def _page_refs(reader: PdfFileReader) -> list[generic.Reference]:
    return _page_refs_of(reader, reader.root)


def _annot_page(ref: generic.Reference, rev: _Revision) -> int | None:
    for page_ref, number in rev.page_of.items():
        page = rev.resolver.get_object(page_ref)
        annots = _deref(rev.resolver, page.raw_get("/Annots")) if "/Annots" in page else None
        for a in annots or []:
            if isinstance(a, generic.IndirectObject) and _plain(a.reference) == ref:
                return number
    return None

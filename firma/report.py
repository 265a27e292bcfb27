"""The validation report: frozen dataclasses a person (and a program) can read.

:func:`firma.verify.verify_pdf` builds a :class:`VerificationReport`; the web page, the JSON API,
the command line and the PDF report all render this one value. ``to_dict`` / ``from_dict`` carry
it across the process boundary of the isolated verifier without pickling.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "CHANGE_LABELS",
    "VERDICT_LABELS",
    "CertificateInfo",
    "Change",
    "ChangeKind",
    "Indication",
    "SignatureReport",
    "Verdict",
    "VerificationReport",
]


class Verdict(StrEnum):
    """The plain verdict, the one a citizen reads."""

    VALID = "valid"
    NOT_VALID = "not_valid"
    CANNOT_VERIFY = "cannot_verify"


VERDICT_LABELS = {
    Verdict.VALID: "VÁLIDA",
    Verdict.NOT_VALID: "NO VÁLIDA",
    Verdict.CANNOT_VERIFY: "NO SE PUEDE VERIFICAR",
}


class Indication(StrEnum):
    """ETSI EN 319 102-1 main status indication."""

    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"


class ChangeKind(StrEnum):
    """What was added to the file after a signature, from harmless to worst."""

    NONE = "none"
    #: further signatures, validation data (DSS: certificates, OCSP, CRL) or document timestamps
    SIGNATURES = "signatures"
    FORM_FILLING = "form_filling"
    ANNOTATIONS = "annotations"
    OTHER = "other"

    @property
    def rank(self) -> int:
        return list(ChangeKind).index(self)


CHANGE_LABELS = {
    ChangeKind.NONE: "ninguno",
    ChangeKind.SIGNATURES: "solo firmas, datos de validación o sellos de tiempo",
    ChangeKind.FORM_FILLING: "llenado de formularios",
    ChangeKind.ANNOTATIONS: "anotaciones",
    ChangeKind.OTHER: "otros cambios al contenido o la estructura",
}


def worst(kinds: list[ChangeKind]) -> ChangeKind:
    """The most serious of several change kinds (``NONE`` for none)."""
    return max(kinds, key=lambda k: k.rank, default=ChangeKind.NONE)


@dataclass(frozen=True)
class Change:
    """One object added, replaced or freed in an incremental update after a signature."""

    kind: ChangeKind
    #: the revision (0 = the original file) that made the change
    revision: int
    #: "12 0" (object number and generation) or "" when the change is not one object
    object: str
    #: 1-based page the object belongs to, when it belongs to one
    page: int | None
    #: what it is, in Spanish
    description: str


@dataclass(frozen=True)
class CertificateInfo:
    """What a person needs to know of one certificate."""

    subject: str
    common_name: str
    organisation: str
    rfc: str
    curp: str
    issuer: str
    #: serial number in upper-case hexadecimal
    serial: str
    not_before: datetime | None
    not_after: datetime | None
    sha256: str

    @property
    def display_name(self) -> str:
        return self.common_name or self.organisation or self.subject


@dataclass(frozen=True)
class SignatureReport:
    """The verification of one signature or document timestamp."""

    field_name: str
    #: "signature" (approval or certification) or "timestamp" (document timestamp)
    kind: str
    signer: CertificateInfo | None
    #: from the signer's certificate up to the trust anchor (or as far as the file's certificates go)
    chain: tuple[CertificateInfo, ...]
    #: revision the signature covers (0 = the original file)
    signed_revision: int
    #: the signing time the signer's computer claimed (not proof of anything)
    claimed_time: datetime | None
    #: the time certified by a trusted timestamp, if any
    timestamp_time: datetime | None
    timestamp_trusted: bool | None
    #: the signed bytes hash to what was signed, and the CMS signature is cryptographically sound
    intact: bool
    valid: bool
    #: ENTIRE_FILE, ENTIRE_REVISION, CONTIGUOUS_BLOCK_FROM_START, UNCLEAR
    coverage: str
    changes_after_signing: ChangeKind
    changes: tuple[Change, ...]
    #: certification permissions (DocMDP) when this signature certifies the document
    docmdp: str | None
    docmdp_ok: bool | None
    trusted: bool
    trust_problem: str
    #: "good", "revoked", "not_checked" or "unknown"
    revocation: str
    revocation_detail: str
    #: "B-B", "B-T", "B-LT", "B-LTA", or "PKCS#7" for a non-PAdES (adbe.pkcs7.detached) signature
    level: str
    indication: Indication
    sub_indication: str
    verdict: Verdict
    reason: str
    #: pyHanko's own summary, for the expert reader
    detail: str = ""

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS[self.verdict]

    @property
    def changes_label(self) -> str:
        return CHANGE_LABELS[self.changes_after_signing]


@dataclass(frozen=True)
class VerificationReport:
    """The verification of a whole PDF."""

    verdict: Verdict
    #: why, in one Spanish sentence
    reason: str
    indication: Indication
    sub_indication: str
    sha256: str
    size: int
    signatures: tuple[SignatureReport, ...] = ()
    #: what was added after the last signature (only signatures, validation data or timestamps is fine)
    changes_after_last: tuple[Change, ...] = ()
    validation_time: datetime | None = None
    #: the verifier's notes (a parser warning, a limit reached), in Spanish
    notes: tuple[str, ...] = field(default=())

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (datetimes as ISO 8601 strings)."""
        return _jsonable(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerificationReport:
        """Rebuild a report from :meth:`to_dict`'s output."""
        return cls(
            verdict=Verdict(data["verdict"]), reason=data["reason"], indication=Indication(data["indication"]),
            sub_indication=data["sub_indication"], sha256=data["sha256"], size=int(data["size"]),
            signatures=tuple(_signature_from_dict(s) for s in data.get("signatures", ())),
            changes_after_last=tuple(_change_from_dict(c) for c in data.get("changes_after_last", ())),
            validation_time=_dt(data.get("validation_time")),
            notes=tuple(data.get("notes", ())),
        )

    @classmethod
    def cannot_verify(cls, reason: str, *, sha256: str, size: int, sub_indication: str = "GENERIC",
                      notes: tuple[str, ...] = ()) -> VerificationReport:
        """The fail-closed answer: a parse error, an exception, a limit reached."""
        return cls(verdict=Verdict.CANNOT_VERIFY, reason=reason, indication=Indication.INDETERMINATE,
                   sub_indication=sub_indication, sha256=sha256, size=size, notes=notes)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _change_from_dict(data: dict[str, Any]) -> Change:
    return Change(kind=ChangeKind(data["kind"]), revision=int(data["revision"]), object=data["object"],
                  page=data["page"], description=data["description"])


def _cert_from_dict(data: dict[str, Any]) -> CertificateInfo:
    return CertificateInfo(
        subject=data["subject"], common_name=data["common_name"], organisation=data["organisation"],
        rfc=data["rfc"], curp=data["curp"], issuer=data["issuer"], serial=data["serial"],
        not_before=_dt(data["not_before"]), not_after=_dt(data["not_after"]), sha256=data["sha256"])


def _signature_from_dict(data: dict[str, Any]) -> SignatureReport:
    return SignatureReport(
        field_name=data["field_name"], kind=data["kind"],
        signer=_cert_from_dict(data["signer"]) if data.get("signer") else None,
        chain=tuple(_cert_from_dict(c) for c in data["chain"]), signed_revision=int(data["signed_revision"]),
        claimed_time=_dt(data["claimed_time"]), timestamp_time=_dt(data["timestamp_time"]),
        timestamp_trusted=data["timestamp_trusted"], intact=bool(data["intact"]), valid=bool(data["valid"]),
        coverage=data["coverage"], changes_after_signing=ChangeKind(data["changes_after_signing"]),
        changes=tuple(_change_from_dict(c) for c in data["changes"]), docmdp=data["docmdp"],
        docmdp_ok=data["docmdp_ok"], trusted=bool(data["trusted"]), trust_problem=data["trust_problem"],
        revocation=data["revocation"], revocation_detail=data["revocation_detail"], level=data["level"],
        indication=Indication(data["indication"]), sub_indication=data["sub_indication"],
        verdict=Verdict(data["verdict"]), reason=data["reason"], detail=data.get("detail", ""))

"""PAdES signing with pyHanko: personal signatures and the institution's seal.

:func:`sign_pdf` adds one signature as an incremental update, so earlier signatures stay valid;
the first signature may certify the document (DocMDP: only form filling and signing afterwards).
The level (B-B, B-T, B-LT, B-LTA) follows :class:`firma.SigningSettings`. A
:class:`VisibleStamp` draws the signature on the last page: name, RFC/CURP, date and time, folio
and a QR code to the public verifier.

:class:`InstitutionSeal` holds the institution's key loaded once (PKCS#12 or a PKCS#11 token).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import requests
from asn1crypto import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, append_signature_field, enumerate_sig_fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import QRStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from . import tsa
from .errors import SealUnavailable, SigningFailed, TimestampFailed
from .identity import SigningIdentity, _first, _split_sat_field, load_pkcs12
from .revocation import shared_fetchers
from .settings import LEVELS, Level, SigningSettings, VisibleStamp
from .signer import LoadedKeySigner

__all__ = ["InstitutionSeal", "SignedPdf", "sign_pdf"]

_STAMP_TEXT = (
    "%(label)s\n"
    "Firmado por: %(signer_name)s\n"
    "%(ids)s\n"
    "Fecha: %(ts)s\n"
    "Folio: %(folio)s"
)
_STAMP_HEIGHT = 78.0
#: what pyHanko raises on damaged or hostile PDFs
_DAMAGED = (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError)
_MARGIN = 36.0


@dataclass(frozen=True)
class SignedPdf:
    """A signed PDF and what was done to it."""

    data: bytes
    sha256: str
    level: Level
    signer_name: str


def _path_certs(cert: x509.Certificate, pool: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """The CA certificates above ``cert`` found in ``pool`` (issuer by issuer, roots included)."""
    by_subject: dict[bytes, x509.Certificate] = {}
    for candidate in pool:
        by_subject.setdefault(candidate.subject.dump(), candidate)
    path: list[x509.Certificate] = []
    current = cert
    for _ in range(8):
        if current.self_signed != "no":
            break
        issuer = by_subject.get(current.issuer.dump())
        if issuer is None or issuer in path:
            break
        path.append(issuer)
        current = issuer
    return path


def _chains_to_trust(cert: x509.Certificate, chain: Iterable[x509.Certificate], settings: SigningSettings) -> bool:
    anchors = {root.dump() for root in settings.trust.roots}
    path = _path_certs(cert, [*chain, *settings.trust.intermediates, *settings.trust.roots])
    return any(c.dump() in anchors for c in (cert, *path))


def _describe(cert: x509.Certificate) -> tuple[str, str | None, str | None]:
    subject = cert.subject.native
    rfcs = _split_sat_field(_first(subject.get("unique_identifier")))
    curps = _split_sat_field(_first(subject.get("serial_number")))
    name = _first(subject.get("common_name")) or cert.subject.human_friendly
    curp = curps[0] if curps and len(curps[0]) == 18 else None
    return name, (rfcs[0] if rfcs else None), curp


def _is_certified(writer: IncrementalPdfFileWriter) -> bool:
    try:
        return "/DocMDP" in writer.prev.root["/Perms"]
    except (KeyError, TypeError):
        return False


def _free_name(prefix: str, number: int, taken: set[str]) -> str:
    while f"{prefix}{number}" in taken:
        number += 1
    return f"{prefix}{number}"


def _last_page_box(writer: IncrementalPdfFileWriter, index: int) -> tuple[int, int, int, int]:
    """A slot at the bottom of the last page; later signatures stack to the right, then upwards."""
    page_ref, _path = writer.find_page_for_modification(-1)  # type: ignore[no-untyped-call]
    page = page_ref.get_object()
    try:
        x0, y0, x1, _y1 = (float(v) for v in page["/MediaBox"])
    except (KeyError, TypeError, ValueError):
        x0, y0, x1 = 0.0, 0.0, 612.0
    width = (x1 - x0 - 2 * _MARGIN - 8) / 2
    col, row = index % 2, index // 2
    left = x0 + _MARGIN + col * (width + 8)
    bottom = y0 + _MARGIN * 0.6 + row * (_STAMP_HEIGHT + 6)
    return (round(left), round(bottom), round(left + width), round(bottom + _STAMP_HEIGHT))


def _sign(
    pdf: bytes,
    signer: Signer,
    *,
    settings: SigningSettings,
    stamp: VisibleStamp | None,
    certify: bool,
    reason: str | None,
    location: str | None,
    field_prefix: str,
    later_signatures: int = 0,
    later_prefix: str = "Firma",
    bytes_reserved: int | None = None,
    chain: Iterable[x509.Certificate] = (),
) -> SignedPdf:
    cert = signer.signing_cert
    if cert is None:  # pragma: no cover - every signer we build has one
        raise SigningFailed()
    name, rfc, curp = _describe(cert)
    level = settings.level
    if LEVELS.index(level) >= LEVELS.index("B-LT") and not _chains_to_trust(cert, chain, settings):
        # Validation data can only be gathered for a certificate that chains to a trust anchor:
        # a signer from an unlisted CA still gets a timestamped (B-T) signature.
        level = "B-T"
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        if writer.prev.encrypted:
            raise SigningFailed("No se pueden firmar documentos PDF cifrados o protegidos con contraseña.")
        existing = len(writer.prev.embedded_signatures)
        certified = _is_certified(writer)
        names = {name for name, _value, _ref in enumerate_sig_fields(writer.prev)}
        empty = [name for name, _value, _ref in enumerate_sig_fields(writer.prev, filled_status=False)]
        # Reserved (empty) fields are taken in order, by signers and by the seal alike.
        reserved = empty[0] if stamp is not None and empty else None
        certify = certify and existing == 0 and not empty
        field_name = reserved or _free_name(field_prefix, existing + 1, names)
        # After a certification (DocMDP, P=2) only existing fields may be filled: a new visible
        # field would be an annotation and break the certification, so a signer with no reserved
        # field signs invisibly.
        visible = stamp is not None and (reserved is not None or not certified)
        if certify and stamp is not None and later_signatures > 0:
            taken = {field_name, *names}
            for offset in range(1, later_signatures + 1):
                slot_name = _free_name(later_prefix, existing + 1 + offset, taken)
                taken.add(slot_name)
                append_signature_field(
                    writer, SigFieldSpec(slot_name, on_page=-1, box=_last_page_box(writer, existing + offset))
                )
        new_box = _last_page_box(writer, existing) if visible and reserved is None else None
    except _DAMAGED as e:
        raise SigningFailed("El archivo no es un PDF válido o está dañado.") from e

    long_term = LEVELS.index(level) >= LEVELS.index("B-LT")
    validation_context = None
    if long_term:
        validation_context = ValidationContext(
            trust_roots=list(settings.trust.roots),
            other_certs=list(settings.trust.intermediates),
            allow_fetching=True,
            revocation_mode="soft-fail",
            fetchers=shared_fetchers(settings.timeout, settings.trust.revocation_cache_seconds),
        )
    meta = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=settings.md_algorithm,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=name,
        certify=certify and existing == 0,
        docmdp_permissions=MDPPerm.FILL_FORMS,
        embed_validation_info=long_term,
        use_pades_lta=level == "B-LTA",
        validation_context=validation_context,
        signer_key_usage={"digital_signature"},
    )
    timestamper = tsa.timestamper(settings.tsa_url, settings.timeout) if level != "B-B" and settings.tsa_url else None
    text_params: dict[str, Any] | None = None
    stamp_style = None
    field_spec = None
    if stamp is not None and visible:
        ids = " ".join(part for part in (f"RFC: {rfc}" if rfc else "", f"CURP: {curp}" if curp else "") if part)
        text_params = {
            "url": stamp.verify_url,
            "label": stamp.label,
            "signer_name": name,
            "ids": ids or f"Certificado núm. {int(cert.serial_number):X}",
            "folio": stamp.folio,
        }
        stamp_style = QRStampStyle(
            stamp_text=_STAMP_TEXT, border_width=1, timestamp_format="%d/%m/%Y %H:%M:%S %Z"
        )
        if new_box is not None:
            field_spec = SigFieldSpec(field_name, on_page=-1, box=new_box)
    pdf_signer = PdfSigner(
        meta, signer, timestamper=timestamper, stamp_style=stamp_style, new_field_spec=field_spec
    )
    try:
        output = pdf_signer.sign_pdf(writer, appearance_text_params=text_params, bytes_reserved=bytes_reserved)
    except TimestampRequestError as e:
        raise TimestampFailed() from e
    except requests.RequestException as e:
        raise TimestampFailed(
            "No se pudo contactar a la autoridad de sellado de tiempo o al servicio de revocación."
        ) from e
    except (PathBuildingError, PathValidationError) as e:
        raise SigningFailed(
            "No se pudo reunir la información de validación del certificado (cadena de confianza o revocación)."
        ) from e
    except (SigningError, *_DAMAGED) as e:
        raise SigningFailed() from e
    data = output.getvalue()
    return SignedPdf(data=data, sha256=hashlib.sha256(data).hexdigest(), level=level, signer_name=name)


_CONTENTS = re.compile(rb"/Contents\s*<([0-9A-Fa-f]+)>")


def _cms_length(data: bytes, start: int) -> int | None:
    """Bytes of the first signature container written after ``start`` (its zero padding removed)."""
    match = _CONTENTS.search(data, start)
    if match is None:
        return None
    hex_digits = match.group(1).rstrip(b"0")
    return (len(hex_digits) + 1) // 2


def _store(certs: Iterable[x509.Certificate]) -> SimpleCertificateStore:
    store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    for cert in certs:
        store.register(cert)
    return store


def _registry(
    cert: x509.Certificate, chain: Iterable[x509.Certificate], settings: SigningSettings
) -> SimpleCertificateStore:
    return _store(_path_certs(cert, [*chain, *settings.trust.intermediates, *settings.trust.roots]))


def sign_pdf(
    pdf: bytes,
    identity: SigningIdentity,
    *,
    settings: SigningSettings,
    stamp: VisibleStamp | None = None,
    certify: bool = False,
    reason: str | None = None,
    location: str | None = None,
    later_signatures: int = 0,
) -> SignedPdf:
    """Add one PAdES signature by ``identity`` to ``pdf`` (an incremental update).

    Check the identity first with :func:`firma.check_identity`; this function signs whatever it
    is given.

    :param settings: level, TSA and trust (see :class:`SigningSettings`). B-LT and B-LTA need a
        certificate that chains to a trust anchor; other signers get B-T (see ``SignedPdf.level``).
    :param stamp: draw a visible signature with QR on the last page; invisible when ``None``.
    :param certify: certify the document (DocMDP, form filling and signing allowed) when this is
        its first signature; ignored when the document is already signed.
    :param later_signatures: with ``certify`` and a ``stamp``: how many visible signature fields
        to reserve now for the signers (and the seal) that come later. After a certification only
        reserved fields can show a visible signature; later signers without one sign invisibly.
    :raises SigningFailed: the PDF cannot be signed.
    :raises TimestampFailed: the TSA did not answer.
    """
    signer = LoadedKeySigner(
        identity.certificate, identity.private_key, _registry(identity.certificate, identity.chain, settings)
    )
    return _sign(
        pdf, signer, settings=settings, stamp=stamp, certify=certify, reason=reason, location=location,
        field_prefix="Firma", later_signatures=later_signatures, chain=identity.chain,
    )


class InstitutionSeal:
    """The institution's electronic seal: a key loaded once per process, used for every seal.

    Build it with :meth:`from_pkcs12` or :meth:`from_pkcs11` and keep it (one per process).
    """

    reason = "Sello electrónico de la institución"

    def __init__(self, signer: Signer, chain: Iterable[x509.Certificate] = ()) -> None:
        self._signer = signer
        self._chain = tuple(chain)
        self._lock: AbstractContextManager[Any] = nullcontext()
        self._reserved: dict[tuple[str, str | None, int], int] = {}
        self._session: Any = None
        #: with a key in memory, each seal gets a signer of its own (sharing the loaded key object),
        #: so concurrent seals in threads share no mutable pyHanko state
        self._identity: SigningIdentity | None = None
        cert = signer.signing_cert
        if cert is None:  # pragma: no cover
            raise SigningFailed("El sello no tiene certificado.")
        self.certificate: x509.Certificate = cert
        self.name = _describe(cert)[0]

    def __repr__(self) -> str:
        return f"<InstitutionSeal {self.name!r}>"

    @classmethod
    def from_pkcs12(cls, data: bytes, password: str) -> InstitutionSeal:
        """Load the seal from a PKCS#12 file (the key is parsed once, here).

        :raises WrongPassword, InvalidCredential, KeyMismatch:
        """
        identity = load_pkcs12(data, password)
        registry = _store(_path_certs(identity.certificate, identity.chain))
        seal = cls(LoadedKeySigner(identity.certificate, identity.private_key, registry), identity.chain)
        seal._identity = identity
        return seal

    @classmethod
    def from_pkcs11(
        cls,
        library: str,
        token_label: str,
        pin: str,
        key_label: str,
        cert_label: str | None = None,
        *,
        chain: Iterable[x509.Certificate] = (),
    ) -> InstitutionSeal:
        """Use a key kept in a PKCS#11 token (an HSM; SoftHSM2 in tests): one session per process.

        :param library: path of the PKCS#11 module (``libsofthsm2.so``, the HSM vendor's library).
        :param cert_label: label of the certificate object (defaults to ``key_label``).
        :param chain: CA certificates to embed when the token holds only the seal's certificate.
        :raises SealUnavailable: the module, token, PIN, key or certificate cannot be used.
        """
        from pkcs11 import PKCS11Error as LibraryError
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.general import SigningError as PyhankoSigningError
        from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

        try:
            session = open_pkcs11_session(library, token_criteria=TokenCriteria(label=token_label), user_pin=pin)
            signer = PKCS11Signer(
                session, cert_label=cert_label or key_label, key_label=key_label, ca_chain=list(chain)
            )
            # Fetch the certificate and the key handle now, not on the first seal.
            _ = signer.signing_cert
        except (LibraryError, PyhankoSigningError, OSError, RuntimeError) as e:
            raise SealUnavailable(
                "No se pudo abrir el sello de la institución en el módulo PKCS#11 (biblioteca, token, PIN o etiqueta)."
            ) from e
        seal = cls(signer, chain)
        seal._lock = threading.Lock()  # one PKCS#11 session: one seal at a time
        seal._session = session
        return seal

    def close(self) -> None:
        """Close the PKCS#11 session, if any (the key stays on the token)."""
        session = getattr(self, "_session", None)
        if session is not None:
            session.close()
            self._session = None

    def seal(self, pdf: bytes, *, settings: SigningSettings, stamp: VisibleStamp | None = None) -> SignedPdf:
        """Seal ``pdf`` with the institution's certificate (an approval signature, never certifying).

        :raises SigningFailed, TimestampFailed:
        """
        extra = _path_certs(self.certificate, [*self._chain, *settings.trust.intermediates, *settings.trust.roots])
        signer = self._signer
        if self._identity is not None:
            signer = LoadedKeySigner(self.certificate, self._identity.private_key, _store(extra))
        else:
            for cert in extra:
                signer.cert_registry.register(cert)
        # The seal's signature container has the same size every time (same certificates, same
        # TSA), so measure it once and skip pyHanko's dry-run estimate on later seals.
        key = (settings.level, settings.tsa_url, len(extra))
        reserved = self._reserved.get(key)
        with self._lock:
            try:
                sealed = _sign(
                    pdf, signer, settings=settings, stamp=stamp, certify=False, reason=self.reason,
                    location=None, field_prefix="SelloInstitucional", bytes_reserved=reserved, chain=self._chain,
                )
            except SigningFailed:
                if reserved is None:
                    raise
                self._reserved.pop(key, None)  # the reservation was too small: estimate again
                sealed = _sign(
                    pdf, signer, settings=settings, stamp=stamp, certify=False, reason=self.reason,
                    location=None, field_prefix="SelloInstitucional", chain=self._chain,
                )
        if reserved is None:
            measured = _cms_length(sealed.data, len(pdf))
            if measured:
                # pyHanko counts the reservation in hex digits (two per byte), plus a margin
                self._reserved[key] = 2 * measured + 4096
        return sealed

"""The verifier's trust store: which root and issuing CA certificates are trusted, who added them
and why. Admins manage it from the web (``/admin/confianza``) or the command line
(``flask --app app trust add CERT``); the demo imports the demo PKI's CAs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as ax509
from sqlalchemy import select

from firma.verify import load_certificates

from .db import DbSession, utcnow
from .errors import Conflict, InvalidInput, NotFound
from .models import TrustAnchor, TrustAnchorKind, User

#: certificates per file at most (a PEM bundle); one certificate is a few KiB
MAX_CERTIFICATES = 50


@dataclass(frozen=True)
class TrustMaterial:
    """What the verifier needs: anchors and chain helpers, DER."""

    roots: tuple[bytes, ...]
    intermediates: tuple[bytes, ...]


def parse_certificates(data: bytes) -> list[ax509.Certificate]:
    """Certificates in ``data`` (PEM, possibly several, or DER).

    :raises InvalidInput: nothing there is a certificate.
    """
    if not data or len(data) > 1024 * 1024:
        raise InvalidInput("Envíe un archivo de certificado (PEM o DER) de menos de 1 MiB.", field="certificate")
    try:
        certs = load_certificates(data)
    except ValueError as e:
        raise InvalidInput("El archivo no contiene un certificado X.509 válido (PEM o DER).",
                           field="certificate") from e
    if len(certs) > MAX_CERTIFICATES:
        raise InvalidInput(f"Demasiados certificados en un archivo (máximo {MAX_CERTIFICATES}).", field="certificate")
    return certs


def _is_ca(cert: ax509.Certificate) -> bool:
    try:
        constraints = cert.basic_constraints_value
        return bool(constraints is not None and constraints["ca"].native)
    except (ValueError, TypeError, KeyError) as e:  # a malformed extension
        raise InvalidInput("El certificado tiene extensiones dañadas.", field="certificate") from e


def add_trust_anchor(session: DbSession, cert_bytes: bytes, *, actor: User | None, note: str,
                     allow_existing: bool = False) -> list[TrustAnchor]:
    """Trust the certificate(s) in ``cert_bytes`` (PEM or DER): roots and issuing CAs only.

    A certificate already in the store is skipped when ``allow_existing`` (an import that may run
    again: it never reactivates what an admin deactivated); otherwise an active one is refused and
    a deactivated one is trusted again. Flushes only; the caller commits.

    :raises InvalidInput: not a certificate, or an end-entity (non-CA) certificate.
    :raises Conflict: already trusted (and ``allow_existing`` is false).
    """
    added = []
    for cert in parse_certificates(cert_bytes):
        if not _is_ca(cert):
            raise InvalidInput(
                f"«{_subject(cert)}» no es un certificado de autoridad certificadora (CA): solo se confía en raíces "
                "o autoridades emisoras, no en certificados de personas.", field="certificate")
        der = cert.dump()
        fingerprint = hashlib.sha256(der).hexdigest()
        existing = session.execute(
            select(TrustAnchor).where(TrustAnchor.fingerprint == fingerprint)).scalar_one_or_none()
        if existing is not None:
            if allow_existing:
                continue
            if existing.active:
                raise Conflict(f"«{existing.subject}» ya está en el almacén de confianza.")
            existing.active = True
            existing.note = (note or "").strip()[:2000] or existing.note
            existing.deactivated_at = None
            added.append(existing)
            continue
        try:
            validity = cert["tbs_certificate"]["validity"]
            not_before, not_after = validity["not_before"].native, validity["not_after"].native
            root = cert.self_signed in ("maybe", "yes")
        except (ValueError, TypeError, KeyError) as e:
            raise InvalidInput("El certificado está dañado.", field="certificate") from e
        anchor = TrustAnchor(
            certificate=der, subject=_subject(cert)[:1000], issuer=_name(cert.issuer)[:1000],
            serial=format(cert.serial_number, "X"), fingerprint=fingerprint,
            not_before=not_before, not_after=not_after,
            kind=TrustAnchorKind.ROOT if root else TrustAnchorKind.INTERMEDIATE,
            added_by=actor, note=(note or "").strip()[:2000], active=True)
        session.add(anchor)
        added.append(anchor)
    session.flush()
    return added


def deactivate_trust_anchor(session: DbSession, anchor_id: int, *, actor: User | None) -> TrustAnchor:
    """Stop trusting an anchor (kept for the record). Flushes only.

    :raises NotFound: no such anchor.
    """
    anchor = session.get(TrustAnchor, anchor_id)
    if anchor is None:
        raise NotFound("No existe ese certificado en el almacén de confianza.")
    anchor.active = False
    anchor.deactivated_at = utcnow()
    session.flush()
    return anchor


def list_trust_anchors(session: DbSession) -> list[TrustAnchor]:
    return list(session.execute(
        select(TrustAnchor).order_by(TrustAnchor.active.desc(), TrustAnchor.kind, TrustAnchor.subject)).scalars())


def trust_material(session: DbSession) -> TrustMaterial:
    """The active certificates, as the verifier takes them.

    Roots are anchors. An issuing CA is a chain helper when its issuer is also trusted (so the
    report shows the chain up to the root), and an anchor by itself when it is not (the admin
    chose to trust that CA alone).
    """
    rows = session.execute(select(TrustAnchor.certificate, TrustAnchor.kind, TrustAnchor.subject, TrustAnchor.issuer)
                           .where(TrustAnchor.active.is_(True))).all()
    subjects = {subject for _, _, subject, _ in rows}
    roots = tuple(bytes(der) for der, kind, _, issuer in rows
                  if kind is TrustAnchorKind.ROOT or issuer not in subjects)
    intermediates = tuple(bytes(der) for der, kind, _, _ in rows if kind is TrustAnchorKind.INTERMEDIATE)
    return TrustMaterial(roots=roots, intermediates=intermediates)


def import_trust_folder(session: DbSession, folder: Path, *, note: str) -> int:
    """Trust every certificate file (``*.pem``, ``*.crt``, ``*.cer``) in ``folder``; idempotent.

    A missing folder imports nothing. Flushes only.
    """
    if not folder.is_dir():
        return 0
    count = 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".pem", ".crt", ".cer", ".der") or not path.is_file():
            continue
        count += len(add_trust_anchor(session, path.read_bytes(), actor=None, note=note, allow_existing=True))
    return count


def _name(name: ax509.Name) -> str:
    try:
        return str(name.human_friendly)
    except ValueError:
        return "(nombre no legible)"


def _subject(cert: ax509.Certificate) -> str:
    return _name(cert.subject)

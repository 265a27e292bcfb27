"""Responses to filings: drafting, signing in sequence, issuing.

This module owns the life of a :class:`~oficialia.models.Response`:

* :func:`create_draft` — a department's staff drafts the answer, either an uploaded PDF
  (inspected like any intake upload) or text rendered as an official letter
  (:mod:`oficialia.letters`), and names who must sign it, in order;
* :func:`sign_response` — each signer, in turn, signs with their own e.firma (SAT ``.cer`` +
  ``.key`` + password) or PKCS#12; the first signature certifies the document (DocMDP) and
  freezes the draft; when the last one is in, the response is sealed with the institution's
  seal, stored and issued: the filing goes to ``answered`` through
  :func:`workflows.routing.perform_action` (which also tells the filer);
* :func:`cancel_draft` — a draft nobody has signed yet may be withdrawn.

Every step is an entry of the logbook, refusals of a signature included. Private keys and
passwords live only in a :class:`Credentials` value for one call: they are never stored, logged
or repeated in an error. Wrong passwords are counted per user (:class:`SigningThrottle`); after
``SIGN_MAX_FAILURES`` of them signing is locked for ``SIGN_LOCK_MINUTES``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import TemplateError
from sqlalchemy import select

import firma
from storage import IntegrityError, ObjectNotFound, ObjectStore, StorageError, StoredObject
from workflows.logbook import append_entry
from workflows.machine import apply
from workflows.notifications import notify_users, queue_delivery
from workflows.routing import ActionRequest, active_routings, perform_action
from workflows.states import Action, FilingState

from .db import DbSession, utcnow
from .errors import Conflict, Forbidden, InvalidInput, OficialiaError, StorageUnavailable, TooManyAttempts
from .inspection import UploadLimits, inspect_upload
from .letters import LetterData, render_letter
from .models import (
    SENSE_LABELS,
    Department,
    Filing,
    Response,
    ResponseSense,
    ResponseSigner,
    ResponseStatus,
    Role,
    SigningThrottle,
    User,
)

log = logging.getLogger(__name__)

#: who drafts responses: the department's people (admins act for any department)
DRAFTING_ROLES = frozenset({Role.STAFF, Role.SIGNER, Role.ADMIN})
#: who may be named to sign
SIGNING_ROLES = frozenset({Role.SIGNER, Role.ADMIN})
MAX_SIGNERS = 5
MAX_TEXT = 20_000
#: a certificate, a key or a PKCS#12 file is a few KiB; anything far larger is not one
MAX_CREDENTIAL_BYTES = 64 * 1024
STORE_PREFIX = "responses"
OPEN_STATUSES = (ResponseStatus.DRAFT, ResponseStatus.SIGNING)
#: visible signature fields the first (certifying) signature reserves for the institution's seal
SEAL_FIELDS = 1

STATUS_LABELS = {
    ResponseStatus.DRAFT: "Borrador",
    ResponseStatus.SIGNING: "En firma",
    ResponseStatus.ISSUED: "Emitida",
    ResponseStatus.CANCELLED: "Cancelada",
}


class ResponseDamaged(OficialiaError):
    """A stored version of the response no longer matches its SHA-256."""

    http_status = 502
    code = "document_integrity"
    default_message = ("El documento de la respuesta no coincide con su huella digital (SHA-256) registrada; "
                       "no se firma ni se entrega.")


@dataclass(frozen=True)
class ResponseSettings:
    """What drafting and issuing need from the configuration."""

    institution: str
    timezone: str
    public_url: str
    place: str = ""
    limits: UploadLimits = UploadLimits()
    max_failures: int = 5
    lock_minutes: int = 15

    @classmethod
    def from_config(cls, config: Any) -> ResponseSettings:
        return cls(institution=str(config["INSTITUTION"]), timezone=str(config["TIMEZONE"]),
                   public_url=str(config["PUBLIC_URL"]).rstrip("/"), place=str(config.get("LETTER_PLACE") or ""),
                   limits=UploadLimits(max_file_bytes=int(float(config["MAX_FILE_MB"]) * 1024 * 1024),
                                       max_pages=int(config["MAX_PAGES"]), max_pixels=int(config["MAX_PIXELS"])),
                   max_failures=int(config.get("SIGN_MAX_FAILURES", 5)),
                   lock_minutes=int(config.get("SIGN_LOCK_MINUTES", 15)))


@dataclass(frozen=True)
class Credentials:
    """What a signer hands over for one signature: a PKCS#12 file, or a SAT pair (DER ``.cer``
    and encrypted PKCS#8 ``.key``), with its password. Never stored; ``repr`` shows no secret."""

    password: str = field(repr=False)
    pkcs12: bytes | None = field(default=None, repr=False)
    certificate: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, *, password: str | None, pkcs12: bytes | None, certificate: bytes | None,
              key: bytes | None) -> Credentials:
        """Check what was sent (no cryptography yet).

        :raises InvalidInput: a file or the password is missing, or a file is not plausible.
        """
        for name, data in (("pkcs12", pkcs12), ("certificate", certificate), ("key", key)):
            if data is not None and len(data) > MAX_CREDENTIAL_BYTES:
                raise InvalidInput("El archivo no parece un certificado ni una clave privada: es demasiado grande.",
                                   field=name)
        if not password:
            raise InvalidInput("Escriba la contraseña de su clave privada.", field="password")
        if pkcs12:
            return cls(password=password, pkcs12=pkcs12)
        if certificate and key:
            return cls(password=password, certificate=certificate, key=key)
        if certificate or key:
            raise InvalidInput("Adjunte los dos archivos de su e.firma: el certificado (.cer) y la clave privada "
                               "(.key).", field="key" if certificate else "certificate")
        raise InvalidInput("Adjunte su e.firma (certificado .cer y clave privada .key) o su archivo PKCS#12 "
                           "(.p12 o .pfx).", field="certificate")

    def load(self) -> firma.SigningIdentity:
        """Decrypt the key in memory.

        :raises firma.FirmaError: wrong password, damaged files, key and certificate that do not match.
        """
        if self.pkcs12 is not None:
            return firma.load_pkcs12(self.pkcs12, self.password)
        assert self.certificate is not None and self.key is not None  # noqa: S101 - parse() guarantees it
        return firma.load_sat_pair(self.certificate, self.key, self.password)


@dataclass(frozen=True)
class SignResult:
    response: Response
    signer: ResponseSigner
    #: SHA-256 of the PDF as it stands after this signature (sealed, when it was the last)
    sha256: str
    level: str
    issued: bool


# --- queries -----------------------------------------------------------------------------------


def signers_of(session: DbSession, response: Response) -> list[ResponseSigner]:
    """The required signatures, in order."""
    return list(session.execute(select(ResponseSigner).where(ResponseSigner.response_id == response.id)
                                .order_by(ResponseSigner.position)).scalars())


def next_signer(session: DbSession, response: Response) -> ResponseSigner | None:
    """The signature due now, or ``None`` when all are in (or the response is closed)."""
    if response.status not in OPEN_STATUSES:
        return None
    return next((s for s in signers_of(session, response) if s.signed_at is None), None)


def responses_of(session: DbSession, filing: Filing) -> list[Response]:
    return list(session.execute(select(Response).where(Response.filing_id == filing.id)
                                .order_by(Response.id)).scalars())


def issued_response(session: DbSession, filing: Filing) -> Response | None:
    """The response the filer may download: the latest one issued."""
    return session.execute(select(Response).where(Response.filing_id == filing.id,
                                                  Response.status == ResponseStatus.ISSUED)
                           .order_by(Response.issued_at.desc(), Response.id.desc()).limit(1)).scalar_one_or_none()


def pending_for(session: DbSession, user: User) -> list[tuple[Response, ResponseSigner]]:
    """The signer's queue: open responses whose next signature is ``user``'s, oldest first."""
    rows = session.execute(
        select(Response, ResponseSigner).join(ResponseSigner, ResponseSigner.response_id == Response.id)
        .where(Response.status.in_(OPEN_STATUSES), ResponseSigner.user_id == user.id,
               ResponseSigner.signed_at.is_(None))
        .order_by(Response.created_at, Response.id)).all()
    queue = []
    for response, mine in rows:
        due = next_signer(session, response)
        if due is not None and due.id == mine.id:
            queue.append((response, mine))
    return queue


def eligible_signers(session: DbSession, department_id: int) -> list[User]:
    """Who may be named to sign a response of the department: its active signers (and admins
    assigned to it), with an RFC on their profile."""
    return list(session.execute(select(User).where(
        User.department_id == department_id, User.active.is_(True), User.role.in_(SIGNING_ROLES),
        User.rfc.is_not(None)).order_by(User.name)).scalars())


def get_response(session: DbSession, response_id: int) -> Response | None:
    return session.get(Response, response_id)


def current_version(response: Response) -> StoredObject:
    """The PDF as it stands: the draft until the first signature, then the last signed one."""
    if response.signed_key and response.signed_sha256 and response.signed_size is not None:
        return StoredObject(key=response.signed_key, sha256=response.signed_sha256, size=response.signed_size,
                            version_id=response.signed_version)
    return StoredObject(key=response.draft_key, sha256=response.draft_sha256, size=0,
                        version_id=response.draft_version)


def read_version(store: ObjectStore, obj: StoredObject) -> bytes:
    """The stored PDF, checked against its SHA-256.

    :raises ResponseDamaged: mismatch or missing object. :raises StorageUnavailable: the store fails.
    """
    try:
        return store.get(obj)
    except (IntegrityError, ObjectNotFound) as e:
        raise ResponseDamaged() from e
    except StorageError as e:
        raise StorageUnavailable("El almacenamiento de documentos no está disponible; intente más tarde.") from e


def _put(store: ObjectStore, data: bytes) -> StoredObject:
    try:
        return store.put(data, prefix=STORE_PREFIX, content_type="application/pdf")
    except StorageError as e:
        raise StorageUnavailable() from e


def _label(actor: User) -> str:
    return f"{actor.name} <{actor.email}>"


# --- drafting ----------------------------------------------------------------------------------


def parse_sense(value: str | None) -> ResponseSense:
    try:
        return ResponseSense((value or "").strip().lower())
    except ValueError:
        raise InvalidInput("Elija el sentido de la respuesta: favorable, desfavorable, parcial o informativa.",
                           field="sense") from None


def answering_department(session: DbSession, filing: Filing, actor: User) -> Department:
    """The department that answers: the actor's, which must hold the filing; an admin answers
    for the first department holding it."""
    if actor.role not in DRAFTING_ROLES:
        raise Forbidden("Su perfil no permite redactar respuestas.")
    if actor.role is Role.ADMIN and (actor.department_id is None
                                     or not active_routings(filing.id, session, actor.department_id)):
        holders = active_routings(filing.id, session)
        if not holders:
            raise Conflict("El escrito no está turnado a ningún área: no puede responderse.")
        return holders[0].department
    if actor.department_id is None or not active_routings(filing.id, session, actor.department_id):
        raise Forbidden("Este escrito no está turnado a su área: solo el área que lo atiende lo responde.")
    department = session.get(Department, actor.department_id)
    assert department is not None  # noqa: S101 - a foreign key
    return department


def _resolve_signers(session: DbSession, department: Department, signer_ids: Sequence[int]) -> list[User]:
    if not signer_ids:
        raise InvalidInput("Elija al menos una persona que firme la respuesta.", field="signers")
    if len(signer_ids) > MAX_SIGNERS:
        raise InvalidInput(f"Una respuesta admite a lo más {MAX_SIGNERS} firmantes.", field="signers")
    if len(set(signer_ids)) != len(signer_ids):
        raise InvalidInput("Cada firmante puede figurar una sola vez.", field="signers")
    eligible = {u.id: u for u in eligible_signers(session, department.id)}
    people = []
    for user_id in signer_ids:
        person = eligible.get(user_id)
        if person is None:
            raise InvalidInput(f"Los firmantes deben ser titulares o firmantes activos de {department.name} con RFC "
                               "registrado en su perfil.", field="signers")
        people.append(person)
    return people


def _draft_document(filing: Filing, department: Department, signers: Sequence[User], *, sense: ResponseSense,
                    settings: ResponseSettings, pdf: bytes | None, text: str | None,
                    filename: str) -> tuple[bytes, str | None]:
    """The draft's PDF (and its text, for a composed letter): the letter rendered with the
    letterhead, or the uploaded PDF once inspected like an intake upload.

    :raises InvalidInput, RejectedFile: neither or both given, or not an unsigned PDF.
    """
    text = (text or "").strip() or None
    if (pdf is None) == (text is None):
        raise InvalidInput("Suba el PDF de la respuesta o escriba su texto (uno de los dos).", field="text")
    if text is not None:
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"El texto de la respuesta excede {MAX_TEXT} caracteres.", field="text")
        tz = ZoneInfo(settings.timezone)
        pdf = render_letter(LetterData(
            institution=settings.institution, department=department.name, folio=filing.folio,
            subject=filing.subject, filer_name=filing.filer_name, sense_label=SENSE_LABELS[sense], text=text,
            dated=utcnow().astimezone(tz), place=settings.place,
            signers=tuple(p.name for p in signers)))
    else:
        assert pdf is not None  # noqa: S101 - checked above
        inspected = inspect_upload(pdf, filename, settings.limits)
        if inspected.kind != "pdf":
            raise InvalidInput("La respuesta debe ser un PDF.", field="file")
        if inspected.signed:
            raise InvalidInput("El PDF ya contiene firmas electrónicas: suba el documento sin firmar; las firmas "
                               "se agregan aquí.", field="file")
    return pdf, text


def create_draft(session: DbSession, store: ObjectStore, filing: Filing, actor: User, *, sense: ResponseSense,
                 signer_ids: Sequence[int], settings: ResponseSettings, pdf: bytes | None = None,
                 text: str | None = None, filename: str = "respuesta.pdf") -> Response:
    """Draft the response to ``filing`` and commit.

    :param signer_ids: the users who must sign, in signing order; signers of the answering
        department with an RFC on their profile.
    :param pdf: an uploaded PDF (inspected like an intake upload); or
    :param text: the text of a letter, rendered with the letterhead.
    :raises Forbidden: the actor's department does not hold the filing.
    :raises Conflict: the filing cannot be answered now, or a response is already being prepared.
    :raises InvalidInput, RejectedFile: what was sent is not acceptable; nothing is kept.
    """
    department = answering_department(session, filing, actor)
    if filing.status not in (FilingState.IN_PROGRESS, FilingState.AWAITING_FILER):
        raise Conflict("Solo se responde un escrito que el área ya recibió y está atendiendo.")
    if session.execute(select(Response.id).where(Response.filing_id == filing.id,
                                                 Response.status.in_(OPEN_STATUSES))).first() is not None:
        raise Conflict("Ya hay una respuesta en preparación para este escrito; cancele ese borrador o "
                       "termine de firmarlo.")
    signers = _resolve_signers(session, department, signer_ids)
    pdf, text = _draft_document(filing, department, signers, sense=sense, settings=settings, pdf=pdf, text=text,
                                filename=filename)
    stored = _put(store, pdf)
    try:
        response = Response(filing_id=filing.id, department_id=department.id, author_id=actor.id, sense=sense,
                            status=ResponseStatus.DRAFT, text=text, draft_key=stored.key,
                            draft_sha256=stored.sha256, draft_version=stored.version_id, created_at=utcnow())
        session.add(response)
        session.flush()
        notices = _seat_signers(session, response, signers, actor, settings, event="response_drafted")
    except BaseException:
        session.rollback()
        raise
    queue_delivery(session, notices)
    return response


def _seat_signers(session: DbSession, response: Response, signers: Sequence[User], actor: User,
                  settings: ResponseSettings, *, event: str, **logged: Any) -> list[int]:
    """The draft's signers in order, its logbook entry (``event``, with ``logged``) and the first
    signer's e-mail, then the commit; returns the e-mails to queue."""
    rows = [ResponseSigner(response_id=response.id, position=position, user=person)
            for position, person in enumerate(signers, start=1)]
    session.add_all(rows)
    append_entry(session, event=event, actor_label=_label(actor), actor_id=actor.id,
                 filing_id=response.filing_id, filing_folio=response.filing.folio,
                 department_id=response.department_id, public=False,
                 data={"response_id": response.id, "sense": response.sense.value, "sha256": response.draft_sha256,
                       **logged, "source": "text" if response.text is not None else "pdf",
                       "signers": [p.email for p in signers]})
    notices = _tell_next_signer(session, response, rows, actor, settings)
    session.commit()
    return notices


def _tell_next_signer(session: DbSession, response: Response, signers: Sequence[ResponseSigner], actor: User,
                      settings: ResponseSettings) -> list[int]:
    """The e-mail telling the first of ``signers`` yet to sign that their turn has come (flushes
    only; the caller queues it after its commit); none when all signed, nor to who just acted."""
    due = next((s for s in signers if s.signed_at is None), None)
    if due is None or due.user.id == actor.id:
        return []
    try:
        written = notify_users(
            session, [due.user], "signature_due", response.filing, position=due.position, signers=len(signers),
            sense=SENSE_LABELS[response.sense], drafted_by=response.author.name,
            signed_by=[s.user.name for s in signers if s.signed_at is not None],
            sign_url=f"{settings.public_url}/respuestas/{response.id}/firmar")
    except TemplateError as e:  # the signature or the draft stands without its e-mail
        log.error("signature notice of response %s not written: %s", response.id, e, exc_info=True)
        return []
    return [n.id for n in written]


def cancel_draft(session: DbSession, response: Response, actor: User) -> Response:
    """Withdraw a draft nobody has signed yet; commits.

    :raises Conflict: it is already being signed, issued or cancelled.
    :raises Forbidden: the actor is not of the answering department.
    """
    require_draft_owner(response, actor, "cancelar")
    response.status = ResponseStatus.CANCELLED
    append_entry(session, event="response_cancelled", actor_label=_label(actor), actor_id=actor.id,
                 filing_id=response.filing_id, filing_folio=response.filing.folio,
                 department_id=response.department_id, public=False, data={"response_id": response.id})
    session.commit()
    return response


def require_draft_owner(response: Response, actor: User, verb: str) -> None:
    """Only the answering department (or an admin) changes a draft, and only while nobody signed it.

    :param verb: ``cancelar`` or ``editar``, for the message.
    :raises Forbidden, Conflict:
    """
    if actor.role is not Role.ADMIN and actor.department_id != response.department_id:
        raise Forbidden(f"Solo el área que redactó la respuesta puede {verb}la.")
    if response.status is not ResponseStatus.DRAFT:
        raise Conflict(f"Solo se {'cancela' if verb == 'cancelar' else 'edita'} un borrador que nadie ha firmado.")


def edit_draft(session: DbSession, store: ObjectStore, response: Response, actor: User, *,
               sense: ResponseSense | None, signer_ids: Sequence[int] | None, settings: ResponseSettings,
               pdf: bytes | None = None, text: str | None = None, filename: str = "respuesta.pdf") -> Response:
    """Replace a draft nobody has signed yet: its sense, its document (a new letter or PDF,
    stored beside the former one, which stays in storage and in the logbook) and its signers;
    commits. The first signer is told again by e-mail, the document having changed.

    ``None`` keeps the sense or the signers. With neither ``pdf`` nor ``text``, the document
    keeps its source: the letter's text is rendered again (its sense, date and signers are on
    it), an uploaded PDF stays as it is.

    :raises Forbidden: the actor is not of the answering department.
    :raises Conflict: it is already being signed, issued or cancelled.
    :raises InvalidInput, RejectedFile: what was sent is not acceptable; the draft is left as it was.
    """
    require_draft_owner(response, actor, "editar")
    department = response.department
    sense = response.sense if sense is None else sense
    if signer_ids is None:
        signer_ids = [s.user_id for s in signers_of(session, response)]
    signers = _resolve_signers(session, department, signer_ids)
    if pdf is None and not (text or "").strip():
        if response.text is not None:
            text = response.text
        else:
            pdf = read_version(store, current_version(response))
    pdf, text = _draft_document(response.filing, department, signers, sense=sense, settings=settings, pdf=pdf,
                                text=text, filename=filename)
    stored = _put(store, pdf)
    try:
        previous = response.draft_sha256
        response.sense, response.text = sense, text
        response.draft_key, response.draft_sha256, response.draft_version = stored.key, stored.sha256, stored.version_id
        for row in signers_of(session, response):
            session.delete(row)
        session.flush()  # the former signers' positions are free again
        notices = _seat_signers(session, response, signers, actor, settings, event="response_edited",
                                previous_sha256=previous)
    except BaseException:
        session.rollback()
        raise
    queue_delivery(session, notices)
    return response


# --- signing -----------------------------------------------------------------------------------


class SigningLocked(TooManyAttempts):
    code = "signing_locked"
    default_message = ("Demasiadas contraseñas incorrectas: la firma quedó bloqueada por unos minutos. "
                       "Espere e intente de nuevo.")


def _throttle(session: DbSession, user: User) -> SigningThrottle:
    row = session.get(SigningThrottle, user.id)
    if row is None:
        row = SigningThrottle(user_id=user.id, failures=0)
        session.add(row)
    return row


def _check_lock(session: DbSession, user: User, now: datetime) -> None:
    row = session.get(SigningThrottle, user.id)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        minutes = max(1, int((row.locked_until - now).total_seconds() // 60) + 1)
        raise SigningLocked("Demasiadas contraseñas incorrectas: la firma quedó bloqueada. Intente de nuevo en "
                            f"{minutes} minuto{'s' if minutes != 1 else ''}.")


def _refuse(session: DbSession, response: Response, actor: User, error: OficialiaError | firma.FirmaError, *,
            settings: ResponseSettings, now: datetime) -> None:
    """Record a refused signature (and count a wrong password) in its own commit."""
    session.rollback()
    data: dict[str, object] = {"response_id": response.id, "reason": type(error).__name__,
                               "message": error.message}
    if isinstance(error, firma.WrongPassword):
        row = _throttle(session, actor)
        row.failures += 1
        row.last_failure_at = now
        data["failures"] = row.failures
        if row.failures >= settings.max_failures:
            row.failures = 0
            row.locked_until = now + timedelta(minutes=settings.lock_minutes)
            data["locked_until"] = row.locked_until.isoformat()
    append_entry(session, event="response_sign_refused", actor_label=_label(actor), actor_id=actor.id,
                 filing_id=response.filing_id, filing_folio=response.filing.folio,
                 department_id=response.department_id, public=False, data=data)
    session.commit()


def _due_signature(session: DbSession, response: Response, actor: User) -> tuple[ResponseSigner, bool]:
    if response.status is ResponseStatus.ISSUED:
        raise Conflict("Esta respuesta ya fue emitida.")
    if response.status is ResponseStatus.CANCELLED:
        raise Conflict("Esta respuesta fue cancelada.")
    signers = signers_of(session, response)
    pending = [s for s in signers if s.signed_at is None]
    mine = [s for s in pending if s.user_id == actor.id]
    if not mine:
        if any(s.user_id == actor.id for s in signers):
            raise Conflict("Usted ya firmó esta respuesta.")
        raise Forbidden("Usted no figura entre los firmantes de esta respuesta.")
    if pending[0].id != mine[0].id:
        raise Conflict(f"Aún no es su turno: falta la firma de {pending[0].user.name}.")
    if not actor.rfc:
        raise Forbidden("Su perfil no tiene RFC registrado: pida al administrador que lo registre para poder firmar.")
    return mine[0], len(pending) == 1


def sign_response(session: DbSession, store: ObjectStore, response: Response, actor: User,
                  credentials: Credentials, *, signing: firma.SigningSettings, trust: firma.TrustSettings | None = None,
                  settings: ResponseSettings, seal: Callable[[bytes, str], bytes] | None = None,
                  now: datetime | None = None) -> SignResult:
    """Sign ``response`` as ``actor`` with ``credentials``, and issue it if this was the last
    signature; commits.

    Checks, in order: the response is open and it is the actor's turn (409/403); the filing can
    still be answered (409, before the last signature); the signing lock (429); the key opens
    with the password and matches the certificate, the certificate is a valid, unrevoked e.firma
    whose RFC is the one on the actor's profile (``firma.check_identity``). The first signature
    certifies the document (only form filling and signing allowed after it) and freezes the
    draft. After the last one, ``seal`` (the institution's seal) is applied, the response is
    issued and the filing answered.

    :param signing: the :class:`firma.SigningSettings` (TSA, revocation, level).
    :param trust: trust roots for ``check_identity``.
    :param seal: ``(pdf, folio) -> sealed pdf``; defaults to :func:`oficialia.signing.seal_pdf`.
    :raises OficialiaError, firma.FirmaError, WorkflowError: with a Spanish message; a refusal
        of the credentials is logged (and a wrong password counted) before it is raised.
    """
    at = now  # None: check the certificate now, fetching revocation data where it can be had
    now = now or utcnow()
    filing = response.filing
    due, last = _due_signature(session, response, actor)
    if last:
        apply(filing.status, Action.ANSWER)  # 409 now, not after the signature
        if seal is None:
            _require_seal()
    _check_lock(session, actor, now)
    try:
        identity = credentials.load()
        firma.check_identity(identity, expected_rfc=actor.rfc, trust=trust, at=at)
    except firma.FirmaError as e:
        _refuse(session, response, actor, e, settings=settings, now=now)
        raise
    row = session.get(SigningThrottle, actor.id)
    if row is not None and (row.failures or row.locked_until):
        row.failures, row.locked_until = 0, None

    certificate = {"serial": _text(identity.serial, 100), "subject": _text(identity.name, 300),
                   "issuer": _text(identity.issuer, 300), "rfc": _text(identity.rfc, 13)}
    pdf = read_version(store, current_version(response))
    stamp = firma.VisibleStamp(folio=filing.folio, verify_url=verify_url(settings, filing.folio))
    try:
        signed = firma.sign_pdf(pdf, identity, settings=signing, stamp=stamp, certify=due.position == 1,
                          reason=f"Respuesta al folio {filing.folio}", location=settings.institution,
                          later_signatures=len(signers_of(session, response)) - due.position + SEAL_FIELDS)
    except firma.FirmaError as e:  # TSA down, damaged PDF...: logged, nothing recorded
        _refuse(session, response, actor, e, settings=settings, now=now)
        raise
    del identity  # the decrypted key goes with the last reference to it
    obj = _put(store, signed.data)
    try:
        due.signed_at, due.level = now, signed.level
        due.certificate_serial, due.certificate_subject = certificate["serial"], certificate["subject"]
        due.certificate_issuer, due.certificate_rfc = certificate["issuer"], certificate["rfc"]
        due.signed_key, due.signed_sha256, due.signed_version, due.signed_size = (
            obj.key, obj.sha256, obj.version_id, obj.size)
        response.status = ResponseStatus.SIGNING
        response.signed_key, response.signed_sha256 = obj.key, obj.sha256
        response.signed_version, response.signed_size = obj.version_id, obj.size
        append_entry(session, event="response_signed", actor_label=_label(actor), actor_id=actor.id,
                     filing_id=filing.id, filing_folio=filing.folio, department_id=response.department_id,
                     public=False, at=now,
                     data={"response_id": response.id, "position": due.position, "level": signed.level,
                           "certified": due.position == 1, "sha256": obj.sha256, "certificate": certificate})
        if not last:
            notices = _tell_next_signer(session, response, signers_of(session, response), actor, settings)
            session.commit()
            queue_delivery(session, notices)
            return SignResult(response=response, signer=due, sha256=obj.sha256, level=signed.level, issued=False)
        sealed = _put(store, (seal or _default_seal)(signed.data, filing.folio))
        response.signed_key, response.signed_sha256 = sealed.key, sealed.sha256
        response.signed_version, response.signed_size = sealed.version_id, sealed.size
        response.status, response.issued_at = ResponseStatus.ISSUED, now
        append_entry(session, event="response_issued", actor_label=_label(actor), actor_id=actor.id,
                     filing_id=filing.id, filing_folio=filing.folio, department_id=response.department_id,
                     public=False, at=now,
                     data={"response_id": response.id, "sense": response.sense.value, "sha256": sealed.sha256,
                           "sealed": True, "signatures": due.position})
        # the state change, its public entry, the commit, then the filer's e-mail
        perform_action(session, filing, actor,
                       ActionRequest(action=Action.ANSWER, note=f"Respuesta emitida (SHA-256 {sealed.sha256})"),
                       tz=settings.timezone)
    except firma.FirmaError as e:  # the seal failed: the last signature is not recorded
        _refuse(session, response, actor, e, settings=settings, now=now)
        raise
    except BaseException:
        session.rollback()
        raise
    return SignResult(response=response, signer=due, sha256=sealed.sha256, level=signed.level, issued=True)


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = format(value, "x") if isinstance(value, int) else str(value)
    return text[:limit]


def verify_url(settings: ResponseSettings, folio: str) -> str:
    """Where the QR of a signature leads: the public verifier, for the folio."""
    from urllib.parse import urlencode

    return f"{settings.public_url}/verificar?{urlencode({'folio': folio})}"


def _require_seal() -> None:
    """Refuse the last signature up front when no institution seal is configured: an issued
    response is always sealed."""
    from .signing import seal_configured

    if not seal_configured():
        raise firma.SealUnavailable("No hay un sello electrónico de la institución configurado: la respuesta no "
                                    "puede emitirse. Avise al administrador del sistema.")


def _default_seal(pdf: bytes, folio: str) -> bytes:
    from . import signing

    # what needs the app context is read here; the signature itself may run off this thread
    seal, settings = signing.get_seal(), signing.signing_settings()
    stamp = firma.VisibleStamp(folio=folio, verify_url=signing.verify_url(folio),
                               label="Sello electrónico de la institución")
    sealed: firma.SignedPdf = seal.seal(pdf, settings=settings, stamp=stamp)
    return sealed.data


"""Receiving a filing: validate, store the originals, take the folio, log, commit.

``receive_filing`` is the one service behind the citizen portal, the clerk's window and the
API. Everything is checked before anything is stored; the originals are stored (content-
addressed, write-once) before the transaction, and one transaction then takes the folio, writes
the filing, its documents and the first logbook entry. If that transaction fails, the folio
increment rolls back with it, so folios have no gaps; an original stored by a failed intake is
an unreferenced, immutable object (a retry stores its own version next to it).

Intake is the hottest path of the product, so it counts its statements: everything but the
folio is prepared before the folio's row lock is taken, the writes that need no ORM state are
Core statements, and the commit keeps the objects loaded (nothing is read back).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from storage import ObjectStore, StorageError, StoredObject
from workflows.logbook import ADVANCE_HEAD, append_entry
from workflows.models import Notification
from workflows.notifications import queue_delivery, receipt_notice
from workflows.routing import working_calendar
from workflows.states import FilingState

from . import reference
from .db import DbSession, commit_keeping_state, insert_loaded, utcnow, write_batch
from .dispatch import Dispatcher, batched
from .errors import FileTooLarge, Forbidden, InvalidInput, StorageUnavailable
from .folio import ENSURE_COUNTER, TAKE, format_folio, next_number, take_params
from .forms import FilingForm, clean_filename
from .inspection import InspectedFile, UploadLimits, inspect_upload
from .models import Channel, Department, Document, Filing, Procedure, Role, User
from .payments import PaymentOrder, issue_payment_order
from .stats import record_received
from .tracking import hash_code, new_code
from .webhooks import WebhookDelivery, emit, subscribers
from .webhooks import queue as queue_deliveries

log = logging.getLogger(__name__)

#: roles that may file (auditors only read)
FILING_ROLES = frozenset({Role.CITIZEN, Role.CLERK, Role.STAFF, Role.SIGNER, Role.ADMIN})
#: roles that register filings on someone else's behalf
INTERMEDIARY_ROLES = frozenset({Role.CLERK, Role.ADMIN})


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class IntakeSettings:
    office: str
    folio_format: str
    timezone: str
    limits: UploadLimits
    max_filing_bytes: int
    #: response term, in working days, of a filing with no procedure (escrito libre)
    response_days: int = 10

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IntakeSettings:
        return cls(
            office=str(config["FOLIO_OFFICE"]), folio_format=str(config["FOLIO_FORMAT"]),
            timezone=str(config["TIMEZONE"]),
            limits=UploadLimits(max_file_bytes=int(float(config["MAX_FILE_MB"]) * 1024 * 1024),
                                max_pages=int(config["MAX_PAGES"]), max_pixels=int(config["MAX_PIXELS"])),
            max_filing_bytes=int(float(config["MAX_FILING_MB"]) * 1024 * 1024),
            response_days=int(config["DEFAULT_RESPONSE_DAYS"]))


@dataclass(frozen=True)
class Received:
    filing: Filing
    #: shown once to the filer; only its hash is kept
    tracking_code: str
    #: what the filing owes, for a procedure with a fee
    payment_order: PaymentOrder | None = None


def _channel_for(actor: User | None, requested: Channel | None, default: Channel) -> Channel:
    channel = requested or default
    if channel is Channel.WINDOW and (actor is None or actor.role not in INTERMEDIARY_ROLES):
        raise Forbidden("Solo el personal de la oficialía registra escritos de ventanilla.")
    return channel


_PROCEDURE = (select(Procedure).options(joinedload(Procedure.department))
              .where(Procedure.code == bindparam("code"), Procedure.active.is_(True)))
_DEPARTMENT = select(Department).where(Department.code == bindparam("code"), Department.active.is_(True))
#: which of some SHA-256 values a document already has
_KNOWN_DIGESTS = select(Document.sha256).where(Document.sha256.in_(bindparam("digests", expanding=True))).distinct()


def _copy_procedure(procedure: Procedure) -> Procedure:
    return reference.detached_copy(procedure, department=reference.detached_copy(procedure.department))


def _resolve(session: DbSession, form: FilingForm) -> tuple[Procedure | None, Department | None]:
    """The filing's procedure and department, from the catalogue each process keeps
    (:mod:`oficialia.reference`)."""
    procedure = department = None
    if form.procedure:
        code = form.procedure
        procedure = reference.cached_object(
            session, ("procedure", code),
            lambda: session.execute(_PROCEDURE, {"code": code}).scalar_one_or_none(), _copy_procedure)
        if procedure is None:
            raise InvalidInput(f"No existe el trámite «{form.procedure}» en el catálogo.", field="procedure")
    if form.department:
        code = form.department
        department = reference.cached_object(
            session, ("department", code),
            lambda: session.execute(_DEPARTMENT, {"code": code}).scalar_one_or_none())
        if department is None:
            raise InvalidInput(f"No existe el área «{form.department}».", field="department")
    if department is None and procedure is not None:
        department = procedure.department
    return procedure, department


def inspect_uploads(uploads: Sequence[Upload], settings: IntakeSettings) -> list[InspectedFile]:
    """Check every file before anything is stored.

    :raises RejectedFile: (or a subclass) for the first file that is not acceptable.
    :raises FileTooLarge: if the files together exceed the filing limit.
    """
    total = sum(len(u.data) for u in uploads)
    if total > settings.max_filing_bytes:
        raise FileTooLarge(
            f"Los archivos suman {total / 1048576:.1f} MB; el máximo por escrito es "
            f"{settings.max_filing_bytes // 1048576} MB.")
    return [inspect_upload(u.data, u.filename, settings.limits) for u in uploads]


def _store(session: DbSession, store: ObjectStore, uploads: Sequence[Upload],
           inspected: Sequence[InspectedFile]) -> list[StoredObject]:
    """Store the originals. Content some document already has is looked up in storage (and its
    retention extended); anything else is written without a look, one round trip less."""
    digests = [hashlib.sha256(u.data).hexdigest() for u in uploads]
    known = set(session.execute(_KNOWN_DIGESTS, {"digests": sorted(set(digests))}).scalars())
    try:
        return [store.put(u.data, content_type=i.content_type, unseen=d not in known)
                for u, i, d in zip(uploads, inspected, digests, strict=True)]
    except StorageError as e:
        raise StorageUnavailable() from e


def receive_filing(session: DbSession, store: ObjectStore, *, form: FilingForm, uploads: Sequence[Upload],
                   actor: User | None, settings: IntakeSettings,
                   default_channel: Channel = Channel.WEB, dispatcher: Dispatcher | None = None,
                   before_commit: Callable[[Received], None] | None = None) -> Received:
    """Receive one filing and give it its folio.

    :param actor: who is filing: a citizen for themselves, a clerk at the window on someone's
        behalf, an API token's user, or ``None`` for a guest on the portal.
    :param default_channel: the channel when the form names none.
    :param before_commit: called with what was received inside the transaction, just before
        the commit (the API builds its answer and records its idempotency key there).
    :raises InvalidInput, RejectedFile, Forbidden: for what the user sent; nothing is kept.
    :raises StorageUnavailable: if the originals could not be stored; nothing is recorded.

    After the commit each document's OCR is queued on ``dispatcher``; if the queue is down the
    filing stands and the documents stay ``pending`` until the sweeper queues them.
    """
    if actor is not None and actor.role not in FILING_ROLES:
        raise Forbidden("Su perfil no permite presentar escritos.")
    channel = _channel_for(actor, form.channel, default_channel)
    on_behalf = actor is not None and actor.role in INTERMEDIARY_ROLES
    filer_name = form.filer_name
    filer_email = form.filer_email
    if actor is not None and not on_behalf:
        filer_name = filer_name or actor.name
        filer_email = filer_email or actor.email
    if not filer_name:
        raise InvalidInput("Escriba el nombre de quien presenta el escrito.", field="filer_name")
    if actor is None and not filer_email:
        raise InvalidInput("Escriba un correo electrónico para recibir avisos de su trámite.",
                           field="filer_email")
    if not uploads and not form.body:
        raise InvalidInput("Escriba el texto de su petición o adjunte al menos un documento.", field="body")
    if channel is Channel.WINDOW and not uploads:
        raise InvalidInput("Adjunte el escaneo del escrito recibido en ventanilla.", field="files")

    inspected = inspect_uploads(uploads, settings)
    procedure, department = _resolve(session, form)
    stored = _store(session, store, uploads, inspected) if uploads else []
    received_at = utcnow()
    local = received_at.astimezone(ZoneInfo(settings.timezone))
    code = new_code()
    try:
        # Everything but the folio first: the folio's row lock is held from next_number to the
        # commit, and every other intake waits for it. On PostgreSQL two round trips hold it: one
        # takes the ids of the new rows (their inserts then need no RETURNING), the folio and the
        # logbook's head; the writes then wait for the commit and go with it.
        with write_batch(session) as batch:
            values: dict[str, Any] = dict(
                office=settings.office, year=local.year, subject=form.subject, body=form.body,
                procedure_id=procedure.id if procedure else None, department_id=department.id if department else None,
                filer_id=None if (actor is None or on_behalf) else actor.id,
                filer_name=filer_name, filer_email=filer_email, filer_phone=form.filer_phone,
                filer_kind=form.filer_kind, filer_gender=form.filer_gender, channel=channel,
                status=FilingState.RECEIVED, received_at=received_at,
                received_by_id=actor.id if actor is not None and channel is Channel.WINDOW else None,
                physical_annexes=form.physical_annexes,
                due_at=reference.cached(session, "calendar", lambda: working_calendar(session)).add_working_days(
                    received_at, procedure.response_days if procedure else settings.response_days, settings.timezone))
            documents = [
                dict(position=n, filename=clean_filename(u.filename, i.extension), content_type=i.content_type,
                     size=obj.size, pages=i.pages, sha256=obj.sha256, storage_key=obj.key,
                     storage_version=obj.version_id)
                for n, (u, i, obj) in enumerate(zip(uploads, inspected, stored, strict=True), start=1)]
            hooked = subscribers(session, "filing.received")  # webhooks
            taken: Sequence[tuple[Any, ...]] | None = None
            head: tuple[int, str] | None = None
            if batch is not None:
                counter = take_params(settings.office, local.year)
                _created, taken, heads = batch.reserve_ids(
                    {Filing: 1, Document: len(uploads), Notification: 1, WebhookDelivery: len(hooked)},
                    together=[(ENSURE_COUNTER, counter), (TAKE, counter), (ADVANCE_HEAD, {})])
                head = (int(heads[0][0]), str(heads[0][1])) if heads else None  # none: a new database
            number = next_number(session, settings.office, local.year, taken=taken)
            folio = format_folio(settings.folio_format, office=settings.office, year=local.year, seq=number)
            # loaded, persistent objects without the unit of work's flush
            [filing] = insert_loaded(session, Filing, [values | {
                "number": number, "folio": folio, "tracking_code_hash": hash_code(folio, code)}])
            docs = insert_loaded(session, Document, [d | {"filing_id": filing.id} for d in documents])
            set_committed_value(filing, "documents", docs)
            append_entry(
                session, event="received", head=head, filing_id=filing.id, filing_folio=folio,
                actor_id=actor.id if actor else None, actor_label=_actor_label(actor, filer_name),
                department_id=department.id if department else None, public=True, at=received_at,
                data={"channel": channel.value, "text_sha256": _text_digest(form.subject, form.body),
                      "documents": [{"sha256": d.sha256, "pages": d.pages, "size": d.size} for d in filing.documents]})
            record_received(session, filing, tz=settings.timezone)
            order = issue_payment_order(session, filing)  # procedures with a fee: the order and its bank reference
            deliveries = emit(session, "filing.received", filing, subscription_ids=hooked)  # with the filing
            notice = receipt_notice(session, filing)  # the filer's e-mail, likewise
            received = Received(filing=filing, tracking_code=code, payment_order=order)
            if before_commit is not None:
                before_commit(received)
            if batch is not None:
                batch.commit()
            else:
                commit_keeping_state(session)
    except BaseException:
        session.rollback()
        raise
    with batched(dispatcher):  # the jobs below: one round trip to Redis
        if dispatcher is not None:
            for document in filing.documents:
                try:
                    dispatcher.enqueue_ocr(document.id)
                except Exception:  # noqa: BLE001 - the filing stands; the sweeper queues what stays pending
                    log.exception("OCR of document %s not queued after intake", document.id)
        if deliveries:
            queue_deliveries(deliveries)
        if notice is not None:
            queue_delivery(session, [notice.id])
    return received


def _text_digest(subject: str, body: str) -> str:
    """Seals the petition's own text in the logbook, so an edit of it is detectable."""
    return hashlib.sha256(f"{subject}\n{body}".encode()).hexdigest()


def _actor_label(actor: User | None, filer_name: str) -> str:
    if actor is None:
        return f"{filer_name} (sin cuenta)"
    return f"{actor.name} <{actor.email}>"

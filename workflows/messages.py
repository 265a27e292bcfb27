"""The thread of messages on a filing, between the filer and the department handling it.

Owns who may write (the filer — signed in as the filing's owner, or holding its folio and
tracking code — and the officials of a department that holds an active turn of the filing, or an
admin; auditors read only), the attachments (checked like any original, stored write-once and
hashed, kept as :class:`~oficialia.models.Document` rows with ``source="message"``), the logbook
entry of every message, the e-mail to the other side and, when the filer answers a request for
information, the automatic resumption of the clock.

Internal notes between officials are not messages: the filer reads every message.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import func, select

from oficialia.db import DbSession, utcnow
from oficialia.dispatch import Dispatcher
from oficialia.errors import Conflict, Forbidden, InvalidInput, NotFound, StorageUnavailable
from oficialia.forms import clean_filename, clean_text
from oficialia.inspection import InspectedFile
from oficialia.intake import IntakeSettings, Upload, inspect_uploads
from oficialia.models import Department, Document, Filing, Role, User
from storage import ObjectStore, StorageError, StoredObject

from .errors import WorkflowError
from .logbook import append_entry
from .machine import is_final
from .models import Message, Notification, Routing
from .notifications import handlers_of, notify_after_commit, notify_filer, notify_users
from .routing import ActionRequest, active_routings, perform_action
from .states import Action, FilingState

log = logging.getLogger(__name__)

BODY_MAX = 10_000
MAX_ATTACHMENTS = 20
DEPARTMENT_ROLES = frozenset({Role.STAFF, Role.SIGNER})
RESUME_NOTE = "Reanudación automática: el solicitante respondió a la solicitud de información."


@dataclass(frozen=True)
class PostedMessage:
    """What :func:`post_message` did."""

    message: Message
    attachments: tuple[Document, ...]
    #: the name of the department the message was written to or from
    department: str | None = None
    #: the filer answered while the clock was stopped and it runs again
    resumed: bool = False
    #: the filer answered while the clock was stopped, but nobody could resume it on the
    #: department's behalf (no assignee nor head): the department must resume it by hand
    resume_pending: bool = False


@dataclass(frozen=True)
class ThreadMessage:
    message: Message
    attachments: tuple[Document, ...]
    department: str | None = None


def store_uploads(store: ObjectStore, uploads: Sequence[Upload],
                  inspected: Sequence[InspectedFile]) -> list[StoredObject]:
    """Store checked files write-once under their content key, before the transaction.

    :raises StorageUnavailable: the object store failed; nothing is recorded.
    """
    try:
        return [store.put(u.data, content_type=i.content_type) for u, i in zip(uploads, inspected, strict=True)]
    except StorageError as e:
        raise StorageUnavailable() from e


def attach_documents(session: DbSession, filing: Filing, uploads: Sequence[Upload],
                     inspected: Sequence[InspectedFile], stored: Sequence[StoredObject], *, source: str,
                     message_id: int | None = None, field_update_id: int | None = None) -> list[Document]:
    """Document rows for files already stored, numbered after the filing's existing ones (flushes)."""
    last = session.execute(select(func.max(Document.position)).where(Document.filing_id == filing.id)).scalar()
    documents = [
        Document(filing_id=filing.id, position=(last or 0) + n, filename=clean_filename(u.filename, i.extension),
                 content_type=i.content_type, size=obj.size, pages=i.pages, sha256=obj.sha256,
                 storage_key=obj.key, storage_version=obj.version_id, source=source, message_id=message_id,
                 field_update_id=field_update_id)
        for n, (u, i, obj) in enumerate(zip(uploads, inspected, stored, strict=True), start=1)]
    session.add_all(documents)
    session.flush()
    return documents


def _check_author(session: DbSession, filing: Filing, author: User | None, from_filer: bool) -> Routing | None:
    """The active turn the official writes for (``None`` for the filer, or an admin with none).

    :raises Forbidden: the author may not write on this filing.
    """
    if from_filer:
        if author is not None and not (author.role is Role.CITIZEN and filing.filer_id == author.id):
            raise Forbidden("Solo quien presentó el escrito puede escribir como solicitante.")
        return None
    if author is None or author.role is Role.AUDITOR:
        raise Forbidden("Su perfil no permite escribir mensajes.")
    if author.role is Role.ADMIN:
        holders = active_routings(filing.id, session)
        return holders[0] if holders else None
    if author.role in DEPARTMENT_ROLES and author.department_id is not None:
        mine = active_routings(filing.id, session, author.department_id)
        if mine:
            return mine[0]
    raise Forbidden("Solo el área que atiende el escrito puede escribir al solicitante.")


def clean_body(body: str | None) -> str:
    """The message text, trimmed; required and at most :data:`BODY_MAX` characters.

    :raises InvalidInput: empty or too long.
    """
    text = clean_text(body, multiline=True)
    if not text:
        raise InvalidInput("Escriba el texto del mensaje.", field="body")
    if len(text) > BODY_MAX:
        raise InvalidInput(f"El mensaje no puede exceder {BODY_MAX:,} caracteres.".replace(",", " "), field="body")
    return text


def post_message(session: DbSession, store: ObjectStore, filing: Filing, *, author: User | None, from_filer: bool,
                 body: str, uploads: Sequence[Upload], settings: IntakeSettings,
                 dispatcher: Dispatcher | None = None) -> PostedMessage:
    """Add a message (and its attachments) to the filing's thread, and commit.

    :param author: the official writing, the signed-in filer, or ``None`` for the filer
        identified by folio and tracking code (the caller checked the code).
    :param from_filer: whether the filer writes (else the department).
    :param dispatcher: where to queue the attachments' OCR (default: the app's).
    :raises InvalidInput: no text, or too long.
    :raises RejectedFile: an attachment is not acceptable (415 for a type we do not take).
    :raises Forbidden: the author may not write on this filing.
    :raises Conflict: the filing is concluded or not admitted.
    :raises StorageUnavailable: the attachments could not be stored; nothing is recorded.

    After the commit: the other side is told by e-mail and, when the filer answers a request for
    information, the clock resumes as the turn's assignee (or its department's head) would resume
    it; with neither, ``resume_pending`` says the department must do it.
    """
    if is_final(filing.status):
        raise Conflict("El trámite está concluido; ya no admite mensajes.")
    routing = _check_author(session, filing, author, from_filer)
    text = clean_body(body)
    if len(uploads) > MAX_ATTACHMENTS:
        raise InvalidInput(f"Adjunte como máximo {MAX_ATTACHMENTS} archivos por mensaje.", field="files")
    inspected = inspect_uploads(uploads, settings)
    stored = store_uploads(store, uploads, inspected)
    if routing is None:
        holders = active_routings(filing.id, session)
        routing = holders[0] if holders else None
    department_id = routing.department_id if routing is not None else None
    if from_filer:
        label = filing.filer_name
        actor_label = f"{filing.filer_name} (solicitante)" if author is None else f"{author.name} <{author.email}>"
    else:
        assert author is not None  # noqa: S101 - _check_author refused anonymous officials
        label, actor_label = author.name, f"{author.name} <{author.email}>"
    try:
        message = Message(filing_id=filing.id, created_at=utcnow(), author_id=author.id if author else None,
                          author_label=label[:200], from_filer=from_filer, department_id=department_id, body=text)
        session.add(message)
        session.flush()
        documents = attach_documents(session, filing, uploads, inspected, stored, source="message",
                                     message_id=message.id)
        append_entry(session, event="message", actor_label=actor_label, actor_id=author.id if author else None,
                     filing_id=filing.id, filing_folio=filing.folio, department_id=department_id, public=True,
                     at=message.created_at,
                     data={"message_id": message.id, "from_filer": from_filer,
                           "body_sha256": hashlib.sha256(text.encode()).hexdigest(),
                           "documents": [{"sha256": d.sha256, "pages": d.pages, "size": d.size} for d in documents]})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    _queue_ocr(documents, dispatcher)
    awaiting = from_filer and filing.status is FilingState.AWAITING_FILER
    resumed = awaiting and _resume(session, filing, settings.timezone)
    _notify_other_side(session, filing, message, len(documents), awaiting=awaiting, resumed=resumed)
    dept = session.get(Department, department_id) if department_id is not None else None
    return PostedMessage(message=message, attachments=tuple(documents), department=dept.name if dept else None,
                         resumed=resumed, resume_pending=awaiting and not resumed)


def _queue_ocr(documents: Sequence[Document], dispatcher: Dispatcher | None) -> None:
    if dispatcher is None and has_app_context():
        dispatcher = current_app.extensions.get("dispatcher")
    if dispatcher is not None:
        for document in documents:
            dispatcher.enqueue_ocr(document.id)


def resume_actor(session: DbSession, filing: Filing) -> User | None:
    """Who resumes the clock on the department's behalf: the assignee of an active turn, else
    its department's head (if they belong to it, or are an admin)."""
    for routing in active_routings(filing.id, session):
        for person in (routing.assigned_to, routing.department.head):
            if person is None or not person.active:
                continue
            if person.role is Role.ADMIN or (person.role in DEPARTMENT_ROLES
                                             and person.department_id == routing.department_id):
                return person
    return None


def _resume(session: DbSession, filing: Filing, tz: str) -> bool:
    actor = resume_actor(session, filing)
    if actor is None:
        return False
    try:
        perform_action(session, filing, actor, ActionRequest(action=Action.RESUME, note=RESUME_NOTE), tz=tz)
    except WorkflowError as e:  # e.g. staff resumed it meanwhile; the message stands
        session.rollback()
        log.info("automatic resume of %s not applied: %s", filing.folio, e.message)
        return False
    return True


def _notify_other_side(session: DbSession, filing: Filing, message: Message, attachments: int, *,
                       awaiting: bool, resumed: bool) -> None:
    def build() -> list[Notification]:
        if message.from_filer:
            written: list[Notification] = []
            for routing in active_routings(filing.id, session):
                written += notify_users(session, handlers_of(session, routing), "message_from_filer", filing,
                                        department_name=routing.department.name, attachments=attachments,
                                        awaiting=awaiting, resumed=resumed)
            return written
        dept_name = None
        if message.department_id is not None:
            dept = session.get(Department, message.department_id)
            dept_name = dept.name if dept else None
        n = notify_filer(session, filing, "message", department_name=dept_name, attachments=attachments)
        return [n] if n is not None else []

    notify_after_commit(session, f"message on {filing.folio}", build)


def thread(session: DbSession, filing: Filing) -> list[ThreadMessage]:
    """The filing's messages, oldest first, each with its attachments and department."""
    rows = session.execute(
        select(Message, Department.name).outerjoin(Department, Department.id == Message.department_id)
        .where(Message.filing_id == filing.id).order_by(Message.created_at, Message.id)).all()
    by_message = documents_by_owner(session, filing, "message", [m.id for m, _ in rows])
    return [ThreadMessage(message=m, attachments=tuple(by_message[m.id]), department=name) for m, name in rows]


def documents_by_owner(session: DbSession, filing: Filing, source: str, owner_ids: Sequence[int],
                       ) -> dict[int, list[Document]]:
    """The documents of ``filing`` attached to each message (``source="message"``) or field
    update (``"field_update"``) in ``owner_ids``, in position order."""
    grouped: dict[int, list[Document]] = {owner: [] for owner in owner_ids}
    if not grouped:
        return grouped
    column = Document.message_id if source == "message" else Document.field_update_id
    for doc in session.execute(select(Document).where(
            Document.filing_id == filing.id, Document.source == source, column.in_(list(grouped)))
            .order_by(Document.position)).scalars():
        owner = doc.message_id if source == "message" else doc.field_update_id
        if owner is not None:
            grouped[owner].append(doc)
    return grouped


#: what the filer may download with the tracking code: their originals, the thread's
#: attachments and the crews' photos (not internal drafts)
FILER_SOURCES = ("filing", "message", "field_update")


def filer_document(session: DbSession, filing: Filing, document_id: int) -> Document:
    """A document of ``filing`` that its filer may download.

    :raises NotFound: not one of them (the same answer as a document that does not exist).
    """
    doc = session.execute(select(Document).where(
        Document.id == document_id, Document.filing_id == filing.id, Document.source.in_(FILER_SOURCES))
    ).scalar_one_or_none()
    if doc is None:
        raise NotFound("No se encontró el documento solicitado.")
    return doc

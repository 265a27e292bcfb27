"""E-mail notifications: the outbox (:class:`~workflows.models.Notification`) and its delivery.

Owns who is told what: the filer on every public event of their filing (received, routed,
accepted, forwarded, information requested, resumed, answered, concluded, rejected, a message
from the department), officials on assignment, on a message from the filer, before a deadline
and when it is missed, signers when a response waits for their signature. Each e-mail is a Spanish plain-text template,
``templates/workflows/email/<kind>.txt``, whose first line is the subject.

A notification is first a row (``pending``), written after the action it reports has been
committed; a job (:func:`send_notification`, on RQ or the in-process pool) then sends it by SMTP,
or — with no ``MAIL_SERVER`` configured, the embedded default — writes it to the console and
marks it sent, so the outbox table always holds what was (or would have been) sent. A failure
to notify never undoes nor fails the action: it is logged, recorded on the row and retried.
Every e-mail sent is also an entry of the logbook.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from jinja2 import TemplateError
from rq import get_current_job
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from oficialia.db import DbSession, db, insert_loaded, utcnow
from oficialia.models import Department, Filing, Role, User

from .errors import WorkflowError
from .logbook import append_entry
from .models import ACTIVE_ROUTING, Notification, NotificationStatus, Routing, RoutingKind
from .states import STATE_LABELS, Action

if TYPE_CHECKING:
    from .routing import ActionRequest

log = logging.getLogger(__name__)

#: the e-mails there are a template for; ``kind`` must be one of them
KINDS = frozenset({
    "received", "routed", "accepted", "forwarded", "info_requested", "resumed", "answered", "concluded",
    "rejected", "assigned", "deadline_warning", "overdue", "message", "message_from_filer",
    "appointment_booked", "appointment_reminder", "protest_resolved", "payment_received", "signature_due",
})
#: actions the filer hears about, and the kind of e-mail each one sends
FILER_KINDS: dict[Action, str] = {
    Action.ROUTE: "routed", Action.ACCEPT: "accepted", Action.FORWARD: "forwarded",
    Action.REQUEST_INFO: "info_requested", Action.RESUME: "resumed", Action.ANSWER: "answered",
    Action.CONCLUDE: "concluded", Action.REJECT: "rejected",
}
#: actions whose note is addressed to the filer (what to supply, why it is not admitted)
NOTE_FOR_FILER = frozenset({Action.REQUEST_INFO, Action.REJECT})
#: attempts before a notification is given up as ``failed``
MAX_ATTEMPTS = 5
#: the worker's sweep resends notifications left pending for longer than this (queue down)
STALE_AFTER = timedelta(minutes=5)
SMTP_TIMEOUT_SECONDS = 20
DEPARTMENT_ROLES = (Role.STAFF, Role.SIGNER)
SYSTEM_ACTOR = "Sistema: avisos por correo"


class DeliveryFailed(WorkflowError):
    """An e-mail could not be handed to the SMTP server; the job is retried."""

    http_status = 502
    code = "mail_delivery_failed"
    default_message = "No se pudo enviar el aviso por correo electrónico; se reintentará."


# --- settings and the mailer -------------------------------------------------------------------


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "si", "sí", "on"}
    return bool(value)


@dataclass(frozen=True)
class MailSettings:
    """Where e-mails go. An empty ``server`` means the console (the embedded default)."""

    server: str
    port: int
    #: STARTTLS after connecting; port 465 uses implicit TLS instead
    use_tls: bool
    username: str
    password: str
    #: the From address, with the office's name
    sender: str
    timeout: float = SMTP_TIMEOUT_SECONDS

    @classmethod
    def from_config(cls, config: Any) -> MailSettings:
        sender = str(config.get("MAIL_FROM") or "no-responder@localhost")
        name, address = parseaddr(sender)
        if not name:
            sender = formataddr((str(config.get("OFFICE_NAME") or "Oficialía de Partes"), address or sender))
        return cls(server=str(config.get("MAIL_SERVER") or "").strip(), port=int(config.get("MAIL_PORT") or 25),
                   use_tls=_flag(config.get("MAIL_USE_TLS")), username=str(config.get("MAIL_USERNAME") or ""),
                   password=str(config.get("MAIL_PASSWORD") or ""), sender=sender)

    def __repr__(self) -> str:  # never show the password in logs or tracebacks
        return f"MailSettings(server={self.server!r}, port={self.port}, use_tls={self.use_tls})"


def build_email(settings: MailSettings, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    # quoted-printable: 7-bit safe for servers without 8BITMIME, readable in the raw source
    msg.set_content(body, cte="quoted-printable")
    return msg


def send_email(settings: MailSettings, to: str, subject: str, body: str) -> None:
    """Hand one e-mail to the SMTP server, or write it to the console when none is configured.

    :raises smtplib.SMTPException, OSError: the server refused it or could not be reached.
    """
    msg = build_email(settings, to, subject, body)
    if not settings.server:
        log.info("e-mail to %s: %s", to, subject)
        sys.stderr.write(f"--- correo (sin servidor SMTP configurado) ---\n{msg.as_string()}\n---\n")
        return
    smtp: smtplib.SMTP
    if settings.port == 465:
        smtp = smtplib.SMTP_SSL(settings.server, settings.port, timeout=settings.timeout,
                                context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(settings.server, settings.port, timeout=settings.timeout)
    with smtp:
        if settings.use_tls and settings.port != 465:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password)
        smtp.send_message(msg)


# --- writing notifications ---------------------------------------------------------------------


def _valid_address(address: str | None) -> bool:
    if not address or len(address) > 254 or any(ch in address for ch in "\r\n<>,;\"' \t"):
        return False
    local, _, domain = address.rpartition("@")
    return bool(local) and "." in domain


def filer_address(filing: Filing) -> str | None:
    """Where the filer receives notices: the e-mail on the filing, else their account's."""
    for address in (filing.filer_email, filing.filer.email if filing.filer else None):
        if _valid_address(address):
            return address
    return None


def _local(moment: datetime | None, fmt: str = "%d/%m/%Y") -> str | None:
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(str(current_app.config["TIMEZONE"]))).strftime(fmt)


def filing_context(filing: Filing) -> dict[str, Any]:
    """What every template may use about a filing; the tracking link never carries the code."""
    from oficialia.delivery import tracking_url

    cfg = current_app.config
    return {
        "institution": cfg["INSTITUTION"], "office": cfg["OFFICE_NAME"], "folio": filing.folio,
        "subject": filing.subject, "filer_name": filing.filer_name, "state": STATE_LABELS[filing.status],
        "received_at": _local(filing.received_at, "%d/%m/%Y %H:%M"), "due_date": _local(filing.due_at),
        "tracking_url": tracking_url(cfg, filing.folio, None),
        # the official's page of the filing (sign-in required)
        "filing_url": f"{str(cfg['PUBLIC_URL']).rstrip('/')}/expedientes/{quote(filing.folio)}",
        "department": filing.department.name if filing.department else None,
    }


def notify(session: DbSession, *, kind: str, to_email: str | None, filing: Filing | None = None,
           to_user: User | None = None, context: dict[str, Any]) -> Notification | None:
    """Render the e-mail ``kind`` into a pending :class:`Notification` (flushes only).

    :param kind: one of :data:`KINDS`; the template ``workflows/email/<kind>.txt``.
    :param to_email: the recipient; without a valid address nothing is written (``None``).
    :param context: the template's variables (``filing_context(filing)`` is added first).
    :raises ValueError: for an unknown ``kind`` (a programming error).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if to_email is None or not _valid_address(to_email):
        return None
    values = (filing_context(filing) if filing is not None else {}) | context
    text = render_email(kind, values)
    first, _, rest = text.partition("\n")
    subject = " ".join(first.split())[:300] or "Aviso de la Oficialía de Partes"
    # INSERT … RETURNING id: a loaded row without a unit-of-work flush (every intake writes one)
    [notification] = insert_loaded(session, Notification, [{
        "created_at": utcnow(), "filing_id": filing.id if filing is not None else None, "to_email": to_email.lower(),
        "to_user_id": to_user.id if to_user else None, "kind": kind, "subject": subject,
        "body": rest.strip("\n") + "\n", "status": NotificationStatus.PENDING, "attempts": 0}])
    return notification


def render_email(kind: str, values: dict[str, Any]) -> str:
    """The e-mail's text, from the app's templates but without the pages' context processors:
    an e-mail uses only what it is given; a request's user, menus and counters are not its own."""
    text = current_app.jinja_env.get_template(f"workflows/email/{kind}.txt").render(values)
    return text.replace("\r\n", "\n").lstrip()


def notify_filer(session: DbSession, filing: Filing, kind: str, **context: Any) -> Notification | None:
    """Tell the filer; nothing when the filing has no e-mail."""
    return notify(session, kind=kind, to_email=filer_address(filing), filing=filing, to_user=filing.filer,
                  context=context)


def notify_users(session: DbSession, users: Iterable[User], kind: str, filing: Filing | None,
                 **context: Any) -> list[Notification]:
    """Tell each (active, distinct) official."""
    written: list[Notification] = []
    seen: set[str] = set()
    for user in users:
        if not user.active or user.email in seen:
            continue
        seen.add(user.email)
        n = notify(session, kind=kind, to_email=user.email, filing=filing, to_user=user,
                   context={"recipient": user.name} | context)
        if n is not None:
            written.append(n)
    return written


def department_staff(session: DbSession, department_id: int) -> list[User]:
    return list(session.execute(select(User).where(
        User.department_id == department_id, User.active.is_(True), User.role.in_(DEPARTMENT_ROLES),
    ).order_by(User.id)).scalars())


def handlers_of(session: DbSession, routing: Routing) -> list[User]:
    """Who answers for a routing: its assignee, else the department's head, else its staff."""
    for person in (routing.assigned_to, routing.department.head):
        if person is not None and person.active:
            return [person]
    return department_staff(session, routing.department_id)


def _active_turns(session: DbSession, filing: Filing) -> list[Routing]:
    return list(session.execute(select(Routing).where(
        Routing.filing_id == filing.id, Routing.kind == RoutingKind.TURN, Routing.status.in_(ACTIVE_ROUTING),
    ).order_by(Routing.id)).scalars())


# --- after-commit hooks: they never raise --------------------------------------------------------


def notify_after_commit(session: DbSession, what: str, build: Callable[[], Sequence[Notification]]) -> list[int]:
    """Write the notifications ``build`` returns in their own transaction, then queue them.

    The action they report is already committed: a failure here is logged and rolled back,
    never raised.
    """
    if not has_app_context():
        return []
    try:
        ids = [n.id for n in build()]
        session.commit()
    except (SQLAlchemyError, TemplateError) as e:
        session.rollback()
        log.error("notifications for %s not written: %s", what, e, exc_info=True)
        return []
    queue_delivery(session, ids)
    return ids


def receipt_notice(session: DbSession, filing: Filing) -> Notification | None:
    """The filer's "received" e-mail, written in the intake's own transaction (flushes only), so
    a filing and its notice are committed together, in one round of statements; the caller
    queues it after the commit. A template that fails to render is logged and skipped: it never
    undoes the intake."""
    if not has_app_context():
        return None
    try:
        return notify_filer(session, filing, "received", pages=filing.total_pages, documents=len(filing.documents))
    except TemplateError as e:
        log.error("receipt notice of %s not written: %s", filing.folio, e, exc_info=True)
        return None


def after_action(session: DbSession, filing: Filing, actor: User, request: ActionRequest, *,
                 department_id: int | None) -> list[int]:
    """E-mails about a workflow action just committed: the filer on public events, the person
    assigned on ``assign``."""
    action = request.action

    def build() -> list[Notification]:
        written: list[Notification] = []
        # the department that acted (accept) or received it (forward); else all that hold it
        departments = [] if action in (Action.ACCEPT, Action.FORWARD) else \
            [r.department.name for r in _active_turns(session, filing)]
        if not departments and department_id is not None:
            dept = session.get(Department, department_id)
            departments = [dept.name] if dept else []
        kind = FILER_KINDS.get(action)
        if kind is not None:
            n = notify_filer(session, filing, kind, departments=departments,
                             note=request.note if action in NOTE_FOR_FILER else "")
            if n is not None:
                written.append(n)
        if action is Action.ASSIGN and request.user:
            person = session.execute(select(User).where(User.email == request.user.strip().lower())
                                     ).scalar_one_or_none()
            routing = next((r for r in _active_turns(session, filing)
                            if person is not None and r.department_id == person.department_id), None)
            if person is not None and person.id != actor.id:
                written += notify_users(session, [person], "assigned", filing, assigned_by=actor.name,
                                        instruction=routing.instruction if routing else "",
                                        routing_due=_local(routing.due_at) if routing else None,
                                        note=request.note)
        return written

    return notify_after_commit(session, f"{action.value} on {filing.folio}", build)


# --- delivery ----------------------------------------------------------------------------------


def queue_delivery(session: DbSession, notification_ids: Sequence[int]) -> None:
    """Hand committed notifications to the job queue, or send them here when the app's
    dispatcher cannot take generic jobs. Never raises; what is not sent stays pending."""
    if not notification_ids:
        return
    dispatcher = current_app.extensions.get("dispatcher")
    enqueue = getattr(dispatcher, "enqueue", None)
    for notification_id in notification_ids:
        if enqueue is not None:
            if not enqueue(send_notification, notification_id, job_id=f"notification-{notification_id}"):
                log.warning("notification %s not queued; the worker's sweep will send it", notification_id)
            continue
        try:
            deliver(session, notification_id, MailSettings.from_config(current_app.config))
        except SQLAlchemyError:
            session.rollback()
            log.error("notification %s not delivered", notification_id, exc_info=True)


def deliver(session: DbSession, notification_id: int, settings: MailSettings) -> bool:
    """Try once to send a pending notification; commits.

    Safe to run twice: a notification already sent, given up, or claimed meanwhile by another
    runner is left alone. A failure is recorded on the row (``error``, ``attempts``); after
    :data:`MAX_ATTEMPTS` it is ``failed``, otherwise it stays ``pending`` for the next try.

    :returns: whether the e-mail went out in this call.
    """
    notification = session.get(Notification, notification_id)
    if notification is None or notification.status is not NotificationStatus.PENDING:
        session.rollback()
        return False
    seen, to, subject, body = notification.attempts, notification.to_email, notification.subject, notification.body
    claimed = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.PENDING,
               Notification.attempts == seen)
        .values(attempts=Notification.attempts + 1).execution_options(synchronize_session=False))
    # no transaction stays open while the SMTP server is talked to (SQLite locks on BEGIN)
    session.commit()
    if getattr(claimed, "rowcount", 0) != 1:
        return False
    try:
        send_email(settings, to, subject, body)
    except (smtplib.SMTPException, OSError, ValueError) as e:
        notification.error = f"{type(e).__name__}: {e}"[:2000]
        notification.status = (NotificationStatus.FAILED if notification.attempts >= MAX_ATTEMPTS
                               else NotificationStatus.PENDING)
        session.commit()
        log.warning("notification %s to %s failed (attempt %s): %s", notification_id, to, seen + 1, e)
        return False
    notification.status = NotificationStatus.SENT
    notification.sent_at = utcnow()
    notification.error = None
    folio = session.execute(select(Filing.folio).where(Filing.id == notification.filing_id)).scalar() \
        if notification.filing_id else None
    append_entry(session, event="notification_sent", actor_label=SYSTEM_ACTOR, filing_id=notification.filing_id,
                 filing_folio=folio, public=False,
                 data={"notification_id": notification.id, "kind": notification.kind, "to": notification.to_email,
                       "channel": "smtp" if settings.server else "console",
                       "body_sha256": hashlib.sha256(notification.body.encode()).hexdigest()})
    session.commit()
    return True


def send_notification(notification_id: int) -> None:
    """Job: send one notification (RQ or the in-process pool); safe to run twice.

    :raises DeliveryFailed: under RQ while retries are left, so RQ tries again later.
    """
    session = db.session
    try:
        sent = deliver(session, notification_id, MailSettings.from_config(current_app.config))
        if not sent:
            status = session.execute(select(Notification.status).where(Notification.id == notification_id)).scalar()
            job = get_current_job()
            if status is NotificationStatus.PENDING and job is not None and (job.retries_left or 0) > 0:
                raise DeliveryFailed()
    finally:
        session.remove()


@dataclass(frozen=True)
class SendReport:
    sent: int
    #: failed this time (or taken meanwhile by another runner)
    not_sent: int


def send_pending(session: DbSession, *, settings: MailSettings, limit: int = 100,
                 older_than: timedelta | None = None) -> SendReport:
    """Send pending notifications now, oldest first (``flask notifications send``, the worker's sweep).

    :param older_than: only those written at least this long ago (their own job had its chance).
    """
    stmt = select(Notification.id).where(Notification.status == NotificationStatus.PENDING)
    if older_than is not None:
        stmt = stmt.where(Notification.created_at < utcnow() - older_than)
    ids = list(session.execute(stmt.order_by(Notification.id).limit(limit)).scalars())
    session.rollback()
    sent = sum(deliver(session, notification_id, settings) for notification_id in ids)
    return SendReport(sent=sent, not_sent=len(ids) - sent)


def outbox(session: DbSession, *, status: NotificationStatus | None = None, folio: str | None = None,
           limit: int = 50) -> list[tuple[Notification, str | None]]:
    """The e-mails written, newest first, each with its filing's folio."""
    stmt = select(Notification, Filing.folio).outerjoin(Filing, Filing.id == Notification.filing_id)
    if status is not None:
        stmt = stmt.where(Notification.status == status)
    if folio:
        stmt = stmt.where(Filing.folio == folio.strip().upper())
    return [(n, f) for n, f in session.execute(stmt.order_by(Notification.id.desc()).limit(limit)).all()]

"""E-mail notifications on the real database: who is told of what, console and SMTP delivery
(against a small SMTP server started here), retries, and that a failure never breaks an action."""

from __future__ import annotations

import email
import email.policy
import io
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from jinja2 import TemplateError

from oficialia.db import db
from oficialia.models import Role
from tests.factories import pdf_bytes
from workflows import notifications
from workflows.models import LogbookEntry, Notification, NotificationStatus

FILER = "ana.perez@example.mx"


# --- a tiny SMTP server: enough of RFC 5321 for smtplib (EHLO, MAIL, RCPT, DATA, QUIT) ---------


class _SmtpHandler(socketserver.StreamRequestHandler):
    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: SmtpSink = self.server  # type: ignore[assignment]
        self._reply("220 sink.test ESMTP")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                self._reply("250-sink.test")
                self._reply("250 8BITMIME")
            elif verb in ("HELO", "RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].split()[0].strip("<>")
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                server.received.append((sender, list(recipients), b"".join(lines)))
                self._reply("250 OK: queued")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.received: list[tuple[str, list[str], bytes]] = []


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def actors(demo, make_user, make_token):
    return {"clerk": make_token(make_user(Role.CLERK, department="OP")),
            "obras": make_token(make_user(Role.STAFF, department="OBRAS", email="jorge@obras.mx")),
            "ana": make_user(Role.STAFF, department="OBRAS", email="ana@obras.mx"),
            "du": make_token(make_user(Role.STAFF, department="DU"))}


def file(client, token, *, filer_email: str | None = FILER) -> dict:
    data = {"subject": "Bache en la calle Hidalgo", "filer_name": "Ana Pérez", "filer_kind": "fisica",
            "procedure": "OBRAS-BACHEO", "files": [(io.BytesIO(pdf_bytes()), "escrito.pdf")]}
    if filer_email:
        data["filer_email"] = filer_email
    response = client.post("/api/v1/filings", headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data", data=data)
    assert response.status_code == 201, response.json
    return response.json


def act(client, token, folio, **body):
    response = client.post(f"/api/v1/filings/{folio}/actions", json=body,
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.json
    return response.json


def outbox(app) -> list[Notification]:
    with app.app_context():
        rows = db.session.execute(sa.select(Notification).order_by(Notification.id)).scalars().all()
        for n in rows:
            db.session.expunge(n)
        return list(rows)


# --- who is told what ---------------------------------------------------------------------------


def test_every_public_event_tells_the_filer(app, client, actors):
    filing = file(client, actors["clerk"])
    folio = filing["folio"]
    act(client, actors["clerk"], folio, action="route", department="OBRAS", note="Atender a la brevedad")
    act(client, actors["obras"], folio, action="accept")
    act(client, actors["obras"], folio, action="assign", user="ana@obras.mx", note="Revise el sitio")
    act(client, actors["obras"], folio, action="forward", department="DU", note="Es de uso de suelo")
    act(client, actors["du"], folio, action="accept")
    act(client, actors["du"], folio, action="request_info", note="Anexe el croquis de ubicación")
    act(client, actors["du"], folio, action="resume")
    act(client, actors["du"], folio, action="conclude", note="Atendido")

    sent = outbox(app)
    to_filer = [n for n in sent if n.to_email == FILER]
    assert [n.kind for n in to_filer] == ["received", "routed", "accepted", "forwarded", "accepted",
                                          "info_requested", "resumed", "concluded"]
    for n in to_filer:
        assert folio in n.subject and n.status is NotificationStatus.PENDING
        assert f"http://oficialia.test/seguimiento?folio={folio}" in n.body
        assert "code=" not in n.body and filing["tracking_code"] not in n.body
        assert "Oficialía de Partes" in n.body
    by_kind = {n.kind: n for n in to_filer}
    assert "Obras Públicas" in by_kind["routed"].body
    assert "Desarrollo Urbano" in by_kind["forwarded"].body
    assert "Anexe el croquis de ubicación" in by_kind["info_requested"].body
    # internal instructions never reach the filer
    assert not any("Atender a la brevedad" in n.body or "uso de suelo" in n.body for n in to_filer)
    assigned = [n for n in sent if n.kind == "assigned"]
    assert [n.to_email for n in assigned] == ["ana@obras.mx"]
    assert "Revise el sitio" in assigned[0].body and "Atender a la brevedad" in assigned[0].body
    assert "/expedientes/" in assigned[0].body
    # each one was handed to the job queue, by id
    assert sorted(args[0] for name, args in app.extensions["dispatcher"].jobs if name == "send_notification") \
        == [n.id for n in sent]


def test_rejection_tells_the_filer_why(app, client, actors):
    folio = file(client, actors["clerk"])["folio"]
    act(client, actors["clerk"], folio, action="reject", note="El escrito no está firmado.")
    rejected = [n for n in outbox(app) if n.kind == "rejected"]
    assert len(rejected) == 1 and rejected[0].to_email == FILER
    assert "El escrito no está firmado." in rejected[0].body and "no fue admitido" in rejected[0].subject


def test_a_filer_without_email_is_never_written_to(app, client, actors):
    folio = file(client, actors["clerk"], filer_email=None)["folio"]
    act(client, actors["clerk"], folio, action="route", department="OBRAS")
    act(client, actors["obras"], folio, action="accept")
    act(client, actors["obras"], folio, action="assign", user="ana@obras.mx")
    act(client, actors["obras"], folio, action="request_info", note="Anexe el croquis")
    act(client, actors["obras"], folio, action="resume")
    act(client, actors["obras"], folio, action="conclude")
    assert [(n.kind, n.to_email) for n in outbox(app)] == [("assigned", "ana@obras.mx")]


def test_a_citizen_filing_with_their_account_is_told_at_their_address(app, client, demo, make_user, make_token):
    citizen = make_user(Role.CITIZEN, email="vecina@example.mx")
    response = client.post("/api/v1/filings", headers={"Authorization": f"Bearer {make_token(citizen)}"},
                           content_type="multipart/form-data",
                           data={"subject": "Luminaria", "body": "Está apagada.", "filer_kind": "fisica",
                                 "procedure": "SP-ALUMB"})
    assert response.status_code == 201, response.json
    assert [(n.kind, n.to_email) for n in outbox(app)] == [("received", "vecina@example.mx")]


# --- delivery -----------------------------------------------------------------------------------


def test_console_delivery_marks_sent_and_logs_it_once(app, client, actors, capsys):
    folio = file(client, actors["clerk"])["folio"]
    (received,) = outbox(app)
    with app.app_context():
        notifications.send_notification(received.id)
        notifications.send_notification(received.id)  # a job run twice sends once
    err = capsys.readouterr().err
    assert err.count(f"To: {FILER}") == 1 and folio in err
    (sent,) = outbox(app)
    assert sent.status is NotificationStatus.SENT and sent.sent_at is not None and sent.attempts == 1
    with app.app_context():
        entries = db.session.execute(sa.select(LogbookEntry).where(LogbookEntry.event == "notification_sent")
                                     ).scalars().all()
        assert len(entries) == 1 and entries[0].public is False and f'"notification_id":{sent.id}' in entries[0].content


def test_smtp_delivery_to_a_real_server(app, client, actors, smtp_sink):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.server_address[1],
                      MAIL_FROM="avisos@villa-esperanza.gob.mx")
    folio = file(client, actors["clerk"])["folio"]
    (received,) = outbox(app)
    with app.app_context():
        report = notifications.send_pending(db.session, settings=notifications.MailSettings.from_config(app.config))
    assert report.sent == 1 and report.not_sent == 0
    ((sender, recipients, raw),) = smtp_sink.received
    assert sender == "avisos@villa-esperanza.gob.mx" and recipients == [FILER]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == received.subject == f"Escrito recibido: folio {folio}"
    assert message["To"] == FILER and "Oficialía de Partes" in str(message["From"])
    assert "Estimado(a) Ana Pérez:" in message.get_content()
    assert outbox(app)[0].status is NotificationStatus.SENT


def test_smtp_failure_is_recorded_retried_and_finally_given_up(app, client, actors):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_closed_port())
    file(client, actors["clerk"])
    (n,) = outbox(app)
    settings = notifications.MailSettings.from_config(app.config)
    with app.app_context():
        assert notifications.deliver(db.session, n.id, settings) is False
    first = outbox(app)[0]
    assert first.status is NotificationStatus.PENDING and first.attempts == 1 and "ConnectionRefused" in first.error
    with app.app_context():
        for _ in range(notifications.MAX_ATTEMPTS):
            notifications.deliver(db.session, n.id, settings)
    last = outbox(app)[0]
    assert last.status is NotificationStatus.FAILED and last.attempts == notifications.MAX_ATTEMPTS


class _NoJobsDispatcher:
    """A dispatcher that can only run OCR: notifications are then sent right after the commit."""

    def enqueue_ocr(self, document_id: int) -> bool:
        return True

    def is_live(self, document_id: int) -> bool:
        return False


def test_without_a_job_queue_mail_goes_out_after_the_commit_and_failures_do_not_break_the_action(
        app, client, actors, smtp_sink):
    app.extensions["dispatcher"] = _NoJobsDispatcher()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.server_address[1])
    folio = file(client, actors["clerk"])["folio"]
    assert [r for _, r, _ in smtp_sink.received] == [[FILER]]
    app.config["MAIL_PORT"] = _closed_port()  # the server goes away
    assert act(client, actors["clerk"], folio, action="route", department="OBRAS")["status"] == "routed"
    routed = [n for n in outbox(app) if n.kind == "routed"]
    assert routed[0].status is NotificationStatus.PENDING and routed[0].error


def test_a_broken_template_never_breaks_the_action(app, client, actors, monkeypatch):
    folio = file(client, actors["clerk"])["folio"]

    def broken(*args, **kwargs):
        raise TemplateError("plantilla dañada")

    monkeypatch.setattr(notifications, "render_email", broken)
    assert act(client, actors["clerk"], folio, action="route", department="OBRAS")["status"] == "routed"
    assert [n.kind for n in outbox(app)] == ["received"]


def test_a_broken_template_never_breaks_the_intake(app, client, actors, monkeypatch):
    """GIVEN the "received" e-mail cannot be rendered, WHEN a petition is filed, THEN it gets its
    folio all the same and no half-written notice is left (the notice shares the intake's
    transaction)."""
    def broken(*args, **kwargs):
        raise TemplateError("plantilla dañada")

    monkeypatch.setattr(notifications, "render_email", broken)

    folio = file(client, actors["clerk"])["folio"]

    assert folio.startswith("OP-")
    assert outbox(app) == []


def test_cli_sends_what_is_pending(app, client, actors, runner):
    file(client, actors["clerk"])
    result = runner.invoke(args=["notifications", "send"])
    assert result.exit_code == 0, result.output
    assert "Avisos enviados: 1" in result.output
    assert outbox(app)[0].status is NotificationStatus.SENT


@pytest.mark.redis
def test_rq_worker_sends_the_queued_notification(app, client, actors, redis_url):
    from rq import Queue, SimpleWorker

    from oficialia.dispatch import RqDispatcher

    dispatcher = RqDispatcher(redis_url, job_timeout=60)
    app.extensions["dispatcher"] = dispatcher
    try:
        file(client, actors["clerk"])
        with app.app_context():
            SimpleWorker([Queue("default", connection=dispatcher.redis)], connection=dispatcher.redis) \
                .work(burst=True, with_scheduler=False)
    finally:
        dispatcher.redis.close()
    (n,) = outbox(app)
    assert n.kind == "received" and n.status is NotificationStatus.SENT


def test_outbox_page_lists_the_emails(app, client, demo, make_user, make_token, login):
    """The embedded default keeps every e-mail in an outbox page that clerks, auditors and admins read."""
    import io

    from oficialia.models import Role
    from tests.factories import pdf_bytes

    token = make_token(make_user(Role.CLERK, department="OP"))
    created = client.post("/api/v1/filings", headers={"Authorization": f"Bearer {token}"},
                          content_type="multipart/form-data",
                          data={"subject": "Bache", "filer_name": "Ana", "filer_email": "ana@correo.mx",
                                "files": [(io.BytesIO(pdf_bytes()), "a.pdf")]})
    assert created.status_code == 201
    login(make_user(Role.AUDITOR))
    page = client.get("/admin/correos").get_data(as_text=True)
    assert "ana@correo.mx" in page and created.json["folio"] in page
    client.post("/salir")
    login(make_user(Role.CITIZEN))
    assert client.get("/admin/correos").status_code == 403

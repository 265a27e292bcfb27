"""Webhooks against a real HTTP server on loopback: signed deliveries, retries with back-off, the
attempt log, and nothing ever sent to an address the admin did not register."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from oficialia import webhooks
from oficialia.db import db, utcnow
from oficialia.errors import InvalidInput
from oficialia.models import Role
from oficialia.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.factories import pdf_bytes


class Receiver:
    """A loopback HTTP server that records every request and answers from a script."""

    def __init__(self, statuses: list[int] | None = None, location: str | None = None) -> None:
        self.requests: list[dict] = []
        self.statuses = list(statuses or [])
        self.location = location


@contextmanager
def receiver(statuses: list[int] | None = None, location: str | None = None) -> Iterator[tuple[Receiver, str]]:
    state = Receiver(statuses, location)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", "0"))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)})
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if 300 <= status < 400 and state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": b""})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _file(client, token):
    data = {"subject": "Luminaria apagada", "body": "Frente al parque.", "filer_name": "Ana López",
            "filer_email": "ana@example.mx", "procedure": "SP-ALUMB",
            "files": [(io.BytesIO(pdf_bytes()), "escrito.pdf")]}
    response = client.post("/api/v1/filings", data=data, headers=_auth(token), content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["folio"]


def _subscribe(app, url, events=tuple(webhooks.EVENTS)):
    with app.app_context():
        sub, secret = webhooks.create_subscription(db.session, url=url, events=events, description="pruebas")
        db.session.commit()
        return sub.id, secret


def _deliver_queued(app, now=None):
    """Run the delivery jobs the app queued (the test dispatcher records them)."""
    dispatcher = app.extensions["dispatcher"]
    jobs = [args for name, args in dispatcher.jobs if name == "deliver_webhook"]
    dispatcher.jobs.clear()
    with app.app_context():
        for (delivery_id,) in jobs:
            webhooks.deliver(db.session, delivery_id, now=now)
        db.session.remove()
    return len(jobs)


@pytest.fixture
def clerk_token(demo, make_user, make_token):
    return make_token(make_user(Role.CLERK, department="OP"))


def test_delivery_is_signed_and_verifiable(app, client, clerk_token):
    with receiver() as (rx, base):
        _sub_id, secret = _subscribe(app, f"{base}/hooks/oficialia")
        folio = _file(client, clerk_token)
        assert _deliver_queued(app) == 1
    assert len(rx.requests) == 1
    hit = rx.requests[0]
    assert hit["path"] == "/hooks/oficialia"
    headers = {k.lower(): v for k, v in hit["headers"].items()}
    assert headers["x-oficialia-event"] == "filing.received"
    timestamp = headers["x-oficialia-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + hit["body"], hashlib.sha256).hexdigest()
    assert headers["x-oficialia-signature"] == f"v1={expected}"
    payload = json.loads(hit["body"])
    assert payload["event"] == "filing.received" and payload["data"]["folio"] == folio
    assert payload["id"] == headers["x-oficialia-delivery"]
    assert "tracking_code" not in json.dumps(payload)
    with app.app_context():
        delivery = db.session.execute(sa.select(WebhookDelivery)).scalar_one()
        assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 1
        assert delivery.attempt_log[0].status_code == 200


def test_routed_and_concluded_events_follow_the_workflow(app, client, clerk_token):
    with receiver() as (rx, base):
        _subscribe(app, base, events=["filing.routed", "filing.concluded"])
        folio = _file(client, clerk_token)
        response = client.post(f"/api/v1/filings/{folio}/actions", json={"action": "route", "department": "SP"},
                               headers=_auth(clerk_token))
        assert response.status_code == 200, response.json
        _deliver_queued(app)
    assert [json.loads(r["body"])["event"] for r in rx.requests] == ["filing.routed"]  # not subscribed to received


def test_answered_and_concluded_events(app, client, clerk_token, make_user, make_token):
    """The answer is issued by the responses service through the workflow's ``answer`` action."""
    from workflows.routing import ActionRequest, perform_action
    from workflows.states import Action

    staff = make_user(Role.STAFF, department="SP")
    staff_token = make_token(staff)
    def routed_and_accepted():
        folio = _file(client, clerk_token)
        assert client.post(f"/api/v1/filings/{folio}/actions", json={"action": "route", "department": "SP"},
                           headers=_auth(clerk_token)).status_code == 200
        assert client.post(f"/api/v1/filings/{folio}/actions", json={"action": "accept"},
                           headers=_auth(staff_token)).status_code == 200
        return folio

    with receiver() as (rx, base):
        _subscribe(app, base, events=["filing.answered", "filing.concluded"])
        answered = routed_and_accepted()
        with app.app_context():
            from oficialia.models import Filing, User

            filing = db.session.execute(sa.select(Filing).where(Filing.folio == answered)).scalar_one()
            perform_action(db.session, filing, db.session.get(User, staff.id), ActionRequest(action=Action.ANSWER),
                           tz="America/Mexico_City")
        concluded = routed_and_accepted()
        response = client.post(f"/api/v1/filings/{concluded}/actions", json={"action": "conclude"},
                               headers=_auth(staff_token))
        assert response.status_code == 200, response.json
        _deliver_queued(app)
    got = [(json.loads(r["body"])["event"], json.loads(r["body"])["data"]["folio"]) for r in rx.requests]
    assert got == [("filing.answered", answered), ("filing.concluded", concluded)]


def test_failures_are_retried_with_backoff_and_logged(app, client, clerk_token, make_user, login):
    with receiver(statuses=[500, 503]) as (rx, base):
        sub_id, _ = _subscribe(app, base)
        _file(client, clerk_token)
        _deliver_queued(app)
        with app.app_context():
            d = db.session.execute(sa.select(WebhookDelivery)).scalar_one()
            assert d.status is DeliveryStatus.PENDING and d.attempts == 1
            first_wait = d.next_attempt_at - d.attempt_log[0].at
            # not due yet: the sweep leaves it alone
            assert webhooks.sweep(db.session) == 0
            later = utcnow() + timedelta(seconds=webhooks.BACKOFF_SECONDS[0] + 1)
            assert webhooks.sweep(db.session, now=later) == 1
        _deliver_queued(app, now=later)
        with app.app_context():
            d = db.session.execute(sa.select(WebhookDelivery)).scalar_one()
            assert d.attempts == 2 and d.status is DeliveryStatus.PENDING
            second_wait = d.next_attempt_at - later
            assert second_wait > first_wait  # back-off grows
            even_later = d.next_attempt_at + timedelta(seconds=1)
            webhooks.sweep(db.session, now=even_later)
        _deliver_queued(app, now=even_later)
    assert len(rx.requests) == 3
    assert len({r["headers"]["X-Oficialia-Delivery"] for r in rx.requests}) == 1  # one delivery id throughout
    with app.app_context():
        d = db.session.execute(sa.select(WebhookDelivery)).scalar_one()
        assert d.status is DeliveryStatus.DELIVERED
        assert [a.status_code for a in d.attempt_log] == [500, 503, 200]
        assert d.attempt_log[0].error == "Respuesta HTTP 500."
    login(make_user(Role.ADMIN))
    page = client.get(f"/admin/webhooks/{sub_id}").get_data(as_text=True)
    assert "Respuesta HTTP 500." in page and "503" in page and "Entregado" in page


def test_gives_up_after_the_last_attempt(app, client, clerk_token):
    with receiver(statuses=[500] * webhooks.MAX_ATTEMPTS) as (rx, base):
        _subscribe(app, base)
        _file(client, clerk_token)
        now = utcnow()
        _deliver_queued(app, now=now)
        for _ in range(webhooks.MAX_ATTEMPTS):
            now += timedelta(days=1)
            with app.app_context():
                webhooks.sweep(db.session, now=now)
            _deliver_queued(app, now=now)
    assert len(rx.requests) == webhooks.MAX_ATTEMPTS
    with app.app_context():
        d = db.session.execute(sa.select(WebhookDelivery)).scalar_one()
        assert d.status is DeliveryStatus.FAILED and d.next_attempt_at is None


def test_redirects_are_never_followed(app, client, clerk_token):
    with receiver() as (elsewhere, other_base), receiver(statuses=[302], location=f"{other_base}/robado") as (rx, base):
        _subscribe(app, base)
        _file(client, clerk_token)
        _deliver_queued(app)
    assert len(rx.requests) == 1
    assert elsewhere.requests == []  # the address the admin did not register got nothing
    with app.app_context():
        attempt = db.session.execute(sa.select(WebhookAttempt)).scalar_one()
        assert attempt.status_code == 302 and "no seguida" in attempt.error


def test_unreachable_address_is_an_attempt_with_its_error(app, client, clerk_token):
    with receiver() as (_rx, base):
        pass  # the server is gone: its port now refuses connections
    _subscribe(app, base)
    _file(client, clerk_token)
    _deliver_queued(app)
    with app.app_context():
        attempt = db.session.execute(sa.select(WebhookAttempt)).scalar_one()
        assert attempt.status_code is None and attempt.error.startswith("Sin respuesta")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "javascript:alert(1)", "gopher://h/",
                                 "http://", "http://user:pw@127.0.0.1/", "127.0.0.1:8080/hook"])
def test_only_http_and_https_addresses_are_accepted(app, url):
    with app.app_context(), pytest.raises(InvalidInput):
        webhooks.create_subscription(db.session, url=url, events=["filing.received"])


def test_paused_subscriptions_receive_nothing(app, client, clerk_token):
    with receiver() as (rx, base):
        sub_id, _ = _subscribe(app, base)
        with app.app_context():
            webhooks.set_active(db.session, sub_id, False)
            db.session.commit()
        _file(client, clerk_token)
        _deliver_queued(app)
    assert rx.requests == []


def test_admin_registers_a_subscription_and_sees_its_secret_once(app, client, demo, make_user, login):
    login(make_user(Role.ADMIN))
    created = client.post("/admin/webhooks", data={"url": "https://chatbot.example.mx/hook", "description": "Bot",
                                                   "events": ["filing.received", "filing.answered"]})
    assert created.status_code == 201
    secret = re.search(r'id="new-secret">(whsec_[\w-]+)<', created.get_data(as_text=True)).group(1)
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert "https://chatbot.example.mx/hook" in listing and secret not in listing
    refused = client.post("/admin/webhooks", data={"url": "file:///etc/passwd", "events": ["filing.received"]})
    assert refused.status_code == 422 and "http" in refused.get_data(as_text=True)


def _signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    timestamp = headers["x-oficialia-timestamp"]
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_a_rotated_secret_signs_at_once_and_the_former_one_for_the_grace_period(app, client, clerk_token):
    """GIVEN a subscription whose secret is rotated with 24 hours of grace THEN deliveries are
    signed with the new secret, and also with the former one in X-Oficialia-Signature-Previous
    until the grace ends; after it, or with no grace, only with the new one."""
    with receiver() as (rx, base):
        sub_id, old = _subscribe(app, base, events=["filing.received"])
        with app.app_context():
            _sub, new = webhooks.rotate_secret(db.session, sub_id, grace_hours=24)
            db.session.commit()
        assert new != old and new.startswith(webhooks.SECRET_PREFIX)
        _file(client, clerk_token)
        _deliver_queued(app)
        _file(client, clerk_token)
        _deliver_queued(app, now=utcnow() + timedelta(hours=25))
        with app.app_context():
            _sub, newest = webhooks.rotate_secret(db.session, sub_id, grace_hours=0)
            db.session.commit()
        _file(client, clerk_token)
        _deliver_queued(app)
    during, after, immediate = ({k.lower(): v for k, v in r["headers"].items()} | {"body": r["body"]}
                                for r in rx.requests)
    assert during["x-oficialia-signature"] == _signature(new, during, during["body"])
    assert during["x-oficialia-signature-previous"] == _signature(old, during, during["body"])
    assert after["x-oficialia-signature"] == _signature(new, after, after["body"])
    assert "x-oficialia-signature-previous" not in after
    assert immediate["x-oficialia-signature"] == _signature(newest, immediate, immediate["body"])
    assert "x-oficialia-signature-previous" not in immediate


def test_admin_rotates_a_secret_and_sees_the_new_one_once(app, client, demo, make_user, login):
    login(make_user(Role.ADMIN))
    sub_id, old = _subscribe(app, "https://chatbot.example.mx/hook")
    rotated = client.post(f"/admin/webhooks/{sub_id}/secreto", data={"grace_hours": "72"})
    page = rotated.get_data(as_text=True)
    assert rotated.status_code == 200
    secret = re.search(r'id="new-secret">(whsec_[\w-]+)<', page).group(1)
    assert secret != old and "X-Oficialia-Signature-Previous" in page
    again = client.get(f"/admin/webhooks/{sub_id}").get_data(as_text=True)
    assert secret not in again and old not in again and "El secreto anterior firma también" in again
    with app.app_context():
        sub = db.session.get(webhooks.WebhookSubscription, sub_id)
        assert sub.secret == secret and sub.previous_secret == old
        assert timedelta(hours=71) < sub.previous_secret_until - utcnow() <= timedelta(hours=72)
    refused = client.post(f"/admin/webhooks/{sub_id}/secreto", data={"grace_hours": "1000"})
    assert refused.status_code == 422 and "entre 0 y 168 horas" in refused.get_data(as_text=True)
    assert client.post("/admin/webhooks/9999/secreto", data={"grace_hours": "24"}).status_code == 404
    with app.app_context():
        assert db.session.get(webhooks.WebhookSubscription, sub_id).secret == secret  # the refusal changed nothing

"""Webhooks: integrators subscribe a URL to events of filings and receive signed POSTs.

Events: ``filing.received``, ``filing.routed``, ``filing.answered``, ``filing.concluded``.
An admin registers each subscription (URL, events) and sees its secret once. After the action
that causes an event is committed, one :class:`WebhookDelivery` row per interested subscription
is written and a background job (:func:`deliver_webhook`, on RQ or the in-process pool) POSTs it.

Each POST carries a JSON body and the headers ``X-Oficialia-Event``, ``X-Oficialia-Delivery``
(the delivery's id, the same on every retry), ``X-Oficialia-Timestamp`` (Unix seconds) and
``X-Oficialia-Signature: v1=<hex>``, the HMAC-SHA256 with the subscription's secret of
``"<timestamp>.<body>"``. A receiver recomputes it and rejects old timestamps.

Safety: a delivery goes only to the URL of its subscription, fixed when the admin registered it
(http or https only); redirects are never followed and proxies from the environment are not used.
A non-2xx answer, a timeout or a refused connection is an attempt logged with its status code,
time and error; the delivery is retried with back-off (:data:`BACKOFF_SECONDS`) by the periodic
sweep, and given up as ``failed`` after :data:`MAX_ATTEMPTS`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import reference
from .db import DbSession, UTCDateTime, db, insert_loaded, str_enum, utcnow
from .errors import InvalidInput, NotFound
from .models import Filing, User

log = logging.getLogger(__name__)

EVENTS: dict[str, str] = {
    "filing.received": "Escrito recibido (nuevo folio)",
    "filing.routed": "Escrito turnado a un área",
    "filing.answered": "Respuesta emitida",
    "filing.concluded": "Trámite concluido",
}
#: workflow actions (their value) and the event each one emits
ACTION_EVENTS = {"route": "filing.routed", "answer": "filing.answered", "conclude": "filing.concluded"}
#: wait before attempt 2, 3, … (seconds)
BACKOFF_SECONDS = (10, 60, 300, 1800, 7200)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
TIMEOUT_SECONDS = 10
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


DELIVERY_LABELS = {DeliveryStatus.PENDING: "Pendiente", DeliveryStatus.DELIVERED: "Entregado",
                   DeliveryStatus.FAILED: "Fallido"}


class WebhookSubscription(db.Model):  # type: ignore[name-defined,misc]
    """A URL an admin registered to receive some events."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the only address deliveries of this subscription go to; fixed at registration
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    #: space-separated event names
    events: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    #: HMAC key; shown to the admin once, kept to sign
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    #: after a rotation, the former key, which also signs (``X-Oficialia-Signature-Previous``) until
    #: ``previous_secret_until``, so the receiver has time to install the new one
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    created_by: Mapped[User | None] = relationship()

    @property
    def event_list(self) -> list[str]:
        return self.events.split()

    def previous_secret_at(self, now: datetime) -> str | None:
        """The former key while it still signs, else ``None``."""
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            return self.previous_secret
        return None


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One event to deliver to one subscription, with its retries."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: sent as X-Oficialia-Delivery; the same on every retry, so receivers can de-duplicate
    uid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"), nullable=False,
                                                 index=True)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    filing_id: Mapped[int | None] = mapped_column(ForeignKey("filings.id"))
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus), nullable=False,
                                                   default=DeliveryStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscription: Mapped[WebhookSubscription] = relationship()
    filing: Mapped[Filing | None] = relationship()
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(order_by="WebhookAttempt.id",
                                                             back_populates="delivery")

    @property
    def folio(self) -> str | None:
        return self.filing.folio if self.filing else None


class WebhookAttempt(db.Model):  # type: ignore[name-defined,misc]
    """One POST of a delivery: when, the answer's status code, how long, what went wrong."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")


# --- subscriptions ------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """:raises InvalidInput: unless an absolute http(s) URL with a host and no credentials."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("La dirección debe ser un URL http:// o https:// completo.", field="url")
    if parts.username or parts.password or len(url) > 500 or any(ch.isspace() for ch in url):
        raise InvalidInput("La dirección no puede llevar usuario, contraseña ni espacios (máximo 500 "
                           "caracteres).", field="url")
    return url


def check_events(events: Iterable[str]) -> list[str]:
    chosen = [e for e in EVENTS if e in set(events)]
    unknown = set(events) - set(EVENTS)
    if unknown or not chosen:
        raise InvalidInput("Elija al menos un evento: " + ", ".join(EVENTS) + ".", field="events")
    return chosen


def create_subscription(session: DbSession, *, url: str, events: Iterable[str], description: str = "",
                        created_by: User | None = None) -> tuple[WebhookSubscription, str]:
    """Register a subscription (flushes only); returns it and its secret, shown once."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    sub = WebhookSubscription(url=check_url(url), events=" ".join(check_events(events)),
                              description=(description or "").strip()[:200], secret=secret, active=True,
                              created_by=created_by)
    session.add(sub)
    session.flush()
    return sub, secret


#: the longest a former secret keeps signing after a rotation
MAX_GRACE_HOURS = 168


def rotate_secret(session: DbSession, subscription_id: int, *, grace_hours: int,
                  now: datetime | None = None) -> tuple[WebhookSubscription, str]:
    """Give the subscription a new secret (flushes only); returns it and the secret, shown once.

    For ``grace_hours`` (0 to :data:`MAX_GRACE_HOURS`) the former secret also signs every delivery,
    in ``X-Oficialia-Signature-Previous``; with 0 it stops signing at once.

    :raises NotFound: for an unknown subscription.
    :raises InvalidInput: for a grace period out of range.
    """
    if not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise InvalidInput(f"El periodo de transición debe estar entre 0 y {MAX_GRACE_HOURS} horas.",
                           field="grace_hours")
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise NotFound("No existe esa suscripción.")
    now = now or utcnow()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    sub.previous_secret = sub.secret if grace_hours else None
    sub.previous_secret_until = now + timedelta(hours=grace_hours) if grace_hours else None
    sub.secret, sub.secret_rotated_at = secret, now
    session.flush()
    return sub, secret


def set_active(session: DbSession, subscription_id: int, active: bool) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise NotFound("No existe esa suscripción.")
    sub.active = active
    session.flush()
    return sub


# --- events -------------------------------------------------------------------------------------


def event_payload(event: str, filing: Filing, uid: str) -> dict[str, Any]:
    """What is sent: the event and the filing's public facts (never its tracking code)."""
    return {"id": uid, "event": event, "created_at": utcnow().isoformat(), "data": {
        "folio": filing.folio, "status": filing.status.value, "channel": filing.channel.value,
        "received_at": filing.received_at.isoformat() if filing.received_at else None,
        "due_at": filing.due_at.isoformat() if filing.due_at else None,
        "procedure": filing.procedure.code if filing.procedure else None,
        "department": filing.department.code if filing.department else None}}


_SUBSCRIPTIONS = WebhookSubscription.__table__
#: plain rows, built once: every intake asks, and most find none
_ACTIVE_SUBSCRIPTIONS = select(_SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.events).where(_SUBSCRIPTIONS.c.active.is_(True))


def _subscriptions(session: DbSession) -> tuple[tuple[int, frozenset[str]], ...]:
    """The active subscriptions and their events, from the copy each process keeps."""
    subscriptions: tuple[tuple[int, frozenset[str]], ...] = reference.cached(
        session, "webhook_subscriptions", lambda: tuple(
            (subscription_id, frozenset(events.split()))
            for subscription_id, events in session.execute(_ACTIVE_SUBSCRIPTIONS).all()))
    return subscriptions


def subscribers(session: DbSession, event: str) -> list[int]:
    """The active subscriptions to ``event``: those :func:`emit` writes a delivery for."""
    return [subscription_id for subscription_id, events in _subscriptions(session) if event in events]


def emit(session: DbSession, event: str, filing: Filing, *,
         subscription_ids: Sequence[int] | None = None) -> list[int]:
    """Write one delivery per active subscription to ``event``, all in one statement.

    :param subscription_ids: :func:`subscribers` of ``event``, if the caller already asked.
    """
    rows = []
    for subscription_id in subscribers(session, event) if subscription_ids is None else subscription_ids:
        uid = str(uuid.uuid4())
        rows.append({"uid": uid, "subscription_id": subscription_id, "event": event, "filing_id": filing.id,
                     "payload": json.dumps(event_payload(event, filing, uid), ensure_ascii=False),
                     "status": DeliveryStatus.PENDING, "next_attempt_at": utcnow()})
    return [delivery.id for delivery in insert_loaded(session, WebhookDelivery, rows)]


def emit_after_commit(session: DbSession, event: str, filing: Filing) -> list[int]:
    """After the action committed: write the deliveries and queue them. Never raises."""
    if not has_app_context():
        return []
    try:
        ids = emit(session, event, filing)
        if ids:
            session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        log.error("webhook deliveries of %s for %s not written: %s", event, filing.folio, e, exc_info=True)
        return []
    queue(ids)
    return ids


def emit_for_action(session: DbSession, action: str, filing: Filing) -> list[int]:
    event = ACTION_EVENTS.get(action)
    return emit_after_commit(session, event, filing) if event else []


def queue(delivery_ids: Sequence[int]) -> None:
    """Hand deliveries to the job queue; what is not queued stays due for the sweep."""
    dispatcher = current_app.extensions.get("dispatcher")
    enqueue = getattr(dispatcher, "enqueue", None)
    if enqueue is None:
        return
    for delivery_id in delivery_ids:
        if not enqueue(deliver_webhook, delivery_id, job_id=f"webhook-{delivery_id}-{uuid.uuid4().hex[:8]}"):
            log.warning("webhook delivery %s not queued; the sweep will send it", delivery_id)


# --- delivery -----------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer like any other: never followed


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_SECONDS) -> AttemptResult:
    """POST once; never raises for what the other end does."""
    check_url(url)  # the stored URL is http(s); checked again right before use
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - http(s) only
    start = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = int(response.status)
            response.read(65536)
    except urllib.error.HTTPError as e:
        status = int(e.code)
        error = (f"Redirección a otra dirección no seguida ({e.code})." if 300 <= e.code < 400
                 else f"Respuesta HTTP {e.code}.")
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        error = f"Sin respuesta: {reason}"[:500]
    return AttemptResult(status_code=status, error=error, duration_ms=int((time.monotonic() - start) * 1000))


def deliver(session: DbSession, delivery_id: int, *, now: datetime | None = None) -> DeliveryStatus | None:
    """One attempt of a due, pending delivery; logs it and schedules the next (commits).

    Safe to run twice: a delivery no longer pending, or not yet due, is left alone.
    """
    now = now or utcnow()
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return delivery.status if delivery else None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return delivery.status
    sub = delivery.subscription
    if not sub.active:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        session.add(WebhookAttempt(delivery=delivery, at=now, error="La suscripción está desactivada."))
        session.commit()
        return delivery.status
    # claim: the next sweep must not send it again while this attempt runs
    delivery.next_attempt_at = now + timedelta(seconds=TIMEOUT_SECONDS * 3)
    session.commit()
    body = delivery.payload.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json", "User-Agent": "Oficialia-Webhooks/1",
        "X-Oficialia-Event": delivery.event, "X-Oficialia-Delivery": delivery.uid,
        "X-Oficialia-Timestamp": str(timestamp), "X-Oficialia-Signature": sign(sub.secret, timestamp, body)}
    previous = sub.previous_secret_at(now)
    if previous is not None:  # a rotation's grace period: the receiver may still hold the former key
        headers["X-Oficialia-Signature-Previous"] = sign(previous, timestamp, body)
    result = post(sub.url, body, headers)
    delivery.attempts += 1
    session.add(WebhookAttempt(delivery=delivery, at=now, status_code=result.status_code,
                               duration_ms=result.duration_ms, error=result.error))
    if result.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, utcnow(), None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=BACKOFF_SECONDS[delivery.attempts - 1])
    session.commit()
    return delivery.status


def deliver_webhook(delivery_id: int) -> None:
    """Job entry point (RQ or the in-process pool), inside an app context."""
    deliver(db.session, delivery_id)


def sweep(session: DbSession, *, now: datetime | None = None, limit: int = 200) -> int:
    """Queue the pending deliveries that are due (retries after back-off, queue outages)."""
    now = now or utcnow()
    ids = list(session.execute(select(WebhookDelivery.id).where(
        WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now,
    ).order_by(WebhookDelivery.next_attempt_at).limit(limit)).scalars())
    session.rollback()
    if ids:
        queue(ids)
    return len(ids)


def recent_deliveries(session: DbSession, subscription_id: int | None = None,
                      limit: int = 100) -> Sequence[WebhookDelivery]:
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if subscription_id is not None:
        stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
    return session.execute(stmt).scalars().all()

"""JSON API of the workflow (``/api/v1``): the message thread, field updates and the outbox.

Token calls (``Authorization: Bearer``) see what :mod:`oficialia.access` lets them see; the
``/track/<folio>/…`` calls need no token but the filing's tracking code (``?code=``), are
rate-limited like public tracking, and answer a wrong code exactly like an unknown folio (404).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from oficialia import access, delivery, tracking
from oficialia.api import api_user, document_json, iso
from oficialia.api_schemas import (
    FieldUpdateIn,
    FieldUpdateOut,
    FieldUpdates,
    MessageIn,
    MessageOut,
    Outbox,
    OutboxQuery,
    Thread,
    TrackQuery,
)
from oficialia.db import db
from oficialia.errors import Forbidden, NotFound
from oficialia.extensions import get_store, limiter
from oficialia.intake import IntakeSettings, Upload
from oficialia.models import Document, Filing, Role
from oficialia.openapi import endpoint, validated
from oficialia.tokens import Scope

from .fieldwork import UpdateView, field_updates, parse_field_update, post_field_update
from .messages import PostedMessage, ThreadMessage, filer_document, post_message, thread
from .models import NotificationStatus
from .notifications import outbox as outbox_rows

bp = Blueprint("workflows_api", __name__, url_prefix="/api/v1")

OUTBOX_ROLES = (Role.ADMIN, Role.AUDITOR, Role.CLERK)
NOT_FOUND_TRACK = "No se encontró un trámite con ese folio y código de seguimiento."



def _track_limit() -> str:
    return str(current_app.config["RATELIMIT_TRACK"])


def _tracked(folio: str) -> tuple[Filing, str]:
    code = request.args.get("code", "")
    filing = tracking.find_for_tracking(db.session, folio, code)
    if filing is None:
        raise NotFound(NOT_FOUND_TRACK)
    return filing, code


def _uploads(field: str) -> list[Upload]:
    return [Upload(filename=f.filename or "", data=f.read()) for f in request.files.getlist(field)]


def _body_field() -> str:
    if request.is_json:
        data = request.get_json(silent=True)
        return str(data.get("body") or "") if isinstance(data, dict) else ""
    return request.form.get("body", "")


def _public_document(d: Document, folio: str, code: str) -> dict[str, Any]:
    return {"id": d.id, "filename": d.filename, "content_type": d.content_type, "size": d.size, "pages": d.pages,
            "sha256": d.sha256,
            "url": url_for("workflows_api.track_document", folio=folio, document_id=d.id, code=code, _external=True)}


def _message_json(item: ThreadMessage | PostedMessage, *, public: tuple[str, str] | None = None,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    m = item.message
    attachments = ([_public_document(d, *public) for d in item.attachments] if public is not None
                   else [document_json(d) for d in item.attachments])
    return {"id": m.id, "at": iso(m.created_at), "from_filer": m.from_filer, "author": m.author_label,
            "department": item.department, "body": m.body, "attachments": attachments} | (extra or {})


def _thread_json(filing: Filing, *, public: tuple[str, str] | None = None) -> dict[str, Any]:
    return {"folio": filing.folio, "messages": [_message_json(i, public=public) for i in thread(db.session, filing)]}


def _posted_json(posted: PostedMessage, *, public: tuple[str, str] | None = None) -> dict[str, Any]:
    return _message_json(posted, public=public,
                         extra={"resumed": posted.resumed, "resume_pending": posted.resume_pending})


# --- messages ----------------------------------------------------------------------------------


@bp.get("/filings/<folio>/messages")
@endpoint("Hilo de mensajes de un escrito", scope=Scope.TRACK, responses={200: Thread}, tags=("mensajes",))
def list_messages(folio: str) -> ResponseReturnValue:
    """The thread between the filer and the department, with attachments."""
    user = api_user()
    return jsonify(_thread_json(access.get_filing(db.session, user, folio)))


@bp.post("/filings/<folio>/messages")
@endpoint("Escribir en el hilo", scope=(Scope.FILE, Scope.ACT), form=MessageIn, files=("files",),
          responses={201: MessageOut}, tags=("mensajes",),
          description="Quien presentó (alcance `file`) o un área que atiende el escrito (alcance `act`).")
def create_message(folio: str) -> ResponseReturnValue:
    """Write in the thread (multipart ``body`` + ``files``): the filer's own account, or an
    official of a department handling the filing."""
    user = api_user()
    filing = access.get_filing(db.session, user, folio)
    posted = post_message(db.session, get_store(), filing, author=user, from_filer=user.role is Role.CITIZEN,
                          body=_body_field(), uploads=_uploads("files"),
                          settings=IntakeSettings.from_config(current_app.config))
    return jsonify(_posted_json(posted)), 201


@bp.get("/track/<folio>/messages")
@endpoint("Hilo de mensajes (seguimiento público)", auth=False, query=TrackQuery, responses={200: Thread},
          tags=("seguimiento",), rate_limit=False, description="Con el código de seguimiento (`code`); sin token.")
@limiter.limit(_track_limit)
def track_messages(folio: str) -> ResponseReturnValue:
    """The thread, for the filer holding the tracking code."""
    filing, code = _tracked(folio)
    return jsonify(_thread_json(filing, public=(filing.folio, code)))


@bp.post("/track/<folio>/messages")
@endpoint("Responder en el hilo con el código de seguimiento", auth=False, query=TrackQuery, form=MessageIn,
          files=("files",), responses={201: MessageOut}, tags=("seguimiento",), rate_limit=False,
          description="Con el código de seguimiento (`code`); sin token.")
@limiter.limit(_track_limit)
def track_post_message(folio: str) -> ResponseReturnValue:
    """The filer writes with the tracking code (multipart ``body`` + ``files``); no token."""
    filing, code = _tracked(folio)
    posted = post_message(db.session, get_store(), filing, author=None, from_filer=True, body=_body_field(),
                          uploads=_uploads("files"), settings=IntakeSettings.from_config(current_app.config))
    return jsonify(_posted_json(posted, public=(filing.folio, code))), 201


@bp.get("/track/<folio>/documents/<int:document_id>")
@endpoint("Descargar un archivo del escrito (seguimiento público)", auth=False, query=TrackQuery,
          responses={200: "binary"}, tags=("seguimiento",), rate_limit=False,
          description="Con el código de seguimiento (`code`); sin token.")
@limiter.limit(_track_limit)
def track_document(folio: str, document_id: int) -> ResponseReturnValue:
    """Download a file of the filing (its originals, the thread's attachments, the crews'
    photos) with the tracking code; checked against its SHA-256 first."""
    filing, _ = _tracked(folio)
    return delivery.document_response(get_store(), filer_document(db.session, filing, document_id))


# --- field updates -----------------------------------------------------------------------------


def _update_json(view: UpdateView, *, public: tuple[str, str] | None = None) -> dict[str, Any]:
    u = view.update
    body: dict[str, Any] = {
        "id": u.id, "at": iso(u.created_at), "stage": u.stage, "stage_label": view.stage_label, "text": u.text,
        "materials": u.materials, "latitude": u.latitude, "longitude": u.longitude, "department": view.department,
        "photos": ([_public_document(d, *public) for d in view.photos] if public is not None
                   else [document_json(d) for d in view.photos]),
    }
    if public is None:
        body["author_id"] = u.author_id
    return body


@bp.post("/filings/<folio>/updates")
@endpoint("Registrar un avance de campo", scope=Scope.ACT, form=FieldUpdateIn, files=("photos",),
          responses={201: FieldUpdateOut}, tags=("campo",))
def create_update(folio: str) -> ResponseReturnValue:
    """A field crew's progress (multipart ``stage``, ``text``, ``materials``, ``latitude``,
    ``longitude``, ``photos``), from an official of a department handling the filing."""
    user = api_user()
    filing = access.get_filing(db.session, user, folio)
    if user.role not in (Role.STAFF, Role.SIGNER):
        raise Forbidden("Solo el personal de un área que atiende el escrito puede registrar avances de campo.")
    view = post_field_update(db.session, get_store(), filing, author=user, form=parse_field_update(request.form),
                             photos=_uploads("photos"), settings=IntakeSettings.from_config(current_app.config))
    return jsonify(_update_json(view)), 201


@bp.get("/filings/<folio>/updates")
@endpoint("Avances de campo de un escrito", scope=Scope.TRACK, responses={200: FieldUpdates}, tags=("campo",))
def list_updates(folio: str) -> ResponseReturnValue:
    """The field updates of a filing, oldest first."""
    user = api_user()
    filing = access.get_filing(db.session, user, folio)
    return jsonify({"folio": filing.folio, "updates": [_update_json(v) for v in field_updates(db.session, filing)]})


@bp.get("/track/<folio>/updates")
@endpoint("Avances de campo (seguimiento público)", auth=False, query=TrackQuery, responses={200: FieldUpdates},
          tags=("seguimiento",), rate_limit=False, description="Con el código de seguimiento (`code`); sin token.")
@limiter.limit(_track_limit)
def track_updates(folio: str) -> ResponseReturnValue:
    """The field updates, for the filer holding the tracking code."""
    filing, code = _tracked(folio)
    return jsonify({"folio": filing.folio, "updates": [_update_json(v, public=(filing.folio, code))
                                                       for v in field_updates(db.session, filing)]})


# --- outbox ------------------------------------------------------------------------------------


@bp.get("/notifications")
@endpoint("Bandeja de salida de correos", scope=Scope.TRACK, query=OutboxQuery, responses={200: Outbox},
          tags=("avisos",), description="Administración, auditoría y oficialía.")
def outbox() -> ResponseReturnValue:
    """The e-mails written by the system, newest first (admins, auditors, the mail-room);
    filters ``status`` and ``folio``."""
    user = api_user()
    if user.role not in OUTBOX_ROLES:
        raise Forbidden()
    query: OutboxQuery = validated()
    rows = outbox_rows(db.session, status=NotificationStatus(query.status) if query.status else None,
                       folio=query.folio, limit=query.limit)
    return jsonify({"notifications": [
        {"id": n.id, "created_at": iso(n.created_at), "folio": f, "kind": n.kind, "to": n.to_email,
         "subject": n.subject, "body": n.body, "status": n.status.value, "attempts": n.attempts,
         "sent_at": iso(n.sent_at), "error": n.error}
        for n, f in rows]})

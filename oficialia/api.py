"""The JSON API (``/api/v1``), per the contracts in DESIGN.md.

Callers authenticate with ``Authorization: Bearer <token>`` only; session cookies are ignored
here, which is why the blueprint is exempt from CSRF. Errors are JSON:
``{"error": {"code", "message"}}`` with a Spanish message. Every view is declared with
:func:`oficialia.openapi.endpoint`: its scope, inputs and outputs are enforced and documented
from the same declaration.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from workflows.logbook import verify_chain
from workflows.machine import allowed_actions
from workflows.models import LogbookEntry, Routing
from workflows.routing import parse_action, perform_action, routings_of
from workflows.states import Action, FilingState

from . import access, delivery, idempotency, search, tracking
from .api_schemas import (
    ActionIn,
    ActionResultOut,
    DepartmentList,
    FilingCreated,
    FilingDetail,
    FilingIn,
    FilingList,
    FilingQuery,
    LogbookVerifyOut,
    ProcedureList,
    ProcedureQuery,
    TrackOut,
    TrackQuery,
)
from .db import db
from .dispatch import get_dispatcher
from .errors import Forbidden, InvalidInput, NotFound, Unauthorized
from .extensions import get_store, limiter
from .forms import clean_text, parse_filing_form
from .intake import IntakeSettings, Received, Upload, receive_filing
from .models import ApiToken, Channel, Department, Document, Filing, Role, User
from .openapi import endpoint, validated
from .payments import PaymentOrder, order_of
from .tokens import Scope, find_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")

LIST_LIMIT_MAX = 200


def iso(moment: Any) -> str | None:
    """A date or time as ISO 8601 in the API's JSON, ``None`` kept."""
    return moment.isoformat() if moment is not None else None


def api_token() -> ApiToken:
    """The caller's live token, or 401."""
    if "api_token" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        row = find_token(db.session, raw.strip()) if scheme.lower() == "bearer" else None
        if row is None:
            raise Unauthorized("Envíe un token válido en el encabezado «Authorization: Bearer …».")
        if db.session.dirty:  # records last use (at most once a minute)
            db.session.commit()
        g.api_token = row
    result: ApiToken = g.api_token
    return result


def api_user() -> User:
    """The token's user, or 401."""
    return api_token().user


def document_json(d: Document) -> dict[str, Any]:
    state = delivery.ocr_state(d)
    return {"id": d.id, "filename": d.filename, "content_type": d.content_type, "sha256": d.sha256,
            "pages": d.pages, "size": d.size, "ocr": d.ocr_status.value,
            "ocr_progress": {"done": state["pages_done"], "total": state["pages_total"]},
            "ocr_error": d.ocr_error,
            "url": url_for("api.document", document_id=d.id, _external=True),
            "searchable_url": (url_for("api.searchable_copy", document_id=d.id, _external=True)
                               if d.derived_key else None)}


def filing_json(f: Filing) -> dict[str, Any]:
    return {
        "folio": f.folio, "status": f.status.value, "received_at": iso(f.received_at), "due_at": iso(f.due_at),
        "subject": f.subject, "channel": f.channel.value,
        "procedure": f.procedure.code if f.procedure else None,
        "department": f.department.code if f.department else None,
        "filer_name": f.filer_name, "filer_kind": f.filer_kind.value, "filer_gender": f.filer_gender.value,
    }


def _created_body(received: Received) -> dict[str, Any]:
    f, code = received.filing, received.tracking_code
    return {
        "folio": f.folio, "tracking_code": code, "status": f.status.value,
        "received_at": iso(f.received_at),
        "receipt_url": url_for("oficialia.receipt_pdf", folio=f.folio, code=code, _external=True),
        "tracking_url": delivery.tracking_url(current_app.config, f.folio, code),
        "documents": [document_json(d) for d in f.documents],
        "payment": payment_json(received.payment_order, f.folio, code=code),
    }


def payment_json(order: PaymentOrder | None, folio: str, *, code: str | None = None) -> dict[str, Any] | None:
    """The payment order of a filing with a fee; with the tracking code, the printable order's
    address (it opens only with the code)."""
    if order is None:
        return None
    return {"amount": f"{order.amount:.2f}", "reference": order.reference,
            "reference_display": order.reference_display, "status": order.status.value,
            "status_label": order.status_label, "issued_at": iso(order.issued_at), "paid_at": iso(order.paid_at),
            "order_url": (url_for("payments.order_public", folio=folio, code=code, _external=True)
                          if code else None)}


@bp.post("/filings")
@endpoint("Presentar un escrito", scope=Scope.FILE, form=FilingIn, files=("files",),
          responses={201: FilingCreated}, tags=("escritos",),
          headers={idempotency.HEADER: "Clave única del envío: un reintento con la misma clave devuelve el "
                                       "primer resultado (mismo estado y cuerpo), nunca un segundo folio."},
          description="Multipart: campos del escrito y uno o más archivos (PDF, JPEG, PNG, TIFF) en `files`. "
                      "Si el token tiene canal (chatbot, app, telefono…), el escrito registra ese canal.")
def create_filing() -> ResponseReturnValue:
    """File a petition (multipart); honours ``Idempotency-Key``."""
    token = api_token()
    user = token.user
    form = parse_filing_form(request.form)
    if token.channel is not None:
        if form.channel is not None and form.channel is not token.channel:
            raise InvalidInput(f"Este token presenta escritos por el canal «{token.channel.value}».",
                               field="channel")
        form = replace(form, channel=token.channel)
    files = request.files.getlist("files")
    uploads = [Upload(filename=f.filename or "", data=f.read()) for f in files]
    key = request.headers.get(idempotency.HEADER)
    fingerprint = ""
    if key is not None:
        key = idempotency.clean_key(key)
        fingerprint = idempotency.fingerprint(
            request.form.to_dict(flat=False), [("files", u.filename, u.data) for u in uploads])
        stored = idempotency.find(db.session, token.id, key)
        if stored is not None:
            return idempotency.replay(stored, fingerprint)
    first: dict[str, Any] = {}

    def before_commit(received: Received) -> None:
        # the body is built once, inside the transaction: a replay answers exactly these bytes
        filing = received.filing
        first["body"] = _created_body(received)
        first["location"] = url_for("api.get_filing", folio=filing.folio, _external=True)
        if key is not None:
            idempotency.record(db.session, token_id=token.id, key=key, request_sha256=fingerprint,
                               status_code=201, body=first["body"], location=first["location"],
                               filing_id=filing.id)
    try:
        receive_filing(
            db.session, get_store(), form=form, uploads=uploads, actor=user,
            settings=IntakeSettings.from_config(current_app.config), default_channel=Channel.API,
            dispatcher=get_dispatcher(), before_commit=before_commit)
    except IntegrityError:
        # a concurrent request with the same key committed first: answer its result
        db.session.rollback()
        stored = idempotency.find(db.session, token.id, key) if key is not None else None
        if stored is None:
            raise
        return idempotency.replay(stored, fingerprint)
    return idempotency.respond(idempotency.serialize(first["body"]), 201, first["location"])


@bp.get("/filings")
@endpoint("Listar escritos", scope=Scope.TRACK, query=FilingQuery, responses={200: FilingList}, tags=("escritos",),
          description="Escritos visibles para quien llama, del más reciente al más antiguo; `q` busca en "
                      "asunto, texto y OCR.")
def list_filings() -> ResponseReturnValue:
    """Filings the caller may see, newest first."""
    user = api_user()
    stmt = access.visible_filings(user)
    query: FilingQuery = validated()
    if query.status:
        stmt = stmt.where(Filing.status == FilingState(query.status))
    if query.department:
        stmt = stmt.join(Department, Department.id == Filing.department_id).where(
            Department.code == query.department.upper())
    limit, offset = query.limit, query.offset
    q = clean_text(query.q)
    if q:
        hits, total = search.search(db.session, stmt, q, limit=limit, offset=offset)
        items = [filing_json(h.filing) | {"rank": h.rank, "snippet": str(h.snippet)} for h in hits]
    else:
        total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = db.session.execute(
            stmt.order_by(Filing.received_at.desc(), Filing.id.desc()).limit(limit).offset(offset)).scalars().all()
        items = [filing_json(f) for f in rows]
    return jsonify({"filings": items, "total": total, "limit": limit, "offset": offset})


@bp.get("/filings/<folio>")
@endpoint("Consultar un expediente", scope=Scope.TRACK, responses={200: FilingDetail}, tags=("escritos",))
def get_filing(folio: str) -> ResponseReturnValue:
    """The whole record the caller may see."""
    user = api_user()
    f = access.get_filing(db.session, user, folio)
    body = filing_json(f) | {
        "body": f.body, "filer_email": f.filer_email, "physical_annexes": f.physical_annexes,
        "received_by": f.received_by.name if f.received_by else None,
        "documents": [document_json(d) for d in f.documents],
        "routing": [routing_json(r) for r in routings_of(db.session, f)],
        "allowed_actions": [a.value for a in allowed_actions(f.status) if a is not Action.ANSWER],
        "payment": payment_json(order_of(db.session, f), f.folio),
    }
    if user.role is not Role.CITIZEN:
        entries = db.session.execute(
            select(LogbookEntry).where(LogbookEntry.filing_id == f.id).order_by(LogbookEntry.seq)).scalars().all()
        body["logbook"] = [{"seq": e.seq, "at": iso(e.at), "event": e.event, "actor": e.actor_label,
                            "hash": e.hash} for e in entries]
    return jsonify(body)


def routing_json(r: Routing) -> dict[str, Any]:
    return {"id": r.id, "department": r.department.code, "department_name": r.department.name,
            "kind": r.kind.value, "status": r.status.value, "instruction": r.instruction,
            "assigned_to": r.assigned_to.email if r.assigned_to else None, "due_at": iso(r.due_at),
            "created_at": iso(r.created_at)}


@bp.post("/filings/<folio>/actions")
@endpoint("Aplicar una acción del turnado", scope=Scope.ACT, json=ActionIn,
          responses={200: ActionResultOut, 409: "La acción no es posible en el estado actual del escrito."},
          tags=("turnado",))
def filing_action(folio: str) -> ResponseReturnValue:
    """Apply one workflow action (route, accept, assign, forward, copy, return, request_info,
    resume, reject, conclude); 409 when the filing's state does not allow it."""
    user = api_user()
    filing = access.get_filing(db.session, user, folio)
    data = request.get_json(silent=True)  # an object: checked against ActionIn by @endpoint
    result = perform_action(db.session, filing, user, parse_action(data or {}), tz=str(current_app.config["TIMEZONE"]))
    return jsonify(filing_json(result.filing) | {
        "routing": [routing_json(r) for r in routings_of(db.session, result.filing)],
        "allowed_actions": [a.value for a in allowed_actions(result.state) if a is not Action.ANSWER]})


@bp.get("/logbook/verify")
@endpoint("Verificar la bitácora", scope=Scope.STATS, responses={200: LogbookVerifyOut}, tags=("auditoría",))
def logbook_verify() -> ResponseReturnValue:
    """Recompute the logbook's hash chain (auditors and admins)."""
    user = api_user()
    if user.role not in (Role.AUDITOR, Role.ADMIN):
        raise Forbidden()
    report = verify_chain(db.session)
    return jsonify({"ok": report.ok, "entries": report.entries, "first_bad": report.first_bad,
                    "reason": report.reason})


@bp.get("/documents/<int:document_id>")
@endpoint("Descargar un documento original", scope=Scope.TRACK, responses={200: "binary"}, tags=("documentos",))
def document(document_id: int) -> ResponseReturnValue:
    """Download an original, checked against its SHA-256 first."""
    user = api_user()
    doc = access.get_document(db.session, user, document_id)
    return delivery.document_response(get_store(), doc)


@bp.get("/documents/<int:document_id>/searchable")
@endpoint("Descargar la copia buscable (PDF/A con OCR)", scope=Scope.TRACK, responses={200: "binary"},
          tags=("documentos",))
def searchable_copy(document_id: int) -> ResponseReturnValue:
    """Download the searchable, stamped PDF/A copy made by OCR."""
    user = api_user()
    return delivery.derived_response(get_store(), access.get_document(db.session, user, document_id))


@bp.post("/documents/<int:document_id>/ocr")
@endpoint("Repetir el OCR de un documento", scope=Scope.ACT, responses={202: None}, tags=("documentos",))
def retry_ocr(document_id: int) -> ResponseReturnValue:
    """Run OCR again for a document."""
    user = api_user()
    if user.role not in (Role.CLERK, Role.STAFF, Role.SIGNER, Role.ADMIN):
        raise Forbidden()
    doc = access.get_document(db.session, user, document_id)
    from .jobs import request_ocr

    request_ocr(db.session, get_dispatcher(), [doc])
    return jsonify(document_json(doc)), 202


@bp.get("/track/<folio>")
@endpoint("Seguimiento público (sin token)", auth=False, query=TrackQuery, responses={200: TrackOut},
          tags=("seguimiento",), rate_limit=False,
          description="Con el folio y el código de seguimiento del acuse. Un código equivocado responde igual que "
                      "un folio inexistente (404).")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def track(folio: str) -> ResponseReturnValue:
    """Public tracking; no token. A wrong code answers like an unknown folio."""
    filing = tracking.find_for_tracking(db.session, folio, request.args.get("code", ""))
    if filing is None:
        raise NotFound("No se encontró un trámite con ese folio y código de seguimiento.")
    view = tracking.public_view(db.session, filing)
    from .responses_api import public_response_json

    return jsonify({
        "folio": view.folio, "status": view.status.value, "status_label": view.status_label,
        "received_at": iso(view.received_at), "due_at": iso(view.due_at),
        "timeline": [{"at": iso(t.at), "event": t.event, "label": t.label, "department": t.department}
                     for t in view.timeline],
        "response": public_response_json(filing.folio, request.args.get("code", "")),
    })


@bp.get("/procedures")
@endpoint("Catálogo de trámites y servicios", auth=False, query=ProcedureQuery, responses={200: ProcedureList},
          tags=("catálogo",), description="Registro Municipal de Trámites y Servicios; `q` busca en nombre, "
                                          "descripción y requisitos sin distinguir acentos ni mayúsculas.")
def list_procedures() -> ResponseReturnValue:
    """The public catalogue of procedures; no token."""
    from .catalogue_views import search_procedures

    query: ProcedureQuery = validated()
    return jsonify({"procedures": [
        {"code": p.code, "name": p.name, "department": p.department.code, "department_name": p.department.name,
         "response_days": p.response_days, "requirements": p.requirement_list, "cost": str(p.cost),
         "description": p.description, "url": url_for("catalogue.detail", code=p.code, _external=True)}
        for p in search_procedures(db.session, query.q or "")]})


@bp.get("/departments")
@endpoint("Áreas de la administración", auth=False, responses={200: DepartmentList}, tags=("catálogo",))
def list_departments() -> ResponseReturnValue:
    """Departments; no token."""
    rows = db.session.execute(
        select(Department).where(Department.active.is_(True)).order_by(Department.code)).scalars().all()
    return jsonify({"departments": [
        {"code": d.code, "name": d.name, "parent": d.parent.code if d.parent else None} for d in rows]})

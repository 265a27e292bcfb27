"""The JSON API (``/api/v1``), per the contracts in DESIGN.md.

Callers authenticate with ``Authorization: Bearer <token>`` only; session cookies are ignored
here, which is why the blueprint is exempt from CSRF. Errors are JSON:
``{"error": {"code", "message"}}`` with a Spanish message.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from workflows.logbook import verify_chain
from workflows.machine import allowed_actions
from workflows.models import LogbookEntry, Routing
from workflows.routing import parse_action, perform_action, routings_of
from workflows.states import Action, FilingState

from . import access, auth, delivery, search, tracking
from .db import db
from .dispatch import get_dispatcher
from .errors import Forbidden, InvalidInput, NotFound, Unauthorized
from .extensions import get_store, limiter
from .forms import clean_text, parse_filing_form
from .intake import IntakeSettings, Upload, receive_filing
from .models import Channel, Department, Document, Filing, Procedure, Role, User

bp = Blueprint("api", __name__, url_prefix="/api/v1")

LIST_LIMIT_MAX = 200


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def api_user() -> User:
    """The token's user, or 401."""
    if "api_user" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = auth.user_for_token(db.session, token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise Unauthorized("Envíe un token válido en el encabezado «Authorization: Bearer …».")
        if db.session.dirty:  # records last use (at most once a minute)
            db.session.commit()
        g.api_user = user
    result: User = g.api_user
    return result


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
        "folio": f.folio, "status": f.status.value, "received_at": _iso(f.received_at), "due_at": _iso(f.due_at),
        "subject": f.subject, "channel": f.channel.value,
        "procedure": f.procedure.code if f.procedure else None,
        "department": f.department.code if f.department else None,
        "filer_name": f.filer_name, "filer_kind": f.filer_kind.value, "filer_gender": f.filer_gender.value,
    }


@bp.post("/filings")
def create_filing() -> ResponseReturnValue:
    """File a petition (multipart)."""
    user = api_user()
    received = receive_filing(
        db.session, get_store(), form=parse_filing_form(request.form),
        uploads=[Upload(filename=f.filename or "", data=f.read()) for f in request.files.getlist("files")],
        actor=user, settings=IntakeSettings.from_config(current_app.config), default_channel=Channel.API,
        dispatcher=get_dispatcher())
    f = received.filing
    body = {
        "folio": f.folio, "tracking_code": received.tracking_code, "status": f.status.value,
        "received_at": _iso(f.received_at),
        "receipt_url": url_for("oficialia.receipt_pdf", folio=f.folio, code=received.tracking_code, _external=True),
        "tracking_url": delivery.tracking_url(current_app.config, f.folio, received.tracking_code),
        "documents": [document_json(d) for d in f.documents],
    }
    return jsonify(body), 201, {"Location": url_for("api.get_filing", folio=f.folio, _external=True)}


@bp.get("/filings")
def list_filings() -> ResponseReturnValue:
    """Filings the caller may see, newest first."""
    user = api_user()
    stmt = access.visible_filings(user)
    status = request.args.get("status")
    if status:
        if status not in {s.value for s in FilingState}:
            raise InvalidInput("Estado desconocido.", field="status")
        stmt = stmt.where(Filing.status == FilingState(status))
    dept = request.args.get("department")
    if dept:
        stmt = stmt.join(Department, Department.id == Filing.department_id).where(Department.code == dept.upper())
    limit = request.args.get("limit", 50, type=int) or 50
    offset = request.args.get("offset", 0, type=int) or 0
    if not 1 <= limit <= LIST_LIMIT_MAX or offset < 0:
        raise InvalidInput(f"«limit» debe estar entre 1 y {LIST_LIMIT_MAX} y «offset» no puede ser negativo.")
    q = clean_text(request.args.get("q"))
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
    }
    if user.role is not Role.CITIZEN:
        entries = db.session.execute(
            select(LogbookEntry).where(LogbookEntry.filing_id == f.id).order_by(LogbookEntry.seq)).scalars().all()
        body["logbook"] = [{"seq": e.seq, "at": _iso(e.at), "event": e.event, "actor": e.actor_label,
                            "hash": e.hash} for e in entries]
    return jsonify(body)


def routing_json(r: Routing) -> dict[str, Any]:
    return {"id": r.id, "department": r.department.code, "department_name": r.department.name,
            "kind": r.kind.value, "status": r.status.value, "instruction": r.instruction,
            "assigned_to": r.assigned_to.email if r.assigned_to else None, "due_at": _iso(r.due_at),
            "created_at": _iso(r.created_at)}


@bp.post("/filings/<folio>/actions")
def filing_action(folio: str) -> ResponseReturnValue:
    """Apply one workflow action (route, accept, assign, forward, copy, return, request_info,
    resume, reject, conclude); 409 when the filing's state does not allow it."""
    user = api_user()
    filing = access.get_filing(db.session, user, folio)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("Envíe un objeto JSON con «action».")
    result = perform_action(db.session, filing, user, parse_action(data), tz=str(current_app.config["TIMEZONE"]))
    return jsonify(filing_json(result.filing) | {
        "routing": [routing_json(r) for r in routings_of(db.session, result.filing)],
        "allowed_actions": [a.value for a in allowed_actions(result.state) if a is not Action.ANSWER]})


@bp.get("/logbook/verify")
def logbook_verify() -> ResponseReturnValue:
    """Recompute the logbook's hash chain (auditors and admins)."""
    user = api_user()
    if user.role not in (Role.AUDITOR, Role.ADMIN):
        raise Forbidden()
    report = verify_chain(db.session)
    return jsonify({"ok": report.ok, "entries": report.entries, "first_bad": report.first_bad,
                    "reason": report.reason})


@bp.get("/documents/<int:document_id>")
def document(document_id: int) -> ResponseReturnValue:
    """Download an original, checked against its SHA-256 first."""
    user = api_user()
    doc = access.get_document(db.session, user, document_id)
    return delivery.document_response(get_store(), doc)


@bp.get("/documents/<int:document_id>/searchable")
def searchable_copy(document_id: int) -> ResponseReturnValue:
    """Download the searchable, stamped PDF/A copy made by OCR."""
    user = api_user()
    return delivery.derived_response(get_store(), access.get_document(db.session, user, document_id))


@bp.post("/documents/<int:document_id>/ocr")
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
        "received_at": _iso(view.received_at), "due_at": _iso(view.due_at),
        "timeline": [{"at": _iso(t.at), "event": t.event, "label": t.label, "department": t.department}
                     for t in view.timeline],
        "response": public_response_json(filing.folio, request.args.get("code", "")),
    })


@bp.get("/procedures")
def list_procedures() -> ResponseReturnValue:
    """The public catalogue of procedures; no token."""
    rows = db.session.execute(
        select(Procedure).where(Procedure.active.is_(True)).order_by(Procedure.code)).scalars().all()
    return jsonify({"procedures": [
        {"code": p.code, "name": p.name, "department": p.department.code, "response_days": p.response_days,
         "requirements": p.requirement_list, "cost": str(p.cost), "description": p.description}
        for p in rows]})


@bp.get("/departments")
def list_departments() -> ResponseReturnValue:
    """Departments; no token."""
    rows = db.session.execute(
        select(Department).where(Department.active.is_(True)).order_by(Department.code)).scalars().all()
    return jsonify({"departments": [
        {"code": d.code, "name": d.name, "parent": d.parent.code if d.parent else None} for d in rows]})

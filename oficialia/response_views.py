"""Web pages for responses (blueprint "responses"): drafting from a filing's page, the signer's
queue («Firmas pendientes»), the signing page (SAT e.firma or PKCS#12), downloads, and the
response panels of the filing and tracking pages (template globals). Views parse input, check
permission, call one service of :mod:`oficialia.responses` and render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

import firma
from storage import content_disposition

from . import access, responses, tracking
from .auth import require_user
from .db import db
from .errors import InvalidInput, NotFound, OficialiaError
from .extensions import get_store, limiter
from .models import SENSE_LABELS, Filing, Response, ResponseSense, ResponseStatus, Role, User

bp = Blueprint("responses", __name__)

OFFICIAL_ROLES = (Role.CLERK, Role.STAFF, Role.SIGNER, Role.AUDITOR, Role.ADMIN)
#: how many signer slots the drafting form offers
SIGNER_SLOTS = 3




def _file(name: str) -> bytes | None:
    f: FileStorage | None = request.files.get(name)
    if f is None or not (f.filename or ""):
        return None
    data = f.read(responses.MAX_CREDENTIAL_BYTES + 1) if name != "file" else f.read()
    return data or None


def visible_response(user: User, response_id: int) -> Response:
    """The response if ``user`` may see it: officials who see its filing; the filer's own
    account only once it is issued.

    :raises NotFound: otherwise, alike for one that does not exist.
    """
    response = db.session.get(Response, response_id)
    if response is None or (user.role is Role.CITIZEN and response.status is not ResponseStatus.ISSUED):
        raise NotFound("No se encontró la respuesta solicitada.")
    access.get_filing(db.session, user, response.filing.folio)
    return response


def pdf_response(response: Response, *, name: str) -> ResponseReturnValue:
    """The response's PDF as it stands (draft, partly signed, or issued), verified first."""
    obj = responses.current_version(response)
    data = responses.read_version(get_store(), obj)
    result = current_app.response_class(data, mimetype="application/pdf")
    result.headers["Content-Disposition"] = content_disposition(name)
    result.headers["X-Content-SHA256"] = obj.sha256
    result.headers["Cache-Control"] = "private, no-store"
    return result


def file_name(response: Response) -> str:
    stem = "respuesta" if response.status is ResponseStatus.ISSUED else "borrador-respuesta"
    return f"{stem}-{response.filing.folio}.pdf"


# --- panels for other pages --------------------------------------------------------------------

@dataclass(frozen=True)
class SignerRow:
    position: int
    name: str
    signed_at: Any
    level: str | None
    certificate_rfc: str | None
    due: bool


@dataclass(frozen=True)
class ResponseRow:
    response: Response
    status_label: str
    signers: tuple[SignerRow, ...]
    my_turn: bool
    can_cancel: bool


@dataclass(frozen=True)
class ResponsePanel:
    rows: tuple[ResponseRow, ...]
    can_draft: bool


@bp.app_template_global()
def response_panel(filing: Filing) -> ResponsePanel | None:
    """The responses of ``filing`` as the signed-in person may see them, for the filing page."""
    if not current_user.is_authenticated:
        return None
    user: User = current_user._get_current_object()
    rows = []
    for response in responses.responses_of(db.session, filing):
        if user.role is Role.CITIZEN and response.status is not ResponseStatus.ISSUED:
            continue
        due = responses.next_signer(db.session, response)
        signers = tuple(SignerRow(position=s.position, name=s.user.name, signed_at=s.signed_at, level=s.level,
                                  certificate_rfc=s.certificate_rfc, due=due is not None and due.id == s.id)
                        for s in responses.signers_of(db.session, response))
        rows.append(ResponseRow(
            response=response, status_label=responses.STATUS_LABELS[response.status], signers=signers,
            my_turn=due is not None and due.user_id == user.id,
            can_cancel=response.status is ResponseStatus.DRAFT
            and (user.role is Role.ADMIN or user.department_id == response.department_id)))
    can_draft = (user.role in responses.DRAFTING_ROLES
                 and filing.status.value in ("in_progress", "awaiting_filer")
                 and not any(r.response.status in responses.OPEN_STATUSES for r in rows)
                 and _holds(filing, user))
    return ResponsePanel(rows=tuple(rows), can_draft=can_draft)


def _holds(filing: Filing, user: User) -> bool:
    from workflows.routing import active_routings

    if user.role is Role.ADMIN:
        return bool(active_routings(filing.id, db.session))
    return user.department_id is not None and bool(active_routings(filing.id, db.session, user.department_id))


@bp.app_template_global()
def public_response(folio: str) -> Response | None:
    """For the tracking page, once folio and code were checked: the issued response."""
    filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one_or_none()
    return responses.issued_response(db.session, filing) if filing is not None else None


@bp.app_template_global()
def pending_signature_count() -> int:
    """How many responses wait for the signed-in signer (the menu's badge)."""
    if not has_request_context() or not current_user.is_authenticated \
            or current_user.role not in responses.SIGNING_ROLES:
        return 0
    return len(responses.pending_for(db.session, current_user._get_current_object()))


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {"SENSE_LABELS": SENSE_LABELS}


# --- drafting ----------------------------------------------------------------------------------

def _draft_form(filing: Filing, user: User, form: Any, status: int = 200, *,
                editing: Response | None = None) -> ResponseReturnValue:
    department_id = editing.department_id if editing is not None else user.department_id
    if editing is None and (user.role is Role.ADMIN or department_id is None):
        from workflows.routing import active_routings

        holders = active_routings(filing.id, db.session)
        department_id = holders[0].department_id if holders else department_id
    eligible = responses.eligible_signers(db.session, department_id) if department_id else []
    return render_template("responses/draft.html", filing=filing, form=form, eligible=eligible, editing=editing,
                           senses=list(ResponseSense), slots=range(1, SIGNER_SLOTS + 1)), status


def _draft_input(form: Any, *, keeps_pdf: bool = False) -> dict[str, Any]:
    """The drafting form's fields, as :func:`responses.create_draft` and ``edit_draft`` take them.

    :param keeps_pdf: an uploaded PDF is already on file (editing): the form may leave it.
    """
    signer_ids = []
    for slot in range(1, SIGNER_SLOTS + 1):
        value = form.get(f"signer_{slot}", "")
        if value:
            if not value.isdigit():
                raise OficialiaError("Elija a los firmantes de la lista.")
            signer_ids.append(int(value))
    mode = form.get("mode", "text")
    upload = request.files.get("file")
    pdf = upload.read() if mode == "pdf" and upload is not None and upload.filename else None
    if mode == "pdf" and pdf is None and not keeps_pdf:
        raise OficialiaError("Elija el PDF de la respuesta.")
    if mode != "pdf" and not (form.get("text") or "").strip():
        raise InvalidInput("Escriba el texto de la respuesta o elija subir un PDF.", field="text")
    return {"sense": responses.parse_sense(form.get("sense")), "signer_ids": signer_ids,
            "settings": responses.ResponseSettings.from_config(current_app.config),
            "pdf": pdf, "text": form.get("text") if mode != "pdf" else None,
            "filename": (upload.filename or "respuesta.pdf") if upload is not None else "respuesta.pdf"}


@bp.route("/expedientes/<folio>/respuesta", methods=["GET", "POST"])
def draft(folio: str) -> ResponseReturnValue:
    """Draft the response to a filing: upload a PDF or compose the letter; name the signers."""
    user = require_user(Role.STAFF, Role.SIGNER, Role.ADMIN)
    filing = access.get_filing(db.session, user, folio)
    if request.method == "GET":
        return _draft_form(filing, user, {})
    form = request.form
    try:
        response = responses.create_draft(db.session, get_store(), filing, user, **_draft_input(form))
    except OficialiaError as e:
        db.session.rollback()
        flash(e.message, "danger")
        return _draft_form(filing, user, form, e.http_status)
    flash("Borrador de respuesta guardado. Queda en la bandeja «Firmas pendientes» de quien firma primero.",
          "success")
    return redirect(url_for("oficialia.filing_detail", folio=filing.folio, _anchor=f"respuesta-{response.id}"))


@bp.post("/respuestas/<int:response_id>/cancelar")
def cancel(response_id: int) -> ResponseReturnValue:
    """Withdraw a draft nobody has signed."""
    user = require_user(Role.STAFF, Role.SIGNER, Role.ADMIN)
    response = visible_response(user, response_id)
    try:
        responses.cancel_draft(db.session, response, user)
    except OficialiaError as e:
        db.session.rollback()
        flash(e.message, "danger")
    else:
        flash("Borrador cancelado.", "info")
    return redirect(url_for("oficialia.filing_detail", folio=response.filing.folio))


@bp.route("/respuestas/<int:response_id>/editar", methods=["GET", "POST"])
def edit(response_id: int) -> ResponseReturnValue:
    """Change a draft nobody has signed: its sense, its document, its signers."""
    user = require_user(Role.STAFF, Role.SIGNER, Role.ADMIN)
    response = visible_response(user, response_id)
    filing = response.filing
    try:
        responses.require_draft_owner(response, user, "editar")
    except OficialiaError as e:
        flash(e.message, "warning")
        return redirect(url_for("oficialia.filing_detail", folio=filing.folio, _anchor=f"respuesta-{response.id}"))
    if request.method == "GET":
        current = {"sense": response.sense.value, "mode": "text" if response.text is not None else "pdf",
                   "text": response.text or ""}
        current |= {f"signer_{s.position}": str(s.user_id) for s in responses.signers_of(db.session, response)}
        return _draft_form(filing, user, current, editing=response)
    form = request.form
    try:
        responses.edit_draft(db.session, get_store(), response, user,
                             **_draft_input(form, keeps_pdf=response.text is None))
    except OficialiaError as e:
        db.session.rollback()
        flash(e.message, "danger")
        return _draft_form(filing, user, form, e.http_status, editing=response)
    flash("Borrador actualizado. Quien firma primero recibe el aviso de nuevo.", "success")
    return redirect(url_for("oficialia.filing_detail", folio=filing.folio, _anchor=f"respuesta-{response.id}"))


# --- signing -----------------------------------------------------------------------------------

@bp.get("/firmas")
def queue() -> ResponseReturnValue:
    """Firmas pendientes: the drafts waiting for the signed-in signer's signature."""
    user = require_user(Role.SIGNER, Role.ADMIN)
    return render_template("responses/queue.html", queue=responses.pending_for(db.session, user))


def _sign_page(response: Response, user: User, status: int = 200) -> ResponseReturnValue:
    signers = responses.signers_of(db.session, response)
    due = responses.next_signer(db.session, response)
    return render_template("responses/sign.html", response=response, filing=response.filing, signers=signers,
                           due=due, my_turn=due is not None and due.user_id == user.id,
                           status_label=responses.STATUS_LABELS[response.status]), status


@bp.route("/respuestas/<int:response_id>/firmar", methods=["GET", "POST"])
def sign(response_id: int) -> ResponseReturnValue:
    """Review the draft and sign it with e.firma (.cer + .key + password) or PKCS#12."""
    user = require_user(Role.SIGNER, Role.ADMIN)
    response = visible_response(user, response_id)
    if request.method == "GET":
        return _sign_page(response, user)
    from .signing import signing_settings, trust_settings

    try:
        credentials = responses.Credentials.parse(
            password=request.form.get("password"), pkcs12=_file("pkcs12"), certificate=_file("certificate"),
            key=_file("key"))
        result = responses.sign_response(
            db.session, get_store(), response, user, credentials, signing=signing_settings(), trust=trust_settings(),
            settings=responses.ResponseSettings.from_config(current_app.config))
    except (OficialiaError, firma.FirmaError) as e:
        db.session.rollback()
        flash(e.message, "danger")
        return _sign_page(response, user, e.http_status)
    if result.issued:
        flash(f"Respuesta firmada y emitida. Se avisó al solicitante del folio {response.filing.folio}.", "success")
        return redirect(url_for("oficialia.filing_detail", folio=response.filing.folio,
                                _anchor=f"respuesta-{response.id}"))
    nxt = responses.next_signer(db.session, response)
    flash(f"Firma registrada ({result.level}). Sigue la firma de {nxt.user.name if nxt else '—'}.", "success")
    return redirect(url_for("responses.queue"))


@bp.get("/respuestas/<int:response_id>.pdf")
def pdf(response_id: int) -> ResponseReturnValue:
    """The response's PDF: officials see drafts and signed versions; filers the issued one."""
    user = require_user(*OFFICIAL_ROLES, Role.CITIZEN)
    response = visible_response(user, response_id)
    return pdf_response(response, name=file_name(response))


@bp.get("/seguimiento/<folio>/respuesta.pdf")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def public_pdf(folio: str) -> ResponseReturnValue:
    """The issued response, for whoever holds the folio and its tracking code."""
    filing = tracking.find_for_tracking(db.session, folio, request.args.get("code", ""))
    response = responses.issued_response(db.session, filing) if filing is not None else None
    if filing is None or response is None:
        raise NotFound("No se encontró una respuesta emitida para ese folio y código de seguimiento.")
    return pdf_response(response, name=file_name(response))


"""Web pages (Spanish UI): the citizen portal, the clerk's window, inboxes, tracking and the
admin catalogue. Views parse input, check permission, call one service and render."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from storage import content_disposition
from workflows.models import LogbookEntry
from workflows.routing import log_view
from workflows.states import STATE_LABELS, FilingState
from workflows.views import filing_panel

from . import access, auth, catalogue, delivery, search, tracking
from .auth import require_user
from .db import db
from .dispatch import get_dispatcher
from .errors import NotFound, OficialiaError
from .extensions import get_store, limiter, login_manager
from .forms import clean_text, parse_filing_form
from .intake import IntakeSettings, Upload, receive_filing
from .models import CHANNEL_LABELS, ROLE_LABELS, Channel, Department, Filing, Procedure, Role, User

bp = Blueprint("oficialia", __name__)
#: front-end libraries installed from the npm registry by `make` (never committed)
vendor_bp = Blueprint("vendor", __name__, url_prefix="/vendor")
VENDOR_DIRS = {"bootstrap": ("bootstrap", "dist"), "chartjs": ("chart.js", "dist"), "swagger-ui": ("swagger-ui-dist",)}

PAGE_SIZE = 50
STAFF_ROLES = (Role.CLERK, Role.STAFF, Role.SIGNER, Role.AUDITOR, Role.ADMIN)


@login_manager.user_loader  # type: ignore[untyped-decorator]
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


@vendor_bp.route("/<lib>/<path:filename>")
def vendor(lib: str, filename: str) -> ResponseReturnValue:
    """Static files of a front-end library."""
    parts = VENDOR_DIRS.get(lib)
    if parts is None:
        abort(404)
    return send_from_directory(Path(current_app.root_path, "node_modules", *parts), filename, max_age=86400)


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {"institution": current_app.config["INSTITUTION"], "office_name": current_app.config["OFFICE_NAME"],
            "Role": Role, "STATE_LABELS": STATE_LABELS, "CHANNEL_LABELS": CHANNEL_LABELS,
            "ROLE_LABELS": ROLE_LABELS, "local": _local, "OCR_LABELS": delivery.OCR_LABELS}


def _local(moment: Any, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A UTC timestamp as local time, for templates."""
    if moment is None:
        return "—"
    from zoneinfo import ZoneInfo
    return str(moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt))




def _uploads(files: list[FileStorage]) -> list[Upload]:
    return [Upload(filename=f.filename or "", data=f.read()) for f in files if f and (f.filename or "")]


def _catalogue_choices() -> dict[str, Any]:
    return {
        "procedures": db.session.execute(
            select(Procedure).where(Procedure.active.is_(True)).order_by(Procedure.name)).scalars().all(),
        "departments": db.session.execute(
            select(Department).where(Department.active.is_(True)).order_by(Department.name)).scalars().all(),
    }


def _remember_code(folio: str, code: str) -> None:
    codes = dict(session.get("receipt_codes", {}))
    codes[folio] = code
    # keep only the latest few: the cookie is small
    session["receipt_codes"] = dict(list(codes.items())[-5:])


# --- portal -------------------------------------------------------------------------------------

@bp.get("/")
def index() -> ResponseReturnValue:
    """Landing page of the portal."""
    return render_template("oficialia/index.html")


@bp.route("/entrar", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def login() -> ResponseReturnValue:
    """Sign in."""
    if request.method == "POST":
        try:
            user = auth.authenticate(db.session, request.form.get("email", ""), request.form.get("password", ""),
                                     max_failures=int(current_app.config["LOGIN_MAX_FAILURES"]),
                                     lock_minutes=int(current_app.config["LOGIN_LOCK_MINUTES"]))
        except OficialiaError as e:
            db.session.commit()  # keep the count of failed attempts
            flash(e.message, "danger")
            return render_template("oficialia/login.html", email=request.form.get("email", "")), e.http_status
        db.session.commit()
        login_user(user)
        session.permanent = False
        target = request.args.get("next", "")
        if not target.startswith("/") or target.startswith("//"):
            target = url_for("oficialia.home")
        return redirect(target)
    return render_template("oficialia/login.html", email="")


@bp.post("/salir")
def logout() -> ResponseReturnValue:
    """Sign out."""
    logout_user()
    session.clear()
    flash("Sesión cerrada.", "info")
    return redirect(url_for("oficialia.index"))


@bp.route("/registro", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def register() -> ResponseReturnValue:
    """Citizen sign-up."""
    if request.method == "POST":
        form = request.form
        try:
            if form.get("password") != form.get("password2"):
                raise OficialiaError("Las contraseñas no coinciden.")
            user = auth.create_user(db.session, email=form.get("email", ""), name=clean_text(form.get("name")),
                                    role=Role.CITIZEN, password=form.get("password", ""))
            db.session.commit()
        except OficialiaError as e:
            db.session.rollback()
            flash(e.message, "danger")
            return render_template("oficialia/register.html", form=form), e.http_status
        login_user(user)
        flash("Su cuenta fue creada.", "success")
        return redirect(url_for("oficialia.my_filings"))
    return render_template("oficialia/register.html", form={})


@bp.get("/inicio")
def home() -> ResponseReturnValue:
    """Where each role starts."""
    if not current_user.is_authenticated:
        return redirect(url_for("oficialia.index"))
    if current_user.role is Role.CITIZEN:
        return redirect(url_for("oficialia.my_filings"))
    if current_user.role is Role.CLERK:
        return redirect(url_for("oficialia.window"))
    if current_user.role in (Role.STAFF, Role.SIGNER):
        return redirect(url_for("workflows.inbox"))
    return redirect(url_for("oficialia.inbox"))


def _file(channel: Channel, template: str) -> ResponseReturnValue:
    actor = current_user._get_current_object() if current_user.is_authenticated else None
    try:
        form = parse_filing_form(request.form)
        received = receive_filing(
            db.session, get_store(), form=form, uploads=_uploads(request.files.getlist("files")), actor=actor,
            settings=IntakeSettings.from_config(current_app.config), default_channel=channel,
            dispatcher=get_dispatcher())
    except OficialiaError as e:
        db.session.rollback()
        flash(e.message, "danger")
        extra = {"recent": _recent_window_filings()} if channel is Channel.WINDOW else {}
        return render_template(template, form=request.form, **extra, **_catalogue_choices()), e.http_status
    _remember_code(received.filing.folio, received.tracking_code)
    return redirect(url_for("oficialia.received", folio=received.filing.folio))


@bp.route("/presentar", methods=["GET", "POST"])
def file_petition() -> ResponseReturnValue:
    """The petition form: citizens signed in, or guests with an e-mail."""
    if current_user.is_authenticated and current_user.role not in (Role.CITIZEN, Role.ADMIN):
        if current_user.role is Role.CLERK:
            return redirect(url_for("oficialia.window"))
    if request.method == "POST":
        return _file(Channel.WEB, "oficialia/file.html")
    initial = {"procedure": request.args.get("tramite", "")}
    return render_template("oficialia/file.html", form=initial, **_catalogue_choices())


@bp.route("/ventanilla", methods=["GET", "POST"])
def window() -> ResponseReturnValue:
    """The clerk's window: register a walk-in filing from its scans."""
    require_user(Role.CLERK, Role.ADMIN)
    if request.method == "POST":
        return _file(Channel.WINDOW, "oficialia/window.html")
    return render_template("oficialia/window.html", form={}, recent=_recent_window_filings(), **_catalogue_choices())


def _recent_window_filings() -> list[Filing]:
    return list(db.session.execute(
        select(Filing).where(Filing.channel == Channel.WINDOW).order_by(Filing.id.desc()).limit(10)).scalars())


def _filing_for_receipt(folio: str) -> tuple[Filing, str | None]:
    """The filing if the visitor holds its code (query or this session) or may see it signed in."""
    folio = folio.strip().upper()
    code = request.args.get("code") or session.get("receipt_codes", {}).get(folio)
    if code:
        filing = tracking.find_for_tracking(db.session, folio, code)
        if filing is not None:
            return filing, code
    if current_user.is_authenticated:
        return access.get_filing(db.session, current_user, folio), None
    raise NotFound("No se encontró el folio solicitado.")


@bp.get("/recibido/<folio>")
def received(folio: str) -> ResponseReturnValue:
    """Confirmation after filing: folio, tracking code (shown this once) and the acuse."""
    filing, code = _filing_for_receipt(folio)
    return render_template("oficialia/received.html", filing=filing, code=code,
                           tracking_link=delivery.tracking_url(current_app.config, filing.folio, code))


@bp.get("/acuse/<folio>.pdf")
def receipt_pdf(folio: str) -> ResponseReturnValue:
    """The acuse de recibo as PDF."""
    filing, code = _filing_for_receipt(folio)
    pdf = delivery.build_receipt(filing, current_app.config, code)
    response = current_app.response_class(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = content_disposition(f"acuse-{filing.folio}.pdf")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/mis-tramites")
def my_filings() -> ResponseReturnValue:
    """A citizen's own filings."""
    user = require_user(Role.CITIZEN)
    filings = db.session.execute(
        access.visible_filings(user).order_by(Filing.received_at.desc())).scalars().all()
    return render_template("oficialia/my_filings.html", filings=filings)


@bp.get("/seguimiento")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def track() -> ResponseReturnValue:
    """Public tracking by folio and code."""
    folio = clean_text(request.args.get("folio"))
    code = clean_text(request.args.get("code"))
    view = None
    if folio or code:
        filing = tracking.find_for_tracking(db.session, folio, code) if folio and code else None
        if filing is None:
            return render_template("oficialia/track.html", folio=folio, view=None,
                                   error="No encontramos un trámite con ese folio y código de seguimiento. "
                                         "Revise ambos datos tal como aparecen en su acuse."), 404
        view = tracking.public_view(db.session, filing)
    return render_template("oficialia/track.html", folio=folio, code=code, view=view, error=None)


@bp.get("/catalogo")
def procedures() -> ResponseReturnValue:
    """The catalogue's former address: the Registro Municipal de Trámites y Servicios is at /tramites."""
    q = clean_text(request.args.get("q"))
    return redirect(url_for("catalogue.index", q=q or None), code=301)


# --- staff --------------------------------------------------------------------------------------

@bp.get("/bandeja")
def inbox() -> ResponseReturnValue:
    """Filings the signed-in official may see, newest first, with filters."""
    user = require_user(*STAFF_ROLES)
    stmt = access.visible_filings(user)
    status = request.args.get("status", "")
    if status in {s.value for s in FilingState}:
        stmt = stmt.where(Filing.status == FilingState(status))
    dept = request.args.get("department", "")
    if dept:
        stmt = stmt.join(Department, Department.id == Filing.department_id).where(Department.code == dept.upper())
    q = clean_text(request.args.get("q"))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    snippets: dict[int, Any] = {}
    by_folio = db.session.execute(stmt.where(Filing.folio == q.upper())).scalars().all() if q else []
    if by_folio:
        filings, total = list(by_folio), len(by_folio)
    elif q:
        hits, total = search.search(db.session, stmt, q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        filings = [h.filing for h in hits]
        snippets = {h.filing.id: h.snippet for h in hits}
    else:
        total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        filings = list(db.session.execute(
            stmt.order_by(Filing.received_at.desc(), Filing.id.desc()).limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)).scalars().all())
    return render_template("oficialia/inbox.html", filings=filings, total=total, page=page, page_size=PAGE_SIZE,
                           status=status, department=dept, q=q, states=list(FilingState), snippets=snippets,
                           **_catalogue_choices())


@bp.get("/expedientes/<folio>")
def filing_detail(folio: str) -> ResponseReturnValue:
    """A filing's record: data, documents and logbook."""
    user = require_user(*STAFF_ROLES, Role.CITIZEN)
    filing = access.get_filing(db.session, user, folio)
    entries: Sequence[LogbookEntry] = ()
    if user.role is not Role.CITIZEN:
        log_view(db.session, filing, user)  # auditors read who viewed what
        entries = db.session.execute(
            select(LogbookEntry).where(LogbookEntry.filing_id == filing.id).order_by(LogbookEntry.seq)
        ).scalars().all()
    return render_template("oficialia/filing.html", filing=filing, entries=entries,
                           view=tracking.public_view(db.session, filing), panel=filing_panel(filing, user))


@bp.get("/documentos/<int:document_id>")
def document(document_id: int) -> ResponseReturnValue:
    """Download an original, checked against its SHA-256 first."""
    user = require_user(*STAFF_ROLES, Role.CITIZEN)
    doc = access.get_document(db.session, user, document_id)
    return delivery.document_response(get_store(), doc)


@bp.get("/documentos/<int:document_id>/copia")
def searchable_copy(document_id: int) -> ResponseReturnValue:
    """Download the searchable, stamped copy made by OCR."""
    user = require_user(*STAFF_ROLES, Role.CITIZEN)
    doc = access.get_document(db.session, user, document_id)
    return delivery.derived_response(get_store(), doc)


@bp.post("/documentos/<int:document_id>/ocr")
def retry_ocr(document_id: int) -> ResponseReturnValue:
    """Run OCR again for one document (retry button)."""
    user = require_user(Role.CLERK, Role.STAFF, Role.SIGNER, Role.ADMIN)
    doc = access.get_document(db.session, user, document_id)
    from .jobs import request_ocr

    request_ocr(db.session, get_dispatcher(), [doc])
    flash(f"Se volverá a procesar «{doc.filename}».", "info")
    return redirect(url_for("oficialia.filing_detail", folio=doc.filing.folio))


@bp.get("/expedientes/<folio>/ocr.json")
def ocr_progress(folio: str) -> ResponseReturnValue:
    """OCR progress of a filing's documents, polled by the page while work is under way."""
    filing, _code = _filing_for_receipt(folio)
    return {"documents": [delivery.ocr_state(d) for d in filing.documents]}


# --- administration -----------------------------------------------------------------------------

@bp.route("/admin/areas", methods=["GET", "POST"])
@bp.route("/admin/areas/<int:department_id>", methods=["GET", "POST"])
def admin_departments(department_id: int | None = None) -> ResponseReturnValue:
    """Department tree: list, create, edit."""
    require_user(Role.ADMIN)
    editing = db.session.get(Department, department_id) if department_id else None
    if department_id and editing is None:
        abort(404)
    if request.method == "POST":
        f = request.form
        try:
            catalogue.save_department(db.session, code=f.get("code", ""), name=f.get("name", ""),
                                      parent_code=f.get("parent") or None, head_email=f.get("head") or None,
                                      active=f.get("active", "1") == "1", department=editing)
            db.session.commit()
        except OficialiaError as e:
            db.session.rollback()
            flash(e.message, "danger")
            return render_template("oficialia/admin_departments.html", tree=catalogue.department_tree(db.session),
                                   editing=editing, form=f), e.http_status
        flash("Área guardada.", "success")
        return redirect(url_for("oficialia.admin_departments"))
    return render_template("oficialia/admin_departments.html", tree=catalogue.department_tree(db.session),
                           editing=editing, form={})


@bp.route("/admin/tramites", methods=["GET", "POST"])
@bp.route("/admin/tramites/<int:procedure_id>", methods=["GET", "POST"])
def admin_procedures(procedure_id: int | None = None) -> ResponseReturnValue:
    """Catalogue of procedures: list, create, edit."""
    require_user(Role.ADMIN)
    editing = db.session.get(Procedure, procedure_id) if procedure_id else None
    if procedure_id and editing is None:
        abort(404)
    if request.method == "POST":
        f = request.form
        try:
            catalogue.save_procedure(
                db.session, code=f.get("code", ""), name=f.get("name", ""), department_code=f.get("department", ""),
                response_days=f.get("response_days", ""), requirements=f.get("requirements", ""),
                cost=f.get("cost", "0"), description=f.get("description", ""),
                active=f.get("active", "1") == "1", procedure=editing)
            db.session.commit()
        except OficialiaError as e:
            db.session.rollback()
            flash(e.message, "danger")
            return render_template("oficialia/admin_procedures.html", editing=editing, form=f,
                                   **_catalogue_choices()), e.http_status
        flash("Trámite guardado.", "success")
        return redirect(url_for("oficialia.admin_procedures"))
    all_procedures = db.session.execute(select(Procedure).order_by(Procedure.name)).scalars().all()
    return render_template("oficialia/admin_procedures.html", editing=editing, form={},
                           all_procedures=all_procedures, **_catalogue_choices())


@bp.route("/admin/usuarios", methods=["GET", "POST"])
def admin_users() -> ResponseReturnValue:
    """Users and roles."""
    require_user(Role.ADMIN)
    if request.method == "POST":
        f = request.form
        try:
            auth.create_user(db.session, email=f.get("email", ""), name=clean_text(f.get("name")),
                             role=Role(f.get("role", "")) if f.get("role") in set(Role) else Role.CITIZEN,
                             password=f.get("password") or None, department_code=f.get("department") or None,
                             rfc=f.get("rfc") or None)
            db.session.commit()
        except OficialiaError as e:
            db.session.rollback()
            flash(e.message, "danger")
        else:
            flash("Usuario creado.", "success")
            return redirect(url_for("oficialia.admin_users"))
    users = db.session.execute(select(User).order_by(User.role, User.name)).scalars().all()
    return render_template("oficialia/admin_users.html", users=users, **_catalogue_choices())

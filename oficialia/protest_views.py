"""Protesta ciudadana on the web and in the API: the filer's form on the tracking page, the
audit department's list and resolution page, and the figures per department."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from pydantic import Field
from sqlalchemy import select

from .api import api_user, iso
from .db import db
from .errors import Forbidden, NotFound, OficialiaError
from .extensions import limiter
from .forms import clean_text
from .intake import IntakeSettings
from .models import Filing, Role, User
from .openapi import Input, Output, endpoint, validated
from .protests import (
    REASON_LABELS,
    TEXT_MAX,
    Protest,
    ProtestOutcome,
    can_protest,
    can_resolve,
    file_protest,
    get_protest,
    protest_of,
    protest_stats,
    protests_about,
    resolve_protest,
)
from .stats import parse_filters
from .stats_views import can_read_stats
from .tokens import Scope

bp = Blueprint("protests", __name__)
api_bp = Blueprint("protests_api", __name__, url_prefix="/api/v1")

#: who sees the list of protests (resolving is for the audit department; see ``can_resolve``)
READER_ROLES = (Role.STAFF, Role.SIGNER, Role.AUDITOR, Role.ADMIN)


def _file(folio: str, code: str, reason: object, text: str | None) -> Any:
    cfg = current_app.config
    return file_protest(db.session, folio=folio, code=code, reason=reason, text=text,
                        settings=IntakeSettings.from_config(cfg), audit_department=str(cfg["AUDIT_DEPARTMENT"]),
                        response_days=int(cfg["PROTEST_RESPONSE_DAYS"]))


@bp.app_context_processor
def _protest_globals() -> dict[str, Any]:
    return {"protest_panel": _panel}


def _panel(folio: str) -> dict[str, Any]:
    """What the tracking page shows about protests for ``folio`` (its code was already checked)."""
    filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one_or_none()
    if filing is None:
        return {}
    return {"own": protest_of(db.session, filing), "about": protests_about(db.session, filing),
            "open": can_protest(db.session, filing), "reasons": REASON_LABELS, "text_max": TEXT_MAX}


@bp.post("/seguimiento/protesta")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def file() -> ResponseReturnValue:
    """The filer protests (folio and tracking code prove who they are)."""
    folio = clean_text(request.form.get("folio"))
    code = clean_text(request.form.get("code"))
    try:
        filed = _file(folio, code, request.form.get("reason"), request.form.get("text"))
    except OficialiaError as e:
        if e.http_status == 404:
            raise
        flash(e.message, "danger")
        return redirect(url_for("oficialia.track", folio=folio, code=code))
    return render_template("protests/filed.html", protest=filed.protest, code=filed.tracking_code), 201


def _staff() -> User:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in READER_ROLES:
        abort(403)
    user: User = current_user._get_current_object()
    return user


def _may_read(user: User, protest: Protest) -> bool:
    return user.role in (Role.AUDITOR, Role.ADMIN) or can_resolve(user, protest)


@bp.get("/protestas")
def index() -> ResponseReturnValue:
    """The protests: all of them for auditors and admins, the audit department's for its staff."""
    user = _staff()
    stmt = select(Protest).join(Filing, Filing.id == Protest.filing_id).order_by(Protest.id.desc())
    if user.role not in (Role.AUDITOR, Role.ADMIN):
        stmt = stmt.where(Filing.department_id == user.department_id)
    return render_template("protests/index.html", protests=db.session.execute(stmt.limit(500)).scalars().all())


@bp.route("/protestas/<folio>", methods=["GET", "POST"])
def detail(folio: str) -> ResponseReturnValue:
    """One protest; the audit department resolves it here."""
    user = _staff()
    protest = get_protest(db.session, folio)
    if not _may_read(user, protest):
        raise NotFound("No existe una protesta con ese folio.")
    if request.method == "POST":
        try:
            resolve_protest(db.session, protest, user, outcome=request.form.get("outcome"),
                            resolution=request.form.get("resolution"), tz=current_app.config["TIMEZONE"])
        except OficialiaError as e:
            flash(e.message, "danger")
        else:
            flash("Protesta resuelta; el solicitante ve la resolución en el seguimiento de su trámite.", "success")
        return redirect(url_for("protests.detail", folio=protest.filing.folio))
    return render_template("protests/detail.html", protest=protest, may_resolve=can_resolve(user, protest),
                           outcomes=ProtestOutcome)


@bp.app_context_processor
def _protest_stats_globals() -> dict[str, Any]:
    return {"protest_figures": _figures}


def _figures(filters: Any) -> list[Any]:
    """Rows for the statistics dashboard, with the dashboard's period and department."""
    start, end, dept = _window(filters)
    return protest_stats(db.session, start=start, end=end, department_id=dept)


def _window(filters: Any) -> tuple[Any, Any, int | None]:
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(current_app.config["TIMEZONE"])
    start = datetime.combine(filters.start, time.min, tz) if filters.start else None
    end = datetime.combine(filters.end + timedelta(days=1), time.min, tz) if filters.end else None
    return start, end, getattr(filters, "department_id", None)


# --- API ----------------------------------------------------------------------------------------


class ProtestIn(Input):
    code: str = Field(min_length=1, max_length=100, description="Código de seguimiento del trámite protestado.")
    reason: str = Field(min_length=1, max_length=20, description="`negativa` o `exigencia`.")
    text: str = Field(min_length=1, max_length=TEXT_MAX, description="Qué ocurrió: quién, cuándo, qué se negó.")


class ProtestQuery(Input):
    code: str = Field("", max_length=100, description="Código de seguimiento del trámite.")


class ProtestOut(Output):
    """Una protesta ciudadana."""

    folio: str
    protest_of: str
    reason: str
    reason_label: str
    department: str | None
    status: str
    due_at: str | None
    outcome: str | None
    outcome_label: str
    resolution: str | None
    resolved_at: str | None
    tracking_code: str | None = None


class ProtestList(Output):
    protests: list[ProtestOut]


class ProtestStatsOut(Output):
    rows: list[dict[str, Any]]



def protest_json(p: Protest, code: str | None = None) -> dict[str, Any]:
    out = {"folio": p.filing.folio, "protest_of": p.original.folio, "reason": p.reason.value,
           "reason_label": p.reason_label, "department": p.department.code if p.department else None,
           "status": p.filing.status.value, "due_at": iso(p.filing.due_at),
           "outcome": p.outcome.value if p.outcome else None, "outcome_label": p.outcome_label,
           "resolution": p.resolution, "resolved_at": iso(p.resolved_at)}
    if code is not None:
        out["tracking_code"] = code
    return out


@api_bp.post("/track/<folio>/protests")
@endpoint("Presentar una protesta ciudadana (sin token)", auth=False, json=ProtestIn, responses={201: ProtestOut},
          tags=("seguimiento",), rate_limit=False,
          description="El código de seguimiento del trámite prueba que quien protesta es quien lo presentó. La "
                      "protesta recibe su propio folio y código de seguimiento (`tracking_code`, se muestra una vez) "
                      "y se turna al área de control interno.")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def api_file(folio: str) -> ResponseReturnValue:
    body: ProtestIn = validated()
    filed = _file(folio, body.code, body.reason, body.text)
    return jsonify(protest_json(filed.protest, filed.tracking_code)), 201


@api_bp.get("/track/<folio>/protests")
@endpoint("Protestas sobre un trámite (sin token)", auth=False, query=ProtestQuery, responses={200: ProtestList},
          tags=("seguimiento",), rate_limit=False,
          description="Las protestas presentadas sobre el trámite y su resolución. Un código equivocado responde "
                      "igual que un folio inexistente (404).")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def api_list(folio: str) -> ResponseReturnValue:
    from .tracking import find_for_tracking

    filing = find_for_tracking(db.session, folio, request.args.get("code", ""))
    if filing is None:
        raise NotFound("No se encontró un trámite con ese folio y código de seguimiento.")
    return jsonify({"protests": [protest_json(p) for p in protests_about(db.session, filing)]})


@api_bp.get("/stats/protests")
@endpoint("Protestas ciudadanas por área", scope=Scope.STATS, responses={200: ProtestStatsOut},
          tags=("estadísticas",),
          description="Protestas presentadas por área protestada y su resultado (`pending`, `founded`, "
                      "`unfounded`); `from`, `to` (fechas locales) y `department` filtran.")
def api_stats() -> ResponseReturnValue:
    user = api_user()
    if not can_read_stats(user):
        raise Forbidden("Las estadísticas son para titulares, firmantes, auditores y administradores.")
    filters = parse_filters(db.session, request.args)
    start, end, dept = _window(filters)
    rows = protest_stats(db.session, start=start, end=end, department_id=dept)
    return jsonify({"rows": [r.as_dict() for r in rows]})

"""``GET /api/v1/stats``: the dashboard's figures for other systems (bearer tokens of heads,
signers, auditors and admins)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from .api import api_user
from .api_schemas import StatsOut, StatsQuery
from .db import db, utcnow
from .errors import Forbidden, InvalidInput
from .openapi import endpoint
from .stats import BY_VALUES, Stats, parse_filters
from .stats_views import can_read_stats
from .tokens import Scope

bp = Blueprint("stats_api", __name__, url_prefix="/api/v1")

@bp.get("/stats")
@endpoint("Estadísticas", scope=Scope.STATS, query=StatsQuery, responses={200: StatsOut}, tags=("estadísticas",),
          description="Escritos, respondidos, tiempos de respuesta (días hábiles) y vencidos, agrupados por `by` "
                      "(" + ", ".join(BY_VALUES) + ").")
def stats() -> ResponseReturnValue:
    """Filings, answered, response times and overdue, grouped by ``by``, filtered by ``from``,
    ``to`` (local dates, both included), ``department`` and ``procedure`` (codes)."""
    user = api_user()
    if not can_read_stats(user):
        raise Forbidden("Las estadísticas son para titulares, firmantes, auditores y administradores.")
    by = (request.args.get("by") or "month").strip().lower()
    if by not in BY_VALUES:
        raise InvalidInput("«by» debe ser uno de: " + ", ".join(BY_VALUES) + ".", field="by")
    filters = parse_filters(db.session, request.args)
    figures = Stats(db.session, filters, tz=current_app.config["TIMEZONE"], now=utcnow())
    rows = figures.breakdown(by)
    return jsonify({"by": by, "from": filters.start.isoformat() if filters.start else None,
                    "to": filters.end.isoformat() if filters.end else None,
                    "department": filters.department_code, "procedure": filters.procedure_code,
                    "rows": [r.as_dict() for r in rows]})

"""Statistics pages: the dashboard for heads, signers, auditors and admins (``/estadisticas``),
with CSV and JSON exports of every table, and the public transparency page (``/transparencia``)
with its daily open-data CSV. The figures come from :mod:`oficialia.stats`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from . import evaluations
from .db import db, utcnow
from .errors import OficialiaError
from .extensions import limiter
from .forms import clean_text
from .models import Department, Filing, Procedure, Role, User
from .stats import MIN_PUBLIC_GROUP, OTHERS, Filters, Row, Stats, merge_small, parse_filters

bp = Blueprint("stats", __name__)

READER_ROLES = (Role.SIGNER, Role.AUDITOR, Role.ADMIN)
#: years of history the dashboard and the public page show when no period is chosen
DEFAULT_YEARS = 3
#: days listed under the daily chart
DAY_TABLE_ROWS = 62


def can_read_stats(user: Any) -> bool:
    """Signers, auditors, admins and the heads of departments read the statistics."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.role in READER_ROLES:
        return True
    return bool(user.role is Role.STAFF and user.department is not None and user.department.head_id == user.id)


def today_local() -> date:
    return utcnow().astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()


def default_period() -> tuple[date, date]:
    today = today_local()
    return date(today.year - DEFAULT_YEARS + 1, 1, 1), today


def stats_for(args: Any) -> Stats:
    """The figures for the filters in ``args`` (``from``, ``to``, ``department``, ``procedure``)."""
    start, end = default_period()
    filters = parse_filters(db.session, args, default_start=start, default_end=end)
    return Stats(db.session, filters, tz=current_app.config["TIMEZONE"], now=utcnow())


@dataclass
class Figure:
    slug: str
    title: str
    chart_type: str
    #: ``(key, Spanish heading)`` of the table's columns
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]]
    #: the chart: which column labels the points, which columns are the series
    label_column: str = "label"
    series: list[str] = field(default_factory=list)
    horizontal: bool = False
    stacked: bool = False
    note: str = ""
    #: the page's table shows only the last rows (the exports have them all)
    table_limit: int = 0

    @property
    def table_rows(self) -> list[dict[str, Any]]:
        return self.rows[-self.table_limit:] if self.table_limit else self.rows

    def chart(self) -> dict[str, Any]:
        heads = dict(self.columns)
        return {"type": self.chart_type, "horizontal": self.horizontal, "stacked": self.stacked,
                "labels": [r.get(self.label_column) for r in self.rows],
                "datasets": [{"label": heads.get(s, s), "data": [r.get(s) for r in self.rows]}
                             for s in self.series]}


COUNT_COLUMNS = [("filings", "Escritos"), ("answered", "Respondidos"), ("answered_late", "Respondidos fuera de plazo"),
                 ("mean_response_days", "Días hábiles promedio"), ("overdue", "Vencidos sin respuesta")]
TIME_COLUMNS = [("answered", "Respondidos"), ("median_response_days", "Mediana (días hábiles)"),
                ("p90_response_days", "Percentil 90 (días hábiles)"), ("mean_response_days", "Promedio (días hábiles)"),
                ("answered_late", "Fuera de plazo")]


def _rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in rows]


def _with_share(rows: list[dict[str, Any]], column: str = "filings") -> list[dict[str, Any]]:
    total = sum(r[column] for r in rows) or 1
    return [{**r, "share": round(100 * r[column] / total, 1)} for r in rows]


KEY = ("key", "Clave")
NAME = ("label", "Nombre")
SHARE = ("share", "%")
#: the slugs of the dashboard's figures, in the order shown
DASHBOARD_SLUGS = ("por-dia", "por-mes", "por-anio", "comparativo-anual", "meses-mas-demandados", "por-area",
                   "por-tramite", "por-canal", "por-tipo-persona", "por-genero", "tiempos-respuesta", "sentido",
                   "rezago", "satisfaccion")


class Dashboard:
    """Builds the dashboard's figures on demand, sharing what several of them read."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def rows(self, by: str, times: bool = False) -> list[Row]:
        if by in ("month", "year"):
            self.stats.breakdown("day", times=times)  # months and years are summed from the days
        return self.stats.breakdown(by, times=times)

    def figure(self, slug: str) -> Figure | None:
        build = getattr(self, "_" + slug.replace("-", "_"), None) if slug in DASHBOARD_SLUGS else None
        return build() if build is not None else None

    def figures(self) -> list[Figure]:
        return [f for f in (self.figure(slug) for slug in DASHBOARD_SLUGS) if f is not None]

    def _por_dia(self) -> Figure:
        return Figure("por-dia", "Escritos recibidos por día", "line", [("key", "Día"), *COUNT_COLUMNS],
                      _rows(self.rows("day")), label_column="key", series=["filings", "answered"],
                      table_limit=DAY_TABLE_ROWS,
                      note=f"La tabla muestra los últimos {DAY_TABLE_ROWS} días con escritos; CSV y JSON traen todos.")

    def _por_mes(self) -> Figure:
        return Figure("por-mes", "Escritos recibidos por mes", "bar", [("key", "Mes"), *COUNT_COLUMNS],
                      _rows(self.rows("month")), label_column="key", series=["filings", "answered"])

    def _por_anio(self) -> Figure:
        return Figure("por-anio", "Escritos recibidos por año", "bar", [("key", "Año"), *COUNT_COLUMNS],
                      _rows(self.rows("year")), label_column="key", series=["filings", "answered"])

    def _comparativo_anual(self) -> Figure:
        years, yoy = self.stats.year_over_year()
        return Figure("comparativo-anual", "Comparativo anual (escritos por mes)", "line",
                      [("label", "Mes"), *[(str(y), str(y)) for y in years]], yoy, series=[str(y) for y in years])

    def _meses_mas_demandados(self) -> Figure:
        return Figure("meses-mas-demandados", "Meses que más escritos reciben", "bar",
                      [("label", "Mes"), ("filings", "Escritos")], self.stats.busiest_months(self.rows("month")),
                      series=["filings"])

    def _por_area(self) -> Figure:
        return Figure("por-area", "Escritos por área", "bar", [KEY, NAME, *COUNT_COLUMNS],
                      _rows(self.rows("department")), series=["filings", "answered", "overdue"], horizontal=True)

    def _por_tramite(self) -> Figure:
        return Figure("por-tramite", "Escritos por trámite (tema)", "bar", [KEY, NAME, *COUNT_COLUMNS],
                      _rows(self.rows("procedure")), series=["filings"], horizontal=True)

    def _share_figure(self, slug: str, title: str, by: str) -> Figure:
        return Figure(slug, title, "doughnut", [KEY, NAME, *COUNT_COLUMNS[:2], SHARE],
                      _with_share(_rows(self.rows(by))), series=["filings"])

    def _por_canal(self) -> Figure:
        return self._share_figure("por-canal", "Escritos por canal", "channel")

    def _por_tipo_persona(self) -> Figure:
        return self._share_figure("por-tipo-persona", "Escritos por tipo de persona", "kind")

    def _por_genero(self) -> Figure:
        return self._share_figure("por-genero", "Escritos por género de quien presenta", "gender")

    def _tiempos_respuesta(self) -> Figure:
        return Figure("tiempos-respuesta", "Tiempo de respuesta por área (días hábiles)", "bar",
                      [KEY, NAME, *TIME_COLUMNS], [r.as_dict() for r in self.rows("department", True) if r.answered],
                      series=["median_response_days", "p90_response_days"], horizontal=True,
                      note="Días hábiles desde la recepción hasta la emisión de la respuesta firmada.")

    def _sentido(self) -> Figure:
        return Figure("sentido", "Sentido de las respuestas", "doughnut", [KEY, NAME, ("filings", "Respuestas"), SHARE],
                      _with_share(_rows(self.rows("sense"))), series=["filings"])

    def _rezago(self) -> Figure:
        return Figure("rezago", "Rezago y vencidos por área (semáforo)", "bar",
                      [KEY, NAME, ("open", "En trámite"), ("overdue", "Vencidos"), ("due_soon", "Vencen en 3 días"),
                       ("paused", "En espera del solicitante"), ("light", "Semáforo")],
                      self.stats.backlog(), series=["overdue", "due_soon", "open"], horizontal=True,
                      note="Verde: sin vencidos; amarillo: hasta 10 % del rezago vencido; rojo: más del 10 %.")

    def _satisfaccion(self) -> Figure:
        return Figure("satisfaccion", "Satisfacción con la atención (1 a 5)", "bar",
                      [KEY, NAME, ("ratings", "Calificaciones"), ("mean_score", "Promedio"),
                       *[(f"score_{s}", f"{s} ★") for s in range(1, 6)]],
                      self.stats.satisfaction(), series=["mean_score"], horizontal=True)


def dashboard_figures(stats: Stats) -> list[Figure]:
    """Every figure of the dashboard, in the order shown."""
    return Dashboard(stats).figures()


def _merge_dicts(rows: list[dict[str, Any]], count: str) -> list[dict[str, Any]]:
    """Satisfaction rows with fewer than five ratings merged into "Otros" (dropped if still small)."""
    big = [r for r in rows if r[count] >= MIN_PUBLIC_GROUP]
    small = [r for r in rows if r[count] < MIN_PUBLIC_GROUP]
    total = sum(r[count] for r in small)
    while small and total < MIN_PUBLIC_GROUP and big:
        moved = big.pop()
        small.append(moved)
        total += moved[count]
    if not small or total < MIN_PUBLIC_GROUP:
        return big
    merged: dict[str, Any] = {"key": None, "label": OTHERS, count: total}
    for s in range(1, 6):
        merged[f"score_{s}"] = sum(r[f"score_{s}"] for r in small)
    merged["mean_score"] = round(sum(s * merged[f"score_{s}"] for s in range(1, 6)) / total, 2)
    return [*big, merged]


def public_figures(stats: Stats) -> list[Figure]:
    """The transparency page: aggregates only; every group smaller than five filings is merged."""
    label = ("label", "Concepto")
    counts = [("filings", "Escritos"), ("answered", "Respondidos")]
    median = ("median_response_days", "Mediana de días hábiles")
    share = ("share", "%")

    def merged(by: str) -> list[dict[str, Any]]:
        return _rows(merge_small(stats.breakdown(by, times=False, overdue=False)))

    stats.breakdown("day", times=True, overdue=False)  # months are summed from the days
    months = [r for r in stats.breakdown("month", times=True, overdue=False) if r.filings]
    departments = merge_small(stats.breakdown("department", times=True, overdue=False))
    return [
        Figure("por-mes", "Escritos recibidos por mes", "bar", [("label", "Mes"), *counts, median], _rows(months),
               series=["filings", "answered"]),
        Figure("por-area", "Escritos por área", "bar", [label, *counts, median], _rows(departments),
               series=["filings", "answered"], horizontal=True),
        Figure("por-tramite", "Escritos por trámite", "bar", [label, *counts], merged("procedure"),
               series=["filings"], horizontal=True),
        Figure("por-canal", "Escritos por canal", "doughnut", [label, *counts, share],
               _with_share(merged("channel")), series=["filings"]),
        Figure("por-tipo-persona", "Escritos por tipo de persona", "doughnut", [label, *counts, share],
               _with_share(merged("kind")), series=["filings"]),
        Figure("por-genero", "Escritos por género", "doughnut", [label, *counts, share],
               _with_share(merged("gender")), series=["filings"]),
        Figure("tiempos-respuesta", "Tiempo de respuesta por área (días hábiles)", "bar",
               [label, ("answered", "Respondidos"), ("median_response_days", "Mediana"),
                ("p90_response_days", "Percentil 90")],
               [r.as_dict() for r in departments if r.answered], series=["median_response_days", "p90_response_days"],
               horizontal=True),
        Figure("sentido", "Sentido de las respuestas", "doughnut", [label, ("filings", "Respuestas"), share],
               _with_share(merged("sense")), series=["filings"]),
        Figure("satisfaccion", "Satisfacción con la atención (1 a 5)", "bar",
               [label, ("ratings", "Calificaciones"), ("mean_score", "Promedio")],
               _merge_dicts(stats.satisfaction(), "ratings"), series=["mean_score"], horizontal=True),
    ]


def _csv(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([key for key, _ in columns])
    for r in rows:
        writer.writerow(["" if r.get(k) is None else r.get(k) for k, _ in columns])
    return buf.getvalue()


def _reader() -> User:
    if not current_user.is_authenticated:
        abort(401)
    if not can_read_stats(current_user):
        abort(403)
    user: User = current_user._get_current_object()
    return user


def _choices() -> dict[str, Any]:
    return {"departments": db.session.query(Department).order_by(Department.name).all(),
            "procedures": db.session.query(Procedure).order_by(Procedure.name).all()}


@bp.get("/estadisticas")
def dashboard() -> ResponseReturnValue:
    """The statistics dashboard."""
    _reader()
    stats = stats_for(request.args)
    return render_template("stats/dashboard.html", figures=dashboard_figures(stats), filters=stats.filters,
                           export_args=stats.filters.query_args(), **_choices())


@bp.get("/estadisticas/<slug>.<fmt>")
def export(slug: str, fmt: str) -> ResponseReturnValue:
    """One table of the dashboard as CSV or JSON, with the same filters."""
    _reader()
    if fmt not in ("csv", "json"):
        abort(404)
    stats = stats_for(request.args)
    figure = Dashboard(stats).figure(slug)
    if figure is None:
        abort(404)
    name = f"estadisticas-{slug}"
    if fmt == "json":
        body = json.dumps({"figure": slug, "title": figure.title, "filters": stats.filters.query_args(),
                           "columns": [{"key": k, "label": v} for k, v in figure.columns], "rows": figure.rows},
                          ensure_ascii=False, default=str)
        return Response(body, mimetype="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}.json"'})
    return Response(_csv(figure.columns, figure.rows), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@bp.get("/transparencia")
def transparency() -> ResponseReturnValue:
    """Public statistics: aggregates only, small groups merged."""
    stats = stats_for(request.args)
    stats.filters = Filters(start=stats.filters.start, end=stats.filters.end)  # the public page is not filtered
    return render_template("stats/public.html", figures=public_figures(stats), filters=stats.filters,
                           min_group=MIN_PUBLIC_GROUP)


OPEN_DATA_COLUMNS = [("month", "month"), ("department", "department"), ("department_name", "department_name"),
                     ("filings", "filings"), ("answered", "answered"), ("answered_late", "answered_late"),
                     ("median_response_days", "median_response_days"), ("p90_response_days", "p90_response_days"),
                     ("overdue", "overdue")]


def open_data_csv(as_of: date) -> str:
    """Filings per month and department up to ``as_of`` (yesterday), groups under five merged."""
    tz = current_app.config["TIMEZONE"]
    now = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    figures = Stats(db.session, Filters(end=as_of), tz=tz, now=now)
    out: list[dict[str, Any]] = []
    for month, rows in figures.by_month("department"):
        for r in merge_small(rows):
            out.append({"month": month, "department": r.key or ("OTROS" if r.label == OTHERS else ""),
                        "department_name": r.label,
                        **{k: v for k, v in r.as_dict().items() if k not in ("key", "label")}})
    return _csv(OPEN_DATA_COLUMNS, out)


@bp.get("/transparencia/datos-abiertos.csv")
def open_data() -> ResponseReturnValue:
    """The open-data CSV, made once a day (figures up to yesterday) and cacheable."""
    as_of = today_local() - timedelta(days=1)
    cache = current_app.extensions.setdefault("stats_open_data", {})
    if cache.get("as_of") != as_of:
        body = open_data_csv(as_of).encode("utf-8")
        cache.update(as_of=as_of, body=body, etag=hashlib.sha256(body).hexdigest()[:32])
    response = Response(cache["body"], mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="datos-abiertos-{as_of}.csv"',
                                 "Cache-Control": "public, max-age=3600"})
    response.set_etag(cache["etag"])
    response.last_modified = datetime.combine(as_of + timedelta(days=1), datetime.min.time(),
                                              ZoneInfo(current_app.config["TIMEZONE"]))
    return response.make_conditional(request)


@bp.app_context_processor
def _stats_globals() -> dict[str, Any]:
    return {"can_read_stats": can_read_stats, "rating_open": _rating_open}


def _rating_open(folio: str) -> bool:
    """Whether the tracking page offers the rating form for ``folio`` (its code was already checked)."""
    filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one_or_none()
    return filing is not None and evaluations.can_rate(db.session, filing)


@bp.post("/seguimiento/calificar")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def rate() -> ResponseReturnValue:
    """The filer rates the attention (folio and tracking code prove who they are)."""
    folio = clean_text(request.form.get("folio"))
    code = clean_text(request.form.get("code"))
    try:
        evaluations.rate_attention(db.session, folio=folio, code=code, score=request.form.get("score"),
                                   comment=request.form.get("comment") or "")
    except OficialiaError as e:
        if e.http_status == 404:
            raise
        flash(e.message, "danger")
    else:
        flash("Gracias por calificar la atención recibida.", "success")
    return redirect(url_for("oficialia.track", folio=folio, code=code))

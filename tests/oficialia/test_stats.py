"""Statistics on the real database: every figure of the API and of the dashboard's exports is
compared to a count made here, independently, from the filings, responses and ratings; the
aggregate tables kept by intake and answers equal a rebuild from scratch; the public page merges
small groups; the filer rates the attention from the tracking page."""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from oficialia import stats
from oficialia.db import db, utcnow
from oficialia.demo_history import generate_history
from oficialia.models import (
    Department,
    Evaluation,
    Filing,
    Procedure,
    Response,
    ResponseSense,
    ResponseStatus,
    Role,
    StatsDay,
    StatsResponseDays,
    User,
)
from oficialia.stats import Row, merge_small
from tests.factories import pay_fee
from workflows.calendar import WorkingCalendar
from workflows.routing import ActionRequest, Target, perform_action, working_calendar
from workflows.states import Action, FilingState

pytestmark = pytest.mark.db

TZ = "America/Mexico_City"
OPEN_RUNNING = {FilingState.RECEIVED, FilingState.ROUTED, FilingState.IN_PROGRESS}


# --------------------------------------------------------------------------- helpers


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def file_via_api(client, token, **fields) -> dict[str, Any]:
    data = {"subject": "Petición", "body": "Solicito atención.", "filer_name": "Persona", "filer_kind": "fisica",
            "filer_gender": "no_indica", "procedure": "SP-ALUMB", "channel": "web"} | fields
    response = client.post("/api/v1/filings", headers=bearer(token), data=data, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json


def answer(app, folio: str, sense: ResponseSense) -> None:
    """Route, accept, issue a response (as the responses feature does) and answer, as the admin."""
    with app.app_context():
        admin = db.session.execute(select(User).where(User.role == Role.ADMIN)).scalars().first()
        filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one()
        dept = filing.department.code
        pay_fee(db.session, folio)  # a procedure with a fee is routed once paid
        route = ActionRequest(action=Action.ROUTE, targets=(Target(department=dept),))
        perform_action(db.session, filing, admin, route, tz=TZ)
        perform_action(db.session, filing, admin, ActionRequest(action=Action.ACCEPT), tz=TZ)
        db.session.add(Response(filing_id=filing.id, department_id=filing.department_id, author_id=admin.id,
                                sense=sense, status=ResponseStatus.ISSUED, draft_key="k", draft_sha256="0" * 64,
                                issued_at=utcnow()))
        perform_action(db.session, filing, admin, ActionRequest(action=Action.ANSWER), tz=TZ)


def snapshot() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    columns = [c.name for c in StatsDay.__table__.columns]
    days = sorted(tuple(getattr(r, c) for c in columns)
                  for r in db.session.execute(select(StatsDay)).scalars() if r.filings or r.answered)
    hist = sorted((r.day, r.department_id, r.procedure_id, r.dim, r.value, r.days, r.n)
                  for r in db.session.execute(select(StatsResponseDays)).scalars())
    return days, hist


def p90(values: list[int]) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


class Truth:
    """The figures counted straight from the rows, with the calendar's own day counting."""

    def __init__(self, app) -> None:
        self.zone = ZoneInfo(TZ)
        self.now = utcnow()
        with app.app_context():
            self.calendar: WorkingCalendar = working_calendar(db.session)
            self.filings = db.session.execute(select(Filing)).scalars().all()
            issued = {}
            for r in db.session.execute(select(Response).where(Response.status == ResponseStatus.ISSUED)
                                        .order_by(Response.id)).scalars():
                issued[r.filing_id] = r
            self.response = issued
            self.departments = {d.id: d.code for d in db.session.execute(select(Department)).scalars()}
            self.procedures = {p.id: p.code for p in db.session.execute(select(Procedure)).scalars()}
            self.evaluations = [(e.department_id, e.score, e.created_at, e.filing_id)
                                for e in db.session.execute(select(Evaluation)).scalars()]
            for f in self.filings:  # load what is read outside the session
                _ = (f.channel, f.filer_kind, f.filer_gender, f.status, f.due_at, f.received_at)
            db.session.expunge_all()

    def day(self, f: Filing) -> date:
        return f.received_at.astimezone(self.zone).date()

    def selected(self, start=None, end=None, department=None, procedure=None) -> list[Filing]:
        out = []
        for f in self.filings:
            d = self.day(f)
            if start and d < start or end and d > end:
                continue
            if department and self.departments.get(f.department_id) != department:
                continue
            if procedure and self.procedures.get(f.procedure_id) != procedure:
                continue
            out.append(f)
        return out

    def key(self, f: Filing, by: str) -> str | None:
        d = self.day(f)
        return {"day": lambda: d.isoformat(), "month": lambda: f"{d.year:04d}-{d.month:02d}",
                "year": lambda: str(d.year), "department": lambda: self.departments.get(f.department_id),
                "procedure": lambda: self.procedures.get(f.procedure_id), "channel": lambda: f.channel.value,
                "kind": lambda: f.filer_kind.value, "gender": lambda: f.filer_gender.value,
                "sense": lambda: self.response[f.id].sense.value if f.id in self.response else None}[by]()

    def rows(self, by: str, **filters) -> dict[str | None, dict[str, Any]]:
        groups: dict[str | None, list[Filing]] = defaultdict(list)
        for f in self.selected(**filters):
            if by == "sense" and f.id not in self.response:
                continue
            groups[self.key(f, by)].append(f)
        out = {}
        for key, members in groups.items():
            times = [self.calendar.working_days_between(f.received_at, self.response[f.id].issued_at, TZ)
                     for f in members if f.id in self.response]
            out[key] = {
                "filings": len(members), "answered": len(times),
                "answered_late": sum(1 for f in members if f.id in self.response and f.due_at is not None
                                     and self.response[f.id].issued_at > f.due_at),
                "median_response_days": float(statistics.median(times)) if times else None,
                "p90_response_days": p90(times),
                "mean_response_days": round(sum(times) / len(times), 1) if times else None,
                "overdue": 0 if by == "sense" else sum(
                    1 for f in members if f.status in OPEN_RUNNING and f.due_at is not None and f.due_at < self.now),
            }
        return out


@pytest.fixture
def readers(demo, make_user, make_token):
    return {"auditor": make_token(make_user(Role.AUDITOR, department="CONTRA")),
            "admin": make_token(make_user(Role.ADMIN)),
            "citizen": make_token(make_user(Role.CITIZEN)),
            "staff": make_token(make_user(Role.STAFF, department="OBRAS"))}


@pytest.fixture
def history(app, demo, readers, client):
    """Two years of generated history plus live filings through intake, some answered."""
    with app.app_context():
        generate_history(db.session, filings=400, years=2, tz=TZ, folio_format=app.config["FOLIO_FORMAT"],
                         office=app.config["FOLIO_OFFICE"], calendar=working_calendar(db.session),
                         today=utcnow().astimezone(ZoneInfo(TZ)).date(), seed=7)
    live = [("mujer", "fisica", "web", "SP-ALUMB"), ("mujer", "fisica", "app", "SP-ALUMB"),
            ("hombre", "fisica", "chatbot", "DU-USO"), ("no_indica", "moral", "api", "DU-USO"),
            ("otro", "fisica", "web", "OBRAS-BACHEO")]
    folios = [file_via_api(client, readers["admin"], filer_gender=g, filer_kind=k, channel=c, procedure=p)["folio"]
              for g, k, c, p in live]
    answer(app, folios[0], ResponseSense.FAVORABLE)
    answer(app, folios[2], ResponseSense.PARTIAL)
    return folios


# --------------------------------------------------------------------------- the aggregate tables


def test_intake_and_answers_keep_the_tables_equal_to_a_rebuild(app, client, demo, readers):
    """GIVEN filings received and answered through the services WHEN the tables are rebuilt from
    the filings and responses THEN nothing changes: the incremental counts were exact."""
    folios = [file_via_api(client, readers["admin"], filer_gender=g, channel=c)["folio"]
              for g, c in (("mujer", "web"), ("hombre", "web"), ("mujer", "app"), ("otro", "telefono"))]
    answer(app, folios[0], ResponseSense.FAVORABLE)
    answer(app, folios[3], ResponseSense.INFORMATIVE)
    with app.app_context():
        before = snapshot()
        assert sum(r[5] for r in before[0] if r[3] == "all") == 4
        stats.rebuild(db.session, tz=TZ, calendar=working_calendar(db.session))
        assert snapshot() == before


def test_gender_counts_of_three_filings(client, app, demo, readers):
    for gender in ("mujer", "mujer", "hombre"):
        file_via_api(client, readers["admin"], filer_gender=gender)
    rows = {r["key"]: r for r in client.get("/api/v1/stats?by=gender", headers=bearer(readers["auditor"])).json["rows"]}
    assert {k: (r["filings"], r["answered"]) for k, r in rows.items()} == {"mujer": (2, 0), "hombre": (1, 0)}


# --------------------------------------------------------------------------- API and dashboard against the truth


def _api(client, token, by, **args) -> dict[str | None, dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in ({"by": by} | args).items())
    response = client.get(f"/api/v1/stats?{query}", headers=bearer(token))
    assert response.status_code == 200, response.json
    assert response.json["by"] == by
    rows = response.json["rows"]
    assert len({r["key"] for r in rows}) == len(rows)
    return {r["key"]: {k: r[k] for k in ("filings", "answered", "answered_late", "median_response_days",
                                         "p90_response_days", "mean_response_days", "overdue")} for r in rows}


@pytest.mark.parametrize("by", stats.BY_VALUES)
def test_api_matches_counts_made_from_the_rows(app, client, history, readers, by):
    truth = Truth(app)
    assert _api(client, readers["auditor"], by) == truth.rows(by)
    year = utcnow().astimezone(ZoneInfo(TZ)).year - 1
    start, end = date(year, 3, 15), date(year, 9, 30)
    assert _api(client, readers["admin"], by, **{"from": start.isoformat(), "to": end.isoformat()}) \
        == truth.rows(by, start=start, end=end)
    assert _api(client, readers["admin"], by, department="DU") == truth.rows(by, department="DU")
    assert _api(client, readers["admin"], by, procedure="SP-ALUMB", **{"from": f"{year}-01-01"}) \
        == truth.rows(by, procedure="SP-ALUMB", start=date(year, 1, 1))


def test_api_refuses_bad_input_and_strangers(client, readers):
    assert client.get("/api/v1/stats").status_code == 401
    assert client.get("/api/v1/stats", headers=bearer(readers["citizen"])).status_code == 403
    assert client.get("/api/v1/stats", headers=bearer(readers["staff"])).status_code == 403
    for query, field in (("by=week", "by"), ("from=2024-13-01", "from"), ("from=2025-02-01&to=2025-01-01", "from"),
                         ("department=NOPE", "department"), ("procedure=NOPE", "procedure")):
        response = client.get(f"/api/v1/stats?{query}", headers=bearer(readers["auditor"]))
        assert response.status_code == 422, query
        assert response.json["error"]["field"] == field


def _export(client, slug: str, fmt: str, **args) -> Any:
    query = "&".join(f"{k}={v}" for k, v in args.items())
    response = client.get(f"/estadisticas/{slug}.{fmt}?{query}")
    assert response.status_code == 200, slug
    if fmt == "json":
        return response.json
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _num(value: str) -> Any:
    if value == "":
        return None
    return float(value) if "." in value else int(value)


def test_dashboard_exports_match_the_truth(app, client, history, make_user, login):
    login(make_user(Role.AUDITOR, department="CONTRA"))
    truth = Truth(app)
    year = utcnow().astimezone(ZoneInfo(TZ)).year - 1
    args = {"from": f"{year - 1}-01-01", "to": f"{year}-12-31"}
    start, end = date(year - 1, 1, 1), date(year, 12, 31)
    count_cols = ("filings", "answered", "answered_late", "mean_response_days", "overdue")
    for slug, by in (("por-dia", "day"), ("por-mes", "month"), ("por-anio", "year"), ("por-area", "department"),
                     ("por-tramite", "procedure"), ("por-canal", "channel"), ("por-tipo-persona", "kind"),
                     ("por-genero", "gender")):
        expected = {k: {c: v[c] for c in count_cols} for k, v in truth.rows(by, start=start, end=end).items()}
        as_json = {r["key"]: {c: r[c] for c in count_cols} for r in _export(client, slug, "json", **args)["rows"]}
        assert as_json == expected, slug
        table = _export(client, slug, "csv", **args)
        shown = [c for c in count_cols if c in table[0]]  # the pie charts' tables show fewer columns
        assert {"filings", "answered"} <= set(shown)
        as_csv = {r["key"] or None: {c: _num(r[c]) for c in shown} for r in table}
        assert as_csv == {k: {c: (float(row[c]) if c == "mean_response_days" and row[c] is not None else row[c])
                              for c in shown} for k, row in expected.items()}, slug
    times = {r["key"]: (r["answered"], r["median_response_days"], r["p90_response_days"])
             for r in _export(client, "tiempos-respuesta", "json", **args)["rows"]}
    assert times == {k: (v["answered"], v["median_response_days"], v["p90_response_days"])
                     for k, v in truth.rows("department", start=start, end=end).items() if v["answered"]}
    senses = {r["key"]: r["filings"] for r in _export(client, "sentido", "json", **args)["rows"]}
    assert senses == {k: v["filings"] for k, v in truth.rows("sense", start=start, end=end).items()}
    # which months receive most, and the year-over-year table
    per_month: Counter[int] = Counter(truth.day(f).month for f in truth.selected(start=start, end=end))
    busiest = _export(client, "meses-mas-demandados", "json", **args)["rows"]
    assert {int(r["key"]): r["filings"] for r in busiest} == {m: per_month[m] for m in range(1, 13)}
    assert [r["filings"] for r in busiest] == sorted((r["filings"] for r in busiest), reverse=True)
    yoy = _export(client, "comparativo-anual", "csv", **args)
    for r in yoy:
        month = stats.MONTH_NAMES.index(r["label"]) + 1
        for y in range(year - 2, year + 1):
            assert int(r[str(y)]) == sum(1 for f in truth.filings if (truth.day(f).year, truth.day(f).month)
                                         == (y, month)), (y, month)
    # backlog and overdue per department, now
    backlog = {r["key"]: (r["open"], r["overdue"]) for r in _export(client, "rezago", "json", **args)["rows"]}
    expected_backlog: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in truth.selected(start=start, end=end):
        if f.status in (*OPEN_RUNNING, FilingState.AWAITING_FILER):
            code = truth.departments.get(f.department_id)
            expected_backlog[code][0] += 1
            expected_backlog[code][1] += int(f.status in OPEN_RUNNING and f.due_at < truth.now)
    assert backlog == {k: tuple(v) for k, v in expected_backlog.items()}
    # satisfaction per department (ratings made in the period)
    rated = {r["key"]: (r["ratings"], r["mean_score"]) for r in _export(client, "satisfaccion", "json", **args)["rows"]}
    scores: dict[str, list[int]] = defaultdict(list)
    for dept, score, created, _ in truth.evaluations:
        if start <= created.astimezone(truth.zone).date() <= end:
            scores[truth.departments[dept]].append(score)
    assert rated == {k: (len(v), round(sum(v) / len(v), 2)) for k, v in scores.items()}


def test_dashboard_filters_by_department_and_procedure(app, client, history, make_user, login):
    login(make_user(Role.SIGNER, department="OBRAS"))
    truth = Truth(app)
    rows = _export(client, "por-mes", "json", department="SP", procedure="SP-ALUMB", **{"from": "2000-01-01"})["rows"]
    expected = truth.rows("month", department="SP", procedure="SP-ALUMB")
    assert {r["key"]: r["filings"] for r in rows} == {k: v["filings"] for k, v in expected.items()}
    page = client.get("/estadisticas?department=SP&procedure=SP-ALUMB")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for slug in ("por-dia", "comparativo-anual", "por-genero", "tiempos-respuesta", "sentido", "rezago",
                 "satisfaccion"):
        assert f'id="fig-{slug}"' in html
    assert "<script>" not in html and "data-chart=" in html


def test_dashboard_is_for_heads_signers_auditors_and_admins(app, client, demo, make_user, login):
    assert client.get("/estadisticas").status_code == 401
    staff = make_user(Role.STAFF, department="DU")
    login(staff)
    assert client.get("/estadisticas").status_code == 403
    with app.app_context():  # the head of a department reads them
        db.session.get(Department, db.session.get(User, staff.id).department_id).head_id = staff.id
        db.session.commit()
    assert client.get("/estadisticas").status_code == 200
    assert client.get("/estadisticas/nada.csv").status_code == 404
    assert client.get("/estadisticas?from=ayer").status_code == 422


# --------------------------------------------------------------------------- public page and open data


def test_merge_small_groups():
    rows = [Row(key="web", label="Web", filings=12), Row(key="ventanilla", label="Ventanilla", filings=6),
            Row(key="chatbot", label="Chatbot", filings=2), Row(key="telefono", label="Teléfono", filings=1)]
    merged = merge_small(rows)
    assert [(r.label, r.filings) for r in merged] == [("Web", 12), ("Otros", 9)]
    assert merge_small([Row(key="a", label="A", filings=3)]) == []
    assert [(r.label, r.filings) for r in merge_small([Row(key="a", label="A", filings=5),
                                                         Row(key="b", label="B", filings=7)])] == [("B", 7), ("A", 5)]


def test_public_page_shows_no_group_under_five(app, client, demo, readers):
    for channel, n in (("web", 6), ("app", 5), ("chatbot", 2), ("telefono", 1)):
        for _ in range(n):
            file_via_api(client, readers["admin"], channel=channel, filer_gender="mujer")
    page = client.get("/transparencia")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    section = html.split('id="fig-por-canal"')[1].split("</section>")[0]
    assert "Chatbot" not in section and "Centro de atención telefónica" not in section
    assert "Otros" in section
    for fig_html in html.split('class="card shadow-sm mb-4 stats-figure"')[1:]:
        tbody = fig_html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in fig_html else ""
        for row in tbody.split("<tr>")[1:]:
            cells = [c.split(">", 1)[1].split("<")[0].strip() for c in row.split("<td")[1:]]
            if cells and cells[1].isdigit() and "fig-satisfaccion" not in fig_html[:200]:
                assert int(cells[1]) >= 5, cells
    assert "@" not in section and "Persona" not in section.replace("Persona física", "").replace("Persona moral", "")


def test_open_data_csv_is_daily_cacheable_and_merges_small_groups(app, client, history):
    response = client.get("/transparencia/datos-abiertos.csv")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    etag = response.headers["ETag"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows and all(int(r["filings"]) >= 5 for r in rows)
    truth = Truth(app)
    yesterday = utcnow().astimezone(ZoneInfo(TZ)).date() - timedelta(days=1)
    assert sum(int(r["filings"]) for r in rows) == len(truth.selected(end=yesterday))
    again = client.get("/transparencia/datos-abiertos.csv", headers={"If-None-Match": etag})
    assert again.status_code == 304


# --------------------------------------------------------------------------- rating the attention


def test_filer_rates_the_attention_once(app, client, demo, readers, make_user, login):
    filed = file_via_api(client, readers["admin"], procedure="DU-USO", filer_email="ana@correo.mx")
    folio, code = filed["folio"], filed["tracking_code"]
    track = client.get(f"/seguimiento?folio={folio}&code={code}")
    assert 'id="rate-attention"' not in track.get_data(as_text=True)  # not answered yet
    early = client.post("/seguimiento/calificar", data={"folio": folio, "code": code, "score": "5"})
    assert early.status_code == 302
    answer(app, folio, ResponseSense.FAVORABLE)
    assert 'id="rate-attention"' in client.get(f"/seguimiento?folio={folio}&code={code}").get_data(as_text=True)
    assert client.post("/seguimiento/calificar", data={"folio": folio, "code": "XXXX-XXXX-XXXX",
                                                       "score": "5"}).status_code == 404
    bad = client.post("/seguimiento/calificar", data={"folio": folio, "code": code, "score": "7"},
                      follow_redirects=True)
    assert "del 1 al 5" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(Evaluation)).first() is None
    done = client.post("/seguimiento/calificar", data={"folio": folio, "code": code, "score": "4",
                                                       "comment": "Rápido y claro"}, follow_redirects=True)
    assert "Gracias por calificar" in done.get_data(as_text=True)
    assert 'id="rate-attention"' not in done.get_data(as_text=True)
    again = client.post("/seguimiento/calificar", data={"folio": folio, "code": code, "score": "1"},
                        follow_redirects=True)
    assert "ya fue calificado" in again.get_data(as_text=True)
    with app.app_context():
        evaluation = db.session.execute(select(Evaluation)).scalar_one()
        assert (evaluation.score, evaluation.comment) == (4, "Rápido y claro")
        assert db.session.get(Department, evaluation.department_id).code == "DU"
    login(make_user(Role.AUDITOR, department="CONTRA"))
    rows = _export(client, "satisfaccion", "json")["rows"]
    assert [(r["key"], r["ratings"], r["mean_score"], r["score_4"]) for r in rows] == [("DU", 1, 4.0, 1)]


def test_answered_email_invites_to_rate(app, client, demo, readers):
    from workflows.models import Notification

    filed = file_via_api(client, readers["admin"], filer_email="luis@correo.mx")
    answer(app, filed["folio"], ResponseSense.INFORMATIVE)
    with app.app_context():
        bodies = [n.body for n in db.session.execute(select(Notification)).scalars() if n.kind == "answered"]
    assert bodies and "calificar" in bodies[0]


def test_history_dates_are_in_past_years_and_keep_live_folios(app, client, demo, readers):
    with app.app_context():
        summary = generate_history(db.session, filings=50, years=1, tz=TZ, folio_format=app.config["FOLIO_FORMAT"],
                                   office=app.config["FOLIO_OFFICE"], calendar=working_calendar(db.session),
                                   today=date(2026, 6, 1), seed=1)
        assert summary.first_day == date(2025, 1, 1) and summary.last_day == date(2025, 12, 31)
        folios = db.session.execute(select(Filing.folio).order_by(Filing.id)).scalars().all()
        assert folios[0] == "OP-2025-000001" and folios[-1] == "OP-2025-000050"
    live = file_via_api(client, readers["admin"])["folio"]
    assert live.endswith("-000001") and not live.startswith("OP-2025")


def test_cli_demo_history_and_rebuild(app, runner, client, readers):
    result = runner.invoke(args=["demo", "--filings", "60", "--years", "1"])
    assert result.exit_code == 0, result.output
    assert "Historial de demostración: 60 escritos" in result.output
    before = client.get("/api/v1/stats?by=department", headers=bearer(readers["auditor"])).json["rows"]
    with app.app_context():
        # the 60 historical filings and the demo's own answered filing
        every_filing = db.session.query(Filing).count()
    assert sum(r["filings"] for r in before) == every_filing
    with app.app_context():
        db.session.execute(StatsDay.__table__.delete())
        db.session.commit()
    result = runner.invoke(args=["stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert f"{every_filing} escritos" in result.output
    assert client.get("/api/v1/stats?by=department", headers=bearer(readers["auditor"])).json["rows"] == before

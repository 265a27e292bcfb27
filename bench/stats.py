"""Statistics at volume: ``python -m bench.stats`` (``make bench``).

A scratch PostgreSQL database gets the demo municipality and 1,000,000 historical filings
(``flask --app app demo --filings`` does the same). Then every dashboard view, every export and
every ``GET /api/v1/stats?by=`` is timed through the app (Flask test client, median of runs
after a warm-up), each beside, in the same run, hand-written SQL for the same figure:

* **raw** — one query over ``filings`` ⨝ ``responses`` (working days through a calendar table of
  working-day ranks), what the figure costs without the aggregate tables;
* **agg** — the bare SQL over the aggregate tables that the app reads, without Python, Flask
  or JSON: the app's own overhead.

Targets (issue 7): every view and call under 1 s, and within 1.5x of the hand-written SQL.
Results go to ``bench/results/stats.md``.
"""

# ruff: noqa: S608 - the SQL here is the benchmark's own constant text, never input
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bench.report import write_results
from bench.scratch import scratch_database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "stats.md"
TARGET_SECONDS = 1.0
TARGET_RATIO = 1.5
ALL_TIME = "2000-01-01"

BASE = """
WITH base AS (
  SELECT f.id, (f.received_at AT TIME ZONE :tz)::date AS d, f.department_id, f.procedure_id, f.channel,
         f.filer_kind, f.filer_gender, f.status, f.due_at, r.sense, r.issued_at,
         (r.issued_at > f.due_at)::int AS late, wb.rank - wa.rank AS wd
  FROM filings f
  LEFT JOIN responses r ON r.filing_id = f.id AND r.status = 'issued'
  LEFT JOIN bench_workdays wa ON wa.day = (f.received_at AT TIME ZONE :tz)::date
  LEFT JOIN bench_workdays wb ON wb.day = (r.issued_at AT TIME ZONE :tz)::date
  WHERE {where}
)
"""
RAW_KEYS = {"day": "d", "month": "to_char(d, 'YYYY-MM')", "year": "extract(year FROM d)",
            "department": "department_id", "procedure": "procedure_id", "gender": "filer_gender",
            "channel": "channel", "kind": "filer_kind", "sense": "sense"}
OVERDUE = "count(*) FILTER (WHERE status IN ('received', 'routed', 'in_progress') AND due_at < now())"
AGG_KEYS = {"day": "day", "month": "to_char(day, 'YYYY-MM')", "year": "to_char(day, 'YYYY')",
            "department": "department_id", "procedure": "procedure_id"}


def raw_sql(by: str, where: str = "TRUE", times: bool = True) -> str:
    key = RAW_KEYS[by]
    pct = ("percentile_cont(0.5) WITHIN GROUP (ORDER BY wd), percentile_disc(0.9) WITHIN GROUP (ORDER BY wd)"
           if times else "sum(wd)")
    having = "WHERE issued_at IS NOT NULL" if by == "sense" else ""
    return (BASE.format(where=where) + f"SELECT {key} AS k, count(*), count(issued_at), sum(late), {pct}, {OVERDUE} "
            f"FROM base {having} GROUP BY 1")


def agg_sqls(by: str, where: str = "TRUE", times: bool = True) -> list[str]:
    dim = by if by in ("gender", "channel", "kind", "sense") else "all"
    key = AGG_KEYS.get(by, "value")
    out = [f"SELECT {key} AS k, sum(filings), sum(answered), sum(answered_late), sum(days_sum) FROM stats_days "
           f"WHERE dim = '{dim}' AND {where} GROUP BY 1"]
    if times:
        sums = ", ".join(f"sum(h{n})" for n in range(60))
        out[0] = out[0].replace(" FROM stats_days", f", {sums} FROM stats_days")
        out.append(f"SELECT {key} AS k, days, sum(n) FROM stats_response_days WHERE dim = '{dim}' AND {where} "
                   "GROUP BY 1, 2")
    if by != "sense":
        okey = {"day": "to_char(timezone(:tz, received_at), 'YYYY-MM-DD')",
                "month": "to_char(timezone(:tz, received_at), 'YYYY-MM')",
                "year": "to_char(timezone(:tz, received_at), 'YYYY')", "department": "department_id",
                "procedure": "procedure_id", "gender": "filer_gender", "channel": "channel", "kind": "filer_kind"}[by]
        out.append(f"SELECT {okey}, count(*) FROM filings WHERE status IN ('received', 'routed', 'in_progress') "
                   "AND due_at < now() GROUP BY 1")
    return out


def timed(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--filings", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    from flask_migrate import upgrade

    from app import create_app
    from oficialia.auth import create_token
    from oficialia.db import db, utcnow
    from oficialia.demo import seed_demo
    from oficialia.demo_history import generate_history
    from oficialia.models import User
    from oficialia.stats import WorkingDayIndex
    from oficialia.stats_views import dashboard_figures, stats_for
    from workflows.routing import working_calendar

    lines: list[tuple[str, float, float, float]] = []
    with scratch_database("oficialia_bench_stats", keep=args.keep) as url, \
            tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        app = create_app({"DATABASE_URL": url, "STORAGE_URL": str(Path(tmp) / "storage"), "SECRET_KEY": "bench",
                          "INSTANCE_PATH": str(Path(tmp) / "instance"), "RATELIMIT_ENABLED": False,
                          "WTF_CSRF_ENABLED": False, "TESTING": True})
        tz = str(app.config["TIMEZONE"])
        with app.app_context():
            upgrade()
            seed_demo(db.session)
            db.session.commit()
            today = utcnow().astimezone(ZoneInfo(tz)).date()
            t0 = time.perf_counter()
            summary = generate_history(db.session, filings=args.filings, years=args.years, tz=tz,
                                       folio_format=app.config["FOLIO_FORMAT"], office=app.config["FOLIO_OFFICE"],
                                       calendar=working_calendar(db.session), today=today, seed=2026)
            generate_seconds = time.perf_counter() - t0
            # the calendar as a table, for the hand-written SQL: rank = working days up to the day
            index = WorkingDayIndex(working_calendar(db.session), date(2000, 1, 1), today + timedelta(days=800))
            with db.engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE bench_workdays (day date PRIMARY KEY, rank int NOT NULL)"))
                day, rows = date(2000, 1, 1), []
                while day <= today + timedelta(days=800):
                    rows.append({"day": day, "rank": index.rank(day)})
                    day += timedelta(days=1)
                conn.execute(sa.text("INSERT INTO bench_workdays VALUES (:day, :rank)"), rows)
                conn.execute(sa.text("ANALYZE"))
            counts = {t: db.session.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
                      for t in ("filings", "responses", "evaluations", "stats_days", "stats_response_days")}
            db.session.remove()

        client = app.test_client()
        assert client.post("/entrar", data={"email": "contraloria@demo.gob.mx",
                                            "password": "demo-oficialia-2026"}).status_code == 302
        with app.app_context():
            auditor = db.session.execute(sa.select(User).where(User.email == "contraloria@demo.gob.mx")).scalar_one()
            token = create_token(db.session, auditor, "bench")
            db.session.commit()
            db.session.remove()
        engine = sa.create_engine(url)

        def sql_time(statements: list[str]) -> float:
            def run() -> None:
                with engine.connect() as conn:
                    for s in statements:
                        conn.execute(sa.text(s), {"tz": tz}).all()
            return timed(run, args.runs)

        def get(path: str, headers: dict[str, str] | None = None) -> Callable[[], object]:
            def run() -> None:
                response = client.get(path, headers=headers or {})
                assert response.status_code == 200, (path, response.status_code)
            return run

        # --- the API, every breakdown, over the whole history
        auth = {"Authorization": f"Bearer {token}"}
        for by in RAW_KEYS:
            app_s = timed(get(f"/api/v1/stats?by={by}&from={ALL_TIME}", auth), args.runs)
            lines.append((f"`GET /api/v1/stats?by={by}` (all {args.years} years)", app_s,
                          sql_time([raw_sql(by)]), sql_time(agg_sqls(by))))
        year = today.year - 1
        period_raw = f"f.received_at >= '{year}-01-01' AND f.received_at < '{year + 1}-01-01'"
        period_agg = f"day BETWEEN '{year}-01-01' AND '{year}-12-31'"
        lines.append((f"`GET /api/v1/stats?by=department&from={year}-01-01&to={year}-12-31`",
                      timed(get(f"/api/v1/stats?by=department&from={year}-01-01&to={year}-12-31", auth), args.runs),
                      sql_time([raw_sql("department", period_raw)]), sql_time(agg_sqls("department", period_agg))))
        lines.append(("`GET /api/v1/stats?by=month&department=DU` (all years)",
                      timed(get(f"/api/v1/stats?by=month&department=DU&from={ALL_TIME}", auth), args.runs),
                      sql_time([raw_sql("month", "f.department_id = (SELECT id FROM departments WHERE code='DU')")]),
                      sql_time(agg_sqls("month", "department_id = (SELECT id FROM departments WHERE code='DU')"))))

        # --- the dashboard: the whole page, then every export
        page_raw = [BASE.format(where="TRUE") + "SELECT d, department_id, procedure_id, channel, filer_kind, "
                    "filer_gender, sense, to_char(d, 'YYYY-MM'), count(*), count(issued_at), sum(late), sum(wd), "
                    f"{OVERDUE} FROM base GROUP BY GROUPING SETS ((d), (to_char(d, 'YYYY-MM')), "
                    "(extract(year FROM d)), (department_id), (procedure_id), (channel), (filer_kind), "
                    "(filer_gender), (sense))",
                    raw_sql("department"),
                    "SELECT department_id, count(*), count(*) FILTER (WHERE due_at < now()) FROM filings "
                    "WHERE status IN ('received', 'routed', 'in_progress', 'awaiting_filer') GROUP BY 1",
                    "SELECT department_id, score, count(*) FROM evaluations GROUP BY 1, 2"]
        page_agg = [s for by in ("day", "month", "year", "procedure", "channel", "kind", "gender", "sense")
                    for s in agg_sqls(by, times=False)[:1]] + agg_sqls("department") + agg_sqls("month")[:1] + [
            "SELECT department_id, score, count(*) FROM evaluations GROUP BY 1, 2"]
        for label, query in (("default period (3 years)", ""), ("all years", f"?from={ALL_TIME}"),
                             ("all years, department DU", f"?from={ALL_TIME}&department=DU"),
                             ("all years, procedure SP-ALUMB", f"?from={ALL_TIME}&procedure=SP-ALUMB")):
            whole = "department" not in query and "procedure" not in query
            lines.append((f"dashboard page `/estadisticas{query}` — {label}",
                          timed(get(f"/estadisticas{query}"), args.runs),
                          sql_time(page_raw) if whole else float("nan"),
                          sql_time(page_agg) if whole else float("nan")))
        with app.test_request_context(f"/estadisticas?from={ALL_TIME}"):
            slugs = [f.slug for f in dashboard_figures(stats_for({"from": ALL_TIME}))]
        slug_by = {"por-dia": "day", "por-mes": "month", "por-anio": "year", "por-area": "department",
                   "por-tramite": "procedure", "por-canal": "channel", "por-tipo-persona": "kind",
                   "por-genero": "gender",
                   "tiempos-respuesta": "department", "sentido": "sense", "comparativo-anual": "month",
                   "meses-mas-demandados": "month"}
        for slug in slugs:
            by = slug_by.get(slug)
            if by:
                raw, agg = [raw_sql(by, times=slug == "tiempos-respuesta")], agg_sqls(
                    by, times=slug == "tiempos-respuesta")
            elif slug == "rezago":
                raw = agg = [page_raw[2]]
            else:
                raw = agg = [page_raw[3]]
            lines.append((f"export `/estadisticas/{slug}.json` (all years)",
                          timed(get(f"/estadisticas/{slug}.json?from={ALL_TIME}"), args.runs), sql_time(raw),
                          sql_time(agg)))

        lines.append(("public page `/transparencia` (3 years)", timed(get("/transparencia"), args.runs),
                      sql_time(page_raw), sql_time(page_agg)))

        def open_data() -> None:
            app.extensions.pop("stats_open_data", None)  # time the daily generation, not the cache
            get("/transparencia/datos-abiertos.csv")()
        lines.append(("open data `/transparencia/datos-abiertos.csv` (generated; then cached for the day)",
                      timed(open_data, args.runs),
                      sql_time([raw_sql("month").replace("GROUP BY 1", "GROUP BY 1, department_id")
                                .replace("AS k,", "AS k, department_id,")]), float("nan")))
        engine.dispose()
        with app.app_context():
            db.engine.dispose()

    met_time = all(a < TARGET_SECONDS for _, a, _, _ in lines)
    met_ratio = all(a <= TARGET_RATIO * r for _, a, r, _ in lines if r == r)
    out = [
        "# Statistics at volume", "",
        "Written by `python -m bench.stats` (`make bench`); rerun it rather than editing this file.", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (shared), Python "
        f"{sys.version.split()[0]}, PostgreSQL. History: {counts['filings']:,} filings over {args.years} years "
        f"({counts['responses']:,} responses, {counts['evaluations']:,} ratings) generated by "
        f"`generate_history` in {generate_seconds:.0f} s ({counts['filings'] / generate_seconds:,.0f} filings/s); "
        f"aggregate tables: {counts['stats_days']:,} + {counts['stats_response_days']:,} rows. "
        f"{summary.open:,} filings left open past their deadline.", "",
        f"Times are medians of {args.runs} runs after a warm-up. **app**: the request through Flask (test client), "
        "JSON or HTML included. **raw SQL**: a hand-written aggregate of the same figure over `filings` ⨝ "
        "`responses`. **agg SQL**: the bare queries over the aggregate tables that the app issues.", "",
        "| view or call | app | raw SQL | app / raw | agg SQL | app / agg |", "|---|---|---|---|---|---|"]
    def ms(x: float) -> str:
        return "—" if x != x else f"{x * 1000:,.0f} ms"

    def ratio(a: float, x: float) -> str:
        return "—" if x != x else f"{a / x:.2f}x"

    for label, a, r, g in lines:
        out.append(f"| {label} | {ms(a)} | {ms(r)} | {ratio(a, r)} | {ms(g)} | {ratio(a, g)} |")
    out += ["", f"Every view and call under {TARGET_SECONDS:.0f} s: {'met' if met_time else 'MISSED'} "
            f"(slowest {max(a for _, a, _, _ in lines) * 1000:,.0f} ms). "
            f"Within {TARGET_RATIO}x of the hand-written raw SQL: {'met' if met_ratio else 'MISSED'}.", ""]
    write_results(RESULTS, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A believable history of filings for the statistics (``flask --app app demo --filings N``).

Filings of past years — seasonality (January's property-tax rush, quiet Augusts and Decembers,
few filings on weekends), the demo procedures and their departments, every channel, filer kinds
and genders, response times around each procedure's legal term (some late), the four senses of
the responses, a few filings still open past their deadline, and the filers' ratings. Folios
follow the configured format in those past years, so the live numbering of the current year
stays gapless. Rows go in with COPY on PostgreSQL and Core ``executemany`` on SQLite, so a
million filings take minutes, not hours; the statistics tables are filled in the same transaction.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text

from workflows.calendar import WorkingCalendar
from workflows.states import FilingState

from .db import DbSession
from .folio import format_folio
from .models import (
    Channel,
    Evaluation,
    FilerKind,
    Filing,
    FolioCounter,
    Gender,
    Procedure,
    Response,
    ResponseSense,
    ResponseStatus,
    Role,
    StatsDay,
    StatsResponseDays,
    User,
)
from .stats import COUNT_COLUMNS, FilingFacts, WorkingDayIndex, _upsert, aggregate_rows

#: relative weight of each month (1 = January): the property-tax rush, quiet summer and December
MONTH_WEIGHTS = (1.45, 1.2, 1.15, 1.0, 1.05, 0.95, 0.9, 0.7, 1.0, 1.05, 1.0, 0.6)
WEEKDAY_WEIGHTS = (1.0, 1.05, 1.0, 0.95, 0.9, 0.12, 0.08)
CHANNELS = ((Channel.WEB, 45), (Channel.WINDOW, 30), (Channel.APP, 8), (Channel.CHATBOT, 4),
            (Channel.PHONE, 4), (Channel.EMAIL, 4), (Channel.API, 3), (Channel.AGENCY, 2))
GENDERS = ((Gender.WOMAN, 51), (Gender.MAN, 41), (Gender.OTHER, 1), (Gender.UNSTATED, 7))
SENSES = ((ResponseSense.FAVORABLE, 46), (ResponseSense.UNFAVORABLE, 14), (ResponseSense.PARTIAL, 15),
          (ResponseSense.INFORMATIVE, 25))
FIRST_NAMES = ("María", "José", "Guadalupe", "Juan", "Ana", "Luis", "Rosa", "Carlos", "Leticia", "Miguel",
               "Patricia", "Jorge", "Sofía", "Alejandro", "Verónica", "Fernando")
LAST_NAMES = ("Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
              "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez")
COMPANIES = ("Constructora del Valle, S.A. de C.V.", "Comercializadora Norte, S.A.", "Asociación de Colonos A.C.",
             "Servicios Integrales del Centro, S.C.")
FILING_COLUMNS = ("id", "folio", "office", "year", "number", "subject", "body", "procedure_id", "department_id",
                  "filer_name", "filer_kind", "filer_gender", "channel", "status", "received_at",
                  "tracking_code_hash", "due_at")
RESPONSE_COLUMNS = ("id", "filing_id", "department_id", "author_id", "sense", "status", "draft_key",
                    "draft_sha256", "signed_sha256", "created_at", "issued_at")
EVALUATION_COLUMNS = ("filing_id", "response_id", "department_id", "score", "comment", "created_at")
CHUNK = 50_000


@dataclass(frozen=True)
class HistorySummary:
    filings: int
    answered: int
    open: int
    evaluations: int
    first_day: date
    last_day: date


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]], k: int) -> list[Any]:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs], k=k)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def generate_history(session: DbSession, *, filings: int, years: int, tz: str, folio_format: str, office: str,
                     calendar: WorkingCalendar, today: date, seed: int | None = None) -> HistorySummary:
    """Insert ``filings`` filings received over the ``years`` years before ``today``'s year, with
    their responses, ratings and statistics; commits.

    :raises ValueError: ``filings`` or ``years`` below 1, or no procedures in the catalogue.
    """
    if filings < 1 or years < 1:
        raise ValueError("filings and years must be positive")
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    zone = ZoneInfo(tz)
    procedures = session.execute(
        select(Procedure).where(Procedure.active.is_(True)).order_by(Procedure.id)).scalars().all()
    if not procedures:
        raise ValueError("the catalogue has no procedures: run `flask --app app demo` first")
    author = session.execute(select(User.id).where(User.role.in_((Role.ADMIN, Role.SIGNER))).order_by(User.id)
                             ).scalars().first()
    if author is None:
        raise ValueError("no admin or signer to author the responses: run `flask --app app demo` first")
    first, last = date(today.year - years, 1, 1), date(today.year - 1, 12, 31)
    index = WorkingDayIndex(calendar, first - timedelta(days=1), last + timedelta(days=800))
    days = _days(first, last)
    day_weights = [MONTH_WEIGHTS[d.month - 1] * WEEKDAY_WEIGHTS[d.weekday()] *
                   (0.5 if not calendar.is_working_day(d) and d.weekday() < 5 else 1.0) *
                   (1 + 0.04 * (d.year - first.year)) for d in days]
    received_days = sorted(rng.choices(days, weights=day_weights, k=filings))
    proc_weights = [rng.uniform(0.3, 3.0) for _ in procedures]

    filing_id = int(session.execute(select(func.coalesce(func.max(Filing.id), 0))).scalar_one())
    response_id = int(session.execute(select(func.coalesce(func.max(Response.id), 0))).scalar_one())
    numbers: dict[int, int] = {}
    for year in range(first.year, last.year + 1):
        counter = session.get(FolioCounter, (office, year))
        numbers[year] = counter.value if counter else 0
    stats_items: list[tuple[FilingFacts, date, tuple[int, int, str | None] | None]] = []
    answered = still_open = rated = 0
    pg = session.get_bind().dialect.name == "postgresql"

    for start in range(0, filings, CHUNK):
        chunk_days = received_days[start:start + CHUNK]
        n = len(chunk_days)
        procs = rng.choices(procedures, weights=proc_weights, k=n)
        channels = _weighted(rng, CHANNELS, n)
        genders = _weighted(rng, GENDERS, n)
        senses = _weighted(rng, SENSES, n)
        f_rows: list[tuple[Any, ...]] = []
        r_rows: list[tuple[Any, ...]] = []
        e_rows: list[tuple[Any, ...]] = []
        for i, day in enumerate(chunk_days):
            proc = procs[i]
            filing_id += 1
            numbers[day.year] += 1
            number = numbers[day.year]
            received_at = datetime.combine(day, time(rng.randint(8, 19), rng.randint(0, 59), rng.randint(0, 59)),
                                           zone).astimezone(UTC)
            legal = proc.response_days
            due_at = datetime.combine(index.add(day, legal), time(23, 59, 59), zone).astimezone(UTC)
            kind = FilerKind.LEGAL if rng.random() < 0.12 else FilerKind.NATURAL
            gender = Gender.UNSTATED if kind is FilerKind.LEGAL else genders[i]
            name = (rng.choice(COMPANIES) if kind is FilerKind.LEGAL
                    else f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(LAST_NAMES)}")
            department_id = proc.department_id
            roll = rng.random()
            status = FilingState.CONCLUDED
            answer: tuple[int, int, str | None] | None = None
            if roll < 0.025:
                status = FilingState.IN_PROGRESS  # still open, long past its deadline
                still_open += 1
            elif roll < 0.035:
                status = FilingState.REJECTED
            else:
                late_factor = rng.random()
                wd = max(0, int(rng.gauss(legal * 0.6, legal * 0.3 + 1)))
                if late_factor < 0.12:
                    wd = legal + rng.randint(1, max(2, legal))
                issued_day = index.add(day, wd) if wd > 0 else day
                issued_at = datetime.combine(issued_day, time(rng.randint(9, 18), rng.randint(0, 59)),
                                             zone).astimezone(UTC)
                if issued_at <= received_at:
                    issued_at = received_at + timedelta(hours=2)
                    issued_day = issued_at.astimezone(zone).date()
                status = FilingState.ANSWERED if rng.random() < 0.6 else FilingState.CONCLUDED
                sense = senses[i]
                response_id += 1
                r_rows.append((response_id, filing_id, department_id, author, sense.value,
                               ResponseStatus.ISSUED.value, "demo/historico.pdf", "0" * 64, "0" * 64,
                               issued_at, issued_at))
                late = int(issued_at > due_at)
                answer = (index.between(day, issued_day), late, sense.value)
                answered += 1
                if rng.random() < 0.2:
                    base = {"favorable": 4.4, "parcial": 3.4, "informativa": 3.6, "desfavorable": 2.3}[sense.value]
                    score = min(5, max(1, round(rng.gauss(base - 0.8 * late, 0.9))))
                    e_rows.append((filing_id, response_id, department_id, score, "",
                                   issued_at + timedelta(days=rng.randint(0, 10))))
                    rated += 1
            folio = format_folio(folio_format, office=office, year=day.year, seq=number)
            f_rows.append((filing_id, folio, office, day.year, number, proc.name[:300],
                           f"Solicitud de {proc.name.lower()} (registro histórico de demostración).",
                           proc.id, department_id, name, kind.value, gender.value, channels[i].value, status.value,
                           received_at, secrets.token_hex(32), due_at))
            stats_items.append((FilingFacts(department_id, proc.id, channels[i], kind, gender), day, answer))
        _load(session, pg, "filings", FILING_COLUMNS, f_rows)
        _load(session, pg, "responses", RESPONSE_COLUMNS, r_rows)
        _load(session, pg, "evaluations", EVALUATION_COLUMNS, e_rows)

    for year, value in numbers.items():
        counter = session.get(FolioCounter, (office, year))
        if counter is None:
            session.add(FolioCounter(office=office, year=year, value=value))
        else:
            counter.value = value
    day_rows, hist_rows = aggregate_rows(stats_items)
    _merge_stats(session, pg, StatsDay, day_rows, COUNT_COLUMNS)
    _merge_stats(session, pg, StatsResponseDays, hist_rows, ["n"])
    if pg:
        for table in ("filings", "responses", "evaluations"):
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                                 f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
    session.commit()
    return HistorySummary(filings=filings, answered=answered, open=still_open, evaluations=rated,
                          first_day=first, last_day=last)


def _merge_stats(session: DbSession, pg: bool, model: Any, rows: list[dict[str, Any]], counters: list[str]) -> None:
    """Add ``rows`` to an aggregate table (which may already count live filings)."""
    if not rows:
        return
    if not pg:
        for start in range(0, len(rows), CHUNK):
            _upsert(session, model, rows[start:start + CHUNK], counters)
        return
    # COPY into a scratch table, then one INSERT … ON CONFLICT adds them up
    table = model.__table__.name
    columns = list(rows[0])
    keys = [c.name for c in model.__table__.primary_key.columns]
    session.execute(text(f"CREATE TEMP TABLE merge_{table} (LIKE {table}) ON COMMIT DROP"))
    _load(session, pg, f"merge_{table}", columns, [tuple(r[c] for c in columns) for r in rows])
    cols = ", ".join(columns)
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    session.execute(text(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM merge_{table} "  # noqa: S608
                         f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"))


def _load(session: DbSession, pg: bool, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if pg:
        raw: Any = session.connection().connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    model: Any = {"filings": Filing, "responses": Response, "evaluations": Evaluation}[table]
    session.execute(insert(model), [dict(zip(columns, row, strict=True)) for row in rows])

"""Statistics: how many filings arrive, where, about what, from whom, how fast they are answered
and in which sense, which departments are late, and how filers rate the attention.

Figures never scan the filings table. Two aggregate tables are kept in step with the work, in
the same transaction as the event they count:

* :class:`~oficialia.models.StatsDay` — per local day of receipt × department × procedure, the
  filings, the answered ones, those answered late and the sum of response times; split by
  channel, filer kind, gender (and, once answered, by the sense of the response);
* :class:`~oficialia.models.StatsResponseDays` — the histogram of response times in working days
  with the same key, from which medians and 90th percentiles are read exactly.

:func:`record_received` is called by intake, :func:`record_answer` by routing when a filing
becomes ``answered``. :func:`rebuild` recomputes both tables from the filings and responses
(``flask --app app stats rebuild``; bulk imports call it). What changes with the clock alone —
the open filings past their deadline — is read from the filings' status index: the backlog is
small next to the history.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, TextClause, bindparam, case, delete, func, insert, select, text

from workflows.calendar import WorkingCalendar
from workflows.states import FilingState

from .db import DbSession, defer
from .errors import InvalidInput
from .models import (
    CHANNEL_LABELS,
    SENSE_LABELS,
    STATS_HISTOGRAM_DAYS,
    Channel,
    Department,
    Evaluation,
    FilerKind,
    Filing,
    Gender,
    Procedure,
    Response,
    ResponseSense,
    ResponseStatus,
    StatsDay,
    StatsResponseDays,
)

#: the breakdowns of ``GET /api/v1/stats?by=``
BY_VALUES = ("day", "month", "year", "department", "procedure", "gender", "sense", "channel", "kind")
TIME_BY = ("day", "month", "year")
#: breakdowns stored as ``dim``/``value`` rows, and the filing attribute each one reads
DIM_ATTRS = {"channel": "channel", "kind": "filer_kind", "gender": "filer_gender"}
ALL = "all"
#: states in which a filing still waits for the administration (its clock runs)
RUNNING_STATES = (FilingState.RECEIVED, FilingState.ROUTED, FilingState.IN_PROGRESS)
#: states of the backlog (the clock may be stopped while the filer is asked for information)
OPEN_STATES = (*RUNNING_STATES, FilingState.AWAITING_FILER)
#: the smallest group shown on its own on the public page; smaller ones are merged
MIN_PUBLIC_GROUP = 5
OTHERS = "Otros"
NONE_LABEL = "Sin especificar"

KIND_LABELS = {FilerKind.NATURAL.value: "Persona física", FilerKind.LEGAL.value: "Persona moral"}
GENDER_LABELS = {Gender.WOMAN.value: "Mujeres", Gender.MAN.value: "Hombres", Gender.OTHER.value: "Otro",
                 Gender.UNSTATED.value: "No indica"}
MONTH_NAMES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
               "octubre", "noviembre", "diciembre")
BY_LABELS = {"day": "Día", "month": "Mes", "year": "Año", "department": "Área", "procedure": "Trámite",
             "gender": "Género", "sense": "Sentido de la respuesta", "channel": "Canal", "kind": "Tipo de persona"}


# --------------------------------------------------------------------------- keeping the tables


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def _upsert(session: DbSession, model: Any, rows: Sequence[Mapping[str, Any]], counters: Sequence[str]) -> None:
    """Add ``rows``' counters to the existing rows with the same key, or insert them.

    Every row has the same columns; the ones they leave out take the server's default (0).
    """
    if not rows:
        return
    columns = tuple(rows[0])
    defer(session, _upsert_statement(model.__table__, columns, tuple(counters), len(rows)),
                    {f"{c}_{n}": row[c] for n, row in enumerate(rows) for c in columns})


@functools.lru_cache(maxsize=128)
def _upsert_statement(table: Table, columns: tuple[str, ...], counters: tuple[str, ...], count: int) -> TextClause:
    """``INSERT … VALUES (…), (…) ON CONFLICT (key) DO UPDATE`` for ``count`` rows naming only
    ``columns`` (parameters ``<column>_<row>``; the same text on PostgreSQL and SQLite), built
    once: it runs in every intake, where an ORM insert would fill all the histogram columns and
    compile anew, and one statement per row would cost a round trip each. The rows' keys must
    differ (one statement may not update a row twice); the dimensions of a filing do."""
    keys = ", ".join(c.name for c in table.primary_key.columns)
    updates = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in counters)
    values = ", ".join("(" + ", ".join(f":{c}_{n}" for c in columns) + ")" for n in range(count))
    return text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({keys}) DO UPDATE SET {updates}",
    ).bindparams(*(bindparam(f"{c}_{n}", type_=table.c[c].type) for n in range(count) for c in columns))


def _key(day: date, department_id: int | None, procedure_id: int | None, dim: str, value: str) -> dict[str, Any]:
    return {"day": day, "department_id": department_id or 0, "procedure_id": procedure_id or 0,
            "dim": dim, "value": value}


def _dims(filing: Filing) -> list[tuple[str, str]]:
    return [(ALL, "")] + [(dim, str(getattr(filing, attr).value)) for dim, attr in DIM_ATTRS.items()]


def record_received(session: DbSession, filing: Filing, *, tz: str) -> None:
    """Count a new filing; called inside the intake transaction (flushes only)."""
    day = local_day(filing.received_at, tz)
    _upsert(session, StatsDay, [
        {**_key(day, filing.department_id, filing.procedure_id, dim, value),
         "filings": 1, "answered": 0, "answered_late": 0, "days_sum": 0}
        for dim, value in _dims(filing)], ["filings"])


def record_answer(session: DbSession, filing: Filing, *, at: datetime, tz: str, calendar: WorkingCalendar) -> None:
    """Count the answer of ``filing`` (issued at ``at``); called inside the transaction that moves
    the filing to ``answered`` (flushes only). The sense is the issued response's."""
    response = session.execute(
        select(Response).where(Response.filing_id == filing.id, Response.status == ResponseStatus.ISSUED)
        .order_by(Response.issued_at.desc(), Response.id.desc()).limit(1)).scalar_one_or_none()
    days = max(0, calendar.working_days_between(filing.received_at, at, tz))
    late = int(filing.due_at is not None and at > filing.due_at)
    _add_answer(session, filing, day=local_day(filing.received_at, tz), days=days, late=late,
                sense=response.sense.value if response is not None else None)


def _add_answer(session: DbSession, filing: Filing, *, day: date, days: int, late: int, sense: str | None) -> None:
    dims = _dims(filing)
    if sense is not None:
        dims.append(("sense", sense))
    bucket = [f"h{days}"] if days < STATS_HISTOGRAM_DAYS else []
    counts = [{**_key(day, filing.department_id, filing.procedure_id, dim, value),
               "filings": int(dim == "sense"), "answered": 1, "answered_late": late, "days_sum": days,
               **dict.fromkeys(bucket, 1)} for dim, value in dims]
    _upsert(session, StatsDay, counts, ["filings", "answered", "answered_late", "days_sum", *bucket])
    if not bucket:
        _upsert(session, StatsResponseDays, [
            {**_key(day, filing.department_id, filing.procedure_id, dim, value), "days": days, "n": 1}
            for dim, value in dims], ["n"])


class WorkingDayIndex:
    """Working days between local dates in O(log n), for bulk work (rebuild, demo history)."""

    def __init__(self, calendar: WorkingCalendar, first: date, last: date) -> None:
        self.first = first
        self.workdays: list[date] = []
        day = first
        while day <= last:
            if calendar.is_working_day(day):
                self.workdays.append(day)
            day += timedelta(days=1)

    def rank(self, day: date) -> int:
        """How many working days fall on or before ``day`` (from ``first``)."""
        return bisect.bisect_right(self.workdays, day)

    def between(self, a: date, b: date) -> int:
        """Working days after ``a`` up to and including ``b`` (as ``working_days_between``)."""
        return self.rank(b) - self.rank(a)

    def add(self, a: date, days: int) -> date:
        """The ``days``-th working day after ``a`` (as ``add_working_days``, by date)."""
        return self.workdays[self.rank(a) + days - 1]


@dataclass(frozen=True)
class FilingFacts:
    """What the aggregate tables need of one filing, for bulk loads."""

    department_id: int | None
    procedure_id: int | None
    channel: Channel
    filer_kind: FilerKind
    filer_gender: Gender


HIST_COLUMNS = [f"h{n}" for n in range(STATS_HISTOGRAM_DAYS)]
COUNT_COLUMNS = ["filings", "answered", "answered_late", "days_sum", *HIST_COLUMNS]


def aggregate_rows(items: Iterable[tuple[FilingFacts, date, tuple[int, int, str | None] | None]],
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of both aggregate tables for ``(facts, local day, (days, late, sense) | None)``."""
    width = 4 + STATS_HISTOGRAM_DAYS
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * width)
    overflow: Counter[tuple[Any, ...]] = Counter()
    for facts, day, answer in items:
        dims = [(ALL, "")] + [(dim, str(getattr(facts, attr).value)) for dim, attr in DIM_ATTRS.items()]
        base = (day, facts.department_id or 0, facts.procedure_id or 0)
        for dim, value in dims:
            counts[(*base, dim, value)][0] += 1
        if answer is None:
            continue
        days, late, sense = answer
        if sense is not None:
            dims.append(("sense", sense))
            counts[(*base, "sense", sense)][0] += 1
        for dim, value in dims:
            c = counts[(*base, dim, value)]
            c[1] += 1
            c[2] += late
            c[3] += days
            if days < STATS_HISTOGRAM_DAYS:
                c[4 + days] += 1
            else:
                overflow[(*base, dim, value, days)] += 1
    names = ("day", "department_id", "procedure_id", "dim", "value")
    day_rows = [dict(zip(names, k, strict=True)) | dict(zip(COUNT_COLUMNS, v, strict=True))
                for k, v in counts.items()]
    hist_rows = [dict(zip((*names, "days"), k, strict=True), n=n) for k, n in overflow.items()]
    return day_rows, hist_rows


def rebuild(session: DbSession, *, tz: str, calendar: WorkingCalendar, batch: int = 20_000) -> int:
    """Recompute both aggregate tables from the filings and their issued responses; commits.

    :returns: how many filings were counted.
    """
    session.execute(delete(StatsResponseDays))
    session.execute(delete(StatsDay))
    bounds = session.execute(select(func.min(Filing.received_at), func.max(Filing.received_at))).one()
    if bounds[0] is None:
        session.commit()
        return 0
    issued = (select(Response.filing_id, func.max(Response.id).label("rid"))
              .where(Response.status == ResponseStatus.ISSUED).group_by(Response.filing_id).subquery())
    stmt = (select(Filing.department_id, Filing.procedure_id, Filing.channel, Filing.filer_kind, Filing.filer_gender,
                   Filing.received_at, Filing.due_at, Response.issued_at, Response.sense)
            .outerjoin(issued, issued.c.filing_id == Filing.id)
            .outerjoin(Response, Response.id == issued.c.rid)
            .execution_options(yield_per=batch))
    index = WorkingDayIndex(calendar, local_day(bounds[0], tz) - timedelta(days=1),
                            datetime.now(UTC).date() + timedelta(days=3660))
    zone = ZoneInfo(tz)
    items = []
    for dept, proc, channel, kind, gender, received_at, due_at, issued_at, sense in session.execute(stmt):
        day = received_at.astimezone(zone).date()
        answer = None
        if issued_at is not None:
            days = max(0, index.between(day, issued_at.astimezone(zone).date()))
            answer = (days, int(due_at is not None and issued_at > due_at), sense.value if sense else None)
        items.append((FilingFacts(dept, proc, channel, kind, gender), day, answer))
    day_rows, hist_rows = aggregate_rows(items)
    for model, rows in ((StatsDay, day_rows), (StatsResponseDays, hist_rows)):
        for start in range(0, len(rows), batch):
            session.execute(insert(model), rows[start:start + batch])
    session.commit()
    return len(items)


# --------------------------------------------------------------------------- reading figures


@dataclass(frozen=True)
class Filters:
    """Period (local dates of receipt, both included), department and procedure."""

    start: date | None = None
    end: date | None = None
    department_id: int | None = None
    procedure_id: int | None = None
    department_code: str | None = None
    procedure_code: str | None = None

    def query_args(self) -> dict[str, str]:
        args = {}
        if self.start:
            args["from"] = self.start.isoformat()
        if self.end:
            args["to"] = self.end.isoformat()
        if self.department_code:
            args["department"] = self.department_code
        if self.procedure_code:
            args["procedure"] = self.procedure_code
        return args


def _parse_date(raw: str | None, what: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"La fecha «{what}» debe tener el formato AAAA-MM-DD.", field=what) from None


def parse_filters(session: DbSession, args: Mapping[str, str], *, default_start: date | None = None,
                  default_end: date | None = None) -> Filters:
    """Filters from query arguments ``from``, ``to``, ``department`` (code), ``procedure`` (code).

    :raises InvalidInput: a malformed date, an inverted period, an unknown code.
    """
    start = _parse_date(args.get("from"), "from")
    end = _parse_date(args.get("to"), "to")
    if "from" not in args:
        start = default_start
    if "to" not in args:
        end = default_end
    if start and end and start > end:
        raise InvalidInput("La fecha inicial del periodo es posterior a la final.", field="from")
    dept_id = proc_id = None
    dept_code = (args.get("department") or "").strip().upper() or None
    proc_code = (args.get("procedure") or "").strip().upper() or None
    if dept_code:
        dept_id = session.execute(select(Department.id).where(Department.code == dept_code)).scalar_one_or_none()
        if dept_id is None:
            raise InvalidInput(f"No existe el área «{dept_code}».", field="department")
    if proc_code:
        proc_id = session.execute(select(Procedure.id).where(Procedure.code == proc_code)).scalar_one_or_none()
        if proc_id is None:
            raise InvalidInput(f"No existe el trámite «{proc_code}».", field="procedure")
    return Filters(start=start, end=end, department_id=dept_id, procedure_id=proc_id,
                   department_code=dept_code, procedure_code=proc_code)


def median(hist: Mapping[int, int]) -> float | None:
    """The median of the values counted in ``hist`` (mean of the two middle ones when even)."""
    n = sum(hist.values())
    if n == 0:
        return None
    ordered = sorted(hist.items())

    def nth(k: int) -> int:  # the k-th smallest value, 0-based
        seen = 0
        for value, count in ordered:
            seen += count
            if k < seen:
                return value
        raise AssertionError("unreachable")

    if n % 2:
        return float(nth(n // 2))
    return (nth(n // 2 - 1) + nth(n // 2)) / 2


def percentile(hist: Mapping[int, int], p: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of the values at or below it."""
    n = sum(hist.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(p / 100 * n))
    seen = 0
    for value, count in sorted(hist.items()):
        seen += count
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


@dataclass
class Row:
    key: str | None
    label: str
    filings: int = 0
    answered: int = 0
    answered_late: int = 0
    days_sum: int = 0
    overdue: int = 0
    hist: Counter[int] = field(default_factory=Counter)

    @property
    def median_days(self) -> float | None:
        return median(self.hist)

    @property
    def p90_days(self) -> int | None:
        return percentile(self.hist, 90)

    @property
    def mean_days(self) -> float | None:
        return round(self.days_sum / self.answered, 1) if self.answered else None

    def add(self, other: Row) -> None:
        self.filings += other.filings
        self.answered += other.answered
        self.answered_late += other.answered_late
        self.days_sum += other.days_sum
        self.overdue += other.overdue
        self.hist.update(other.hist)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "filings": self.filings, "answered": self.answered,
                "median_response_days": self.median_days, "p90_response_days": self.p90_days,
                "mean_response_days": self.mean_days, "answered_late": self.answered_late,
                "overdue": self.overdue}


def _period_expr(col: Any, by: str, dialect: str) -> Any:
    if by == "day":
        return col
    if dialect == "postgresql":
        return func.to_char(col, "YYYY-MM" if by == "month" else "YYYY")
    return func.strftime("%Y-%m" if by == "month" else "%Y", col)


def _day_key(day: date, by: str) -> str:
    if by == "day":
        return day.isoformat()
    return f"{day.year:04d}-{day.month:02d}" if by == "month" else f"{day.year:04d}"


class Stats:
    """The figures for one set of filters, at one moment (``now``, for what is overdue)."""

    def __init__(self, session: DbSession, filters: Filters, *, tz: str, now: datetime) -> None:
        self.session, self.filters, self.tz, self.now = session, filters, tz, now
        self.dialect = session.get_bind().dialect.name
        self._names: dict[str, dict[int, tuple[str, str]]] = {}
        self._overdue: list[tuple[Any, ...]] | None = None
        self._memo: dict[tuple[str, bool, bool], list[Row]] = {}

    # ---- helpers

    def _where(self, model: Any, dim: str) -> list[ColumnElement[bool]]:
        f = self.filters
        conds: list[ColumnElement[bool]] = [model.dim == dim]
        if f.start:
            conds.append(model.day >= f.start)
        if f.end:
            conds.append(model.day <= f.end)
        if f.department_id is not None:
            conds.append(model.department_id == f.department_id)
        if f.procedure_id is not None:
            conds.append(model.procedure_id == f.procedure_id)
        return conds

    def names(self, what: str) -> dict[int, tuple[str, str]]:
        """``{id: (code, name)}`` of departments or procedures."""
        if what not in self._names:
            model: Any = Department if what == "department" else Procedure
            self._names[what] = {i: (c, n) for i, c, n in self.session.execute(
                select(model.id, model.code, model.name))}
        return self._names[what]

    def _group(self, by: str) -> tuple[str, Any, Any]:
        """The dim rows to read and the grouping expression on each table."""
        if by in TIME_BY:
            return ALL, _period_expr(StatsDay.day, by, self.dialect), _period_expr(StatsResponseDays.day, by,
                                                                                  self.dialect)
        if by == "department":
            return ALL, StatsDay.department_id, StatsResponseDays.department_id
        if by == "procedure":
            return ALL, StatsDay.procedure_id, StatsResponseDays.procedure_id
        return by, StatsDay.value, StatsResponseDays.value

    def _label(self, by: str, raw: Any) -> tuple[str | None, str]:
        if by in TIME_BY:
            key = raw.isoformat() if isinstance(raw, date) else str(raw)
            if by == "month":
                year, month = key.split("-")
                return key, f"{MONTH_NAMES[int(month) - 1]} {year}"
            return key, key
        if by in ("department", "procedure"):
            if not raw:
                return None, NONE_LABEL
            code, name = self.names(by).get(int(raw), (str(raw), str(raw)))
            return code, name
        labels: Mapping[str, str] = {"channel": {c.value: lbl for c, lbl in CHANNEL_LABELS.items()},
                                     "kind": KIND_LABELS, "gender": GENDER_LABELS,
                                     "sense": {s.value: lbl for s, lbl in SENSE_LABELS.items()}}[by]
        return str(raw), labels.get(str(raw), str(raw))

    def _filing_filters(self, stmt: Any) -> Any:
        f = self.filters
        zone = ZoneInfo(self.tz)
        if f.start:
            stmt = stmt.where(Filing.received_at >= datetime.combine(f.start, time(), zone))
        if f.end:
            stmt = stmt.where(Filing.received_at < datetime.combine(f.end + timedelta(days=1), time(), zone))
        if f.department_id is not None:
            stmt = stmt.where(Filing.department_id == f.department_id)
        if f.procedure_id is not None:
            stmt = stmt.where(Filing.procedure_id == f.procedure_id)
        return stmt

    def _overdue_condition(self) -> ColumnElement[bool]:
        return Filing.status.in_(RUNNING_STATES) & Filing.due_at.is_not(None) & (Filing.due_at < self.now)

    def overdue_cube(self) -> list[tuple[Any, ...]]:
        """Filings still running past their deadline now, counted per ``(local day, department,
        procedure, channel, kind, gender)`` — one query over the backlog (the status index), from
        which every breakdown's ``overdue`` is summed."""
        if self._overdue is None:
            attrs = (func.coalesce(Filing.department_id, 0), func.coalesce(Filing.procedure_id, 0),
                     Filing.channel, Filing.filer_kind, Filing.filer_gender)
            if self.dialect == "postgresql":
                day: Any = func.to_char(func.timezone(self.tz, Filing.received_at), "YYYY-MM-DD").label("d")
                stmt = select(day, *attrs, func.count()).group_by(day, *attrs)
                self._overdue = [(d, *rest[:-1], int(rest[-1])) for d, *rest in self.session.execute(
                    self._filing_filters(stmt.where(self._overdue_condition())))]
            else:  # SQLite knows no time zones: the instants are turned into local days here
                cube: Counter[tuple[Any, ...]] = Counter()
                stmt = select(Filing.received_at, *attrs).where(self._overdue_condition())
                for received_at, *rest in self.session.execute(self._filing_filters(stmt)):
                    cube[(local_day(received_at, self.tz).isoformat(), *rest)] += 1
                self._overdue = [(*k, n) for k, n in cube.items()]
        return self._overdue

    def overdue_counts(self, by: str) -> dict[Any, int]:
        """Overdue filings per value of ``by`` (none for ``sense``: unanswered filings have none)."""
        if by == "sense":
            return {}
        out: Counter[Any] = Counter()
        position = {"department": 1, "procedure": 2, "channel": 3, "kind": 4, "gender": 5}
        for row in self.overdue_cube():
            if by in TIME_BY:
                key: Any = row[0] if by == "day" else (row[0][:7] if by == "month" else row[0][:4])
            else:
                key = row[position[by]]
                key = key.value if hasattr(key, "value") else key
            out[key] += row[-1]
        return dict(out)

    # ---- figures

    def breakdown(self, by: str, *, times: bool = True, overdue: bool = True) -> list[Row]:
        """One row per value of ``by``: filings, answered, late, response times, overdue now.

        Months and years are summed from the days when the days were already read.

        :param times: read the response-time histogram (for medians and percentiles).
        :param overdue: count the filings overdue now.
        """
        if by not in BY_VALUES:
            raise InvalidInput("«by» debe ser uno de: " + ", ".join(BY_VALUES) + ".", field="by")
        memo = (by, times, overdue)
        if not times and (by, True, overdue) in self._memo:
            return self._memo[(by, True, overdue)]
        if memo not in self._memo:
            days = next((rows for (b, t, o), rows in self._memo.items()
                         if b == "day" and t >= times and o == overdue), None)
            if by in ("month", "year") and days is not None:
                self._memo[memo] = self._roll_up(days, by)
            else:
                self._memo[memo] = self._breakdown(by, times=times, overdue=overdue)
        return self._memo[memo]

    def _roll_up(self, days: Sequence[Row], by: str) -> list[Row]:
        rows: dict[str, Row] = {}
        for d in days:
            raw = (d.key or "")[:7 if by == "month" else 4]
            if raw not in rows:
                key, label = self._label(by, raw)
                rows[raw] = Row(key=key, label=label)
            rows[raw].add(d)
        return [rows[k] for k in sorted(rows)]

    def _breakdown(self, by: str, *, times: bool, overdue: bool) -> list[Row]:
        dim, day_expr, hist_expr = self._group(by)
        rows: dict[Any, Row] = {}

        def row_for(raw: Any) -> Row:
            norm = raw.isoformat() if isinstance(raw, date) else raw
            if norm not in rows:
                key, label = self._label(by, raw)
                rows[norm] = Row(key=key, label=label)
            return rows[norm]

        g = day_expr.label("g")
        hist_cols = [func.sum(getattr(StatsDay, c)) for c in HIST_COLUMNS] if times else []
        for raw, filings, answered, late, days_sum, *hist in self.session.execute(
                select(g, func.sum(StatsDay.filings), func.sum(StatsDay.answered), func.sum(StatsDay.answered_late),
                       func.sum(StatsDay.days_sum), *hist_cols).where(*self._where(StatsDay, dim)).group_by(g)):
            row = row_for(raw)
            row.filings, row.answered, row.answered_late, row.days_sum = (
                int(filings), int(answered), int(late), int(days_sum))
            row.hist.update({n: int(c) for n, c in enumerate(hist) if c})
        if times:  # the long ones, rare
            h = hist_expr.label("g")
            for raw, days, n in self.session.execute(
                    select(h, StatsResponseDays.days, func.sum(StatsResponseDays.n))
                    .where(*self._where(StatsResponseDays, dim)).group_by(h, StatsResponseDays.days)):
                row_for(raw).hist[int(days)] += int(n)
        for raw, n in (self.overdue_counts(by) if overdue else {}).items():
            row_for(raw).overdue += n
        ordered = sorted(rows.values(), key=lambda r: r.key or "") if by in TIME_BY else sorted(
            rows.values(), key=lambda r: (-r.filings, r.label))
        return ordered

    def backlog(self) -> list[dict[str, Any]]:
        """Per department: open filings, overdue, due within three days, and a traffic light."""
        soon = self.now + timedelta(days=3)
        running = Filing.status.in_(RUNNING_STATES)
        dept = func.coalesce(Filing.department_id, 0).label("d")
        stmt = self._filing_filters(select(
            dept, func.count(),
            func.sum(case((self._overdue_condition(), 1), else_=0)),
            func.sum(case((running & (Filing.due_at >= self.now) & (Filing.due_at <= soon), 1), else_=0)),
            func.sum(case((Filing.status == FilingState.AWAITING_FILER, 1), else_=0)),
        ).where(Filing.status.in_(OPEN_STATES)).group_by(dept))
        out = []
        for dept_id, n_open, overdue, due_soon, paused in self.session.execute(stmt):
            code, name = self.names("department").get(dept_id, (None, NONE_LABEL)) if dept_id else (None, NONE_LABEL)
            overdue = int(overdue or 0)
            share = overdue / n_open
            light = "verde" if overdue == 0 else ("amarillo" if share <= 0.10 else "rojo")
            out.append({"key": code, "label": name, "open": int(n_open), "overdue": overdue,
                        "due_soon": int(due_soon or 0), "paused": int(paused or 0), "light": light})
        return sorted(out, key=lambda e: (-e["overdue"], -e["open"], e["label"]))

    def year_over_year(self) -> tuple[list[int], list[dict[str, Any]]]:
        """Filings per month of each year of the period (and the year before it)."""
        f = self.filters
        end = f.end or self.now.astimezone(ZoneInfo(self.tz)).date()
        first_year = (f.start.year if f.start else end.year) - 1
        sub = Filters(start=date(first_year, 1, 1), end=end, department_id=f.department_id,
                      procedure_id=f.procedure_id)
        per = Stats(self.session, sub, tz=self.tz, now=self.now)
        per._names = self._names
        counts = {r.key: r.filings for r in per.breakdown("month", times=False, overdue=False)}
        years = list(range(first_year, end.year + 1))
        rows = [{"key": f"{m:02d}", "label": MONTH_NAMES[m - 1],
                 **{str(y): counts.get(f"{y:04d}-{m:02d}", 0) for y in years}} for m in range(1, 13)]
        return years, rows

    def busiest_months(self, months: Sequence[Row]) -> list[dict[str, Any]]:
        """Filings per month of the year (January…December) over the period, most first."""
        per: Counter[int] = Counter()
        for r in months:
            per[int((r.key or "0-0").split("-")[1])] += r.filings
        return sorted(({"key": f"{m:02d}", "label": MONTH_NAMES[m - 1], "filings": per[m]} for m in range(1, 13)),
                      key=lambda e: (-e["filings"], e["key"]))

    def by_month(self, by: str) -> list[tuple[str, list[Row]]]:
        """For each month of the period, one row per value of ``by`` (not a time), with times."""
        dim, day_expr, hist_expr = self._group(by)
        month_day = _period_expr(StatsDay.day, "month", self.dialect).label("m")
        month_hist = _period_expr(StatsResponseDays.day, "month", self.dialect).label("m")
        per: dict[str, dict[Any, Row]] = defaultdict(dict)

        def row_for(month: str, raw: Any) -> Row:
            if raw not in per[month]:
                key, label = self._label(by, raw)
                per[month][raw] = Row(key=key, label=label)
            return per[month][raw]

        g = day_expr.label("g")
        hist_cols = [func.sum(getattr(StatsDay, c)) for c in HIST_COLUMNS]
        for month, raw, filings, answered, late, days_sum, *hist in self.session.execute(
                select(month_day, g, func.sum(StatsDay.filings), func.sum(StatsDay.answered),
                       func.sum(StatsDay.answered_late), func.sum(StatsDay.days_sum), *hist_cols)
                .where(*self._where(StatsDay, dim)).group_by(month_day, g)):
            row = row_for(month, raw)
            row.filings, row.answered, row.answered_late, row.days_sum = (
                int(filings), int(answered), int(late), int(days_sum))
            row.hist.update({n: int(c) for n, c in enumerate(hist) if c})
        h = hist_expr.label("g")
        for month, raw, days, n in self.session.execute(
                select(month_hist, h, StatsResponseDays.days, func.sum(StatsResponseDays.n))
                .where(*self._where(StatsResponseDays, dim)).group_by(month_hist, h, StatsResponseDays.days)):
            row_for(month, raw).hist[int(days)] += int(n)
        position = {"department": 1, "procedure": 2, "channel": 3, "kind": 4, "gender": 5}[by]
        for cube_row in self.overdue_cube():
            key = cube_row[position]
            row_for(cube_row[0][:7], key.value if hasattr(key, "value") else key).overdue += cube_row[-1]
        return [(month, sorted(rows.values(), key=lambda r: (-r.filings, r.label)))
                for month, rows in sorted(per.items())]

    def satisfaction(self) -> list[dict[str, Any]]:
        """Per department: ratings, their mean and how many of each score (1–5)."""
        f = self.filters
        zone = ZoneInfo(self.tz)
        stmt = (select(Evaluation.department_id, Evaluation.score, func.count())
                .group_by(Evaluation.department_id, Evaluation.score))
        if f.start:
            stmt = stmt.where(Evaluation.created_at >= datetime.combine(f.start, time(), zone))
        if f.end:
            stmt = stmt.where(Evaluation.created_at < datetime.combine(f.end + timedelta(days=1), time(), zone))
        if f.department_id is not None:
            stmt = stmt.where(Evaluation.department_id == f.department_id)
        if f.procedure_id is not None:
            stmt = stmt.join(Filing, Filing.id == Evaluation.filing_id).where(Filing.procedure_id == f.procedure_id)
        per: dict[int, Counter[int]] = defaultdict(Counter)
        for dept, score, n in self.session.execute(stmt):
            per[dept or 0][int(score)] += int(n)
        out = []
        for dept, scores in per.items():
            code, name = self.names("department").get(dept, (None, NONE_LABEL)) if dept else (None, NONE_LABEL)
            total = sum(scores.values())
            out.append({"key": code, "label": name, "ratings": total,
                        "mean_score": round(sum(s * n for s, n in scores.items()) / total, 2),
                        **{f"score_{s}": scores[s] for s in range(1, 6)}})
        return sorted(out, key=lambda e: (-e["ratings"], e["label"]))


def merge_small(rows: Sequence[Row], minimum: int = MIN_PUBLIC_GROUP) -> list[Row]:
    """Rows with fewer than ``minimum`` filings merged into one "Otros" row; if that row is still
    too small, the next smallest rows join it, so no group shown counts fewer than ``minimum``."""
    big = sorted((r for r in rows if r.filings >= minimum), key=lambda r: (-r.filings, r.label))
    small = [r for r in rows if r.filings < minimum]
    if not small:
        return big
    others = Row(key=None, label=OTHERS)
    for r in small:
        others.add(r)
    while others.filings < minimum and big:
        others.add(big.pop())
    if others.filings == 0:
        return big
    if others.filings < minimum:  # everything together is still too small to show
        return []
    return [*big, others]


def sense_keys() -> list[str]:
    return [s.value for s in ResponseSense]

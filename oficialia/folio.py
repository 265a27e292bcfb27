"""Folio numbers: one sequence per office and year, with no duplicates and no gaps.

The number is taken with ``UPDATE folio_counters SET value = value + 1 … RETURNING value``
inside the intake's own transaction. The row lock this takes (on SQLite, the ``BEGIN
IMMEDIATE`` write lock) serialises concurrent intakes until they commit, and a failed intake
rolls its increment back with everything else, so no number is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, literal_column, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .db import DbSession
from .models import FolioCounter

_COUNTERS = FolioCounter.__table__  # Core: nothing in the session to keep in step
#: built once: every intake runs it (parameters: :func:`take_params`)
TAKE = (update(_COUNTERS)
        .where(_COUNTERS.c.office == bindparam("of_office"), _COUNTERS.c.year == bindparam("of_year"))
        .values(value=_COUNTERS.c.value + literal_column("1"))
        .returning(_COUNTERS.c.value))


#: PostgreSQL: the year's counter, created if missing (parameters: :func:`take_params`). Sent
#: before :data:`TAKE` when both go in one round trip with the statements that take other locks:
#: a first filing of the year then waits for the counter's creator before taking anything else,
#: so every intake takes the counter's lock first.
ENSURE_COUNTER = (pg_insert(_COUNTERS)
                  .values(office=bindparam("of_office"), year=bindparam("of_year"), value=literal_column("0"))
                  .on_conflict_do_nothing())


def take_params(office: str, year: int) -> dict[str, Any]:
    return {"of_office": office, "of_year": year}


def next_number(session: DbSession, office: str, year: int, *,
                taken: Sequence[tuple[Any, ...]] | None = None) -> int:
    """Take the next number of ``office`` in ``year``; the caller's transaction holds the lock.

    :param taken: the rows :data:`TAKE` returned, for a caller that ran it together with other
        statements in this transaction.
    :returns: 1 for the first filing of the year, then 2, 3, …
    """
    key = take_params(office, year)
    rows = taken if taken is not None else session.execute(TAKE, key).all()
    if rows:
        return int(rows[0][0])
    # First filing of the year: create the row (a concurrent creator may win), then take it.
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(FolioCounter).values(office=office, year=year, value=0)
                    .on_conflict_do_nothing())
    return int(session.execute(TAKE, key).scalar_one())


def format_folio(fmt: str, *, office: str, year: int, seq: int) -> str:
    """Render a folio, e.g. ``OP-2026-000123`` for ``OP-{year}-{seq:06d}``."""
    return fmt.format(office=office, year=year, seq=seq)

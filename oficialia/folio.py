"""Folio numbers: one sequence per office and year, with no duplicates and no gaps.

The number is taken with ``UPDATE folio_counters SET value = value + 1 … RETURNING value``
inside the intake's own transaction. The row lock this takes (on SQLite, the ``BEGIN
IMMEDIATE`` write lock) serialises concurrent intakes until they commit, and a failed intake
rolls its increment back with everything else, so no number is skipped.
"""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .db import DbSession
from .models import FolioCounter

_COUNTERS = FolioCounter.__table__  # Core: nothing in the session to keep in step
#: built once: every intake runs it
_TAKE = (update(_COUNTERS)
         .where(_COUNTERS.c.office == bindparam("of_office"), _COUNTERS.c.year == bindparam("of_year"))
         .values(value=_COUNTERS.c.value + 1)
         .returning(_COUNTERS.c.value))


def next_number(session: DbSession, office: str, year: int) -> int:
    """Take the next number of ``office`` in ``year``; the caller's transaction holds the lock.

    :returns: 1 for the first filing of the year, then 2, 3, …
    """
    key = {"of_office": office, "of_year": year}
    value = session.execute(_TAKE, key).scalar_one_or_none()
    if value is not None:
        return int(value)
    # First filing of the year: create the row (a concurrent creator may win), then take it.
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(FolioCounter).values(office=office, year=year, value=0)
                    .on_conflict_do_nothing())
    return int(session.execute(_TAKE, key).scalar_one())


def format_folio(fmt: str, *, office: str, year: int, seq: int) -> str:
    """Render a folio, e.g. ``OP-2026-000123`` for ``OP-{year}-{seq:06d}``."""
    return fmt.format(office=office, year=year, seq=seq)

"""A scratch PostgreSQL database for a benchmark, on the server ``OFICIALIA_TEST_DATABASE`` names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def scratch_database(name: str, *, keep: bool = False) -> Iterator[str]:
    """Create database ``name`` afresh and yield its URL; drop it afterwards unless ``keep``."""
    server = os.environ.get("OFICIALIA_TEST_DATABASE", DEFAULT_DATABASE).replace(
        "postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

"""Folios under load: concurrent API clients on the real database get consecutive folios with no
duplicate and no gap, also when intakes fail half-way between storage and commit."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
import urllib3

from oficialia import intake
from oficialia.db import db
from oficialia.models import Filing, Role
from tests.factories import pdf_bytes
from tests.live import serve
from workflows.logbook import verify_chain

pytestmark = pytest.mark.slow


def _numbers(app) -> list[int]:
    with app.app_context():
        return list(db.session.execute(sa.select(Filing.number).order_by(Filing.number)).scalars())


def _post_many(base: str, token: str, count: int, clients: int, pdf: bytes) -> list[int]:
    http = urllib3.PoolManager(maxsize=clients, timeout=urllib3.Timeout(connect=5, read=120), retries=False)

    def one(n: int) -> int:
        response = http.request(
            "POST", f"{base}/api/v1/filings", headers={"Authorization": f"Bearer {token}"},
            fields={"subject": f"Petición {n}", "filer_name": f"Persona {n}", "filer_kind": "fisica",
                    "channel": "app", "files": (f"escrito-{n}.pdf", pdf, "application/pdf")})
        return response.status

    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            return list(pool.map(one, range(count)))
    finally:
        http.clear()


def test_concurrent_clients_get_consecutive_folios(app, demo, make_user, make_token):
    """GIVEN 50 API clients posting at once (1,000 filings on PostgreSQL, 200 on SQLite)
    THEN every filing gets a folio, numbered 1..N with no duplicate and no gap."""
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    count, clients = (1000, 50) if postgres else (200, 16)
    token = make_token(make_user(Role.CLERK, department="OP"))
    with serve(app) as base:
        statuses = _post_many(base, token, count, clients, pdf_bytes())
    assert statuses.count(201) == count, {s: statuses.count(s) for s in set(statuses)}
    assert _numbers(app) == list(range(1, count + 1))
    with app.app_context():
        report = verify_chain(db.session)
    assert report.ok and report.entries == count


def test_failures_between_storage_and_commit_leave_no_gap(app, demo, make_user, make_token, monkeypatch):
    """GIVEN intakes that fail after the files are stored and the folio is taken, but before commit
    THEN the failed ones leave no trace and the successful ones are still consecutive."""
    real_append = intake.append_entry
    rng = random.Random(7)
    lock = threading.Lock()

    def flaky_append(*args, **kwargs):
        with lock:
            fail = rng.random() < 0.3
        if fail:
            raise RuntimeError("fallo inyectado entre almacenamiento y confirmación")
        return real_append(*args, **kwargs)

    monkeypatch.setattr(intake, "append_entry", flaky_append)
    token = make_token(make_user(Role.CLERK, department="OP"))
    with serve(app) as base:
        statuses = _post_many(base, token, 120, 12, pdf_bytes())
    ok = statuses.count(201)
    assert 0 < ok < 120
    assert set(statuses) == {201, 500}
    assert _numbers(app) == list(range(1, ok + 1))
    with app.app_context():
        assert verify_chain(db.session).ok

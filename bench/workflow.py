"""Logbook verification and workflow-action latency, in the same run: ``python -m bench.workflow``.

1. 100,000 logbook entries (a real chain, built with the product's own hashing) are verified
   with ``workflows.logbook.verify_chain`` (target: under 5 s).
2. The latency of a workflow action through the service (``assign``, which writes the routing, the
   filing, a logbook entry and commits) beside a bare one-row UPDATE + COMMIT on the same database.
Results go to ``bench/results/workflow.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.scratch import scratch_database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "workflow.md"
TARGET_VERIFY_SECONDS = 5.0


def build_chain(conn: sa.Connection, count: int) -> None:
    """Insert ``count`` chained entries in bulk, hashed exactly as ``append_entry`` does."""
    from workflows.logbook import _content, chain_hash
    from workflows.models import GENESIS_HASH, LogbookEntry, LogbookHead

    prev = GENESIS_HASH
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    for seq in range(1, count + 1):
        at = start + timedelta(seconds=seq)
        content = _content(seq, at, "note", f"OP-2026-{seq:06d}", "banco de pruebas", None, None, False,
                           {"n": seq})
        digest = chain_hash(prev, content)
        batch.append({"seq": seq, "at": at, "actor_label": "banco de pruebas", "event": "note", "public": False,
                      "content": content, "prev_hash": prev, "hash": digest})
        prev = digest
        if len(batch) == 5000:
            conn.execute(sa.insert(LogbookEntry), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(LogbookEntry), batch)
    conn.execute(sa.update(LogbookHead).where(LogbookHead.id == 1).values(seq=count, hash=prev))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--actions", type=int, default=200)
    args = parser.parse_args()
    from flask_migrate import upgrade

    from app import create_app
    from oficialia.db import db
    from oficialia.demo import seed_demo
    from oficialia.extensions import get_store
    from oficialia.forms import parse_filing_form
    from oficialia.intake import IntakeSettings, receive_filing
    from oficialia.models import Filing, User
    from workflows.logbook import verify_chain
    from workflows.routing import ActionRequest, Target, perform_action
    from workflows.states import Action

    with scratch_database("oficialia_bench_workflow") as url, tempfile.TemporaryDirectory(prefix="bench-wf-") as tmp:
        app = create_app({"DATABASE_URL": url, "STORAGE_URL": str(Path(tmp) / "storage"), "SECRET_KEY": "bench",
                          "INSTANCE_PATH": str(Path(tmp) / "instance"), "RATELIMIT_ENABLED": False})
        with app.app_context():
            upgrade()
            with db.engine.begin() as conn:
                build_chain(conn, args.entries)
            started = time.perf_counter()
            report = verify_chain(db.session)
            verify_seconds = time.perf_counter() - started
            assert report.ok and report.entries == args.entries, report

            seed_demo(db.session)
            db.session.commit()
            tz = str(app.config["TIMEZONE"])
            clerk = db.session.execute(sa.select(User).where(User.email == "oficialia@demo.gob.mx")).scalar_one()
            staff = db.session.execute(sa.select(User).where(User.email == "obras@demo.gob.mx")).scalar_one()
            form = parse_filing_form({"subject": "Bache", "body": "Texto", "filer_name": "Banco"})
            received = receive_filing(db.session, get_store(), form=form, uploads=[], actor=clerk,
                                      settings=IntakeSettings.from_config(app.config))
            filing_id = received.filing.id
            filing = db.session.get(Filing, filing_id)
            perform_action(db.session, filing, clerk, ActionRequest(Action.ROUTE, (Target("OBRAS"),)), tz=tz)
            perform_action(db.session, db.session.get(Filing, filing_id), staff, ActionRequest(Action.ACCEPT), tz=tz)
            action_ms = []
            for _ in range(args.actions):
                filing = db.session.get(Filing, filing_id)
                t0 = time.perf_counter()
                perform_action(db.session, filing, staff, ActionRequest(Action.ASSIGN, user=staff.email), tz=tz)
                action_ms.append((time.perf_counter() - t0) * 1000)
                db.session.expire_all()
            bare_ms = []
            with db.engine.connect() as conn:
                for n in range(args.actions):
                    t0 = time.perf_counter()
                    conn.execute(sa.text("UPDATE filings SET subject = :s WHERE id = :id"),
                                 {"s": f"Bache {n}", "id": filing_id})
                    conn.commit()
                    bare_ms.append((time.perf_counter() - t0) * 1000)
            db.session.remove()
            db.engine.dispose()

    p50a, p50b = statistics.median(action_ms), statistics.median(bare_ms)
    p95a = statistics.quantiles(action_ms, n=20)[18]
    p95b = statistics.quantiles(bare_ms, n=20)[18]
    text = "\n".join([
        "# Logbook verification and workflow actions", "",
        "Written by `python -m bench.workflow` (`make bench`); rerun it rather than editing this file.", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        "PostgreSQL.", "",
        "| measure | value | target |", "|---|---|---|",
        f"| verify {args.entries:,} logbook entries | {verify_seconds:.2f} s "
        f"({args.entries / verify_seconds:,.0f} entries/s) | < {TARGET_VERIFY_SECONDS:.0f} s: "
        f"{'met' if verify_seconds < TARGET_VERIFY_SECONDS else 'MISSED'} |",
        f"| workflow action `assign` (service: routing + filing + logbook entry + commit), p50 / p95 | "
        f"{p50a:.2f} / {p95a:.2f} ms | — |",
        f"| bare `UPDATE filings` + COMMIT, p50 / p95 | {p50b:.2f} / {p95b:.2f} ms | — |",
        f"| action / bare (p50) | {p50a / p50b:.1f}x | — |", ""])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The hash-chained logbook: intake writes the first entry; an edited, deleted or swapped entry and
a truncated tail are each found and named, on PostgreSQL (where a trigger refuses changes
outright) and on SQLite."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from oficialia.db import db
from workflows.logbook import append_entry, canonical_json, chain_hash, take_checkpoint, verify_chain
from workflows.models import GENESIS_HASH, LogbookEntry, LogbookHead


def _append(n: int) -> None:
    for i in range(n):
        append_entry(db.session, event="note", actor_label="prueba", data={"i": i, "texto": "ñandú"})
    db.session.commit()


def _tamper(statement) -> None:
    """Change the table as an attacker with database rights would: past the trigger."""
    with db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(sa.text("ALTER TABLE logbook_entries DISABLE TRIGGER logbook_entries_append_only"))
        conn.execute(statement)
        if postgres:
            conn.execute(sa.text("ALTER TABLE logbook_entries ENABLE TRIGGER logbook_entries_append_only"))


def test_entries_chain_from_genesis(app):
    with app.app_context():
        _append(3)
        entries = db.session.execute(sa.select(LogbookEntry).order_by(LogbookEntry.seq)).scalars().all()
        assert [e.seq for e in entries] == [1, 2, 3]
        assert entries[0].prev_hash == GENESIS_HASH
        assert entries[1].prev_hash == entries[0].hash
        assert entries[2].hash == chain_hash(entries[1].hash, entries[2].content)
        assert verify_chain(db.session).ok


@pytest.mark.postgres
def test_postgres_refuses_changes(app):
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        _append(1)
        with pytest.raises(sa.exc.DBAPIError, match="solo admite nuevos asientos"):
            db.session.execute(sa.update(LogbookEntry).values(actor_label="otro"))
        db.session.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="solo admite nuevos asientos"):
            db.session.execute(sa.delete(LogbookEntry))
        db.session.rollback()


def test_edited_content_is_detected(app):
    with app.app_context():
        _append(4)
        _tamper(sa.update(LogbookEntry).where(LogbookEntry.seq == 2)
                .values(content=canonical_json({"seq": 2, "falso": True})))
        report = verify_chain(db.session)
        assert not report.ok and report.first_bad == 2


def test_deleted_entry_is_detected(app):
    with app.app_context():
        _append(4)
        _tamper(sa.delete(LogbookEntry).where(LogbookEntry.seq == 3))
        report = verify_chain(db.session)
        assert not report.ok and report.first_bad == 3


def test_swapped_entries_are_detected(app):
    with app.app_context():
        _append(4)
        rows = {e.seq: e.content for e in db.session.execute(sa.select(LogbookEntry)).scalars()}
        db.session.rollback()
        _tamper(sa.update(LogbookEntry).where(LogbookEntry.seq == 2).values(content=rows[3]))
        _tamper(sa.update(LogbookEntry).where(LogbookEntry.seq == 3).values(content=rows[2]))
        report = verify_chain(db.session)
        assert not report.ok and report.first_bad == 2


def test_truncated_tail_is_detected(app):
    with app.app_context():
        _append(4)
        _tamper(sa.delete(LogbookEntry).where(LogbookEntry.seq == 4))
        report = verify_chain(db.session)
        assert not report.ok and report.first_bad == 4


def test_truncation_with_a_rewritten_head_is_caught_by_the_checkpoint(app):
    """GIVEN an attacker who removes the last entries AND rewinds the head to match
    THEN the stored checkpoint of the head still shows the chain was longer."""
    with app.app_context():
        _append(3)
        take_checkpoint(db.session)
        db.session.commit()
        _append(2)
        last_kept = db.session.execute(sa.select(LogbookEntry).where(LogbookEntry.seq == 2)).scalar_one()
        seq2_hash = last_kept.hash
        db.session.rollback()
        _tamper(sa.delete(LogbookEntry).where(LogbookEntry.seq > 2))
        with db.engine.begin() as conn:
            conn.execute(sa.update(LogbookHead).values(seq=2, hash=seq2_hash))
        report = verify_chain(db.session)
        assert not report.ok and report.first_bad == 3


def test_cli_and_api_verify(app, runner, client, make_user, make_token):
    from oficialia.models import Role

    with app.app_context():
        _append(2)
    ok = runner.invoke(args=["logbook", "verify"])
    assert ok.exit_code == 0 and "íntegra" in ok.output
    with app.app_context():
        _tamper(sa.update(LogbookEntry).where(LogbookEntry.seq == 1).values(actor_label="otro", content="{}"))
    bad = runner.invoke(args=["logbook", "verify"])
    assert bad.exit_code == 1 and "asiento 1" in bad.output
    token = make_token(make_user(Role.AUDITOR))
    report = client.get("/api/v1/logbook/verify", headers={"Authorization": f"Bearer {token}"}).json
    assert report["ok"] is False and report["first_bad"] == 1

"""The hash-chained logbook: intake writes the first entry; any edit, deletion or reordering is found."""

from __future__ import annotations

import sqlalchemy as sa

from oficialia.db import db
from workflows.logbook import append_entry, canonical_json, chain_hash, verify_chain
from workflows.models import GENESIS_HASH, LogbookEntry


def _append(n: int) -> None:
    for i in range(n):
        append_entry(db.session, event="note", actor_label="prueba", data={"i": i, "texto": "ñandú"})
    db.session.commit()


def test_entries_chain_from_genesis(app):
    with app.app_context():
        _append(3)
        entries = db.session.execute(sa.select(LogbookEntry).order_by(LogbookEntry.seq)).scalars().all()
        assert [e.seq for e in entries] == [1, 2, 3]
        assert entries[0].prev_hash == GENESIS_HASH
        assert entries[1].prev_hash == entries[0].hash
        assert entries[2].hash == chain_hash(entries[1].hash, entries[2].content)
        assert verify_chain(db.session).ok


def test_edited_content_is_detected(app):
    with app.app_context():
        _append(4)
        db.session.execute(sa.update(LogbookEntry).where(LogbookEntry.seq == 2)
                           .values(content=canonical_json({"seq": 2, "falso": True})))
        db.session.commit()
        report = verify_chain(db.session)
        assert not report.ok and report.first_bad == 2


def test_deleted_entry_is_detected(app):
    with app.app_context():
        _append(4)
        db.session.execute(sa.delete(LogbookEntry).where(LogbookEntry.seq == 3))
        db.session.commit()
        report = verify_chain(db.session)
        assert not report.ok and report.first_bad == 3


def test_truncated_tail_is_detected(app):
    with app.app_context():
        _append(4)
        db.session.execute(sa.delete(LogbookEntry).where(LogbookEntry.seq == 4))
        db.session.commit()
        report = verify_chain(db.session)
        assert not report.ok and report.first_bad == 4


def test_cli_verify_exit_codes(app, runner):
    with app.app_context():
        _append(2)
    ok = runner.invoke(args=["logbook", "verify"])
    assert ok.exit_code == 0 and "íntegra" in ok.output
    with app.app_context():
        db.session.execute(sa.update(LogbookEntry).where(LogbookEntry.seq == 1).values(actor_label="otro",
                                                                                      content="{}"))
        db.session.commit()
    bad = runner.invoke(args=["logbook", "verify"])
    assert bad.exit_code == 1

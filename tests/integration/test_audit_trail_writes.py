"""When the audit trail's rows are written: by the commit of the transaction that recorded
them, in one statement after its other work, and never when it does not commit."""

from __future__ import annotations

from sqlalchemy import event, select

from idp.db import get_engine, get_session
from idp.models import Member
from idp.services import audit


def _statements(engine):
    seen: list[tuple[str, bool]] = []

    def before(_connection, _cursor, statement, _parameters, _context, executemany) -> None:
        seen.append((" ".join(statement.split()), executemany))

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def _probe_events(db) -> list[tuple[str, str, int | None]]:
    return [(e.event, e.outcome, e.member_id) for e in reversed(audit.recent(db)) if e.event.startswith("probe_")]


def test_a_transactions_events_are_written_by_its_commit_in_one_statement_after_its_work(app, make_member):
    member = make_member()
    with app.app_context():
        db = get_session()
        seen, stop = _statements(get_engine(app))
        try:
            audit.record(db, "probe_first", "success", member_id=member.id)
            audit.record(db, "probe_second", "failure", member_id=member.id, reason="test")
            # A query in the same transaction: the ORM's autoflush would have written them here.
            assert db.scalar(select(Member.id).where(Member.id == member.id)) == member.id
            db.commit()
        finally:
            stop()
        inserts = [
            (index, many) for index, (sql, many) in enumerate(seen) if sql.startswith("INSERT INTO audit_events")
        ]
        query = next(index for index, (sql, _) in enumerate(seen) if sql.startswith("SELECT members.id"))
        assert len(inserts) == 1, seen
        assert inserts[0][0] > query and inserts[0][1] is True, seen
        assert _probe_events(db) == [
            ("probe_first", "success", member.id),
            ("probe_second", "failure", member.id),
        ]
        assert audit.describe(audit.recent(db, limit=1)[0])["detail"] == {"reason": "test"}


def test_events_of_a_transaction_that_does_not_commit_are_never_written(app):
    with app.app_context():
        db = get_session()
        audit.record(db, "probe_rolled_back", "success")
        db.rollback()
        audit.record(db, "probe_closed", "success")
        db.close()  # without a commit, and before the transaction touched the database
        db = get_session()
        audit.record(db, "probe_kept", "success")
        db.commit()
        assert _probe_events(db) == [("probe_kept", "success", None)]


def test_a_savepoint_released_leaves_the_events_to_the_transactions_commit(app):
    with app.app_context():
        db = get_session()
        seen, stop = _statements(get_engine(app))
        try:
            audit.record(db, "probe_before_savepoint", "success")
            savepoint = db.begin_nested()
            audit.record(db, "probe_in_savepoint", "success")
            savepoint.commit()
            written_by_the_savepoint = [sql for sql, _ in seen if sql.startswith("INSERT INTO audit_events")]
            db.commit()
        finally:
            stop()
        assert written_by_the_savepoint == []
        assert _probe_events(db) == [
            ("probe_before_savepoint", "success", None),
            ("probe_in_savepoint", "success", None),
        ]

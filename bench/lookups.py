"""What one lookup, and one insert, cost at each layer under idp's code: a client by its id
(the statement the token endpoint runs most) and an audit record (written by every sign-in
attempt), timed in a loop in-process (no HTTP, no load).

    .venv/bin/python bench/lookups.py [--database-url URL] [--count N]

Prints microseconds per lookup for the ORM statement built per call (as idp's code read
before its hot lookups were prebuilt), the prebuilt ORM statement (``bindparam``, what idp
runs now: see ``idp/db.py``), the same as a Core statement returning a row, and the
driver alone; then the audit record added through the ORM's unit of work (``session.add``,
flushed) against a Core insert; then the lockout's reservation (the UPDATE every password
check starts with) built per call against the prebuilt one. On a fresh SQLite file, or the (empty) database given.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import bindparam, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idpbench.in_process import in_process_app

CLIENT_ID = "bench-lookups"


def _per_call_microseconds(lookup: Callable[[], object], count: int, repeats: int = 5) -> float:
    for _ in range(min(count, 300)):  # warm the caches first
        lookup()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            lookup()
        timings.append((time.perf_counter() - started) / count * 1e6)
    return min(timings)  # the least disturbed of the repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--count", type=int, default=5000, help="lookups per timing (default 5000)")
    args = parser.parse_args()

    from datetime import timedelta

    from idp.clock import utcnow
    from idp.db import get_engine, get_session
    from idp.models import AuditEvent, Client
    from idp.models.lockout import PASSWORD_FAILURES
    from idp.services.clients import NewClient, create_client, find_client

    app = in_process_app("lookups", args.database_url)
    with app.test_request_context():
        db = get_session()
        create_client(db, NewClient(name="lookups", redirect_uris=["https://rp.example/cb"], client_id=CLIENT_ID))
        db.commit()
        table = Client.__table__
        prebuilt_core = select(*table.c).where(table.c.client_id == bindparam("client_id"))
        connection = db.connection()
        driver_sql = "SELECT * FROM clients WHERE client_id = " + (
            "%s" if get_engine(app).dialect.name == "postgresql" else "?"
        )
        driver = connection.connection.dbapi_connection
        layers = {
            "ORM, statement built per call": lambda: db.scalar(select(Client).where(Client.client_id == CLIENT_ID)),
            "ORM, prebuilt (find_client)": lambda: find_client(db, CLIENT_ID),
            "Core row, prebuilt": lambda: db.execute(prebuilt_core, {"client_id": CLIENT_ID}).first(),
            "driver alone": lambda: _driver_row(driver, driver_sql),
        }
        width = len("lockout reservation, built per call")  # the longest name printed
        results = {name: _per_call_microseconds(lookup, args.count) for name, lookup in layers.items()}
        for name, microseconds in results.items():
            print(f"{name:<{width}}  {microseconds:7.1f} µs")
        saved = results["ORM, statement built per call"] - results["ORM, prebuilt (find_client)"]
        print(f"{'prebuilding saves':<{width}}  {saved:7.1f} µs a lookup")
        db.rollback()

        def orm_insert() -> None:
            db.add(AuditEvent(occurred_at=utcnow(), event="bench", outcome="timed", detail_json="{}"))
            db.flush()

        core_statement = AuditEvent.__table__.insert()

        def core_insert() -> None:
            db.execute(
                core_statement, {"occurred_at": utcnow(), "event": "bench", "outcome": "timed", "detail_json": "{}"}
            )

        from sqlalchemy import insert

        orm_statement = insert(AuditEvent)

        def orm_statement_insert() -> None:
            db.execute(
                orm_statement, {"occurred_at": utcnow(), "event": "bench", "outcome": "timed", "detail_json": "{}"}
            )

        inserts = {
            "audit record, ORM add + flush": orm_insert,
            "audit record, ORM insert statement": orm_statement_insert,
            "audit record, Core insert": core_insert,
        }
        timed = {name: _per_call_microseconds(insert, args.count // 5) for name, insert in inserts.items()}
        db.rollback()  # nothing of the benchmark is kept
        for name, microseconds in timed.items():
            print(f"{name:<{width}}  {microseconds:7.1f} µs")

        # The lockout reservation, the largest statement of a sign-in: built per call (as
        # idp's code read before it was prebuilt) against the prebuilt one lockout runs.
        from idp.services import lockout
        from idp.settings import LockoutSettings

        policy = LockoutSettings()
        key = "identifier:bench-lookups"
        lockout.reserve_attempt(db, key, None, policy)  # its counter row (committed)

        def reservation_parameters() -> dict:
            now = utcnow()
            return {
                "counter_key": key,
                "counter_kind": PASSWORD_FAILURES,
                "now": now,
                "maximum": policy.max_failures,
                "window_start": now - timedelta(seconds=policy.window_seconds),
                "hour_start": now - lockout.HOUR,
            }

        reservations = {
            "lockout reservation, built per call": lambda: db.execute(
                _reservation_built_per_call(reservation_parameters())
            ).first(),
            "lockout reservation, prebuilt": lambda: db.execute(lockout._RESERVE, reservation_parameters()).first(),
        }
        timed = {name: _per_call_microseconds(reserve, args.count // 5) for name, reserve in reservations.items()}
        db.rollback()
        lockout.unlock(db, key)
        for name, microseconds in timed.items():
            print(f"{name:<{width}}  {microseconds:7.1f} µs")


def _reservation_built_per_call(values: dict):
    """The reservation as ``idp.services.lockout`` built it for every attempt until it was
    prebuilt: the same SQL, with its conditions and CASEs made again each time."""
    from sqlalchemy import case, or_, update

    from idp.models import LoginThrottle
    from idp.services.lockout import HOURLY_EVALUATION_CAP

    now, maximum = values["now"], values["maximum"]
    window_expired = LoginThrottle.window_started_at <= values["window_start"]
    hour_expired = LoginThrottle.hour_started_at <= values["hour_start"]
    policy_changed = or_(
        LoginThrottle.counted_under_max_failures.is_(None), LoginThrottle.counted_under_max_failures != maximum
    )
    return (
        update(LoginThrottle)
        .where(
            LoginThrottle.subject_key == values["counter_key"],
            LoginThrottle.kind == values["counter_kind"],
            or_(LoginThrottle.permanently_locked.is_(False), LoginThrottle.locked_by.is_not(None)),
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
            or_(window_expired, LoginThrottle.failures < maximum, policy_changed),
            or_(hour_expired, LoginThrottle.hourly_attempts < HOURLY_EVALUATION_CAP),
        )
        .values(
            failures=case(
                (window_expired, 1), (LoginThrottle.failures >= maximum, maximum), else_=LoginThrottle.failures + 1
            ),
            counted_under_max_failures=maximum,
            window_started_at=case((window_expired, now), else_=LoginThrottle.window_started_at),
            hourly_attempts=case((hour_expired, 1), else_=LoginThrottle.hourly_attempts + 1),
            hour_started_at=case((hour_expired, now), else_=LoginThrottle.hour_started_at),
        )
        .returning(LoginThrottle.permanently_locked, LoginThrottle.locked_by)
        .execution_options(synchronize_session=False)
    )


def _driver_row(driver, sql: str):
    cursor = driver.cursor()
    try:
        cursor.execute(sql, (CLIENT_ID,))
        return cursor.fetchone()
    finally:
        cursor.close()


if __name__ == "__main__":
    main()

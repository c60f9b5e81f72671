"""Work done after the answer, by whichever process gets to it first: mail (so no page waits on
a mail server, and a mail server that is down loses nothing), and requests whose work must not
show in the answer's timing (forgot password: the same answer, in the same time, whether or
not the account exists).

A job is a row in ``outbound_jobs``: its kind, its input (JSON, encrypted at rest: it may
carry a link or a code), its state. ``enqueue`` stores one in a transaction of its own
(callers queue what follows a change after committing the change) and wakes this process's
worker thread. Any process may run a due job: it claims the
job with one conditional UPDATE (a lease, so a crashed process lets it go), runs the handler
of its kind in an app context, and marks it done; a failure is retried with exponential
backoff (each failed try logged, audited as ``outbound_attempt_failed`` and counted), and
after ``outbound.max_attempts`` the job is given up, logged and audited (``outbound_failed``).
Every log line of a job carries its ``job_id``.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from idp import metrics
from idp.clock import utcnow
from idp.db import get_session, new_session
from idp.logs import log_context
from idp.models.outbound import JOB_DONE, JOB_FAILED, JOB_PENDING, OutboundJob
from idp.runtime import runtime
from idp.services import audit
from idp.settings import OutboundSettings

log = logging.getLogger("idp.outbound")

# Each kind of job and the function that does it ("module:function", imported when first
# needed: the services that queue work import this module, not the other way round). A
# handler takes the job's input and raises to have the job retried later.
HANDLERS: dict[str, str] = {
    "mail": "idp.services.notifications:deliver",
    "password_reset": "idp.services.recovery:request_reset_now",
    "address_offer": "idp.services.email_verification:offer_now",
    "sms": "idp.services.text_messages:deliver",
    "backchannel_logout": "idp.services.backchannel_logout:deliver",
}


class GiveUp(Exception):
    """A handler raises this when retrying cannot help (the job is failed at once)."""


def enqueue(kind: str, payload: dict[str, Any], delay_seconds: int = 0) -> int:
    """Store a job (committed at once, in a session of its own) and wake this process's worker
    once the answer to the request has been sent (``wake_after_the_answer``). Returns the
    job's id (a page may later say whether it is done: ``job_state``)."""
    if kind not in HANDLERS:
        raise ValueError(f"no handler for outbound job {kind!r}")
    current = runtime()
    job = _new_job(kind, payload, delay_seconds)
    with new_session() as db:
        db.add(job)
        db.commit()
        job_id = job.id
    metrics.outbound_job(kind, "queued")
    if current.outbound_worker is not None:
        wake_after_the_answer(current.outbound_worker)
    return job_id


@dataclass(frozen=True)
class JobState:
    state: str  # pending, done or failed
    retrying: bool  # pending after a failed try: it waits for the next one


def job_state(db: Session, job_id: int) -> JobState | None:
    """Where a queued job stands, for a page that tells the member (an SMS delayed by a gateway
    outage); None when there is no such job."""
    job = db.get(OutboundJob, job_id)
    if job is None:
        return None
    return JobState(state=job.state, retrying=job.state == JOB_PENDING and job.last_error is not None)


def enqueue_in(db: Session, kind: str, payload: dict[str, Any], delay_seconds: int = 0) -> None:
    """Add a job to the caller's transaction: it exists exactly when the change that asked for
    it is committed (and never after a rollback). This process's worker is woken on commit."""
    if kind not in HANDLERS:
        raise ValueError(f"no handler for outbound job {kind!r}")
    db.add(_new_job(kind, payload, delay_seconds))
    db.info.setdefault(_QUEUED_IN_TRANSACTION, []).append(kind)


# Jobs added to a session's open transaction: counted, and the worker woken, once it commits.
_QUEUED_IN_TRANSACTION = "idp.outbound.queued"


@sqlalchemy_event.listens_for(Session, "after_commit")
def _queued_jobs_committed(db: Session) -> None:
    kinds = db.info.pop(_QUEUED_IN_TRANSACTION, None)
    if not kinds:
        return
    for kind in kinds:
        metrics.outbound_job(kind, "queued")
    worker = runtime().outbound_worker
    if worker is not None:
        worker.wake()


@sqlalchemy_event.listens_for(Session, "after_rollback")
def _queued_jobs_rolled_back(db: Session) -> None:
    db.info.pop(_QUEUED_IN_TRANSACTION, None)


def _new_job(kind: str, payload: dict[str, Any], delay_seconds: int) -> OutboundJob:
    return OutboundJob(
        kind=kind,
        payload_encrypted=runtime().secrets.outbound_payloads.encrypt(json.dumps(payload, default=str).encode("utf-8")),
        state=JOB_PENDING,
        attempts=0,
        next_attempt_at=utcnow() + timedelta(seconds=delay_seconds),
    )


def wake_after_the_answer(worker: Worker) -> None:
    """Inside a request, wake the worker when the response has gone out, not before: work
    done for an account (a reset link, a mail) must not compete with the answer and show in
    its time (issue 10 §3). Outside a request (commands, the worker itself), at once."""
    from flask import after_this_request, has_request_context

    if not has_request_context():
        worker.wake()
        return

    @after_this_request
    def wake_when_sent(response):
        response.call_on_close(worker.wake)
        return response


def run_due(app: Flask, limit: int = 100) -> int:
    """Run up to ``limit`` due jobs in this process, one at a time; returns how many ran."""
    ran = 0
    with app.app_context():
        settings = runtime(app).settings.outbound
        while ran < limit:
            db = get_session()
            job = _claim(db, settings)
            if job is None:
                break
            _run(db, job, settings)
            ran += 1
    return ran


def drain(app: Flask, timeout: float = 30) -> int:
    """Run every job that is due now, and wait for those another thread or process is running
    (tests; a command about to end). Failed attempts are rescheduled, not repeated here.
    Returns how many this call ran."""
    ran = 0
    deadline = time.monotonic() + timeout
    while True:
        ran += run_due(app)
        with app.app_context():
            db = get_session()
            busy = db.scalar(
                select(OutboundJob.id)
                .where(OutboundJob.state == JOB_PENDING, OutboundJob.next_attempt_at <= utcnow())
                .limit(1)
            )
            db.rollback()
        if busy is None or time.monotonic() > deadline:
            return ran
        time.sleep(0.05)


def _claim(db: Session, settings: OutboundSettings) -> OutboundJob | None:
    now = utcnow()
    claimable = (
        OutboundJob.state == JOB_PENDING,
        OutboundJob.next_attempt_at <= now,
        or_(OutboundJob.claimed_until.is_(None), OutboundJob.claimed_until <= now),
    )
    candidates = db.scalars(
        select(OutboundJob.id).where(*claimable).order_by(OutboundJob.next_attempt_at, OutboundJob.id).limit(10)
    ).all()
    for job_id in candidates:
        claimed = db.execute(
            update(OutboundJob)
            .where(OutboundJob.id == job_id, *claimable)
            .values(claimed_until=now + timedelta(seconds=settings.lease_seconds), attempts=OutboundJob.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        db.commit()
        if claimed.rowcount == 1:
            return db.get(OutboundJob, job_id, populate_existing=True)
    db.rollback()
    return None


def _run(db: Session, job: OutboundJob, settings: OutboundSettings) -> None:
    # Every line logged while the job runs (the mailer's too) names it.
    with log_context(job_id=job.id, job_kind=job.kind, attempt=job.attempts):
        try:
            payload = json.loads(runtime().secrets.outbound_payloads.decrypt(job.payload_encrypted))
            _handler(job.kind)(payload)
        except Exception as error:  # every failure is the job's, never the worker's
            db.rollback()
            _failed(db, job, error, settings)
            return
        job.state = JOB_DONE
        job.finished_at = utcnow()
        job.claimed_until = None
        job.payload_encrypted = ""
        db.commit()
        metrics.outbound_job(job.kind, "done")


def _failed(db: Session, job: OutboundJob, error: Exception, settings: OutboundSettings) -> None:
    job = db.get(OutboundJob, job.id, populate_existing=True)
    job.last_error = type(error).__name__[:100]
    job.claimed_until = None
    if isinstance(error, GiveUp) or job.attempts >= settings.max_attempts:
        job.state = JOB_FAILED
        job.finished_at = utcnow()
        job.payload_encrypted = ""
        # The kind and the error class only: the input may hold a link, a code or an address.
        log.error("outbound job given up", extra={"kind": job.kind, "attempts": job.attempts, "error": job.last_error})
        audit.record(db, "outbound_failed", "failed", kind=job.kind, attempts=job.attempts, error=job.last_error)
        outcome = "given_up"
    else:
        delay = min(settings.retry_base_seconds * 2 ** (job.attempts - 1), settings.retry_max_seconds)
        job.next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.warning(
            "outbound job will be retried",
            extra={"kind": job.kind, "attempts": job.attempts, "error": job.last_error, "retry_in_seconds": delay},
        )
        # Each failed try is in the trail too (kind and error class only), not only the last.
        audit.record(
            db,
            "outbound_attempt_failed",
            "retry",
            kind=job.kind,
            attempts=job.attempts,
            error=job.last_error,
            retry_in_seconds=delay,
        )
        outcome = "retry"
    db.commit()
    metrics.outbound_job(job.kind, outcome)


def _handler(kind: str) -> Callable[[dict], None]:
    module_name, _, function = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module_name), function)


def purge_now(app: Flask) -> dict[str, int]:
    """Delete what is no longer kept (``services.retention.purge``), logged with the counts."""
    from idp.services import retention

    with app.app_context():
        counts = retention.purge(get_session(), runtime(app).settings)
    if any(counts.values()):
        log.info("purged what is no longer kept", extra={"purged": counts})
    return counts


class Worker:
    """One thread per server process that runs due jobs: woken when a job is queued here,
    and polling every ``poll_seconds`` for jobs queued elsewhere or due for a retry."""

    def __init__(self, app: Flask, poll_seconds: float, purge_interval_seconds: float = 0) -> None:
        self._app = app
        self._poll_seconds = poll_seconds
        # Also the periodic purge (services.retention): 0 turns it off.
        self._purge_interval = purge_interval_seconds
        self._next_purge = time.monotonic() + purge_interval_seconds
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="idp-outbound", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout)

    def _purge_when_due(self) -> None:
        if self._purge_interval <= 0 or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self._purge_interval
        purge_now(self._app)

    def _loop(self) -> None:
        database_away = False
        while not self._stopped.is_set():
            self._wake.wait(self._poll_seconds)
            self._wake.clear()
            try:
                run_due(self._app)
                self._purge_when_due()
            except (OperationalError, InterfaceError) as error:
                # The database is away: the jobs wait in it; try again next round. One warning
                # per outage, not one per round.
                metrics.dependency_error("database")
                if not database_away:
                    log.warning(
                        "database unavailable: queued work waits",
                        extra={"dependency": "database", "error": type(error.orig or error).__name__},
                    )
                database_away = True
                continue
            except Exception:
                log.exception("outbound worker round failed")
                continue
            if database_away:
                log.info("database available again: queued work resumes", extra={"dependency": "database"})
                database_away = False

"""Work queued to be done after the request, by any process: mail, and the tasks whose cost
must not show in the answer (see idp.services.outbound)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import utcnow
from idp.db import Base

JOB_PENDING = "pending"
JOB_DONE = "done"
JOB_FAILED = "failed"


class OutboundJob(Base):
    __tablename__ = "outbound_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What to do: a name in idp.services.outbound.HANDLERS ("mail", "password_reset", ...).
    kind: Mapped[str] = mapped_column(String(32))
    # The job's input as JSON, AES-GCM encrypted: it may hold a link, a code or an address.
    # Emptied once the job is done or given up, so secrets do not outlive their use.
    payload_encrypted: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=JOB_PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # A process working on the job holds it until then (a crashed one lets it go again).
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # The last failure's kind (an exception class name), never its text: no secret goes here.
    last_error: Mapped[str | None] = mapped_column(String(100))

"""Pending authorization requests, held while the member signs in and consents.

Each is bound to the browser that started it, expires, and moves only forward through the
methods of ``Interaction`` (whose docstring draws the states). ``consume`` is atomic, so a
request is answered once even when two tabs (or two processes) race.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.clock import utcnow
from idp.db import run_table_statement
from idp.errors import InteractionExpired
from idp.models import Interaction
from idp.models.flows import (
    INTERACTION_CONSENT,
    INTERACTION_DONE,
    INTERACTION_LOGIN,
    INTERACTION_READY,
    INTERACTION_SECOND_FACTOR,
)
from idp.security.tokens import constant_time_equals, random_token

# Every authorization request that needs the member starts one (a prebuilt table statement).
_START = insert(Interaction.__table__)


def start(
    db: Session,
    params: dict[str, str],
    client_id: str | None,
    browser_binding: str,
    ttl_seconds: int,
    *,
    needs_login: bool,
    needs_step_up: bool = False,
    needs_consent: bool = False,
    member_id: int | None = None,
    return_to: str | None = None,
    required_acr: str | None = None,
) -> str:
    """Hold a request (its state diagram is ``Interaction``'s docstring) and return its uid.
    Written at once, by the table's statement (see idp.db.run_table_statement); the caller
    commits. ``client_id`` None
    means idp's own pages (the account area): when the steps are done the browser goes back
    to ``return_to`` (a path on idp) instead of a client.

    ``member_id``: the signed-in member the request is for, when no new sign-in is needed;
    ``needs_step_up``: that member must pass a second factor (no password) first;
    ``required_acr``: the level the sign-in must reach."""
    if client_id is None and not is_own_path(return_to):
        raise ValueError("an interaction without a client needs a return_to path on idp")
    if needs_login:
        state = INTERACTION_LOGIN
    elif needs_step_up:
        state = INTERACTION_SECOND_FACTOR
    elif needs_consent:
        state = INTERACTION_CONSENT
    else:
        state = INTERACTION_READY
    uid = random_token(24)
    run_table_statement(
        db,
        _START,
        {
            "uid": uid,
            "browser_binding": browser_binding,
            "client_id": client_id,
            "return_to": return_to,
            "params_json": json.dumps(params, sort_keys=True),
            "state": state,
            "required_acr": required_acr,
            "member_id": None if needs_login else member_id,
            "expires_at": utcnow() + timedelta(seconds=ttl_seconds),
        },
    )
    return uid


# Prebuilt (see idp.db): every step of a sign-in loads its interaction.
_INTERACTION_BY_UID = select(Interaction).where(Interaction.uid == bindparam("uid"))


def load(db: Session, uid: str, browser_binding: str | None) -> Interaction:
    """The live interaction with this uid for this browser, or InteractionExpired."""
    if "\x00" in uid:
        # Never one of ours, and PostgreSQL refuses NUL in a text comparison.
        raise InteractionExpired("interaction uid with NUL")
    interaction = db.scalar(_INTERACTION_BY_UID, {"uid": uid})
    if (
        interaction is None
        or browser_binding is None
        or not constant_time_equals(interaction.browser_binding, browser_binding)
        or interaction.state == INTERACTION_DONE
        or interaction.expires_at <= utcnow()
    ):
        raise InteractionExpired(f"interaction {uid[:6]}… unusable")
    return interaction


# Prebuilt table statements (see idp.db): each sign-in rebinds its browser's interactions
# and consumes its own. (Bind names differ from the columns': an UPDATE reserves those for
# its SET values.)
_INTERACTIONS = Interaction.__table__
_REBIND = (
    update(_INTERACTIONS)
    .where(_INTERACTIONS.c.browser_binding == bindparam("old_binding"), _INTERACTIONS.c.state != INTERACTION_DONE)
    .values(browser_binding=bindparam("new_binding"))
)
_CONSUME = (
    update(_INTERACTIONS)
    .where(_INTERACTIONS.c.id == bindparam("interaction_id"), _INTERACTIONS.c.state != INTERACTION_DONE)
    .values(state=INTERACTION_DONE)
)


def rebind(db: Session, old_binding: str, new_binding: str, commit: bool = True) -> int:
    """Move this browser's pending interactions to its new binding (at every rotation of its
    session). ``commit=False``: the caller commits it with the step that rotated the session.
    Returns how many moved."""
    result = run_table_statement(db, _REBIND, {"old_binding": old_binding, "new_binding": new_binding})
    if commit:
        db.commit()
    return result.rowcount


def consume(db: Session, interaction: Interaction, commit: bool = True) -> None:
    """Mark the interaction answered; raises if another request did so first. ``commit=False``:
    the caller commits it with what the answer stores (the code); until then the conditional
    UPDATE holds the row, so a concurrent request still finds it answered once."""

    result = run_table_statement(db, _CONSUME, {"interaction_id": interaction.id})
    if result.rowcount != 1:
        raise InteractionExpired("interaction already answered")
    set_committed_value(interaction, "state", INTERACTION_DONE)  # as the database now has it
    if commit:
        db.commit()


def is_own_path(path: str | None) -> bool:
    """A same-origin relative path: starts with one "/", no scheme, host or backslash tricks."""
    return (
        bool(path)
        and path.startswith("/")
        and not path.startswith("//")
        and "\\" not in path
        and not any(ord(character) < 32 for character in path)
        and len(path) <= 300
    )

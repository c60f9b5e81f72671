"""`idp members`: membership records, online accounts, locks and second factors."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from sqlalchemy.exc import IntegrityError

from idp.cli.base import (
    EXIT_BAD_INPUT,
    OneLineFailure,
    echo_json,
    echo_record,
    echo_table,
    json_option,
    operator_name,
    provider_app,
    record_operator_action,
)
from idp.cli.main_group import main
from idp.db import get_session
from idp.errors import NotFound, ValidationFailed
from idp.services import account_status, audit, outbound
from idp.services import lockout as lockout_service
from idp.services import members as member_service


@main.group()
def members() -> None:
    """Members of the program and their online accounts."""


@members.command("create")
@click.option("--membership-number", required=True, help="11 digits.")
@click.option("--nik", required=True, help="National identity number, 16 digits.")
@click.option("--name", "full_name", required=True, help="Full name.")
@click.option("--birth-date", required=True, metavar="YYYY-MM-DD")
@click.option("--email")
@click.option("--email-verified", is_flag=True, help="The email address was verified by other means.")
@click.option("--phone")
@click.option("--locale", type=click.Choice(member_service.SUPPORTED_LOCALES), default="id", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--no-password", is_flag=True, help="No online account yet: the member cannot sign in.")
@json_option
def members_create(
    membership_number: str,
    nik: str,
    full_name: str,
    birth_date: str,
    email: str | None,
    email_verified: bool,
    phone: str | None,
    locale: str,
    password_stdin: bool,
    no_password: bool,
    as_json: bool,
) -> None:
    """Register a member. The password is asked for (hidden, twice) unless --password-stdin
    or --no-password; there is deliberately no option that puts it on the command line."""
    if password_stdin and no_password:
        raise click.UsageError("--password-stdin and --no-password exclude each other")
    new = member_service.NewMember(
        membership_number=membership_number,
        nik=nik,
        full_name=full_name,
        birth_date=parse_birth_date(birth_date),
        email=email,
        email_verified=email_verified,
        phone=phone,
        locale=locale,
    )
    with provider_app():
        password = None if no_password else read_new_password(from_stdin=password_stdin)
        db = get_session()
        member = member_service.create_member(db, new, password)
        record_operator_action(db, "member_created", member_id=member.id)
        db.commit()
        described = member_service.describe(member)
    if as_json:
        echo_json(described)
    else:
        click.echo(f"created member {described['membership_number']} (subject {described['subject']})")


def parse_birth_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed("birth_date", f"{text!r} is not a date YYYY-MM-DD") from None


def read_new_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        # Only the line ending goes: spaces are as much part of a password as letters.
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise ValidationFailed("password", "was expected on standard input")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    # Checked now, before the database is touched, so a short password costs nothing.
    member_service.check_password_acceptable(password)
    return password


@members.command("import")
@click.argument("file", metavar="FILE.csv")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Load the good rows even when some are bad (those are still reported, and the exit status is 1).",
)
@json_option
def members_import(file: str, skip_invalid: bool, as_json: bool) -> None:
    """Load membership records from an enrolment CSV file ('-' reads standard input).

    Columns: membership_number,nik,full_name,birth_date[,email,phone]; UTF-8; dates YYYY-MM-DD.
    Records are matched by membership number, so importing a file again changes nothing.
    Every row is checked first; when any is bad, nothing is loaded (unless --skip-invalid)."""
    from idp.services import member_import

    data = _read_input_file(file)
    with provider_app():
        db = get_session()
        try:
            report = member_import.import_members(db, data, skip_invalid=skip_invalid, actor=operator_name())
            if report.loaded:
                db.commit()
            else:
                db.rollback()
        except IntegrityError:
            # Another import (or a member's email change) wrote the same row meanwhile.
            db.rollback()
            raise OneLineFailure(
                "the members changed while the file was loaded (another import?); nothing was loaded: run it again",
                EXIT_BAD_INPUT,
            ) from None
    if as_json:
        echo_json(report.as_dict())
    else:
        for problem in report.problems:
            click.echo(str(problem), err=True)
        for line in report.email_kept:
            click.echo(f"line {line}: email: the member already has an email address; kept it")
        if report.loaded:
            click.echo(
                f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged ({report.rows} rows)"
            )
    bad = len(report.bad_lines)
    if bad and report.loaded:
        raise OneLineFailure(f"{bad} bad row(s) of {report.rows} were not loaded", EXIT_BAD_INPUT)
    if bad:
        raise OneLineFailure(
            f"{bad} bad row(s) of {report.rows}; nothing was loaded (fix them, or load the good rows with --skip-invalid)",
            EXIT_BAD_INPUT,
        )


def _read_input_file(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as error:
        raise OneLineFailure(f"cannot read {name}: {error.strerror}", EXIT_BAD_INPUT) from None


@members.command("export")
@json_option
def members_export(as_json: bool) -> None:
    """Write every membership record to standard output: CSV in the import format, or with
    --json the full records and account state. Never password hashes or factor secrets."""
    from idp.services import member_import

    with provider_app():
        members_found = member_import.all_members(get_session())
        if as_json:
            echo_json([member_import.export_record(member) for member in members_found])
        else:
            click.echo(member_import.export_csv(members_found), nl=False)


@members.command("list")
@click.option(
    "--search", "text", metavar="TEXT", help="Membership number (its start), NIK, or part of the email or name."
)
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(min=1, max=10_000), help="At most this many."
)
@json_option
def members_list(text: str | None, limit: int, as_json: bool) -> None:
    """List members, by membership number: all of them, or those matching --search."""
    with provider_app():
        # One more than asked for, to know whether there are more.
        found = member_service.search(get_session(), text, limit + 1)
        shown = found[:limit]
        rows = [
            {**member_service.describe(member), "account": member_service.account_state(member)} for member in shown
        ]
    if as_json:
        echo_json(rows)
        return
    columns = ["membership_number", "full_name", "email", "account"]
    echo_table(rows, columns, empty="no member matches" if text else "no members")
    if len(found) > limit:
        click.echo(f"(the first {limit}; narrow the search or raise --limit)")


@members.command("show")
@click.argument("identifier")
@json_option
def members_show(identifier: str, as_json: bool) -> None:
    """Show a member by email or membership number, as typed at sign-in (phone_verified: the
    number codes by SMS go to was verified by the member)."""
    with provider_app():
        member = _member(get_session(), identifier)
        described = member_service.describe(member)
    if as_json:
        echo_json(described)
    else:
        echo_record(described)


@members.command("unlock")
@click.argument("identifier")
@click.option("--by", "by_name", help="Who unlocks (for the audit trail; default: your login name).")
def members_unlock(identifier: str, by_name: str | None) -> None:
    """Clear the lock and failure counts of an account (or of an identifier with no account)."""
    with provider_app():
        db = get_session()
        key, member = lockout_service.subject_for(db, identifier)
        cleared = lockout_service.unlock(db, key)
        if not cleared:
            db.rollback()
            raise OneLineFailure(f"{identifier} is not locked: nothing to unlock", EXIT_BAD_INPUT)
        audit.record(
            db,
            "unlock",
            "success",
            member_id=member.id if member else None,
            identifier_digest=key.partition(":")[2] if member is None else None,
            actor=by_name or operator_name(),
        )
        db.commit()
    click.echo(f"unlocked {identifier}")


@members.command("lock")
@click.argument("identifier")
@click.option("--reason", required=True, help="Why (kept with the lock and in the audit trail).")
@click.option("--by", "by_name", help="Who locks (default: your login name).")
def members_lock(identifier: str, reason: str, by_name: str | None) -> None:
    """Lock an account until an operator unlocks it. Its sessions end, its refresh and access
    tokens are revoked, and its relying parties are told by back-channel logout.

    A wrong password then fails as for an unknown identifier; only the right one is told the
    account is locked and to contact support."""
    if not reason.strip():
        raise ValidationFailed("reason", "must not be empty")
    with provider_app():
        db = get_session()
        member = _member(db, identifier)
        ended = account_status.lock_by_operator(db, member, reason.strip(), by_name or operator_name())
    click.echo(f"locked {identifier} until unlocked; {ended} session(s) ended")


@members.command("disable")
@click.argument("identifier")
@click.option("--reason", required=True, help="Why (kept with the account and in the audit trail).")
@click.option("--by", "by_name", help="Who disables (default: your login name).")
def members_disable(identifier: str, reason: str, by_name: str | None) -> None:
    """Disable an account until `idp members enable` (apart from the temporary lockout). Its
    sessions end, its refresh and access tokens are revoked and its relying parties are told by
    back-channel logout; a wrong password fails as for an unknown identifier, and only the
    right one is told the account is disabled and to contact support."""
    if not reason.strip():
        raise ValidationFailed("reason", "must not be empty")
    with provider_app():
        db = get_session()
        member = _member(db, identifier)
        ended = account_status.disable(db, member, reason.strip(), by_name or operator_name())
    click.echo(f"disabled {identifier}; {ended} session(s) ended")


@members.command("enable")
@click.argument("identifier")
@click.option("--by", "by_name", help="Who enables (default: your login name).")
def members_enable(identifier: str, by_name: str | None) -> None:
    """Enable an account disabled with `idp members disable`."""
    with provider_app():
        db = get_session()
        member = _member(db, identifier)
        account_status.enable(db, member, by_name or operator_name())
    click.echo(f"enabled {identifier}")


@members.command("reset-mfa")
@click.argument("identifier")
@click.option("--by", "by_name", help="Who resets (for the audit trail; default: your login name).")
def members_reset_mfa(identifier: str, by_name: str | None) -> None:
    """Remove every second factor and recovery code of a member (a lost phone).

    The member is told by email; remembered browsers stop skipping the second factor. With
    security.require_mfa the member sets up a new factor at the next sign-in."""
    from idp.services import second_factor as factor_service

    with provider_app() as app:
        db = get_session()
        member = _member(db, identifier)
        reset = factor_service.reset_by_operator(db, member, by_name or operator_name())
        outbound.drain(app)  # the command ends now: send the notice first
    if not reset.removed:
        click.echo(f"{identifier} had no second factor; nothing was changed")
    elif reset.notified:
        click.echo(f"removed {reset.removed} second factor(s) of {identifier}; the member was notified by email")
    else:
        click.echo(
            f"removed {reset.removed} second factor(s) of {identifier}; the member has no email address to notify"
        )


@members.command("locked")
@json_option
def members_locked(as_json: bool) -> None:
    """List locked accounts and identifiers, and until when."""
    with provider_app():
        db = get_session()
        rows = [lockout_service.describe_lock(db, row) for row in lockout_service.locked_subjects(db)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        row["until"] = "until unlocked" if row["until_unlocked"] else row["locked_until"]
    echo_table(rows, ["subject", "email", "kind", "until", "reason", "locked_by"], empty="nothing is locked")


def _member(db, identifier: str):
    """The member an operator named (email or membership number); NotFound (exit 1) otherwise."""
    member = member_service.find(db, identifier)
    if member is None:
        raise NotFound(f"no member {identifier!r}")
    return member

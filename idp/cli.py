"""The `idp` command: serve, migrate, and manage keys, clients and members.

Commands are thin shells over ``idp.services``: parse options, call one service function in
an app context, commit, print. Configuration comes from ``IDP_CONFIG`` and ``IDP_<SECTION>__<KEY>``
exactly as for the server. Every failure an operator can cause is one line on stderr,
``idp: <what is wrong>``, with exit status 1 for bad input and 2 for configuration (settings,
an unreachable or un-migrated database). Usage mistakes (an unknown option, a missing
required one) keep click's usual message and status 2.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from idp import ConfigError, create_app, ensure_schema_current, migrate
from idp.db import current_revision, get_engine, get_session, make_engine
from idp.errors import IdpError, NotFound, ValidationFailed
from idp.models.client import ID_TOKEN_SIGNING_ALGS, TOKEN_ENDPOINT_AUTH_METHODS
from idp.runtime import runtime
from idp.security.crypto import SecretBox
from idp.services import audit
from idp.services import clients as client_service
from idp.services import demo as demo_service
from idp.services import keys as key_service
from idp.services import lockout as lockout_service
from idp.services import members as member_service
from idp.settings import Settings, load_settings

EXIT_BAD_INPUT = 1
EXIT_CONFIG = 2


# --- errors: one line, no traceback -------------------------------------------------------


class OneLineFailure(click.ClickException):
    """Printed as ``idp: <message>`` on stderr; click then exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int) -> None:
        # Collapsed to one line whatever the source wrote, so scripts can rely on it.
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"idp: {self.format_message()}", err=True)


class OperatorCommand(click.Command):
    """A command whose expected failures become ``OneLineFailure``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as error:  # includes DatabaseNotReady
            raise OneLineFailure(str(error), EXIT_CONFIG) from None
        except ValidationFailed as error:
            raise OneLineFailure(f"{_option_named(ctx, error.field)} {error.problem}", EXIT_BAD_INPUT) from None
        except IdpError as error:
            raise OneLineFailure(error.detail or error.message_id, EXIT_BAD_INPUT) from None
        except OperationalError as error:
            # Mostly an unreachable database or wrong credentials: a configuration matter.
            raise OneLineFailure(f"database: {_first_line(error.orig or error)}", EXIT_CONFIG) from None
        except OSError as error:  # a file named on the command line cannot be written
            raise OneLineFailure(str(error), EXIT_BAD_INPUT) from None


class OperatorGroup(click.Group):
    command_class = OperatorCommand
    group_class = type  # subgroups are OperatorGroups too, so their commands are covered


def _option_named(ctx: click.Context, field: str) -> str:
    """The service names the field at fault; say it as the option the operator typed."""
    for param in ctx.command.params:
        if param.name == field and isinstance(param, click.Option):
            return param.opts[0]
    return field


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# --- the app and its database -------------------------------------------------------------


def checked_settings() -> Settings:
    """The settings, with a database URL SQLAlchemy can use (else a ConfigError, not a traceback)."""
    settings = load_settings()
    try:
        make_url(settings.database_url).get_dialect()
    except ArgumentError as error:  # unparseable, or an unknown dialect
        raise ConfigError(f"database.url: {error}") from None
    return settings


@contextmanager
def provider_app() -> Iterator[Flask]:
    """The configured app, its database checked, inside an app context. Its engine is
    disposed afterwards, so no connection outlives the command."""
    checked_settings()
    # The schema check is ours rather than create_app's so that, when it fails, the engine
    # create_app made is still in hand to dispose of.
    app = create_app(check_schema=False)
    try:
        ensure_schema_current(app)
        with app.app_context():
            yield app
    finally:
        get_engine(app).dispose()


def key_box(app: Flask) -> SecretBox:
    return runtime(app).secrets.signing_keys


def record_operator_action(db: Session, event: str, **detail: Any) -> None:
    """Changes made from the command line belong in the audit trail like any other."""
    audit.record(db, event, "success", actor=_operator(), **detail)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except Exception:  # no login name in some containers; the event still counts
        return "cli"


# --- output ------------------------------------------------------------------------------

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def echo_record(record: dict[str, Any]) -> None:
    """``field: value`` lines, aligned."""
    width = max(len(name) for name in record) + 1
    for name, value in record.items():
        click.echo(f"{name + ':':<{width}} {_text(value)}")


def echo_table(rows: list[dict[str, Any]], columns: list[str], empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [[_text(row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    for line in [[column.upper() for column in columns], *cells]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def _text(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, list):  # scopes, URIs: none contains a space
        return " ".join(str(item) for item in value)
    return str(value)


# --- the command tree --------------------------------------------------------------------


@click.group("idp", cls=OperatorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="idp", prog_name="idp")
def main() -> None:
    """Operate the idp OpenID Connect provider.

    Settings come from the TOML file named by IDP_CONFIG and from IDP_<SECTION>__<KEY>
    environment variables, as for the server.
    """


@main.command()
@click.option("--bind", default="127.0.0.1:5000", show_default=True, metavar="HOST:PORT", help="Address to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
def serve(bind: str, workers: int) -> None:
    """Run the provider under gunicorn with the configured settings."""
    # Build the app once here, so bad settings or an un-migrated database stop with one
    # line now rather than in every worker after gunicorn has started.
    with provider_app():
        pass
    ProviderServer(bind=bind, workers=workers).run()


class ProviderServer(BaseApplication):
    """gunicorn, configured here and not from its own command line or environment."""

    def __init__(self, bind: str, workers: int) -> None:
        self.options = {
            "bind": bind,
            "workers": workers,
            "proc_name": "idp",
            # gunicorn >= 25 opens a control socket at one fixed per-user path, so a second
            # server (tests, `make run` beside a real one) would clash over it. Not needed.
            "control_socket_disable": True,
            # Which proxy to believe about the client address and scheme is
            # server.trusted_proxies' decision alone (ProxyFix in create_app); by default
            # gunicorn would also take X-Forwarded-Proto from any local connection.
            "forwarded_allow_ips": "",
            "secure_scheme_headers": {},
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        # In each worker: its own app, engine and connections (nothing shared across fork).
        return create_app()


@main.group("db")
def database() -> None:
    """The database schema."""


@database.command("upgrade")
def database_upgrade() -> None:
    """Migrate the database to the code's revision. Safe to repeat.

    Works on an empty database: this is how one is made.
    """
    url = checked_settings().database_url
    _make_sqlite_folder(url)
    before = _revision_of(url)
    migrate.upgrade(url)
    after = _revision_of(url)
    if before == after:
        click.echo(f"database already at revision {after} (head)")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to revision {after} (head)")


def _make_sqlite_folder(url: str) -> None:
    """SQLite creates the file but not its folder (the instance folder on a fresh checkout)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _revision_of(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


@main.group()
def keys() -> None:
    """Signing keys for ID tokens and access tokens."""


KEY_COLUMNS = ["kid", "alg", "state", "created_at", "retired_at"]


@keys.command("list")
@json_option
def keys_list(as_json: bool) -> None:
    """List signing keys, newest first (public facts only, never key material)."""
    with provider_app():
        described = [key_service.describe(key) for key in key_service.list_keys(get_session())]
    if as_json:
        echo_json(described)
    else:
        echo_table(described, KEY_COLUMNS, empty="no signing keys yet (`idp keys ensure` makes them)")


@keys.command("ensure")
def keys_ensure() -> None:
    """Make an active key for each algorithm that has none. Safe to repeat."""
    with provider_app() as app:
        db = get_session()
        made = key_service.ensure_keys(db, key_box(app))
        db.commit()
    for key in made:
        click.echo(f"created {key.alg} key {key.kid}")
    if not made:
        click.echo("signing keys already present")


@keys.command("rotate")
def keys_rotate() -> None:
    """Retire the active keys and make new ones.

    Retired keys stay in /jwks for keys.retired_key_publish_seconds, so tokens they signed
    still verify until they expire.
    """
    with provider_app() as app:
        db = get_session()
        made = key_service.rotate_keys(db, key_box(app))
        record_operator_action(db, "keys_rotated", kids=[key.kid for key in made])
        db.commit()
        publish_seconds = runtime(app).settings.keys.retired_key_publish_seconds
    for key in made:
        click.echo(f"new active {key.alg} key {key.kid}")
    click.echo(f"previous keys retired; they stay published in /jwks for {publish_seconds} seconds")


@main.group()
def clients() -> None:
    """Relying parties allowed to sign members in."""


CLIENT_COLUMNS = ["client_id", "type", "token_endpoint_auth_method", "first_party", "name"]


@clients.command("create")
@click.option("--name", required=True, help="Shown to members on the consent page.")
@click.option(
    "--redirect-uri", "redirect_uri", required=True, multiple=True, help="Exact callback URI; repeat for more."
)
@click.option("--public/--confidential", default=False, help="Public: no secret (apps, SPAs); must use PKCE.")
@click.option("--auth-method", type=click.Choice(TOKEN_ENDPOINT_AUTH_METHODS), help="Token endpoint authentication.")
@click.option("--scope", multiple=True, help="An allowed scope; repeat for more.")
@click.option("--scopes", "scope_list", metavar='"A B"', help="Allowed scopes, space-separated.")
@click.option("--grant-type", multiple=True, help="Allowed grant type; repeat for more.")
@click.option("--first-party/--third-party", default=False, help="First-party clients skip the consent page.")
@click.option(
    "--id-token-alg", type=click.Choice(ID_TOKEN_SIGNING_ALGS), help="Default: tokens.default_id_token_signing_alg."
)
@click.option("--client-id", help="Choose the client id (default: random).")
@click.option("--require-acr", "required_acr", metavar="ACR", help="The level every sign-in for it must reach.")
@json_option
def clients_create(
    name: str,
    redirect_uri: tuple[str, ...],
    public: bool,
    auth_method: str | None,
    scope: tuple[str, ...],
    scope_list: str | None,
    grant_type: tuple[str, ...],
    first_party: bool,
    id_token_alg: str | None,
    client_id: str | None,
    required_acr: str | None,
    as_json: bool,
) -> None:
    """Register a client. A confidential client's secret is printed once, now."""
    with provider_app() as app:
        settings = runtime(app).settings
        optional: dict[str, Any] = {}
        if scope or scope_list:
            optional["scopes"] = [*(scope_list or "").split(), *scope]
        if grant_type:
            optional["grant_types"] = list(grant_type)
        new = client_service.NewClient(
            name=name,
            redirect_uris=list(redirect_uri),
            public=public,
            token_endpoint_auth_method=auth_method,
            first_party=first_party,
            id_token_signed_response_alg=id_token_alg or settings.tokens.default_id_token_signing_alg,
            client_id=client_id,
            required_acr=required_acr,
            **optional,
        )
        db = get_session()
        client, secret = client_service.create_client(db, new)
        record_operator_action(db, "client_registered", client_id=client.client_id)
        db.commit()
        described = client_service.describe(client)
    _echo_new_client(described, secret, as_json)


def _echo_new_client(described: dict[str, Any], secret: str | None, as_json: bool) -> None:
    warning = "The client secret will not be shown again: store it now."
    if as_json:
        echo_json({**described, "client_secret": secret} if secret else described)
        if secret:
            click.echo(warning, err=True)
        return
    click.echo(f"client_id:     {described['client_id']}")
    if secret:
        click.echo(f"client_secret: {secret}")
        click.echo(warning)
    else:
        click.echo("public client: no secret; it must use PKCE")


@clients.command("list")
@json_option
def clients_list(as_json: bool) -> None:
    """List registered clients."""
    with provider_app():
        described = [client_service.describe(client) for client in client_service.list_clients(get_session())]
    if as_json:
        echo_json(described)
    else:
        echo_table(described, CLIENT_COLUMNS, empty="no clients registered")


@clients.command("show")
@click.argument("client_id")
@json_option
def clients_show(client_id: str, as_json: bool) -> None:
    """Show one client's registration (never its secret, which is not stored)."""
    with provider_app():
        described = client_service.describe(client_service.get_client(get_session(), client_id))
    if as_json:
        echo_json(described)
    else:
        echo_record(described)


@clients.command("update")
@click.argument("client_id")
@click.option("--name", help="Shown to members on the consent page.")
@click.option(
    "--require-acr",
    "required_acr",
    metavar="ACR",
    help='The level every sign-in for it must reach; "" for none.',
)
@json_option
def clients_update(client_id: str, name: str | None, required_acr: str | None, as_json: bool) -> None:
    """Change a client's registration."""
    changes = client_service.ClientChanges(name=name, required_acr=required_acr)
    with provider_app():
        db = get_session()
        client = client_service.get_client(db, client_id)
        changed = client_service.update_client(db, client, changes)
        if changed:
            record_operator_action(db, "client_updated", client_id=client_id, fields=changed)
        db.commit()
        described = client_service.describe(client)
    if as_json:
        echo_json(described)
    elif changed:
        click.echo(f"updated client {client_id}: {', '.join(changed)}")
    else:
        click.echo(f"client {client_id} unchanged")


@clients.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clients_delete(client_id: str, yes: bool) -> None:
    """Delete a client: it can no longer sign members in or redeem codes."""
    with provider_app():
        db = get_session()
        client = client_service.get_client(db, client_id)
        if not yes:
            click.confirm(f"Delete client {client.client_id} ({client.name})?", abort=True, err=True)
        client_service.delete_client(db, client_id)
        record_operator_action(db, "client_deleted", client_id=client_id)
        db.commit()
    click.echo(f"deleted client {client_id}")


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
            report = member_import.import_members(db, data, skip_invalid=skip_invalid, actor=_operator())
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


@members.command("show")
@click.argument("identifier")
@json_option
def members_show(identifier: str, as_json: bool) -> None:
    """Show a member by email or membership number, as typed at sign-in."""
    with provider_app():
        member = member_service.find(get_session(), identifier)
        if member is None:
            raise NotFound(f"no member {identifier!r}")
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
        audit.record(
            db,
            "unlock",
            "success" if cleared else "not_locked",
            member_id=member.id if member else None,
            identifier_digest=key.partition(":")[2] if member is None else None,
            actor=by_name or _operator(),
        )
        db.commit()
    click.echo(f"unlocked {identifier}" if cleared else f"{identifier} was not locked")


@members.command("lock")
@click.argument("identifier")
@click.option("--reason", required=True, help="Why (kept with the lock and in the audit trail).")
@click.option("--by", "by_name", help="Who locks (default: your login name).")
def members_lock(identifier: str, reason: str, by_name: str | None) -> None:
    """Lock an account until an operator unlocks it. Existing sessions are not ended."""
    if not reason.strip():
        raise ValidationFailed("reason", "must not be empty")
    with provider_app():
        db = get_session()
        key, member = lockout_service.subject_for(db, identifier)
        if member is None:
            raise NotFound(f"no member {identifier!r}")
        actor = by_name or _operator()
        lockout_service.lock_by_operator(db, key, member.id, reason.strip(), actor)
        audit.record(db, "lock", "success", member_id=member.id, actor=actor, reason=reason.strip())
        db.commit()
    click.echo(f"locked {identifier} until unlocked")


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
        member = member_service.find(db, identifier)
        if member is None:
            raise NotFound(f"no member {identifier!r}")
        reset = factor_service.reset_by_operator(db, member, by_name or _operator())
        flush = getattr(runtime(app).mailer, "flush", None)
        if flush is not None:
            flush()  # the command ends now: let the background mail go first
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


@main.group("audit")
def audit_group() -> None:
    """The audit trail of security events."""


@audit_group.command("tail")
@click.option("--member", "member_identifier", help="Only events of this member (email or membership number).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="How many events.")
@json_option
def audit_tail(member_identifier: str | None, limit: int, as_json: bool) -> None:
    """The most recent events, oldest first."""
    with provider_app():
        db = get_session()
        member_id = None
        if member_identifier is not None:
            member = member_service.find(db, member_identifier)
            if member is None:
                raise NotFound(f"no member {member_identifier!r}")
            member_id = member.id
        events = [audit.describe(event) for event in reversed(audit.recent(db, limit=limit, member_id=member_id))]
    if as_json:
        echo_json(events)
    else:
        echo_table(events, ["time", "event", "outcome", "member", "ip_address", "actor", "detail"], empty="no events")


@main.group()
def demo() -> None:
    """The demo installation used by `make run`."""


@demo.command("seed")
@click.option(
    "--portal-env",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Env file for the benefits portal. Default: <instance_path>/benefits_portal.env.",
)
@click.option("--reset-password", is_flag=True, help="Give an existing demo member a new password.")
def demo_seed(portal_env: Path | None, reset_password: bool) -> None:
    """Make the signing keys, the demo member and the benefits portal's client, keeping
    whatever already exists, and write the portal's client credentials to its env file."""
    with provider_app() as app:
        settings = runtime(app).settings
        env_path = portal_env or demo_service.default_portal_env_path(settings.server.instance_path)
        with env_file_errors(env_path, "read"):
            secret_on_file = demo_service.read_env_file(env_path).get(demo_service.PORTAL_SECRET_VARIABLE)
        db = get_session()
        seeded = demo_service.seed(db, key_box(app), secret_on_file, reset_password)
        db.commit()
        # Should this fail, the next seed with a writable file issues a fresh secret: nothing to undo.
        with env_file_errors(env_path, "write"):
            demo_service.write_env_file(env_path, demo_service.portal_env(settings.server.issuer, seeded.portal))
    _echo_demo(seeded, env_path)


@contextmanager
def env_file_errors(path: Path, action: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise OneLineFailure(f"cannot {action} {path}: {error.strerror}", EXIT_BAD_INPUT) from None


def _echo_demo(seeded: demo_service.DemoSeed, env_path: Path) -> None:
    member, portal = seeded.member, seeded.portal
    click.echo(f"signing keys: {'created ' + str(len(seeded.keys_created)) if seeded.keys_created else 'present'}")
    client_state = "registered" if portal.created else "secret reset" if portal.secret_changed else "unchanged"
    click.echo(f"portal client {portal.client.client_id}: {client_state}; credentials in {env_path}")
    click.echo("")
    click.echo(f"Open {demo_service.PORTAL_URL} and sign in as the demo member {member.member.full_name}:")
    click.echo(f"  membership number: {member.member.membership_number}  (or email {member.member.email})")
    if member.new_password:
        click.echo(f"  password:          {member.new_password}")
    else:
        click.echo("  password:          unchanged, set by an earlier seed (--reset-password makes a new one)")

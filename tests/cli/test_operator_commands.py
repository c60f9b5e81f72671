"""What the operator commands print (their result, nothing else), their exit statuses, and the
commands that look things up: `members list`, `db current`, `mail test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idp.migrate import head_revision, upgrade
from tests.cli.conftest import assert_failed, assert_succeeded
from tests.helpers.smtp import free_port

IDP_SCRIPT = Path(sys.executable).parent / "idp"
SITI = ("--membership-number", "12345678901", "--nik", "3171010101900001", "--name", "Siti Rahmawati")


def run_idp(cli_env: dict, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """The real console script, so stdout and stderr are what a terminal would show."""
    env = {name: value for name, value in {**os.environ, **cli_env}.items() if value is not None}
    return subprocess.run([str(IDP_SCRIPT), *args], env=env, input=input, capture_output=True, text=True, timeout=60)


# --- only its own result ---------------------------------------------------------------------------


def test_changes_print_their_result_and_nothing_else_yet_are_audited(cli_env):
    steps = [
        (
            ["members", "create", *SITI, "--birth-date", "1990-01-01", "--email", "siti@example.test", "--no-password"],
            "created member 12345678901",
        ),
        (["members", "lock", "12345678901", "--reason", "phone stolen"], "locked 12345678901 until unlocked"),
        (["members", "unlock", "12345678901"], "unlocked 12345678901"),
        (["keys", "rotate"], None),
        (["clients", "create", "--name", "Portal", "--redirect-uri", "https://rp.example.test/cb", "--public"], None),
    ]
    for args, expected in steps:
        result = run_idp(cli_env, *args)
        assert result.returncode == 0, (args, result.stderr)
        # Before: a JSON audit line on stderr for every change, mixed with the messages.
        assert result.stderr == "", (args, result.stderr)
        if expected:
            assert result.stdout.startswith(expected) and result.stdout.count("\n") == 1, result.stdout
        assert "{" not in result.stdout, result.stdout

    trail = run_idp(cli_env, "audit", "tail", "--json")
    events = [entry["event"] for entry in json.loads(trail.stdout)]
    for event in ("member_created", "lock", "unlock", "keys_rotated", "client_registered"):
        assert event in events


def test_a_failure_is_one_line_on_stderr_and_nothing_on_stdout(cli_env):
    result = run_idp(cli_env, "members", "lock", "99999999999", "--reason", "x")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "idp: no member '99999999999'\n"


# --- exit statuses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("members", "show"),  # a missing argument
        ("members", "show", "12345678901", "--colour"),  # an unknown option
        ("members", "frobnicate"),  # an unknown command
        ("members", "list", "--limit", "zero"),  # a value of the wrong kind
    ],
    ids=" ".join,
)
def test_usage_mistakes_exit_64_apart_from_configuration_problems(idp, args):
    result = idp(*args)
    assert result.exit_code == 64, (result.exit_code, result.output)
    assert "Usage: idp" in result.stderr


def test_bad_input_configuration_and_usage_have_three_statuses(idp, tmp_path: Path):
    assert idp("members", "show", "99999999999").exit_code == 1
    assert idp("members", "show", "99999999999", env={"IDP_SERVER__SECRET_KEY": "short"}).exit_code == 2
    assert idp("members", "show").exit_code == 64


# --- members list --------------------------------------------------------------------------------


@pytest.fixture
def listed_members(make_member):
    return [
        make_member(
            membership_number="10000000001",
            full_name="Siti Rahmawati",
            email="siti@example.test",
            nik="3171010101900001",
        ),
        make_member(
            membership_number="10000000002",
            full_name="Budi Santoso",
            email="budi.s@kantor.test",
            nik="3171010101900002",
            password=None,
        ),
        make_member(
            membership_number="20000000003", full_name="Ayu Lestari", email="ayu@example.test", nik="3171010101900003"
        ),
    ]


def numbers(result) -> list[str]:
    return [line.split()[0] for line in result.stdout.splitlines()[1:] if not line.startswith("(")]


def test_members_list_shows_everyone_by_membership_number(idp, listed_members):
    result = assert_succeeded(idp("members", "list"))
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MEMBERSHIP_NUMBER", "FULL_NAME", "EMAIL", "ACCOUNT"]
    assert numbers(result) == ["10000000001", "10000000002", "20000000003"]
    assert "Budi Santoso" in lines[2] and lines[2].split()[-1] == "none"
    assert lines[1].split()[-1] == "active"
    assert "3171010101900001" not in result.stdout  # the NIK only with --json
    assert result.stderr == ""


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1000000000", ["10000000001", "10000000002"]),  # the start of a membership number
        ("0000000003", []),  # not the middle of one
        ("SANTOSO", ["10000000002"]),  # part of a name, any case
        ("example.test", ["10000000001", "20000000003"]),  # part of an email
        ("3171010101900003", ["20000000003"]),  # a NIK, whole
        ("317101010190000", []),  # not part of one
        ("%", []),  # no wildcard
    ],
)
def test_members_list_searches(idp, listed_members, text, expected):
    result = assert_succeeded(idp("members", "list", "--search", text))
    if expected:
        assert numbers(result) == expected
    else:
        assert result.stdout == "no member matches\n"


def test_members_list_limit_says_when_there_are_more(idp, listed_members):
    result = assert_succeeded(idp("members", "list", "--limit", "2"))
    assert numbers(result) == ["10000000001", "10000000002"]
    assert result.stdout.splitlines()[-1] == "(the first 2; narrow the search or raise --limit)"
    assert "(the first" not in assert_succeeded(idp("members", "list", "--limit", "3")).stdout


def test_members_list_json(idp, listed_members):
    rows = json.loads(assert_succeeded(idp("members", "list", "--search", "budi", "--json")).stdout)
    (budi,) = rows
    assert (budi["membership_number"], budi["nik"], budi["account"]) == ("10000000002", "3171010101900002", "none")
    assert "password_hash" not in budi and not any("argon2" in str(value) for value in budi.values())


def test_members_list_without_members(idp):
    assert assert_succeeded(idp("members", "list")).stdout == "no members\n"


# --- db current ----------------------------------------------------------------------------------


def test_db_current_at_head(idp):
    assert assert_succeeded(idp("db", "current")).stdout == f"database at revision {head_revision()} (head)\n"
    as_json = json.loads(assert_succeeded(idp("db", "current", "--json")).stdout)
    assert as_json == {"revision": head_revision(), "head": head_revision(), "current": True}


def test_db_current_behind_or_empty_exits_2(idp, tmp_path: Path):
    behind = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    upgrade(behind, "0005")
    result = idp("db", "current", env={"IDP_DATABASE__URL": behind})
    assert_failed(result, 2, "at revision 0005", f"code expects {head_revision()}", "run `idp db upgrade`")
    as_json = idp("db", "current", "--json", env={"IDP_DATABASE__URL": behind})
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout) == {"revision": "0005", "head": head_revision(), "current": False}

    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert_failed(idp("db", "current", env={"IDP_DATABASE__URL": empty}), 2, "not migrated yet")


# --- mail test ----------------------------------------------------------------------------------


def test_mail_test_sends_through_smtp_and_says_so(idp, smtp_server):
    env = {f"IDP_MAIL__{key.upper()}": str(value) for key, value in smtp_server.mail_settings().items()}
    result = assert_succeeded(idp("mail", "test", "ops@example.test", env=env))
    assert result.stdout == f"mail sent to ops@example.test through smtp 127.0.0.1:{smtp_server.port} (none)\n"
    assert result.stderr == ""
    (mail,) = smtp_server.wait_for(1)
    assert mail.to == "ops@example.test" and mail.subject == "idp mail test"
    assert "idp mail test" in mail.text


def test_mail_test_names_the_error_class_when_the_server_is_away(idp):
    port = free_port()
    env = {
        "IDP_MAIL__BACKEND": "smtp",
        "IDP_MAIL__SMTP_HOST": "127.0.0.1",
        "IDP_MAIL__SMTP_PORT": str(port),
        "IDP_MAIL__SMTP_SECURITY": "none",
    }
    line = assert_failed(idp("mail", "test", "ops@example.test", env=env), 2, "ConnectionRefusedError")
    assert (
        line == f"idp: mail not sent to ops@example.test through smtp 127.0.0.1:{port} (none): ConnectionRefusedError"
    )


def test_mail_test_with_the_outbox_backend_writes_the_message(idp, cli_env):
    result = assert_succeeded(idp("mail", "test", "ops@example.test"))
    assert result.stdout == "mail sent to ops@example.test through the outbox folder (mail.backend = outbox)\n"
    (written,) = (Path(cli_env["IDP_SERVER__INSTANCE_PATH"]) / "outbox").glob("*.eml")
    assert "To: ops@example.test" in written.read_text()


@pytest.mark.parametrize("address", ["not-an-address", "two@@example.test", "ops@example.test\r\nBcc: x@y.test"])
def test_mail_test_refuses_what_is_not_an_address(idp, address):
    assert_failed(idp("mail", "test", address), 1, "is not an email address")


def test_mail_test_needs_no_database(idp, tmp_path: Path):
    empty = f"sqlite:///{tmp_path / 'nothing-here.sqlite3'}"
    assert_succeeded(idp("mail", "test", "ops@example.test", env={"IDP_DATABASE__URL": empty}))

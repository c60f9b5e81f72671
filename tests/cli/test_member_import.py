"""`idp members import FILE.csv` and `idp members export`: an employer's enrolment file,
checked row by row, loaded all or nothing (or the good rows with --skip-invalid), idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent, Member
from tests.cli.conftest import assert_failed, assert_succeeded

HEADER = "membership_number,nik,full_name,birth_date,email,phone\n"
GOOD = (
    HEADER
    + "12345678901,3171234567890001,Siti Rahayu,1990-04-17,Siti@Example.test,+6281234567890\n"
    + "1234-5678-902,3171234567890002,Budi Santoso,1985-12-01,,081298765432\n"
    + '12345678903,3171234567890003,"Dewi, Putri",2001-02-28,dewi@example.test,\n'
)


@pytest.fixture
def csv_file(tmp_path: Path):
    def write(text: str, name: str = "members.csv", encoding: str = "utf-8") -> str:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return str(path)

    return write


def members_in(app) -> dict[str, Member]:
    with app.app_context():
        db = get_session()
        found = {member.membership_number: member for member in db.scalars(select(Member))}
        for member in found.values():
            db.expunge(member)
        return found


def run_import(idp, path: str, *options: str):
    return idp("members", "import", path, *options)


def test_a_good_file_is_loaded(idp, app, csv_file):
    result = assert_succeeded(run_import(idp, csv_file(GOOD)))
    assert result.stdout.strip().splitlines()[-1] == "3 created, 0 updated, 0 unchanged (3 rows)"
    assert result.stderr == ""

    members = members_in(app)
    assert set(members) == {"12345678901", "12345678902", "12345678903"}
    siti = members["12345678901"]
    assert (siti.nik, siti.full_name, siti.birth_date.isoformat()) == ("3171234567890001", "Siti Rahayu", "1990-04-17")
    assert siti.email == "siti@example.test" and not siti.email_verified
    assert siti.phone == "+6281234567890"
    assert siti.password_hash is None and not siti.activation_pending
    assert members["12345678902"].email is None and members["12345678902"].phone == "+6281298765432"
    assert members["12345678903"].full_name == "Dewi, Putri" and members["12345678903"].phone is None
    # Each record gets its own random subject.
    assert len({member.subject for member in members.values()}) == 3


def test_reimporting_the_same_file_changes_nothing(idp, app, csv_file):
    path = csv_file(GOOD)
    assert_succeeded(run_import(idp, path))
    before = {number: (m.subject, m.updated_at) for number, m in members_in(app).items()}
    again = assert_succeeded(run_import(idp, path))
    assert again.stdout.strip().splitlines()[-1] == "0 created, 0 updated, 3 unchanged (3 rows)"
    assert {number: (m.subject, m.updated_at) for number, m in members_in(app).items()} == before


def test_changed_rows_are_updated_and_counted(idp, app, csv_file):
    assert_succeeded(run_import(idp, csv_file(GOOD)))
    changed = (
        HEADER
        + "12345678901,3171234567890001,Siti Rahayu Putri,1990-04-17,,\n"  # name changed; empty phone keeps it
        + "12345678902,3171234567890002,Budi Santoso,1985-12-01,,081298765432\n"  # unchanged
        + '12345678903,3171234567890099,"Dewi, Putri",2001-03-01,,+628111111111\n'  # NIK, birth date, phone
        + "12345678904,3171234567890004,Agus Salim,1979-07-07,,\n"  # new
    )
    result = assert_succeeded(run_import(idp, csv_file(changed, "second.csv")))
    assert result.stdout.strip().splitlines()[-1] == "1 created, 2 updated, 1 unchanged (4 rows)"
    members = members_in(app)
    assert members["12345678901"].full_name == "Siti Rahayu Putri"
    assert members["12345678901"].phone == "+6281234567890"
    assert members["12345678903"].nik == "3171234567890099"
    assert members["12345678903"].birth_date.isoformat() == "2001-03-01"
    assert members["12345678903"].phone == "+628111111111"


def test_bad_rows_are_reported_by_line_and_nothing_is_loaded(idp, app, csv_file):
    text = (
        HEADER
        + "12345678901,3171234567890001,Siti Rahayu,1990-04-17,,\n"  # line 2: good
        + "1234567890,3171234567890002,Budi Santoso,1985-12-01,,\n"  # line 3: 10 digits
        + "12345678903,317123456789000,Dewi Putri,2001-02-28,,\n"  # line 4: NIK 15 digits
        + "12345678904,3171234567890004,Agus Salim,1990-02-30,,\n"  # line 5: no such date
        + "12345678905,3171234567890005,,17-04-1990,not-an-email,12\n"  # line 6: four problems
        + "12345678906,3171234567890006,Tono,2999-01-01,,\n"  # line 7: future
        + "12345678907,3171234567890007,Too,Many,Fields,,,\n"  # line 8: shape
    )
    result = run_import(idp, csv_file(text))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[:-1] == [
        "line 3: membership_number: must be exactly 11 digits",
        "line 4: nik: must be exactly 16 digits",
        "line 5: birth_date: is not a real date",
        "line 6: full_name: must not be empty",
        "line 6: birth_date: must be a date YYYY-MM-DD",
        "line 6: email: is not a valid email address",
        "line 6: phone: is not a phone number like +6281234567890",
        "line 7: birth_date: must not be in the future",
        "line 8: row: has 8 fields, the header has 6",
    ]
    assert lines[-1] == (
        "idp: 6 bad row(s) of 7; nothing was loaded (fix them, or load the good rows with --skip-invalid)"
    )
    assert "Traceback" not in result.output
    assert members_in(app) == {}  # not even the good row


def test_values_are_not_echoed_in_the_report(idp, csv_file):
    result = run_import(idp, csv_file(HEADER + "12345678901,31712345678900019,Siti,1990-04-17,,\n"))
    assert "31712345678900019" not in result.output


def test_skip_invalid_loads_the_good_rows_and_still_fails(idp, app, csv_file):
    text = (
        HEADER
        + "12345678901,3171234567890001,Siti Rahayu,1990-04-17,,\n"
        + "12345678902,31712345,Budi Santoso,1985-12-01,,\n"
        + "12345678903,3171234567890003,Dewi Putri,2001-02-28,,\n"
    )
    result = run_import(idp, csv_file(text), "--skip-invalid")
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines()[-1] == "2 created, 0 updated, 0 unchanged (3 rows)"
    assert result.stderr.splitlines() == [
        "line 3: nik: must be exactly 16 digits",
        "idp: 1 bad row(s) of 3 were not loaded",
    ]
    assert set(members_in(app)) == {"12345678901", "12345678903"}


def test_a_membership_number_twice_in_the_file_is_an_error_for_both_rows(idp, app, csv_file):
    text = (
        HEADER
        + "12345678901,3171234567890001,Siti Rahayu,1990-04-17,,\n"
        + "12345678902,3171234567890002,Budi Santoso,1985-12-01,,\n"
        + "123-4567-8901,3171234567890009,Siti R.,1990-04-17,,\n"
    )
    result = run_import(idp, csv_file(text), "--skip-invalid")
    assert result.stderr.splitlines()[:-1] == [
        "line 2: membership_number: appears more than once in the file (also line 4)",
        "line 4: membership_number: appears more than once in the file (also line 2)",
    ]
    assert set(members_in(app)) == {"12345678902"}


def test_an_email_twice_in_the_file_is_an_error_for_both_rows(idp, csv_file):
    text = (
        HEADER
        + "12345678901,3171234567890001,Siti Rahayu,1990-04-17,same@example.test,\n"
        + "12345678902,3171234567890002,Budi Santoso,1985-12-01,SAME@example.test,\n"
    )
    result = run_import(idp, csv_file(text))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:-1] == [
        "line 2: email: appears more than once in the file (also line 3)",
        "line 3: email: appears more than once in the file (also line 2)",
    ]


def test_an_email_of_another_member_is_refused(idp, app, csv_file, make_member):
    make_member(email="taken@example.test", membership_number="99999999999")
    text = HEADER + "12345678901,3171234567890001,Siti Rahayu,1990-04-17,Taken@example.test,\n"
    result = run_import(idp, csv_file(text))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "line 2: email: already belongs to another member"
    assert set(members_in(app)) == {"99999999999"}


def test_the_file_never_overwrites_an_email_the_member_has(idp, app, csv_file, make_member):
    make_member(membership_number="12345678901", email="own@example.test", email_verified=True)
    make_member(membership_number="12345678902", email=None, email_verified=False)
    text = (
        HEADER
        + "12345678901,3171234567890001,Siti Rahayu,1990-04-17,employer@example.test,\n"
        + "12345678902,3171234567890002,Budi Santoso,1985-12-01,budi@example.test,\n"
    )
    result = assert_succeeded(run_import(idp, csv_file(text)))
    assert "line 2: email: the member already has an email address; kept it" in result.stdout
    members = members_in(app)
    assert members["12345678901"].email == "own@example.test" and members["12345678901"].email_verified
    # An empty email is filled, unverified.
    assert members["12345678902"].email == "budi@example.test" and not members["12345678902"].email_verified


def test_an_active_account_keeps_its_password_and_sign_in(idp, app, csv_file, make_member):
    member = make_member(membership_number="12345678901")
    text = HEADER + f"12345678901,{member.nik},New Name,1990-01-01,,\n"
    assert_succeeded(run_import(idp, csv_file(text)))
    stored = members_in(app)["12345678901"]
    assert stored.password_hash == member.password_hash and stored.full_name == "New Name"
    assert stored.subject == member.subject


def test_a_byte_order_mark_and_any_column_order_are_fine(idp, app, csv_file):
    text = "\ufeffNIK,Full_Name,membership_number,birth_date\r\n3171234567890001,Siti Rahayu,12345678901,1990-04-17\r\n"
    result = assert_succeeded(run_import(idp, csv_file(text)))
    assert "1 created" in result.stdout
    assert members_in(app)["12345678901"].nik == "3171234567890001"


def test_multiline_fields_report_the_line_a_row_starts_on(idp, csv_file):
    text = (
        HEADER
        + '12345678901,3171234567890001,"Siti\nRahayu",1990-04-17,,\n'  # lines 2-3: a name with a line break
        + "12345678902,31712345,Budi,1985-12-01,,\n"  # line 4
    )
    result = run_import(idp, csv_file(text))
    assert result.stderr.splitlines()[0] == "line 4: nik: must be exactly 16 digits"


@pytest.mark.parametrize(
    "text, fragments",
    [
        (
            "nik,full_name,birth_date\n3171234567890001,Siti,1990-04-17\n",
            ("line 1: missing column 'membership_number'",),
        ),
        (HEADER.replace("phone", "telephone"), ("line 1: unknown column 'telephone'",)),
        ("membership_number,nik,nik,full_name,birth_date\n", ("line 1: column 'nik' appears twice",)),
        ("", ("the file is empty",)),
    ],
)
def test_file_problems_are_one_line(idp, app, csv_file, text, fragments):
    assert_failed(run_import(idp, csv_file(text)), 1, *fragments)
    assert members_in(app) == {}


def test_a_file_that_is_not_utf8_is_one_line(idp, csv_file):
    path = csv_file(HEADER + "12345678901,3171234567890001,Siti Rahayu Čech,1990-04-17,,\n", encoding="cp1250")
    assert_failed(run_import(idp, path), 1, "the file is not UTF-8")


def test_a_missing_file_is_one_line(idp, tmp_path):
    assert_failed(run_import(idp, str(tmp_path / "nope.csv")), 1, "cannot read", "nope.csv")


def test_standard_input(idp, app):
    result = assert_succeeded(idp("members", "import", "-", input=GOOD))
    assert "3 created" in result.stdout


def test_json_report(idp, csv_file):
    text = HEADER + "12345678901,3171234567890001,Siti,1990-04-17,,\n12345678902,1,Budi,1985-12-01,,\n"
    result = run_import(idp, csv_file(text), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["loaded"] is False and report["bad_rows"] == 1 and report["rows"] == 2
    assert report["problems"] == [{"line": 3, "field": "nik", "problem": "must be exactly 16 digits"}]


def test_the_import_is_audited_without_personal_data(idp, app, csv_file):
    assert_succeeded(run_import(idp, csv_file(GOOD)))
    with app.app_context():
        events = list(get_session().scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [e.outcome for e in events if e.event == "member_imported"] == ["created"] * 3
    (summary,) = [e for e in events if e.event == "members_imported"]
    assert json.loads(summary.detail_json)["created"] == 3
    assert summary.actor.startswith("cli")
    text = " ".join(e.detail_json for e in events)
    assert "3171234567890001" not in text and "siti@example.test" not in text


# --- export ---------------------------------------------------------------------------------


def test_export_json_has_every_record_and_no_password_hash(idp, app, csv_file, make_member):
    assert_succeeded(run_import(idp, csv_file(GOOD)))
    active = make_member(membership_number="12345678999")
    exported = json.loads(assert_succeeded(idp("members", "export", "--json")).stdout)
    assert [row["membership_number"] for row in exported] == [
        "12345678901",
        "12345678902",
        "12345678903",
        "12345678999",
    ]
    siti = exported[0]
    assert siti["nik"] == "3171234567890001" and siti["birth_date"] == "1990-04-17"
    assert siti["email"] == "siti@example.test" and siti["email_verified"] is False
    assert siti["account"] == "none" and exported[-1]["account"] == "active"
    output = idp("members", "export", "--json").stdout
    assert "password" not in output and "$argon2" not in output and active.password_hash not in output


def test_export_csv_imports_back_unchanged(idp, app, csv_file):
    assert_succeeded(run_import(idp, csv_file(GOOD)))
    exported = assert_succeeded(idp("members", "export")).stdout
    assert exported.splitlines()[0] == HEADER.strip()
    again = assert_succeeded(run_import(idp, csv_file(exported, "exported.csv")))
    assert again.stdout.strip().splitlines()[-1] == "0 created, 0 updated, 3 unchanged (3 rows)"


def test_export_json_round_trip(idp, csv_file):
    """The JSON export holds what the import file held (normalized): rebuilt into a file, it
    imports as unchanged."""
    assert_succeeded(run_import(idp, csv_file(GOOD)))
    exported = json.loads(idp("members", "export", "--json").stdout)
    rebuilt = HEADER + "".join(
        f'{r["membership_number"]},{r["nik"]},"{r["full_name"]}",{r["birth_date"]},{r["email"] or ""},{r["phone"] or ""}\n'
        for r in exported
    )
    again = assert_succeeded(run_import(idp, csv_file(rebuilt, "rebuilt.csv")))
    assert "3 unchanged" in again.stdout

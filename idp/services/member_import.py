"""Loading membership records from an employer's enrolment file, and exporting them.

The file is CSV, UTF-8 (a byte-order mark is allowed), with a header row naming the columns
``membership_number, nik, full_name, birth_date`` and optionally ``email, phone``, in any
order. Every row is checked before anything is written:

* membership number 11 digits (spaces and dashes allowed), NIK 16 digits, a name, a real
  date YYYY-MM-DD not in the future; email and phone optional but valid when present;
* a membership number or an email address may appear only once in the file (both rows are
  reported);
* an email that would be stored must not belong to another member already.

All or nothing by default: when any row is bad, nothing is loaded. With ``skip_invalid`` the
good rows are loaded and the bad ones reported. Either way, one transaction.

Records are matched by membership number (upsert): name, NIK, birth date and phone are
updated from the file (an empty phone keeps the stored one). An email in the file only
fills an empty email and stays unverified: an address the member already has — perhaps
verified, perhaps changed by them — is never overwritten by an enrolment file. A row that
changes nothing counts as unchanged, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.errors import IdpError
from idp.models import Member
from idp.security.tokens import random_token
from idp.services import audit
from idp.services.identifiers import (
    MEMBERSHIP_NUMBER_PATTERN,
    NIK_PATTERN,
    normalize_email,
    normalize_phone,
)
from idp.services.members import account_state, describe

REQUIRED_COLUMNS = ("membership_number", "nik", "full_name", "birth_date")
OPTIONAL_COLUMNS = ("email", "phone")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_NAME_LENGTH = 200
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_NUMBER_SEPARATORS = re.compile(r"[\s\-.]")
_BATCH = 500


class ImportFileError(IdpError):
    """The file as a whole cannot be read (encoding, header): one line says why."""

    message_id = "import_file_unreadable"


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.problem}"


@dataclass(frozen=True)
class Record:
    line: int
    membership_number: str
    nik: str
    full_name: str
    birth_date: date
    email: str | None
    phone: str | None


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows whose email was not applied because the member already has one.
    email_kept: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    loaded: bool = False

    @property
    def bad_lines(self) -> list[int]:
        return sorted({problem.line for problem in self.problems})

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "loaded": self.loaded,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "bad_rows": len(self.bad_lines),
            "email_kept_lines": self.email_kept,
            "problems": [{"line": p.line, "field": p.field, "problem": p.problem} for p in self.problems],
        }


# --- reading and checking -----------------------------------------------------------------


def decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(f"the file is not UTF-8 (byte {error.start + 1})") from None
    if "\x00" in text:
        raise ImportFileError("the file contains NUL bytes: is it really CSV?")
    return text


def parse(text: str) -> tuple[list[Record], list[RowProblem], int]:
    """Every row checked on its own (file-wide duplicates are checked after): the good
    records, the problems, and how many data rows there were."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ImportFileError(f"line 1: {error}") from None
    if header is None or not any(cell.strip() for cell in header):
        raise ImportFileError("the file is empty: expected a header row " + ",".join(REQUIRED_COLUMNS))
    columns = [unicodedata.normalize("NFKC", cell).strip().lower() for cell in header]
    _check_header(columns)
    index = {name: position for position, name in enumerate(columns)}

    records: list[Record] = []
    problems: list[RowProblem] = []
    rows = 0
    next_line = reader.line_num + 1
    while True:
        line = next_line
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(RowProblem(line, "row", f"is not valid CSV ({error})"))
            rows += 1
            break  # the reader cannot resynchronise after a broken quote
        next_line = reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are allowed (and not counted)
        rows += 1
        if len(cells) != len(columns):
            problems.append(RowProblem(line, "row", f"has {len(cells)} fields, the header has {len(columns)}"))
            continue
        values = {name: cells[position] for name, position in index.items()}
        record, row_problems = _check_row(line, values)
        problems.extend(row_problems)
        if record is not None:
            records.append(record)
    return records, problems, rows


def _check_header(columns: list[str]) -> None:
    seen = set()
    for name in columns:
        if name in seen:
            raise ImportFileError(f"line 1: column {name!r} appears twice in the header")
        seen.add(name)
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise ImportFileError(
            f"line 1: unknown column {unknown[0]!r}; the columns are {','.join(REQUIRED_COLUMNS)}[,email,phone]"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        raise ImportFileError(
            f"line 1: missing column {missing[0]!r} in the header (columns: {','.join(REQUIRED_COLUMNS)}[,email,phone])"
        )


def _check_row(line: int, values: dict[str, str]) -> tuple[Record | None, list[RowProblem]]:
    problems = []

    def problem(name: str, text: str) -> None:
        problems.append(RowProblem(line, name, text))

    number = _NUMBER_SEPARATORS.sub("", unicodedata.normalize("NFKC", values["membership_number"]).strip())
    if not MEMBERSHIP_NUMBER_PATTERN.fullmatch(number):
        problem("membership_number", "must be exactly 11 digits")
    nik = _NUMBER_SEPARATORS.sub("", unicodedata.normalize("NFKC", values["nik"]).strip())
    if not NIK_PATTERN.fullmatch(nik):
        problem("nik", "must be exactly 16 digits")
    full_name = " ".join(unicodedata.normalize("NFC", values["full_name"]).split())
    if not full_name:
        problem("full_name", "must not be empty")
    elif len(full_name) > MAX_NAME_LENGTH:
        problem("full_name", f"must be at most {MAX_NAME_LENGTH} characters")
    elif any(unicodedata.category(ch).startswith("C") for ch in full_name):
        problem("full_name", "must not contain control characters")
    birth_date = _check_date(values["birth_date"].strip(), problem)

    email = None
    raw_email = values.get("email", "").strip()
    if raw_email:
        try:
            email = normalize_email(raw_email)
        except ValueError:
            problem("email", "is not a valid email address")
    phone = None
    raw_phone = values.get("phone", "").strip()
    if raw_phone:
        try:
            phone = normalize_phone(raw_phone)
        except ValueError:
            problem("phone", "is not a phone number like +6281234567890")

    if problems:
        return None, problems
    return Record(line, number, nik, full_name, birth_date, email, phone), []


def _check_date(text: str, problem) -> date | None:
    if not _DATE.fullmatch(text):
        problem("birth_date", "must be a date YYYY-MM-DD")
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        problem("birth_date", "is not a real date")
        return None
    if value > utcnow().date():
        problem("birth_date", "must not be in the future")
        return None
    if value.year < 1900:
        problem("birth_date", "must not be before 1900")
        return None
    return value


def _check_duplicates(records: list[Record], problems: list[RowProblem]) -> list[Record]:
    """Reports both (all) rows of a membership number or email that appears more than once;
    the rest go on."""
    by_number: dict[str, list[int]] = defaultdict(list)
    by_email: dict[str, list[int]] = defaultdict(list)
    for record in records:
        by_number[record.membership_number].append(record.line)
        if record.email:
            by_email[record.email].append(record.line)
    bad = set()
    for name, groups in (("membership_number", by_number), ("email", by_email)):
        for lines in groups.values():
            if len(lines) < 2:
                continue
            for line in lines:
                others = ", ".join(str(other) for other in lines if other != line)
                problems.append(RowProblem(line, name, f"appears more than once in the file (also line {others})"))
                bad.add(line)
    return [record for record in records if record.line not in bad]


# --- loading ------------------------------------------------------------------------------


def import_members(db: Session, data: bytes, skip_invalid: bool = False, actor: str | None = None) -> ImportReport:
    """Check the whole file, then (all good, or ``skip_invalid``) upsert it in one
    transaction. ImportFileError when the file as a whole is unusable."""
    records, problems, rows = parse(decode(data))
    records = _check_duplicates(records, problems)
    existing = _existing_members(db, [record.membership_number for record in records])
    records = _check_email_owners(db, records, existing, problems)
    report = ImportReport(
        rows=rows,
        problems=sorted(problems, key=lambda p: (p.line, COLUMNS.index(p.field) if p.field in COLUMNS else -1)),
    )
    if problems and not skip_invalid:
        return report

    for record in records:
        member = existing.get(record.membership_number)
        if member is None:
            member = Member(
                subject=random_token(24),
                membership_number=record.membership_number,
                nik=record.nik,
                full_name=record.full_name,
                birth_date=record.birth_date,
                email=record.email,
                email_verified=False,
                phone=record.phone,
                locale="id",
            )
            db.add(member)
            db.flush()
            report.created += 1
            audit.record(db, "member_imported", "created", member_id=member.id, actor=actor, line=record.line)
            continue
        changed = _apply(member, record, report)
        if changed:
            report.updated += 1
            db.flush()
            audit.record(
                db, "member_imported", "updated", member_id=member.id, actor=actor, line=record.line, fields=changed
            )
        else:
            report.unchanged += 1
    report.loaded = True
    audit.record(
        db,
        "members_imported",
        "partial" if problems else "success",
        actor=actor,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        bad_rows=len(report.bad_lines),
    )
    return report


def _apply(member: Member, record: Record, report: ImportReport) -> list[str]:
    changed = []
    for name in ("nik", "full_name", "birth_date"):
        if getattr(member, name) != getattr(record, name):
            setattr(member, name, getattr(record, name))
            changed.append(name)
    if record.phone and record.phone != member.phone:
        member.phone = record.phone
        member.phone_verified = False
        changed.append("phone")
    if record.email and record.email != member.email:
        if member.email is None:
            member.email = record.email
            member.email_verified = False
            changed.append("email")
        else:
            report.email_kept.append(record.line)
    return changed


def _existing_members(db: Session, numbers: list[str]) -> dict[str, Member]:
    found: dict[str, Member] = {}
    for start in range(0, len(numbers), _BATCH):
        batch = numbers[start : start + _BATCH]
        for member in db.scalars(select(Member).where(Member.membership_number.in_(batch))):
            found[member.membership_number] = member
    return found


def _check_email_owners(
    db: Session, records: list[Record], existing: dict[str, Member], problems: list[RowProblem]
) -> list[Record]:
    """An email that would be stored (a new member, or one without an email) must not belong
    to another member; an email that would be kept aside is not checked."""
    applied = {
        record.email: record
        for record in records
        if record.email
        and (record.membership_number not in existing or existing[record.membership_number].email is None)
    }
    owners: dict[str, str] = {}
    emails = list(applied)
    for start in range(0, len(emails), _BATCH):
        batch = emails[start : start + _BATCH]
        for email, number in db.execute(select(Member.email, Member.membership_number).where(Member.email.in_(batch))):
            owners[email] = number
    bad = set()
    for email, record in applied.items():
        owner = owners.get(email)
        if owner is not None and owner != record.membership_number:
            problems.append(RowProblem(record.line, "email", "already belongs to another member"))
            bad.add(record.line)
    return [record for record in records if record.line not in bad]


# --- export -------------------------------------------------------------------------------


def all_members(db: Session) -> list[Member]:
    return list(db.scalars(select(Member).order_by(Member.membership_number)))


def export_record(member: Member) -> dict:
    """A member for operators: what ``members.describe`` shows, the postal address, and the
    account state in one word. Never the password hash, never a second-factor secret."""
    described = describe(member)
    del described["password_set"]  # "account" says it, and more
    return {**described, "address": member.address, "account": account_state(member)}


def export_csv(members: list[Member]) -> str:
    """The records in the import format (so an export can be imported again unchanged)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for member in members:
        writer.writerow(
            [
                member.membership_number,
                member.nik,
                member.full_name,
                member.birth_date.isoformat(),
                member.email or "",
                member.phone or "",
            ]
        )
    return out.getvalue()

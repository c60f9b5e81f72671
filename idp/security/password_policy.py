"""What makes a password acceptable (NIST SP 800-63B §5.1.1.2, ASVS V2.1).

Length only, no composition rules; any Unicode, compared after NFKC. Refused, each with a
stable reason the pages explain in the member's language: too short or too long; a commonly
used password; one containing the member's own identifiers or a word the operator
configured (``passwords.blocklist_words``: the program's name, the provider's host);
repetitive (``aaaaaaaaaaaa``, ``abcabcabcabc``), sequential (``123456789012``,
``abcdefghijkl``) and keyboard walks (``qwertyuiopas``, ``1qaz2wsx3edc``); and, for what
those rules miss, whatever the zxcvbn estimator (Dropbox's, its dictionaries and patterns)
scores below ``passwords.min_strength_score``. zxcvbn is imported only here.
"""

from __future__ import annotations

import gzip
import itertools
import re
import unicodedata
from functools import cache
from pathlib import Path

MAX_LENGTH = 128
_COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt.gz"
# An email's local part shorter than this is too likely to appear by chance to refuse on.
_MIN_IDENTIFIER_FRAGMENT = 5
# Operator words shorter than this would refuse too much by chance.
MIN_BLOCKLIST_WORD = 3
# zxcvbn's scale: 3 = "safely unguessable" (about 10^8 guesses and more).
DEFAULT_MIN_STRENGTH_SCORE = 3
# zxcvbn's cost grows with the length; the first characters decide its verdict anyway.
_ESTIMATED_PREFIX = 64
# Share of neighbouring characters that must follow a pattern for the whole to count as it.
_PATTERN_SHARE = 0.8

REASONS = (
    "too_short",
    "too_long",
    "common",
    "contains_identifier",
    "blocklisted",
    "repetitive",
    "sequential",
    "keyboard_walk",
    "guessable",
)


class PasswordRejected(ValueError):
    """``reason`` is one of ``REASONS``, a stable id the pages explain."""

    def __init__(self, reason: str, min_length: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.min_length = min_length


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(_COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip().lower() for line in handle if line.strip())


def check_password(
    password: str,
    min_length: int,
    identifiers: tuple[str, ...] = (),
    blocklist_words: tuple[str, ...] = (),
    min_strength_score: int = DEFAULT_MIN_STRENGTH_SCORE,
) -> str:
    """The NFKC-normalized password when acceptable; PasswordRejected otherwise."""
    normalized = unicodedata.normalize("NFKC", password)
    if len(normalized) < min_length:
        raise PasswordRejected("too_short", min_length)
    if len(normalized) > MAX_LENGTH:
        raise PasswordRejected("too_long", min_length)
    folded = normalized.casefold()
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise PasswordRejected("common", min_length)
    for fragment in _identifier_fragments(identifiers):
        if fragment in folded:
            raise PasswordRejected("contains_identifier", min_length)
    words = _blocklist(blocklist_words)
    if any(word in folded or word in _compact(folded) for word in words):
        raise PasswordRejected("blocklisted", min_length)
    shape = _shape(folded)
    if shape is not None:
        raise PasswordRejected(shape, min_length)
    if min_strength_score > 0:
        weakness = _estimated_weakness(normalized, identifiers, words, min_strength_score)
        if weakness is not None:
            raise PasswordRejected(weakness, min_length)
    return normalized


def _blocklist(words: tuple[str, ...]) -> set[str]:
    """The operator's words, folded, each also without its spaces and dots ("klaim online"
    refuses "klaimonline2024" too)."""
    folded = set()
    for word in words:
        word = unicodedata.normalize("NFKC", word).strip().casefold()
        for form in (word, _compact(word)):
            if len(form) >= MIN_BLOCKLIST_WORD:
                folded.add(form)
    return folded


def _compact(text: str) -> str:
    return re.sub(r"[\s.\-_]+", "", text)


# --- the shapes NIST names: repetitive, sequential, keyboard walks -----------------------------

_KEYBOARD_ROWS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_KEY_POSITIONS = {key: (row, column) for row, keys in enumerate(_KEYBOARD_ROWS) for column, key in enumerate(keys)}


def _shape(folded: str) -> str | None:
    """repetitive, sequential or keyboard_walk when the whole password (spaces aside) is one."""
    text = re.sub(r"\s+", "", folded)
    if len(text) < 2:
        return None
    if len(set(text)) <= 3 or re.fullmatch(r"(.{1,6}?)\1+.{0,3}", text):
        return "repetitive"
    pairs = list(itertools.pairwise(text))
    if _share(pairs, _in_sequence) >= _PATTERN_SHARE:
        return "sequential"
    if _share(pairs, _keyboard_neighbours) >= _PATTERN_SHARE:
        return "keyboard_walk"
    return None


def _share(pairs, test) -> float:
    return sum(1 for pair in pairs if test(*pair)) / len(pairs)


def _in_sequence(first: str, second: str) -> bool:
    step = ord(second) - ord(first)
    # 8-9-0-1: digits wrap around, as people type them.
    return step in (1, -1) or {first, second} == {"9", "0"}


def _keyboard_neighbours(first: str, second: str) -> bool:
    if first not in _KEY_POSITIONS or second not in _KEY_POSITIONS:
        return False
    (row_a, column_a), (row_b, column_b) = _KEY_POSITIONS[first], _KEY_POSITIONS[second]
    # Same row, next key; or the next row, the key below (rows are offset by half a key).
    return (row_a == row_b and abs(column_a - column_b) == 1) or (
        abs(row_a - row_b) == 1 and column_b - column_a in (-1, 0, 1)
    )


# --- the estimator -------------------------------------------------------------------------------

# zxcvbn's pattern names, as our reasons.
_PATTERN_REASONS = {"repeat": "repetitive", "sequence": "sequential", "spatial": "keyboard_walk"}


def _estimated_weakness(password: str, identifiers, words: set[str], min_score: int) -> str | None:
    from zxcvbn import zxcvbn

    user_inputs = [value for value in (*identifiers, *words) if value]
    result = zxcvbn(password[:_ESTIMATED_PREFIX], user_inputs=user_inputs)
    if result["score"] >= min_score:
        return None
    # Say why by the pattern that covers most of the password.
    covered: dict[str, int] = {}
    for match in result["sequence"]:
        pattern = match["pattern"]
        if pattern == "dictionary" and match.get("dictionary_name") == "user_inputs":
            pattern = "user_inputs"
        covered[pattern] = covered.get(pattern, 0) + len(match["token"])
    main = max(covered, key=covered.get) if covered else "bruteforce"
    if main in _PATTERN_REASONS:
        return _PATTERN_REASONS[main]
    if main == "user_inputs":
        return (
            "contains_identifier"
            if any(v and v.casefold() in password.casefold() for v in identifiers)
            else "blocklisted"
        )
    if main == "dictionary":
        return "common"
    return "guessable"


def _identifier_fragments(identifiers: tuple[str, ...]) -> set[str]:
    fragments = set()
    for value in identifiers:
        if not value:
            continue
        value = value.casefold()
        fragments.add(value)
        if "@" in value:
            local = value.split("@", 1)[0]
            if len(local) >= _MIN_IDENTIFIER_FRAGMENT:
                fragments.add(local)
    return fragments

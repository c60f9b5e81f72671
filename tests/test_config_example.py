"""config.example.toml documents every setting in idp/settings.py, with its default value.

A key is documented either as an active line (``key = default``) or, when its default depends
on the installation (``server.instance_path``), as a commented-out line (``# key = value``).
Each key has a comment right above it that names its environment variable.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from idp.settings import SECTIONS, documented_keys, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

SECTION_LINE = re.compile(r"^\[([A-Za-z0-9_]+)\]\s*$")
ACTIVE_KEY = re.compile(r"^([a-z][a-z0-9_]*)\s*=")
COMMENTED_KEY = re.compile(r"^#\s?([a-z][a-z0-9_]*) = (.+)$")
# Keys whose default cannot be written down portably: documented commented out.
MAY_BE_COMMENTED = {("server", "instance_path")}


@dataclasses.dataclass
class Entry:
    section: str
    key: str
    active: bool
    text: str
    number: int
    comments: list[str]

    @property
    def line(self) -> str:
        return f"line {self.number}: {self.text}"


def _entries() -> list[Entry]:
    """Every key line of the example with the comment block right above it."""
    entries: list[Entry] = []
    section = None
    comments: list[str] = []
    for number, raw in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if match := SECTION_LINE.match(line):
            section, comments = match.group(1), []
            continue
        commented = COMMENTED_KEY.match(line)
        active = ACTIVE_KEY.match(line)
        if (commented or active) and section is not None:
            key = (commented or active).group(1)
            entries.append(Entry(section, key, bool(active), line, number, comments))
            comments = []
        elif line.startswith("#"):
            comments.append(line)
        else:
            assert not line or section is None, f"line {number}: unexpected {line!r}"
            comments = []
    return entries


def test_example_is_valid_toml_with_known_sections_only():
    with EXAMPLE.open("rb") as handle:
        parsed = tomllib.load(handle)
    assert set(parsed) == set(SECTIONS)
    assert all(isinstance(values, dict) for values in parsed.values())


def test_documented_keys_are_exactly_the_settings():
    documented: dict[str, set[str]] = {}
    for entry in _entries():
        keys = documented.setdefault(entry.section, set())
        assert entry.key not in keys, f"{entry.section}.{entry.key} documented twice ({entry.line})"
        keys.add(entry.key)
    expected = {section: set(keys) for section, keys in documented_keys().items()}
    missing = {f"{s}.{k}" for s, keys in expected.items() for k in keys - documented.get(s, set())}
    unknown = {f"{s}.{k}" for s, keys in documented.items() for k in keys - expected.get(s, set())}
    assert not missing, f"settings not in config.example.toml: {sorted(missing)}"
    assert not unknown, f"config.example.toml documents unknown settings: {sorted(unknown)}"


def test_active_keys_match_the_toml_parse():
    """The line scanner and tomllib agree on which keys are set, so nothing hides in a comment."""
    with EXAMPLE.open("rb") as handle:
        parsed = tomllib.load(handle)
    active = {(e.section, e.key) for e in _entries() if e.active}
    assert active == {(section, key) for section, values in parsed.items() for key in values}


def test_only_installation_dependent_keys_are_commented_out():
    commented = {(e.section, e.key) for e in _entries() if not e.active}
    assert commented <= MAY_BE_COMMENTED, f"document these with their default instead: {commented - MAY_BE_COMMENTED}"


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: f"{e.section}.{e.key}")
def test_each_key_has_a_comment_naming_its_environment_variable(entry: Entry):
    assert entry.comments, f"{entry.section}.{entry.key} has no comment above it ({entry.line})"
    explanation = [c for c in entry.comments if not c.lstrip("# ").startswith("Environment:")]
    assert explanation, f"{entry.section}.{entry.key}: the comment only names the variable"
    variable = f"IDP_{entry.section.upper()}__{entry.key.upper()}"
    assert any(variable in comment for comment in entry.comments), f"{entry.section}.{entry.key}: name {variable}"


def test_commented_keys_are_valid_when_uncommented():
    for entry in _entries():
        if entry.active:
            continue
        value = tomllib.loads(f"value = {COMMENTED_KEY.match(entry.text).group(2)}")["value"]
        default = getattr(getattr(load_settings(environ={}), entry.section), entry.key)
        assert isinstance(value, type(default)), entry.line


def test_active_values_are_the_defaults():
    from_file = load_settings(environ={"IDP_CONFIG": str(EXAMPLE)})
    defaults = load_settings(environ={})
    assert from_file == defaults
    # And value by value, so a difference is named.
    with EXAMPLE.open("rb") as handle:
        parsed = tomllib.load(handle)
    for section, values in parsed.items():
        for key, value in values.items():
            default = getattr(getattr(defaults, section), key)
            assert (tuple(value) if isinstance(value, list) else value) == default, f"{section}.{key}"


def test_documented_defaults_match_the_dataclass_defaults():
    """The file's values also equal the field defaults themselves, not only what loading gives."""
    with EXAMPLE.open("rb") as handle:
        parsed = tomllib.load(handle)
    for section, values in parsed.items():
        fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
        for key, value in values.items():
            field = fields[key]
            default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
            assert (tuple(value) if isinstance(value, list) else value) == default, f"{section}.{key}"

"""scripts/screenshots.py (make screenshots) still makes the README's pictures: the login page
on a phone and on a desktop, in both languages, at the viewport sizes; and they are committed."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

from scripts.screenshots import VIEWPORTS

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
EXPECTED = {f"login-{language}-{name}.png": VIEWPORTS[name] for language in ("id", "en") for name in VIEWPORTS}


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def test_script_writes_the_login_page_for_each_viewport_and_language(tmp_path):
    # Run as a developer runs it: its own process (and its own Playwright, which cannot share
    # a process with the browser tests' one).
    done = subprocess.run(
        [sys.executable, str(COMMITTED.parents[1] / "scripts" / "screenshots.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = [Path(line) for line in done.stdout.split()]
    assert sorted(path.name for path in written) == sorted(EXPECTED)
    for path in written:
        viewport = EXPECTED[path.name]
        assert _png_size(path) == (viewport["width"], viewport["height"]), path.name


def test_the_readme_shows_the_committed_screenshots():
    readme = (COMMITTED.parents[1] / "README.md").read_text(encoding="utf-8")
    for name, viewport in EXPECTED.items():
        assert _png_size(COMMITTED / name) == (viewport["width"], viewport["height"]), name
        assert f"(docs/screenshots/{name})" in readme

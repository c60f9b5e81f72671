"""Regenerate docs/screenshots/: the hosted login page on a phone (360×740) and on a desktop
(1280×800), in Indonesian and in English, as a member coming from a relying party sees it.

    .venv/bin/python scripts/screenshots.py [OUTPUT_FOLDER]     (or: make screenshots)

idp runs in this process on a free port of 127.0.0.1 with a throw-away SQLite database, under
the issuer http://login.example.org; Chromium (Debian's /usr/bin/chromium, through Playwright)
resolves that host to the local port, so the page shows a realistic address instead of a port
number. The relying party is registered as "Benefits Portal" at portal.example.org.
"""

from __future__ import annotations

import logging
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from idp import create_app  # noqa: E402
from idp.db import get_engine, get_session  # noqa: E402
from idp.migrate import upgrade  # noqa: E402
from idp.services.clients import NewClient, create_client  # noqa: E402

PROVIDER_HOST = "login.example.org"
PORTAL_CALLBACK = "https://portal.example.org/callback"
VIEWPORTS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 800}}
LANGUAGES = {"id": "id-ID", "en": "en-US"}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _idp_app(instance: Path):
    database = f"sqlite:///{instance / 'idp.sqlite3'}"
    upgrade(database)
    app = create_app(
        {
            "server": {
                "issuer": f"http://{PROVIDER_HOST}",
                "secret_key": "screenshots-only-secret-key-0123456789abcdef",
                "instance_path": str(instance),
            },
            "database": {"url": database},
            "logging": {"level": "WARNING"},
        }
    )
    with app.app_context():
        db = get_session()
        client, _ = create_client(
            db,
            NewClient(
                name="Benefits Portal",
                redirect_uris=[PORTAL_CALLBACK],
                scopes=["openid", "profile", "email", "membership", "benefits:read"],
            ),
        )
        client_id = client.client_id
        db.commit()
    return app, client_id


def _authorize_path(client_id: str, language: str) -> str:
    return "/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": PORTAL_CALLBACK,
            "scope": "openid profile email membership benefits:read",
            "state": "screenshot-state",
            "nonce": "screenshot-nonce",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "ui_locales": language,
        }
    )


def take_screenshots(output: Path) -> list[Path]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    output.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="idp-screenshots-") as folder:
        app, client_id = _idp_app(Path(folder))
        port = _free_port()
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=[
                        "--no-sandbox",
                        "--disable-gpu",
                        f"--host-resolver-rules=MAP {PROVIDER_HOST} 127.0.0.1:{port}",
                    ],
                )
                try:
                    for language, browser_locale in LANGUAGES.items():
                        for name, viewport in VIEWPORTS.items():
                            context = browser.new_context(locale=browser_locale, viewport=viewport)
                            page = context.new_page()
                            page.goto(f"http://{PROVIDER_HOST}{_authorize_path(client_id, language)}")
                            page.wait_for_selector("[data-testid=login-form]")
                            page.wait_for_load_state("load")
                            page.locator("#identifier").blur()  # no focus ring on the picture
                            path = output / f"login-{language}-{name}.png"
                            page.screenshot(path=str(path))
                            written.append(path)
                            context.close()
                finally:
                    browser.close()
        finally:
            server.shutdown()
            thread.join(timeout=5)
            get_engine(app).dispose()
    return written


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "screenshots"
    for path in take_screenshots(output):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""idp on real sockets: in a thread of this process, or as `idp serve` processes (gunicorn)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from werkzeug.serving import make_server

IDP_SCRIPT = Path(sys.executable).parent / "idp"
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers_read_whole(app):
    """The app, with each answer read to the end and closed before werkzeug writes it.

    When a browser drops a connection mid-answer (it navigated away while a static file
    was on its way), werkzeug's development server reads the dead socket in a ``finally``
    block, fails there and never calls the answer's ``close()``: the static file stays
    open and Python reports it, at random, as an unclosed-file warning in whichever test
    runs next. Reading the answer first leaves nothing open to leak. gunicorn, which idp
    runs under, closes the answer itself; this is for the in-thread test server only.
    """

    def application(environ, start_response):
        answer = app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            if hasattr(answer, "close"):
                answer.close()

    return application


@contextmanager
def serve_in_thread(app, port: int | None = None):
    """The app on 127.0.0.1 with a threaded werkzeug server; yields the base URL."""
    port = port or free_port()
    server = make_server("127.0.0.1", port, answers_read_whole(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def idp_processes(count: int, env: dict[str, str], log_dir: Path, workers: int = 1):
    """``count`` separate `idp serve` processes sharing ``env`` (database, Redis); yields URLs."""
    servers = []
    try:
        for index in range(count):
            port = free_port()
            log = (log_dir / f"idp-{index}.log").open("wb")
            process = subprocess.Popen(
                [str(IDP_SCRIPT), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            servers.append((f"http://127.0.0.1:{port}", process, log))
        for url, process, _ in servers:
            wait_until_up(url, process)
        yield [url for url, _, _ in servers]
    finally:
        for _, process, _log in servers:
            process.terminate()
        for _, process, log in servers:
            process.wait(timeout=30)
            log.close()


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"idp serve exited with {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            # Not listening yet, or too busy to answer within the second (a loaded machine).
            pass
        time.sleep(0.2)
    raise AssertionError(f"idp serve at {url} did not answer within {STARTUP_SECONDS} s")


class LiveBrowser:
    """A member's browser against a live idp (requests keeps the cookies)."""

    def __init__(self, base_url: str, http: requests.Session | None = None) -> None:
        self.base_url = base_url
        self.http = http or requests.Session()

    def open_login(self, authorize_path: str, base_url: str | None = None) -> str:
        """Start an authorization request; returns the interaction path (its login page)."""
        response = self.http.get((base_url or self.base_url) + authorize_path, allow_redirects=False, timeout=10)
        assert response.status_code == 303, response.text[:300]
        return response.headers["Location"]

    def login_form_token(self, interaction_path: str, base_url: str | None = None) -> str:
        page = self.http.get((base_url or self.base_url) + interaction_path, timeout=10)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        assert match, page.text[:300]
        return match.group(1)

    def post_login(
        self, interaction_path: str, token: str, identifier: str, password: str, base_url: str | None = None
    ):
        return self.http.post(
            (base_url or self.base_url) + interaction_path + "/login",
            data={"csrf_token": token, "identifier": identifier, "password": password},
            allow_redirects=False,
            timeout=60,
        )

"""Production as one system: two `idp serve` processes in production mode (https issuer, SMTP,
PostgreSQL, Redis, ``server.trusted_proxies = 1``) behind Debian's nginx, configured from the
very template docs/deployment.md ships (deploy/nginx/), terminating TLS.

Members reach idp only through nginx: its load-balancing front (round robin over both
processes, as in production), and, so that a test can say which process answers, one front per
process with the same TLS and the same proxy headers (deploy/nginx/idp-proxy.conf). Every
"browser" connects from a loopback address of its own (127.0.0.x, never nginx's 127.0.0.1),
so the address idp records is visibly the client's.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import string
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
import redis
import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import create_engine, text

from idp import create_app
from idp.clock import utcnow
from idp.db import get_engine
from idp.runtime import runtime
from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import IDP_SCRIPT, LiveBrowser, free_port, idp_processes
from tests.helpers.oidc import AuthorizationRequest, code_from, csrf_token, verify_token
from tests.helpers.smtp import SmtpServer
from tests.helpers.tls import self_signed_certificate
from tests.integration.test_lockout_concurrency import _seed

ROOT = Path(__file__).resolve().parents[2]
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "idp.conf.template"
NGINX_PROXY_HEADERS = ROOT / "deploy" / "nginx" / "idp-proxy.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEY = "cluster-test-secret-key-long-enough-0123456789"
LOGIN_LIMIT = 10
MAX_FAILURES = 5
WRONG = "definitely not the password"


# --- The cluster ---------------------------------------------------------------------------


@dataclass
class Cluster:
    issuer: str  # nginx's load-balancing front: the public URL
    fronts: dict[str, str]  # "a" / "b": an nginx front that always proxies to that process
    http_url: str  # nginx's plain-http listener (redirects only)
    ca_file: Path
    database_url: str
    smtp: SmtpServer
    client_id: str
    seeding_app: object
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def browser(self, source_ip: str, base: str | None = None) -> LiveBrowser:
        """A member's browser connecting from ``source_ip``, trusting the test CA."""
        http = requests.Session()
        # Not trust_env: REQUESTS_CA_BUNDLE would otherwise win over the session's verify.
        http.trust_env = False
        http.verify = str(self.ca_file)
        http.mount("https://", SourceAddressAdapter(source_ip))
        http.mount("http://", SourceAddressAdapter(source_ip))
        http.headers["User-Agent"] = f"cluster-test/{uuid.uuid4().hex}"
        return LiveBrowser(base or self.issuer, http)

    def new_member(self, with_totp: bool = False) -> tuple[str, str | None]:
        """A member in the shared database: (email, authenticator key or None)."""
        from idp.db import get_session
        from idp.models import SecondFactor
        from idp.services.members import NewMember, create_member

        n = next(self._numbers)
        email = f"cluster{n}@example.test"
        with self.seeding_app.app_context():
            db = get_session()
            member = create_member(
                db,
                NewMember(
                    f"{33345678900 + n:011d}",
                    f"{3171234567891000 + n:016d}",
                    f"Cluster {n}",
                    date(1990, 4, 17),
                    email=email,
                ),
                DEMO_PASSWORD,
            )
            seed = None
            if with_totp:
                seed = pyotp.random_base32()
                box = runtime(self.seeding_app).secrets.totp_seeds
                db.add(
                    SecondFactor(
                        member_id=member.id,
                        kind="totp",
                        secret_encrypted=box.encrypt(seed.encode()),
                        confirmed_at=utcnow(),
                    )
                )
            db.commit()
        return email, seed

    def audit(self, user_agent: str) -> list[tuple[str, str, str | None]]:
        """(event, outcome, ip_address) of every audit row one browser caused, oldest first."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT event, outcome, ip_address FROM audit_events WHERE user_agent = :ua ORDER BY id"),
                    {"ua": user_agent},
                ).all()
        finally:
            engine.dispose()
        return [tuple(row) for row in rows]


class SourceAddressAdapter(HTTPAdapter):
    """Connections from one loopback address, as a client on another host would have."""

    def __init__(self, source_ip: str) -> None:
        self.source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def _nginx_config(folder: Path, upstreams: list[str], ports: dict[str, int], tls: tuple[Path, Path]) -> Path:
    """nginx.conf for a process the test owns: the shipped site template rendered with this
    cluster's addresses, plus one pinned front per process using the shipped proxy headers."""
    certificate, key = tls
    rendered = string.Template(NGINX_TEMPLATE.read_text()).safe_substitute(
        IDP_PUBLIC_HOST="127.0.0.1",
        IDP_UPSTREAM_A=upstreams[0],
        IDP_UPSTREAM_B=upstreams[1],
        NGINX_HTTP_LISTEN=f"127.0.0.1:{ports['http']}",
        NGINX_HTTPS_LISTEN=f"127.0.0.1:{ports['https']}",
        TLS_CERTIFICATE=str(certificate),
        TLS_CERTIFICATE_KEY=str(key),
    )
    assert "${" not in rendered.split("upstream idp", 1)[1], "a template variable was left unset"
    (folder / "idp.conf").write_text(rendered)
    shutil.copyfile(NGINX_PROXY_HEADERS, folder / "idp-proxy.conf")
    pinned = "\n".join(
        f"""
    server {{
        listen 127.0.0.1:{ports[name]} ssl;
        server_name 127.0.0.1;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://{upstream};
            include idp-proxy.conf;
        }}
    }}"""
        for name, upstream in zip(("a", "b"), upstreams)
    )
    # Run as root (CI), the workers would otherwise be "nobody", who cannot enter pytest's
    # private temporary folder where nginx keeps its buffers.
    user = "user root;" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(
        f"""
{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include idp.conf;
{pinned}
}}
"""
    )
    return config


def _start_nginx(config: Path) -> subprocess.Popen:
    folder = config.parent
    command = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    with (folder / "nginx.out").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(url: str, ca_file: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, f"nginx exited with {process.returncode}"
        try:
            if requests.get(url, verify=str(ca_file), timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer through nginx")


@pytest.fixture(scope="module")
def cluster(postgres_databases, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    ports = {name: free_port() for name in ("https", "http", "a", "b")}
    issuer = f"https://127.0.0.1:{ports['https']}"
    prefix = f"test-cluster-{uuid.uuid4().hex}"
    tls = self_signed_certificate(folder)
    with postgres_databases.fresh() as database_url, SmtpServer() as smtp:
        base_config = {
            "server": {
                "issuer": "http://idp.test",
                "secret_key": SECRET_KEY,
                "instance_path": str(folder / "instance"),
            },
            "database": {"url": database_url},
            # The test process only seeds and reads: it must not run queued jobs (mail, logout
            # tokens) meant for the cluster's processes, or their mail lands in its outbox.
            "outbound": {"worker": False},
        }
        _, client_id = _seed(database_url, base_config)
        env = {
            "IDP_SERVER__DEVELOPMENT": "false",
            "IDP_SERVER__ISSUER": issuer,
            "IDP_SERVER__SECRET_KEY": SECRET_KEY,
            "IDP_SERVER__INSTANCE_PATH": str(folder / "instance"),
            "IDP_SERVER__TRUSTED_PROXIES": "1",
            "IDP_DATABASE__URL": database_url,
            "IDP_RATELIMIT__STORAGE_URI": REDIS_URL,
            "IDP_RATELIMIT__KEY_PREFIX": prefix,
            "IDP_RATELIMIT__LOGIN_PER_IP": f"{LOGIN_LIMIT} per minute",
            "IDP_LOCKOUT__MAX_FAILURES": str(MAX_FAILURES),
            "IDP_MAIL__BACKEND": "smtp",
            "IDP_MAIL__SMTP_HOST": smtp.host,
            "IDP_MAIL__SMTP_PORT": str(smtp.port),
            "IDP_MAIL__SMTP_SECURITY": "none",
            "IDP_LOGGING__LEVEL": "WARNING",
        }
        # The one-off step of docs/deployment.md, so that no two processes race to make keys.
        ensured = subprocess.run(
            [str(IDP_SCRIPT), "keys", "ensure"], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
        )
        assert ensured.returncode == 0, ensured.stderr
        seeding_app = create_app(base_config)
        nginx = None
        try:
            with idp_processes(2, env, folder, workers=1) as direct_urls:
                upstreams = [urlsplit(url).netloc for url in direct_urls]
                nginx = _start_nginx(_nginx_config(folder, upstreams, ports, tls))
                fronts = {name: f"https://127.0.0.1:{ports[name]}" for name in ("a", "b")}
                for url in (issuer, *fronts.values()):
                    _wait_for(f"{url}/health", tls[0], nginx)
                yield Cluster(
                    issuer,
                    fronts,
                    f"http://127.0.0.1:{ports['http']}",
                    tls[0],
                    database_url,
                    smtp,
                    client_id,
                    seeding_app,
                )
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait(timeout=30)
            get_engine(seeding_app).dispose()
            connection = redis.Redis.from_url(REDIS_URL)
            for key in connection.scan_iter(f"*{prefix}*"):
                connection.delete(key)
            connection.close()


# --- What a browser and a relying party do ---------------------------------------------------


def _follow(browser: LiveBrowser, response, base: str) -> requests.Response:
    """Follow redirects inside idp, at ``base``, until one leaves for the relying party."""
    for _ in range(8):
        assert response.status_code in (302, 303), (response.status_code, response.text[:300])
        location = response.headers["Location"]
        if not location.startswith("/"):
            return response
        response = browser.http.get(base + location, allow_redirects=False, timeout=10)
    raise AssertionError("too many redirects inside idp")


def _login(browser: LiveBrowser, request: AuthorizationRequest, email: str, password: str, start: str, finish: str):
    """The authorization request and login page at ``start``, the password posted at ``finish``."""
    interaction = browser.open_login(request.url(), base_url=start)
    token = browser.login_form_token(interaction, base_url=start)
    return browser.post_login(interaction, token, email, password, base_url=finish)


def _redeem(base: str, browser: LiveBrowser, code: str, request: AuthorizationRequest) -> requests.Response:
    return browser.http.post(
        f"{base}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.verifier,
            "client_id": request.client_id,
        },
        timeout=30,
    )


# --- The behaviours --------------------------------------------------------------------------


def test_a_sign_in_started_at_one_process_finishes_at_the_other_and_its_code_is_redeemed_once(cluster):
    email, _ = cluster.new_member()
    browser = cluster.browser("127.0.0.11")
    a, b = cluster.fronts["a"], cluster.fronts["b"]
    request = AuthorizationRequest(cluster.client_id)

    # Authorization request and login page at A, password at B, resumed (code issued) at B.
    logged_in = _login(browser, request, email, DEMO_PASSWORD, start=a, finish=b)
    assert logged_in.status_code == 303, logged_in.text[:300]
    code = code_from(_follow(browser, logged_in, b).headers["Location"], request, issuer=cluster.issuer)

    redeemed = _redeem(a, browser, code, request)
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.headers["Cache-Control"] == "no-store"
    for base in (a, b):
        again = _redeem(base, browser, code, request)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text


def test_both_processes_publish_the_same_keys_and_accept_each_others_tokens(cluster):
    email, _ = cluster.new_member()
    browser = cluster.browser("127.0.0.12")
    a, b = cluster.fronts["a"], cluster.fronts["b"]

    jwks_a = browser.http.get(f"{a}/jwks", timeout=10).json()
    jwks_b = browser.http.get(f"{b}/jwks", timeout=10).json()
    assert jwks_a == jwks_b and jwks_a["keys"]

    # Tokens from A (after signing in there), then from B (the same session, prompt=none).
    at_a = AuthorizationRequest(cluster.client_id)
    signed_in = _login(browser, at_a, email, DEMO_PASSWORD, start=a, finish=a)
    code_a = code_from(_follow(browser, signed_in, a).headers["Location"], at_a, issuer=cluster.issuer)
    at_b = AuthorizationRequest(cluster.client_id, extra={"prompt": "none"})
    silent = browser.http.get(b + at_b.url(), allow_redirects=False, timeout=10)
    code_b = code_from(_follow(browser, silent, b).headers["Location"], at_b, issuer=cluster.issuer)
    issued = {}
    for base, code, request in ((a, code_a, at_a), (b, code_b, at_b)):
        exchanged = _redeem(base, browser, code, request)
        assert exchanged.status_code == 200, exchanged.text
        issued[base] = (exchanged.json(), request)

    for issuer_process, other in ((a, b), (b, a)):
        tokens, request = issued[issuer_process]
        # An independent RP library verifies the ID token against either process's JWKS.
        for jwks in (jwks_a, jwks_b):
            claims = verify_token(tokens["id_token"], jwks).claims
            assert claims["iss"] == cluster.issuer and claims["aud"] == cluster.client_id
            assert claims["nonce"] == request.nonce
        userinfo = browser.http.get(
            f"{other}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
        )
        assert userinfo.status_code == 200, userinfo.text
        assert userinfo.json()["email"] == email


def test_a_session_made_at_one_process_is_seen_by_the_other(cluster):
    email, _ = cluster.new_member()
    browser = cluster.browser("127.0.0.13")
    a, b = cluster.fronts["a"], cluster.fronts["b"]

    assert browser.http.get(f"{b}/account/", allow_redirects=False, timeout=10).status_code == 303
    request = AuthorizationRequest(cluster.client_id)
    _follow(browser, _login(browser, request, email, DEMO_PASSWORD, start=a, finish=a), a)

    for base in (b, a, cluster.issuer):
        page = browser.http.get(f"{base}/account/", allow_redirects=False, timeout=10)
        assert page.status_code == 200 and 'data-testid="account-summary"' in page.text, (base, page.status_code)
        assert email in page.text


def test_failures_at_both_processes_add_up_to_one_lock(cluster):
    email, _ = cluster.new_member()
    browser = cluster.browser("127.0.0.14")
    a, b = cluster.fronts["a"], cluster.fronts["b"]
    interaction = browser.open_login(AuthorizationRequest(cluster.client_id).url(), base_url=a)
    token = browser.login_form_token(interaction, base_url=a)

    statuses = [
        browser.post_login(interaction, token, email, WRONG, base_url=(a, b)[i % 2]).status_code
        for i in range(MAX_FAILURES)
    ]
    assert statuses == [401] * (MAX_FAILURES - 1) + [423]
    # Locked at both: the right password is not even checked.
    for base in (a, b):
        assert browser.post_login(interaction, token, email, DEMO_PASSWORD, base_url=base).status_code == 423
    events = [
        event for event, outcome, _ in cluster.audit(browser.http.headers["User-Agent"]) if event == "lock_started"
    ]
    assert events == ["lock_started"]
    # The lock notice went out through the shared SMTP relay.
    deadline = time.monotonic() + 30
    while not cluster.smtp.to(email) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(cluster.smtp.to(email)) == 1


def test_rate_limits_add_up_across_processes_per_real_client_address_and_ignore_forged_ones(cluster):
    browser = cluster.browser("127.0.0.15")
    a, b = cluster.fronts["a"], cluster.fronts["b"]
    interaction = browser.open_login(AuthorizationRequest(cluster.client_id).url(), base_url=a)
    token = browser.login_form_token(interaction, base_url=a)

    def attempt(base: str, index: int) -> requests.Response:
        # A client naming another address each time: nginx overwrites the header.
        return browser.http.post(
            f"{base}{interaction}/login",
            data={"csrf_token": token, "identifier": f"nobody{index}@example.test", "password": WRONG},
            headers={"X-Forwarded-For": f"203.0.113.{index}", "X-Real-IP": f"198.51.100.{index}"},
            allow_redirects=False,
            timeout=30,
        )

    statuses = [attempt((a, b)[i % 2], i).status_code for i in range(LOGIN_LIMIT)]
    assert statuses == [401] * LOGIN_LIMIT
    for index, base in enumerate((a, b, cluster.issuer), start=LOGIN_LIMIT):
        limited = attempt(base, index)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0, base

    # Another client, at the same moment, is not limited.
    neighbour = cluster.browser("127.0.0.16")
    other = neighbour.open_login(AuthorizationRequest(cluster.client_id).url(), base_url=b)
    assert (
        neighbour.post_login(
            other, neighbour.login_form_token(other, base_url=b), "nobody@example.test", WRONG, base_url=b
        ).status_code
        == 401
    )

    # What idp recorded is the real address, never a forged one, never nginx's own.
    recorded = cluster.audit(browser.http.headers["User-Agent"])
    assert {outcome for event, outcome, _ in recorded if event == "sign_in"} == {"failure"}
    assert len([row for row in recorded if row[0] == "sign_in"]) == LOGIN_LIMIT
    assert {ip for _, _, ip in recorded} == {"127.0.0.15"}, recorded


def test_an_authenticator_code_used_at_one_process_is_refused_at_the_other(cluster):
    email, seed = cluster.new_member(with_totp=True)
    a, b = cluster.fronts["a"], cluster.fronts["b"]
    first, second = cluster.browser("127.0.0.17"), cluster.browser("127.0.0.18")
    challenges = []
    for browser, base in ((first, a), (second, b)):
        logged_in = _login(
            browser, AuthorizationRequest(cluster.client_id), email, DEMO_PASSWORD, start=base, finish=base
        )
        assert logged_in.status_code == 303 and logged_in.headers["Location"].endswith("/second-factor"), (
            logged_in.text[:300]
        )
        url = base + logged_in.headers["Location"]
        challenges.append((browser, url, csrf_token(browser.http.get(url, timeout=10).text)))

    code = pyotp.TOTP(seed).at(utcnow())
    statuses = [
        browser.http.post(url, data={"csrf_token": token, "code": code}, allow_redirects=False, timeout=30).status_code
        for browser, url, token in challenges
    ]
    assert statuses == [303, 401]


def test_a_member_signs_in_through_the_load_balancer_alone(cluster):
    """As a real browser does: one address, nginx choosing the process for every request."""
    email, _ = cluster.new_member()
    browser = cluster.browser("127.0.0.19")
    request = AuthorizationRequest(cluster.client_id)

    logged_in = _login(browser, request, email, DEMO_PASSWORD, start=cluster.issuer, finish=cluster.issuer)
    code = code_from(_follow(browser, logged_in, cluster.issuer).headers["Location"], request, issuer=cluster.issuer)
    exchanged = _redeem(cluster.issuer, browser, code, request)
    assert exchanged.status_code == 200, exchanged.text
    cookie = next(cookie for cookie in browser.http.cookies if cookie.name == "__Host-idp_session")
    assert cookie.secure

    recorded = cluster.audit(browser.http.headers["User-Agent"])
    assert ("sign_in", "success", "127.0.0.19") in recorded, recorded

    # Plain http is only ever a redirect to https.
    redirect = browser.http.get(f"{cluster.http_url}/authorize", allow_redirects=False, timeout=10)
    assert redirect.status_code == 308 and redirect.headers["Location"].startswith("https://")


def test_the_load_balancer_hides_the_metrics_and_passes_its_request_id(cluster):
    browser = cluster.browser("127.0.0.20")
    # Prometheus scrapes each process directly; the public address does not serve them.
    assert browser.http.get(f"{cluster.issuer}/metrics", timeout=10).status_code == 404
    ready = browser.http.get(f"{cluster.issuer}/readyz", timeout=10)
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "ratelimit_storage": "ok"}}
    # nginx's own id ($request_id, 32 hex digits) is the one idp logs the request under;
    # a client's own X-Request-ID is replaced by it.
    answered = browser.http.get(
        f"{cluster.issuer}/healthz", headers={"X-Request-ID": "chosen-by-the-client"}, timeout=10
    )
    assert re.fullmatch(r"[0-9a-f]{32}", answered.headers["X-Request-ID"]), answered.headers

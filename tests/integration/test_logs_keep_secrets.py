"""What `idp serve` writes to its log during a member's whole day: a sign-in with a password and
an authenticator code, the token exchange and UserInfo, a forgotten password reset by mail.
Every line is JSON; every line of a request carries its request id and every line of queued
work its job id; no line holds any of the secrets the test used."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pyotp
import requests

from idp import create_app
from idp.clock import utcnow
from idp.db import get_engine, get_session
from idp.runtime import runtime
from tests.helpers.live import IDP_SCRIPT, free_port, wait_until_up
from tests.helpers.oidc import csrf_token, pkce_pair

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase for siti"
REDIRECT_URI = "https://rp.example.test/callback"


def seed(config: dict) -> tuple[str, str, str, str]:
    """A member with an authenticator app and a confidential client: (email, TOTP key, client
    id, client secret)."""
    from idp.models import SecondFactor
    from idp.services import keys
    from idp.services.clients import NewClient, create_client
    from idp.services.members import NewMember, create_member

    app = create_app(config)
    try:
        with app.app_context():
            db = get_session()
            keys.ensure_keys(db, runtime(app).secrets.signing_keys)
            member = create_member(
                db,
                NewMember(
                    "42345678901",
                    "3171010101900042",
                    "Siti Rahmawati",
                    date(1990, 4, 17),
                    email="siti.logs@example.test",
                    email_verified=True,
                    locale="en",
                ),
                PASSWORD,
            )
            seed_value = pyotp.random_base32()
            db.add(
                SecondFactor(
                    member_id=member.id,
                    kind="totp",
                    confirmed_at=utcnow(),
                    secret_encrypted=runtime(app).secrets.totp_seeds.encrypt(seed_value.encode()),
                )
            )
            client, secret = create_client(
                db,
                NewClient(
                    name="Klaim",
                    redirect_uris=[REDIRECT_URI],
                    first_party=True,
                    grant_types=["authorization_code", "refresh_token"],
                    always_issue_refresh_token=True,
                ),
            )
            db.commit()
            return member.email, seed_value, client.client_id, secret
    finally:
        get_engine(app).dispose()


def test_a_members_day_leaves_no_secret_in_the_log_and_an_id_on_every_line(
    app_config, database_url, smtp_server, tmp_path
):
    config = {**app_config, "mail": smtp_server.mail_settings()}
    email, totp_key, client_id, client_secret = seed(config)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("IDP_")},
        "IDP_SERVER__ISSUER": base,
        "IDP_SERVER__SECRET_KEY": app_config["server"]["secret_key"],
        "IDP_SERVER__INSTANCE_PATH": app_config["server"]["instance_path"],
        "IDP_DATABASE__URL": database_url,
        "IDP_MAIL__BACKEND": "smtp",
        "IDP_MAIL__SMTP_HOST": smtp_server.host,
        "IDP_MAIL__SMTP_PORT": str(smtp_server.port),
        "IDP_MAIL__SMTP_SECURITY": "none",
        "IDP_OUTBOUND__POLL_SECONDS": "1",
        "IDP_LOGGING__LEVEL": "DEBUG",  # stricter than production's INFO
    }
    log_path = tmp_path / "serve.log"
    secrets: dict[str, str] = {
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "TOTP key": totp_key,
        "client secret": client_secret,
        "server secret key": app_config["server"]["secret_key"],
    }

    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(IDP_SCRIPT), "serve", "--bind", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(base, server)
            http = requests.Session()

            # Sign in: password, then a wrong and a right authenticator code.
            verifier, challenge = pkce_pair()
            secrets["PKCE verifier"] = verifier
            started = http.get(
                f"{base}/authorize",
                allow_redirects=False,
                timeout=10,
                params={
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": REDIRECT_URI,
                    "scope": "openid profile email",
                    "state": "s-123",
                    "nonce": "n-456",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
            )
            interaction = base + started.headers["Location"]
            login_page = http.get(interaction, timeout=10)
            secrets["CSRF token"] = csrf_token(login_page.text)
            # Anonymous so far: the signed light cookie carries the CSRF token (no stored session).
            secrets["session cookie"] = http.cookies["idp_light"]
            answered = http.post(
                f"{interaction}/login",
                allow_redirects=False,
                timeout=30,
                data={"csrf_token": csrf_token(login_page.text), "identifier": email, "password": PASSWORD},
            )
            assert answered.status_code == 303 and answered.headers["Location"].endswith("/second-factor")
            factor_page = http.get(f"{interaction}/second-factor", timeout=10)
            right = pyotp.TOTP(totp_key).now()
            wrong = f"{(int(right) + 1) % 1_000_000:06d}"
            secrets["wrong TOTP code"], secrets["TOTP code"] = wrong, right
            refused = http.post(
                f"{interaction}/second-factor",
                timeout=10,
                data={"csrf_token": csrf_token(factor_page.text), "code": wrong},
            )
            assert refused.status_code == 401
            passed = http.post(
                f"{interaction}/second-factor",
                allow_redirects=False,
                timeout=10,
                data={"csrf_token": csrf_token(factor_page.text), "code": right},
            )
            assert passed.status_code == 303
            location = passed.headers["Location"]
            while not location.startswith(REDIRECT_URI):
                location = http.get(
                    base + location if location.startswith("/") else location, allow_redirects=False, timeout=10
                ).headers["Location"]
            code = parse_qs(urlsplit(location).query)["code"][0]
            secrets["authorization code"] = code
            secrets["signed-in session cookie"] = http.cookies["idp_session"]

            # The relying party's side: the token exchange (Basic), UserInfo.
            basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
            tokens = requests.post(
                f"{base}/token",
                headers={"Authorization": f"Basic {basic}"},
                timeout=10,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                },
            ).json()
            secrets["access token"], secrets["ID token"] = tokens["access_token"], tokens["id_token"]
            userinfo = requests.get(
                f"{base}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
            )
            assert userinfo.status_code == 200

            # A refresh (rotating the refresh token), a reuse of the spent one, a revocation.
            secrets["refresh token"] = tokens["refresh_token"]

            def token_call(path: str, data: dict):
                return requests.post(
                    f"{base}{path}", headers={"Authorization": f"Basic {basic}"}, timeout=10, data=data
                )

            refreshed = token_call("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
            assert refreshed.status_code == 200, refreshed.text
            secrets["rotated refresh token"] = refreshed.json()["refresh_token"]
            secrets["refreshed access token"] = refreshed.json()["access_token"]
            reused = token_call("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
            assert reused.status_code == 400
            assert token_call("/revoke", {"token": secrets["refreshed access token"]}).status_code == 200

            # A forgotten password, reset through the mailed link.
            browser = requests.Session()
            forgot = browser.get(f"{base}/recovery/forgot", timeout=10)
            browser.post(
                f"{base}/recovery/forgot", timeout=10, data={"csrf_token": csrf_token(forgot.text), "identifier": email}
            )
            (mail,) = smtp_server.wait_for(1, timeout=30)
            link = re.search(r"https?://\S+/recovery/reset/(\S+)", mail.text)
            assert link, mail.text
            secrets["reset link token"] = link.group(1)
            reset_page = browser.get(f"{base}/recovery/reset/{link.group(1)}", timeout=10)
            done = browser.post(
                f"{base}/recovery/reset/{link.group(1)}",
                timeout=30,
                data={"csrf_token": csrf_token(reset_page.text), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            )
            assert done.status_code == 200, done.text[:500]
            smtp_server.wait_for(2)  # the notice that the password was changed
        finally:
            server.terminate()
            server.wait(timeout=30)

    lines = log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is JSON
    assert all(isinstance(entry, dict) for entry in entries)
    for name, secret in secrets.items():
        assert len(secret) >= 6, name
        for line in lines:
            assert secret not in line, f"the {name} is in the log: {line}"

    ours = [entry for entry in entries if entry["logger"].startswith("idp")]
    audit_events = {entry["audit"]["event"] for entry in ours if "audit" in entry}
    assert {
        "sign_in",
        "second_factor",
        "password_reset_requested",
        "password_reset",
        "refresh_token_reused",
        "token_revoked",
    } <= audit_events
    for entry in ours:
        assert entry.get("request_id") or entry.get("job_id"), entry
    jobs = [entry for entry in ours if entry.get("job_id")]
    assert any(entry.get("message") == "mail sent" for entry in jobs)
    # Each request its own id: the password, the wrong code and the right code are three.
    sign_in_requests = {
        entry["request_id"] for entry in ours if entry.get("audit", {}).get("event") in {"sign_in", "second_factor"}
    }
    assert len(sign_in_requests) == 3

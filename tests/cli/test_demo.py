"""`idp demo seed`: what `make run` relies on, run before every start."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from sqlalchemy import func, select

from idp.db import get_session
from idp.models import Client, Member, SigningKey
from idp.security.passwords import verify_password
from idp.services.clients import get_client
from idp.services.demo import read_env_file
from idp.services.members import find
from tests.cli.conftest import ISSUER, assert_failed, assert_succeeded
from tests.helpers.oidc import AuthorizationRequest, Browser, exchange_code, query_of

PORTAL_CALLBACK = "http://127.0.0.1:5001/callback"


def seed(idp, *options: str):
    return assert_succeeded(idp("demo", "seed", *options))


def printed_password(result) -> str | None:
    match = re.search(r"^  password:\s+([a-z0-9]{4}(?:-[a-z0-9]{4}){3})$", result.stdout, re.M)
    return match.group(1) if match else None


def counts(app) -> dict[str, int]:
    with app.app_context():
        db = get_session()
        return {
            model.__name__: db.scalar(select(func.count()).select_from(model)) for model in (Member, Client, SigningKey)
        }


def secret_matches(app, secret: str) -> bool:
    with app.app_context():
        return get_client(get_session(), "benefits-portal").check_client_secret(secret)


def demo_password_hash(app) -> str:
    with app.app_context():
        return find(get_session(), "12345678901").password_hash


def test_first_seed_makes_everything_and_says_how_to_sign_in(idp, app, tmp_path: Path):
    result = seed(idp)

    env_file = tmp_path / "instance" / "benefits_portal.env"
    values = read_env_file(env_file)
    assert values["IDP_ISSUER"] == ISSUER
    assert values["PORTAL_CLIENT_ID"] == "benefits-portal"
    assert secret_matches(app, values["PORTAL_CLIENT_SECRET"])
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "http://127.0.0.1:5001" in result.stdout
    assert "12345678901" in result.stdout and "siti@example.test" in result.stdout
    password = printed_password(result)
    assert password and verify_password(password, demo_password_hash(app))
    assert values["PORTAL_CLIENT_SECRET"] not in result.output
    assert counts(app) == {"Member": 1, "Client": 1, "SigningKey": 2}
    with app.app_context():
        portal = get_client(get_session(), "benefits-portal")
        member = find(get_session(), "siti@example.test")
        assert portal.redirect_uris == [PORTAL_CALLBACK]
        assert portal.allowed_scopes == ["openid", "profile", "email", "membership", "benefits:read"]
        assert portal.token_endpoint_auth_method == "client_secret_basic" and portal.first_party is False
        # Logout through idp and back-channel logout (issue 9).
        assert portal.post_logout_redirect_uris == ["http://127.0.0.1:5001/signed-out"]
        assert portal.backchannel_logout_uri == "http://127.0.0.1:5001/backchannel-logout"
        assert (member.full_name, member.nik) == ("Siti Rahayu", "3171234567890001")
        assert member.birth_date.isoformat() == "1990-04-17"
        assert member.email_verified and member.locale == "id"


def test_seeding_again_keeps_the_member_client_and_secret(idp, app, tmp_path: Path):
    seed(idp)
    env_file = tmp_path / "instance" / "benefits_portal.env"
    secret = read_env_file(env_file)["PORTAL_CLIENT_SECRET"]
    password_hash = demo_password_hash(app)

    again = seed(idp)

    assert counts(app) == {"Member": 1, "Client": 1, "SigningKey": 2}
    assert read_env_file(env_file)["PORTAL_CLIENT_SECRET"] == secret
    assert secret_matches(app, secret)
    assert demo_password_hash(app) == password_hash
    assert printed_password(again) is None
    assert "unchanged" in again.stdout and "--reset-password" in again.stdout


def test_reset_password_prints_a_new_working_password(idp, app):
    first = printed_password(seed(idp))
    second = printed_password(seed(idp, "--reset-password"))
    assert second and second != first
    assert verify_password(second, demo_password_hash(app))
    assert not verify_password(first, demo_password_hash(app))


def test_a_lost_env_file_gets_a_new_secret(idp, app, tmp_path: Path):
    env_file = tmp_path / "portal.env"
    seed(idp, "--portal-env", str(env_file))
    old_secret = read_env_file(env_file)["PORTAL_CLIENT_SECRET"]
    env_file.unlink()

    result = seed(idp, "--portal-env", str(env_file))

    new_secret = read_env_file(env_file)["PORTAL_CLIENT_SECRET"]
    assert new_secret != old_secret
    assert secret_matches(app, new_secret) and not secret_matches(app, old_secret)
    assert "secret reset" in result.stdout
    assert counts(app)["Client"] == 1


def test_a_stale_secret_on_file_is_replaced_and_other_lines_are_kept(idp, app, tmp_path: Path):
    env_file = tmp_path / "portal.env"
    env_file.write_text("PORTAL_SECRET_KEY=keep-me\nPORTAL_CLIENT_SECRET=from-another-database\n")
    seed(idp, "--portal-env", str(env_file))
    values = read_env_file(env_file)
    assert values["PORTAL_SECRET_KEY"] == "keep-me"
    assert secret_matches(app, values["PORTAL_CLIENT_SECRET"])
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_the_portal_credentials_work_end_to_end(idp, client, tmp_path: Path):
    """Sign in as the demo member at the demo client and redeem the code with the secret on file."""
    seed(idp)
    password = printed_password(seed(idp, "--reset-password"))
    secret = read_env_file(tmp_path / "instance" / "benefits_portal.env")["PORTAL_CLIENT_SECRET"]
    request = AuthorizationRequest(
        "benefits-portal", redirect_uri=PORTAL_CALLBACK, scope="openid profile benefits:read"
    )

    location = Browser(client).sign_in(request, "12345678901", password)
    response = exchange_code(client, query_of(location)["code"], request, secret=secret)

    assert response.status_code == 200, response.text
    assert response.json["scope"] == "openid profile benefits:read"


def test_a_demo_member_without_a_password_gets_one(idp, app):
    member = ("--membership-number", "12345678901", "--nik", "3171234567890001", "--name", "Siti Rahayu")
    assert_succeeded(idp("members", "create", *member, "--birth-date", "1990-04-17", "--no-password"))
    password = printed_password(seed(idp))
    assert password and verify_password(password, demo_password_hash(app))


def test_an_unwritable_env_file_is_one_line(idp, tmp_path: Path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    result = idp("demo", "seed", "--portal-env", str(not_a_folder / "portal.env"))
    line = assert_failed(result, 1, f"cannot read {not_a_folder / 'portal.env'}: Not a directory")
    assert "PORTAL_CLIENT_SECRET" not in line


def test_a_failed_env_file_write_is_one_line_and_the_next_seed_recovers(idp, app, tmp_path: Path, monkeypatch):
    from idp.services import demo

    env_file = tmp_path / "portal.env"
    real_write = demo.write_env_file

    def refuse(path, values):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(demo, "write_env_file", refuse)
    result = idp("demo", "seed", "--portal-env", str(env_file))
    assert_failed(result, 1, f"cannot write {env_file}: Permission denied")
    monkeypatch.setattr(demo, "write_env_file", real_write)

    assert "secret reset" in seed(idp, "--portal-env", str(env_file)).stdout
    assert secret_matches(app, read_env_file(env_file)["PORTAL_CLIENT_SECRET"])

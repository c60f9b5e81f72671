"""The demo installation behind `make run`: signing keys, one member, and the benefits portal
registered as a client. Safe to run before every start: what exists is kept.

Nothing here stores a password or secret in plain text. The member's password is shown once
when it is set; the portal's client secret goes only to the portal's env file (mode 0600),
which is how the portal reads it.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from idp.errors import NotFound
from idp.models import Client, Member, SigningKey
from idp.security.crypto import SecretBox
from idp.services import clients, keys, members

DEMO_MEMBER = members.NewMember(
    membership_number="12345678901",
    nik="3171234567890001",
    full_name="Siti Rahayu",
    birth_date=date(1990, 4, 17),
    email="siti@example.test",
    email_verified=True,
    locale="id",
)

PORTAL_URL = "http://127.0.0.1:5001"
PORTAL_CLIENT = clients.NewClient(
    client_id="benefits-portal",
    name="Benefits Portal",
    redirect_uris=[f"{PORTAL_URL}/callback"],
    token_endpoint_auth_method="client_secret_basic",
    scopes=["openid", "profile", "email", "membership", "benefits:read"],
    # Third-party on purpose: the demo then shows the consent page too.
    first_party=False,
    # It keeps members signed in past the access token's lifetime with refresh tokens,
    # issued by its registration (no offline_access: the portal is used while the member is there).
    grant_types=["authorization_code", "refresh_token"],
    always_issue_refresh_token=True,
    # Its "Sign out" signs out of idp too (RP-Initiated Logout), and idp tells it when the
    # member's idp session ends elsewhere (Back-Channel Logout).
    post_logout_redirect_uris=[f"{PORTAL_URL}/signed-out"],
    backchannel_logout_uri=f"{PORTAL_URL}/backchannel-logout",
)
PORTAL_ENV_FILE_NAME = "benefits_portal.env"
PORTAL_SECRET_VARIABLE = "PORTAL_CLIENT_SECRET"

# Lower-case letters and digits without the look-alikes (l/1, o/0, i): read off a terminal
# and typed into a form without mistakes. 16 of them carry about 79 bits.
_READABLE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_PASSWORD_GROUPS = 4
_PASSWORD_GROUP_LENGTH = 4


@dataclass(frozen=True)
class SeededMember:
    member: Member
    created: bool
    # The password set by this run, to show once; None when the existing one was kept.
    new_password: str | None


@dataclass(frozen=True)
class SeededClient:
    client: Client
    created: bool
    # The secret the portal must use: new, reset, or the one its env file already holds.
    secret: str
    secret_changed: bool


@dataclass(frozen=True)
class DemoSeed:
    keys_created: list[SigningKey]
    member: SeededMember
    portal: SeededClient


def seed(db: Session, box: SecretBox, portal_secret_on_file: str | None, reset_password: bool) -> DemoSeed:
    """Make whatever of the demo is missing. The caller commits, then writes the portal's
    env file (so a failed commit never leaves a secret on disk that the database lacks)."""
    return DemoSeed(
        keys_created=keys.ensure_keys(db, box),
        member=seed_member(db, reset_password),
        portal=seed_portal_client(db, portal_secret_on_file),
    )


def seed_member(db: Session, reset_password: bool) -> SeededMember:
    member = members.find(db, DEMO_MEMBER.membership_number)
    if member is None:
        password = readable_password()
        return SeededMember(members.create_member(db, DEMO_MEMBER, password), True, password)
    if reset_password or member.password_hash is None:
        password = readable_password()
        members.set_password(db, member, password)
        return SeededMember(member, False, password)
    return SeededMember(member, False, None)


def seed_portal_client(db: Session, secret_on_file: str | None) -> SeededClient:
    """Register the portal, or keep it. Its secret is kept only if the env file's copy still
    matches; otherwise (file lost, or written for another database) a new one is issued."""
    try:
        client = clients.get_client(db, PORTAL_CLIENT.client_id)
    except NotFound:
        client, secret = clients.create_client(db, PORTAL_CLIENT)
        assert secret is not None  # a confidential client always gets one
        return SeededClient(client, True, secret, True)
    _ensure_logout_registration(client)
    if secret_on_file and client.check_client_secret(secret_on_file):
        return SeededClient(client, False, secret_on_file, False)
    return SeededClient(client, False, clients.reset_secret(db, client), True)


def _ensure_logout_registration(client: Client) -> None:
    """A portal registered before logout existed gets its logout URIs (others are kept)."""
    for uri in PORTAL_CLIENT.post_logout_redirect_uris:
        if uri not in client.post_logout_redirect_uris:
            client.post_logout_redirect_uris = [*client.post_logout_redirect_uris, uri]
    if client.backchannel_logout_uri is None:
        client.backchannel_logout_uri = PORTAL_CLIENT.backchannel_logout_uri


def readable_password() -> str:
    groups = (
        "".join(secrets.choice(_READABLE_ALPHABET) for _ in range(_PASSWORD_GROUP_LENGTH))
        for _ in range(_PASSWORD_GROUPS)
    )
    return "-".join(groups)


def default_portal_env_path(instance_path: str) -> Path:
    """Where the portal looks by default (examples/benefits_portal/config.py) when the
    instance folder is the checkout's."""
    return Path(instance_path) / PORTAL_ENV_FILE_NAME


def portal_env(issuer: str, portal: SeededClient) -> dict[str, str]:
    return {
        "IDP_ISSUER": issuer,
        "PORTAL_CLIENT_ID": portal.client.client_id,
        PORTAL_SECRET_VARIABLE: portal.secret,
    }


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines as the portal reads them; a missing file is empty."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    values = {}
    for line in lines:
        key, value = _split_env_line(line)
        if key:
            values[key] = value
    return values


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Set ``values`` in the file, keeping any other lines a developer added.

    Written to a private temporary file and renamed into place, so the secret is never
    readable by others, not even for a moment, and a crash leaves the old file whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        existing = ["# Written by `idp demo seed`: the benefits portal's registration at the idp."]
    remaining = dict(values)
    lines = []
    for line in existing:
        key, _ = _split_env_line(line)
        if key in values:
            if key in remaining:
                lines.append(f"{key}={remaining.pop(key)}")
            continue  # a second line for a key we set: drop it, so the file says one thing
        lines.append(line)
    lines.extend(f"{key}={value}" for key, value in remaining.items())

    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _split_env_line(line: str) -> tuple[str | None, str]:
    text = line.strip()
    if not text or text.startswith("#") or "=" not in text:
        return None, ""
    key, _, value = text.partition("=")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key.strip(), value

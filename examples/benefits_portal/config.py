"""Portal settings: explicit config, then the environment, then the env file, then defaults.

The env file (``PORTAL_ENV_FILE``, default ``instance/benefits_portal.env``)
holds ``KEY=VALUE`` lines. The idp's ``make run`` seeds the portal's client and
writes the file, so a developer never has to copy the client secret by hand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_FILE_SETTING = "PORTAL_ENV_FILE"
DEFAULT_ENV_FILE = "instance/benefits_portal.env"

DEFAULTS: dict[str, str | None] = {
    "IDP_ISSUER": "http://127.0.0.1:5000",
    "PORTAL_CLIENT_ID": "benefits-portal",
    "PORTAL_CLIENT_SECRET": None,  # required, never defaulted
    "PORTAL_BASE_URL": "http://127.0.0.1:5001",
    "BENEFITS_AUDIENCE": "urn:benefit-services",
    # Skips discovery for access-token checks (tests, or a resource server
    # that pins the idp's JWKS location).
    "IDP_JWKS_URI": None,
    # Signs the session cookie. Without it a random key is made per process,
    # so every restart signs everyone out.
    "PORTAL_SECRET_KEY": None,
}


class MissingSetting(RuntimeError):
    pass


def load_settings(
    config: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Resolve every setting in ``DEFAULTS``. Empty values count as unset."""
    config = config or {}
    environ = os.environ if environ is None else environ
    env_file = _first_value(ENV_FILE_SETTING, config, environ) or DEFAULT_ENV_FILE
    file_values = read_env_file(Path(env_file))

    settings = {name: _first_value(name, config, environ, file_values) or default for name, default in DEFAULTS.items()}
    if not settings["PORTAL_CLIENT_SECRET"]:
        raise MissingSetting(
            f"PORTAL_CLIENT_SECRET is not set: export it, or put it in {env_file} "
            "(the idp's `make run` writes that file when it seeds the portal's client)"
        )
    settings["PORTAL_BASE_URL"] = settings["PORTAL_BASE_URL"].rstrip("/")
    settings[ENV_FILE_SETTING] = env_file
    return settings


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments are skipped. A missing file is empty."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    values = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _first_value(name: str, *sources: Mapping[str, object]) -> str | None:
    for source in sources:
        value = source.get(name)
        if value:
            return str(value)
    return None

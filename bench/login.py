"""Login cost benchmark: a full hosted-login POST against the password hash alone.

The goal (DEVELOPERS brief): login cost should be the password hash and little else.
Run with `make bench`. Prints medians over N rounds; nothing here is asserted by tests.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

from idp import create_app
from idp.db import get_session
from idp.migrate import upgrade
from idp.security.passwords import hash_password, verify_password
from idp.services.clients import NewClient, create_client
from idp.services.members import NewMember, create_member

ROUNDS = 20
PASSWORD = "correct horse battery staple"


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    app = create_app(
        {
            "server": {"issuer": "http://idp.bench", "instance_path": str(workdir)},
            "database": {"url": url},
            "logging": {"level": "WARNING"},
        }
    )
    with app.app_context():
        db = get_session()
        create_member(
            db,
            NewMember("12345678901", "3171234567890001", "Bench Member", date(1990, 1, 1), email="bench@example.test"),
            PASSWORD,
        )
        client, _ = create_client(
            db, NewClient(name="bench", redirect_uris=["https://rp.example/cb"], public=True, first_party=True)
        )
        client_id = client.client_id
        db.commit()

    stored = hash_password(PASSWORD)
    hash_times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        verify_password(PASSWORD, stored)
        hash_times.append(time.perf_counter() - start)

    login_times = []
    for _ in range(ROUNDS):
        browser = app.test_client()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": "https://rp.example/cb",
                "scope": "openid",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            }
        )
        location = browser.get(f"/authorize?{query}").headers["Location"]
        page = browser.get(location)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        start = time.perf_counter()
        response = browser.post(
            f"{location}/login", data={"csrf_token": token, "identifier": "bench@example.test", "password": PASSWORD}
        )
        login_times.append(time.perf_counter() - start)
        assert response.status_code == 303, response.status_code

    hash_ms = statistics.median(hash_times) * 1000
    login_ms = statistics.median(login_times) * 1000
    print(f"password hash verify (argon2id): median {hash_ms:.1f} ms over {ROUNDS}")
    print(f"hosted login POST (end to end):  median {login_ms:.1f} ms over {ROUNDS}")
    print(
        f"everything but the hash:         {login_ms - hash_ms:.1f} ms ({(login_ms - hash_ms) / login_ms:.0%} of login)"
    )


if __name__ == "__main__":
    main()

"""SQL statements, commits, connection checkouts and CPU time per request, for each step of a
sign-in and each endpoint the benchmark loads: where repeated or per-request work is.

    .venv/bin/python bench/queries.py [--database-url URL] [--verbose]

Runs idp in-process (Flask test client) on a fresh SQLite file (or the database URL given,
which must be empty) and counts through SQLAlchemy's engine events; nothing in idp changes.
CPU time is the median over --rounds sign-ins of this process's CPU per request (no HTTP
server in it); `bench/run.py` measures the server under load.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import pstats
import re
import secrets
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idpbench.identities import REDIRECT_URI, member_email, member_password
from idpbench.in_process import in_process_app

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Counting:
    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.statements: list[str] = []
        self.checkouts = 0
        self.commits = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine.pool, "checkout", self._checkout)

    def _statement(self, _conn, _cursor, statement, _params, _context, _many):
        self.statements.append(" ".join(statement.split()))

    def _commit(self, _conn):
        self.commits += 1

    def _checkout(self, *_args):
        self.checkouts += 1

    def take(self) -> tuple[list[str], int, int]:
        taken = (self.statements, self.commits, self.checkouts)
        self.statements, self.commits, self.checkouts = [], 0, 0
        return taken


def _shape(statement: str) -> str:
    """The statement's verb and table, e.g. 'SELECT signing_keys'."""
    verb = statement.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.IGNORECASE)
    return f"{verb} {table.group(1) if table else ''}".strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--verbose", action="store_true", help="print every statement")
    parser.add_argument("--rounds", type=int, default=7, help="sign-ins measured (default 7)")
    parser.add_argument(
        "--cheap-hash",
        action="store_true",
        help="Argon2id at its cheapest (m=1 MiB, t=1, as the tests run it): what is left is everything "
        "but the hash, to compare two commits without the hash's own variation",
    )
    parser.add_argument(
        "--profile",
        metavar="REQUEST",
        help="profile the requests whose name starts with this (e.g. 'POST /token') and print "
        "the functions that took the most time over all rounds",
    )
    parser.add_argument("--profile-sort", default="cumulative", help="pstats order: cumulative (default), tottime")
    parser.add_argument("--profile-lines", type=int, default=60, help="functions printed (default 60)")
    parser.add_argument(
        "--by-package",
        action="store_true",
        help="with cprofile: print the profiled time per package (own time of its functions) instead of per function",
    )
    parser.add_argument(
        "--profiler",
        choices=("cprofile", "pyinstrument"),
        default="cprofile",
        help="cprofile (default: every call, exact counts, but its own cost inflates small "
        "functions) or pyinstrument (sampled: the call tree as the time was really spent)",
    )
    args = parser.parse_args()

    from datetime import date

    from idp.db import get_engine, get_session
    from idp.services.clients import NewClient, create_client
    from idp.services.members import NewMember, create_member

    app = in_process_app(
        "queries",
        args.database_url,
        # Every round signs in from one address: the per-address limits are raised for it.
        ratelimit={"login_per_ip": "10000 per minute", "authorize_per_ip": "10000 per minute"},
        **({"passwords": {"hash_memory_kib": 1024, "hash_time_cost": 1}} if args.cheap_hash else {}),
    )
    with app.app_context():
        db = get_session()
        create_member(
            db,
            NewMember(
                "90000000001",
                "3171000000000001",
                "Bench Member",
                date(1990, 1, 1),
                email=member_email(1),
                email_verified=True,
                locale="en",
            ),
            member_password(1),
        )
        # As bench/seed.py registers the load's relying parties: with refresh tokens and
        # client_credentials too.
        client, secret = create_client(
            db,
            NewClient(
                name="bench",
                redirect_uris=[REDIRECT_URI],
                scopes=["openid", "profile", "email", "offline_access"],
                grant_types=["authorization_code", "refresh_token", "client_credentials"],
                first_party=True,
                client_id="bench-rp",
            ),
        )
        db.commit()
    counting = Counting(get_engine(app))
    auth = "Basic " + base64.b64encode(f"bench-rp:{secret}".encode()).decode()
    rows: list[tuple[str, list[str], int, int]] = []
    cpu: dict[str, list[float]] = {}
    clock = [time.process_time()]

    def step(name: str, response):
        spent = time.process_time() - clock[0]
        statements, commits, checkouts = counting.take()
        label = f"{name} -> {response.status_code}"
        rows.append((label, statements, commits, checkouts))
        cpu.setdefault(label, []).append(spent)
        return response

    profiler = None
    if args.profile and args.profiler == "pyinstrument":
        import pyinstrument

        profiler = pyinstrument.Profiler(interval=0.0001)
        profiler.enable, profiler.disable = profiler.start, profiler.stop  # cProfile's names
    elif args.profile:
        profiler = cProfile.Profile()
    profiled_any = [False]
    warm = [False]  # the first round fills caches: neither timed nor profiled

    def request(call, *call_args, label: str | None = None, **kwargs):
        name = label or f"{call.__name__.upper()} {call_args[0]}"
        profiled = profiler is not None and warm[0] and name.startswith(args.profile)
        clock[0] = time.process_time()
        if not profiled:
            return call(*call_args, **kwargs)
        profiled_any[0] = True
        profiler.enable()
        try:
            return call(*call_args, **kwargs)
        finally:
            profiler.disable()

    def path(location: str) -> str:
        parts = urlsplit(location)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    browser = app.test_client()
    # A first request creates keys on a fresh database; not part of the steady state.
    browser.get("/jwks")
    counting.take()
    for round_number in range(args.rounds + 1):  # the first warms caches; not counted
        if round_number == 1:
            cpu.clear()
            warm[0] = True
        rows.clear()
        browser = app.test_client()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": "bench-rp",
                "redirect_uri": REDIRECT_URI,
                "scope": "openid profile email offline_access",
                "state": "s",
                "nonce": secrets.token_urlsafe(8),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        interaction = path(step("GET /authorize", request(browser.get, f"/authorize?{query}")).headers["Location"])
        page = step("GET login page", request(browser.get, interaction))
        match = CSRF_FIELD.search(page.text)
        after = step(
            "POST login",
            request(
                browser.post,
                f"{interaction}/login",
                data={
                    "csrf_token": match.group(1) or match.group(2),
                    "identifier": member_email(1),
                    "password": member_password(1),
                },
            ),
        )
        # Nothing else to ask: the login step answers with the code.
        code = parse_qs(urlsplit(after.headers["Location"]).query)["code"][0]
        relying_party = app.test_client()
        tokens = step(
            "POST /token",
            request(
                relying_party.post,
                "/token",
                headers={"Authorization": auth},
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                },
            ),
        ).get_json()
        for grant, form in (
            ("refresh", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}),
            ("client_credentials", {"grant_type": "client_credentials"}),
        ):
            label = f"POST /token {grant}"
            step(label, request(relying_party.post, "/token", label=label, headers={"Authorization": auth}, data=form))
        step(
            "GET /userinfo",
            request(relying_party.get, "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}),
        )
        # A relying party or resource server presents a token many times: its signature is
        # verified once per key set (idp.security.jose.VerifiedTokens).
        step(
            "GET /userinfo again",
            request(relying_party.get, "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}),
        )
        step("GET /jwks", request(relying_party.get, "/jwks"))
        step("GET discovery", request(relying_party.get, "/.well-known/openid-configuration"))

    width = max(len(name) for name, *_ in rows)
    print(f"{'request':<{width}}  CPU ms  statements  commits  checkouts  what")
    total = Counter()
    signed_in_with = 0
    for name, statements, commits, checkouts in rows:
        shapes = Counter(_shape(s) for s in statements)
        what = ", ".join(f"{n}x {shape}" if n > 1 else shape for shape, n in shapes.items())
        spent = statistics.median(cpu[name]) * 1000
        print(f"{name:<{width}}  {spent:>6.1f}  {len(statements):>10}  {commits:>7}  {checkouts:>9}  {what}")
        if args.verbose:
            for statement in statements:
                print(f"    {statement[:200]}")
        if not name.startswith(
            ("GET /userinfo", "GET /jwks", "GET discovery", "POST /token refresh", "POST /token client")
        ):
            total.update(statements=len(statements), commits=commits, checkouts=checkouts)
            total["cpu"] += spent
            signed_in_with += 1
    print(
        f"{f'one sign-in ({signed_in_with} requests)':<{width}}  {total['cpu']:>6.1f}  {total['statements']:>10}  "
        f"{total['commits']:>7}  {total['checkouts']:>9}"
    )
    if profiler is not None and not profiled_any[0]:
        raise SystemExit(
            f"--profile {args.profile!r}: no request starts with it (method and path, e.g. 'GET /interaction')"
        )
    if isinstance(profiler, cProfile.Profile) and args.by_package:
        _print_by_package(pstats.Stats(profiler))
    elif isinstance(profiler, cProfile.Profile):
        pstats.Stats(profiler).sort_stats(args.profile_sort).print_stats(args.profile_lines)
    elif profiler is not None:
        print(profiler.output_text(unicode=False, color=False))


def _package_of(filename: str) -> str:
    """Where a profiled function lives: a distribution under site-packages, idp, the standard
    library, or (C functions, which cProfile names "~") built-in code such as the hash, the
    signatures and the SQLite driver."""
    if filename == "~":
        return "built-in (C)"
    site = re.search(r"site-packages/([^/]+)", filename)
    if site:
        return site.group(1).removesuffix(".py")
    if "/idp/" in filename:
        return "idp"
    if "/templates/" in filename:
        return "templates (Jinja)"
    if filename.startswith("<"):
        return "generated (SQLAlchemy, dataclasses)"
    return "standard library"


def _print_by_package(stats: pstats.Stats) -> None:
    own: Counter = Counter()
    for (filename, _line, _name), (_calls, _primitive, own_time, _cumulative, _callers) in stats.stats.items():
        own[_package_of(filename)] += own_time
    total = sum(own.values()) or 1.0
    print(f"{'package':<40}  share  seconds")
    for package, seconds in own.most_common():
        print(f"{package:<40}  {seconds / total:>5.1%}  {seconds:>7.3f}")


if __name__ == "__main__":
    main()

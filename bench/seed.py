"""Set-up steps that run inside idp (its services and models), in the run's settings
(IDP_CONFIG). Called by bench/run.py; not a tool of its own.

    seed.py clients OUT.json          two confidential clients (ID tokens RS256 and ES256)
    seed.py members COUNT             COUNT members with passwords, through the services
    seed.py codes CLIENT_ID COUNT OUT authorization codes, issued as /authorize would store them
    seed.py sessions COUNT            signed-in browser sessions shaped like the newest real one

Members are identified as member<N>@bench.test with the password from ``member_password``;
bench/locustfile.py derives the same values.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idpbench.identities import (
    BENCH_GRANT_TYPES,
    REDIRECT_URI,
    member_email,
    member_password,
)

from idp import create_app
from idp.db import get_session
from idp.runtime import runtime


def _discovery(app) -> dict:
    return app.test_client().get("/.well-known/openid-configuration").get_json()


def seed_clients(out: Path) -> None:
    from idp.services.clients import NewClient, create_client

    app = create_app({"outbound": {"worker": False}})
    with app.app_context():
        discovery = _discovery(app)
        supported = discovery.get("grant_types_supported", ["authorization_code"])
        grant_types = [g for g in BENCH_GRANT_TYPES if g in supported]
        scopes = ["openid", "profile", "email"]
        if "offline_access" in discovery.get("scopes_supported", []):
            scopes.append("offline_access")
        db = get_session()
        clients = {}
        for alg in ("RS256", "ES256"):
            client, secret = create_client(
                db,
                NewClient(
                    name=f"bench relying party ({alg})",
                    redirect_uris=[REDIRECT_URI],
                    scopes=scopes,
                    grant_types=grant_types,
                    first_party=True,
                    id_token_signed_response_alg=alg,
                    client_id=f"bench-rp-{alg.lower()}",
                ),
            )
            clients[alg] = {"client_id": client.client_id, "client_secret": secret}
        resource_server = None
        if "introspection_endpoint" in discovery:
            # Introspection answers registered resource servers, for the default audience here.
            from idp.services import resource_servers

            audience = runtime(app).settings.tokens.access_token_audience
            server, server_secret = resource_servers.create(db, "bench resource server", audience)
            resource_server = {"client_id": server.introspection_id, "client_secret": server_secret}
        db.commit()
    out.write_text(
        json.dumps(
            {
                "clients": clients,
                "resource_server": resource_server,
                "redirect_uri": REDIRECT_URI,
                "scope": " ".join(scopes),
                "grant_types": grant_types,
                "discovery": discovery,
            },
            indent=2,
        )
    )


_worker_app = None


def _init_member_worker() -> None:
    global _worker_app
    _worker_app = create_app({"outbound": {"worker": False}})


def _create_members(indices: range) -> int:
    from idp.services.members import NewMember, create_member

    with _worker_app.app_context():
        db = get_session()
        for i in indices:
            create_member(
                db,
                NewMember(
                    membership_number=f"9{i:010d}",
                    nik=f"3171{i:012d}",
                    full_name=f"Bench Member {i}",
                    birth_date=date(1980, 1, 1) + timedelta(days=i % 10000),
                    email=member_email(i),
                    email_verified=True,
                    locale="en",
                ),
                member_password(i),
            )
        db.commit()
    return len(indices)


def seed_members(count: int, jobs: int) -> None:
    # The argon2id hash per member dominates; both cores share it at set-up time.
    chunks = [range(start, min(start + 50, count)) for start in range(0, count, 50)]
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_init_member_worker) as pool:
        made = sum(pool.imap_unordered(_create_members, chunks))
    print(made)


def seed_codes(client_id: str, count: int, out: Path) -> None:
    """Codes as the authorization endpoint stores them (digest, sign-in context, expiry), so
    the token endpoint can be loaded with exchanges alone. Written one per line to ``out``."""
    from sqlalchemy import insert, select

    from idp.clock import utcnow
    from idp.models import AuthorizationCode, Client, Member
    from idp.runtime import runtime
    from idp.security.tokens import digest, random_token
    from idp.services.assurance import METHOD_PASSWORD, METHODS

    app = create_app({"outbound": {"worker": False}})
    settings = runtime(app).settings
    with app.app_context():
        db = get_session()
        client = db.scalar(select(Client).where(Client.client_id == client_id))
        member_ids = list(db.scalars(select(Member.id).order_by(Member.id).limit(max(1, min(count, 10000)))))
        now = utcnow()
        expires = now + timedelta(seconds=settings.tokens.authorization_code_ttl_seconds)
        codes = [random_token(32) for _ in range(count)]
        rows = [
            {
                "code_digest": digest(code),
                "client_id": client.client_id,
                "member_id": member_ids[n % len(member_ids)],
                "redirect_uri": REDIRECT_URI,
                "scope": client.scope,
                "nonce": random_token(16),
                "code_challenge": None,
                "code_challenge_method": None,
                "auth_time": now,
                "acr": METHODS[METHOD_PASSWORD].acr,
                "amr_json": json.dumps(list(METHODS[METHOD_PASSWORD].amr)),
                "session_sid": random_token(16),
                "issued_at": now,
                "expires_at": expires,
                "consumed_at": None,
            }
            for n, code in enumerate(codes)
        ]
        for start in range(0, len(rows), 5000):
            db.execute(insert(AuthorizationCode), rows[start : start + 5000])
        db.commit()
    out.write_text("\n".join(codes) + "\n")


# What a current desktop browser sends; the load generator's own User-Agent is much shorter.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def seed_sessions(count: int) -> None:
    """``count`` active sessions, each a copy of the newest signed-in one (same data, fresh
    identifiers, members in turn), so the table's size per session can be measured at scale."""
    from sqlalchemy import insert, select

    from idp.models import Member
    from idp.models.flows import BrowserSession
    from idp.security.tokens import digest, random_token

    app = create_app({"outbound": {"worker": False}})
    with app.app_context():
        db = get_session()
        template = db.scalar(
            select(BrowserSession).where(BrowserSession.member_id.is_not(None)).order_by(BrowserSession.id.desc())
        )
        if template is None:
            raise SystemExit("seed.py sessions: no signed-in session to copy (run the sign-in first)")
        data = json.loads(template.data_json)
        member_ids = list(db.scalars(select(Member.id).order_by(Member.id)))
        rows = []
        for n in range(count):
            member_id = member_ids[n % len(member_ids)]
            data = {**data, "member_id": member_id, "binding": random_token(24)}
            rows.append(
                {
                    "id_digest": digest(random_token(32)),
                    "sid": random_token(16),
                    "member_id": member_id,
                    "data_json": json.dumps(data),
                    "created_at": template.created_at,
                    "last_seen_at": template.last_seen_at,
                    "authenticated_at": template.authenticated_at,
                    "user_agent": BROWSER_USER_AGENT,
                    "ip_address": template.ip_address,
                }
            )
        for start in range(0, len(rows), 5000):
            db.execute(insert(BrowserSession), rows[start : start + 5000])
        db.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    clients = commands.add_parser("clients")
    clients.add_argument("out", type=Path)
    members = commands.add_parser("members")
    members.add_argument("count", type=int)
    members.add_argument("--jobs", type=int, default=2)
    codes = commands.add_parser("codes")
    codes.add_argument("client_id")
    codes.add_argument("count", type=int)
    codes.add_argument("out", type=Path)
    sessions = commands.add_parser("sessions")
    sessions.add_argument("count", type=int)
    args = parser.parse_args()
    if args.command == "clients":
        seed_clients(args.out)
    elif args.command == "members":
        seed_members(args.count, args.jobs)
    elif args.command == "codes":
        seed_codes(args.client_id, args.count, args.out)
    else:
        seed_sessions(args.count)


if __name__ == "__main__":
    main()

"""The benchmark's members and relying party, as the seed creates them and the load uses them.

No idp import here: the load generator (locust) reads this too.
"""

from __future__ import annotations

# Loopback, on the discard port: the harness never follows a redirect to it (the code is read
# from the Location header), and no traffic ever leaves this machine.
REDIRECT_URI = "http://127.0.0.1:9/callback"

# The grants the harness can load, each only when discovery says the build supports it.
BENCH_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def member_email(index: int) -> str:
    return f"member{index}@bench.test"


def member_password(index: int) -> str:
    # Distinct per member, accepted by the password policy (long, not common, no identifier).
    return f"kapal layar {index * 7919 % 100003} berlabuh di senja"

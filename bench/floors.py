"""The floors a request cannot go below, measured on the core it runs on (bench/run.py pins
this to the server's core): one Argon2id verify with idp's configured parameters, and one JWS
signature per algorithm with a key imported once. Prints JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def _median_seconds(operation, batches: int, per_batch: int) -> dict:
    """Median wall-clock and CPU seconds of one operation (the machine may be shared: CPU time
    is what the operation itself costs, wall time what it took here and now)."""
    operation()  # first call: imports, lazy initialisation
    wall, cpu = [], []
    for _ in range(batches):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(per_batch):
            operation()
        wall.append((time.perf_counter() - start) / per_batch)
        cpu.append((time.process_time() - start_cpu) / per_batch)
    seconds = statistics.median(wall)
    return {"seconds": seconds, "per_second": 1 / seconds, "cpu_seconds": statistics.median(cpu)}


def argon2_floor() -> dict:
    from idp.security.passwords import hash_password, verify_password

    password = "kapal layar 1 berlabuh di senja"
    stored = hash_password(password)
    # The hash says exactly which parameters idp's passlib context applies:
    # $argon2id$v=19$m=19456,t=2,p=1$salt$hash
    _, variant, _version, params, *_ = stored.split("$")
    parameters = {"variant": variant, **dict(item.split("=") for item in params.split(","))}
    timing = _median_seconds(lambda: verify_password(password, stored), batches=7, per_batch=5)
    return {**timing, "parameters": parameters}


def jws_floor(alg: str) -> dict:
    from joserfc import jwt
    from joserfc.jwk import import_key

    from idp.security.jose import generate_signing_key

    kid, _public, private, _key = generate_signing_key(alg)
    key = import_key(private)  # once, outside the timed loop
    header = {"alg": alg, "kid": kid, "typ": "at+jwt"}
    now = int(time.time())
    claims = {
        "iss": "http://127.0.0.1:8000",
        "sub": "x" * 32,
        "aud": "urn:benefit-services",
        "client_id": "bench-rp-rs256",
        "iat": now,
        "exp": now + 600,
        "jti": "y" * 24,
        "scope": "openid profile email",
        "auth_time": now,
        "acr": "urn:idp:acr:pwd",
        "amr": ["pwd"],
    }
    timing = _median_seconds(lambda: jwt.encode(header, claims, key, algorithms=[alg]), batches=7, per_batch=200)
    parameters = {"key": "RSA 2048" if alg == "RS256" else "EC P-256", "library": "joserfc"}
    if alg == "RS256":
        parameters["key"] = f"RSA {key.raw_value.key_size}"
    return {**timing, "parameters": parameters}


def main() -> None:
    result = {"argon2id": argon2_floor(), "RS256": jws_floor("RS256"), "ES256": jws_floor("ES256")}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()

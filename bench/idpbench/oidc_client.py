"""The relying party's side of set-up: discovery, code exchanges, reading JWT headers."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests


def discovery(base_url: str) -> dict:
    response = requests.get(f"{base_url}/.well-known/openid-configuration", timeout=30)
    response.raise_for_status()
    return response.json()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def basic_auth(client: dict) -> str:
    raw = f"{client['client_id']}:{client['client_secret']}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def token_request(
    base_url: str, client: dict, form: dict, session: requests.Session | None = None
) -> requests.Response:
    return (session or requests).post(
        f"{base_url}/token", data=form, headers={"Authorization": basic_auth(client)}, timeout=120
    )


def exchange_codes(base_url: str, client: dict, redirect_uri: str, codes: list[str], workers: int = 8) -> list[dict]:
    """Exchange each code at /token; returns the token responses (raises on the first refusal)."""

    def exchange(batch: list[str]) -> list[dict]:
        with requests.Session() as session:
            answers = []
            for code in batch:
                response = token_request(
                    base_url,
                    client,
                    {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
                    session,
                )
                if response.status_code != 200:
                    raise RuntimeError(f"code exchange answered HTTP {response.status_code}: {response.text[:300]}")
                answers.append(response.json())
            return answers

    batches = [codes[i::workers] for i in range(workers) if codes[i::workers]]
    with ThreadPoolExecutor(len(batches) or 1) as pool:
        return [answer for answers in pool.map(exchange, batches) for answer in answers]


def jwt_alg(token: str) -> str:
    header = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"]


def signatures_in(token_response: dict) -> list[str]:
    """The algorithms of the JWTs a token response carries (one signature each)."""
    algs = []
    for name in ("id_token", "access_token"):
        value = token_response.get(name)
        if isinstance(value, str) and value.count(".") == 2:
            algs.append(jwt_alg(value))
    return algs

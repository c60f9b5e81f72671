"""The full password sign-in, as a browser and its relying party do it, for locust (headless).

One task is one sign-in by a new browser (empty cookie jar) for the next member in turn:

    GET  /authorize?...            -> 303 to the interaction (login page)
    GET  /interaction/<uid>        -> 200, the form with its CSRF token
    POST /interaction/<uid>/login  -> 303 to the relying party with ?code= (nothing else to ask:
                                      the login step answers the authorization request itself)
    POST /token (the relying party, client_secret_basic, PKCE verifier) -> 200 with tokens

The redirect to the relying party is never followed: its code is read from Location.
bench/run.py sets BENCH_SIGNIN_CONFIG (a JSON file: client, members, offset, output path).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import gevent
from locust import FastHttpUser, constant, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.exception import StopUser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from idpbench.identities import member_email, member_password

CONFIG = json.loads(Path(os.environ["BENCH_SIGNIN_CONFIG"]).read_text())
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
STEPS = ("authorize", "login page", "login post", "token")

_next_member = itertools.count(CONFIG.get("member_offset", 0))
_results = {
    "started": None,
    "stopped": None,
    "flows": [],
    "failures": [],
    "attempts": 0,
    "steps": {step: [] for step in STEPS},
}


class FlowFailed(Exception):
    pass


@events.test_start.add_listener
def _started(**_kwargs):
    _results["started"] = time.time()


def _write_results(**_kwargs):
    if _results["stopped"] is None:
        _results["stopped"] = time.time()
    Path(CONFIG["output"]).write_text(json.dumps(_results))


events.test_stop.add_listener(_write_results)
events.quitting.add_listener(_write_results)


def _location(response) -> str:
    location = response.headers.get("Location") or ""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Browser(FastHttpUser):
    wait_time = constant(0)
    # Each sign-in is a browser of its own: no connection pooling beyond one flow's requests.
    concurrency = 1

    def on_start(self) -> None:
        # The relying party's back-channel request has none of the browser's cookies.
        self.relying_party = FastHttpSession(self.host, self.environment.events.request, self)

    def _step(self, name: str, method: str, path: str, expect: tuple[int, ...], client=None, **kwargs):
        start = time.perf_counter()
        with (client or self.client).request(
            method, path, name=name, allow_redirects=False, catch_response=True, **kwargs
        ) as response:
            elapsed = time.perf_counter() - start
            if response.status_code not in expect:
                response.failure(f"{name}: HTTP {response.status_code}")
                raise FlowFailed(f"{name}: HTTP {response.status_code}")
            response.success()
        _results["steps"][name].append((time.time(), elapsed))
        return response

    @task
    def sign_in(self) -> None:
        limit = CONFIG.get("limit")
        if limit and _results["attempts"] >= limit:
            # Quit from a greenlet of its own: quitting stops every user, this one included,
            # and would kill the call before it ends the run (locust then waited out
            # --run-time, twice the expected time of a --memory-signins run).
            gevent.spawn(self.environment.runner.quit)
            raise StopUser()
        _results["attempts"] += 1
        index = next(_next_member) % CONFIG["members"]
        self.client.cookiejar.clear()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": CONFIG["client_id"],
                "redirect_uri": CONFIG["redirect_uri"],
                "scope": CONFIG["scope"],
                "state": state,
                "nonce": secrets.token_urlsafe(16),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        start = time.perf_counter()
        try:
            interaction = _location(self._step("authorize", "GET", f"/authorize?{query}", (302, 303)))
            page = self._step("login page", "GET", interaction, (200,))
            match = CSRF_FIELD.search(page.text or "")
            if not match:
                raise FlowFailed("login page: no csrf_token field")
            after_login = self._step(
                "login post",
                "POST",
                f"{interaction}/login",
                (303,),
                data=urlencode(
                    {
                        "csrf_token": match.group(1) or match.group(2),
                        "identifier": member_email(index),
                        "password": member_password(index),
                    }
                ),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": self.host},
            )
            callback = after_login.headers.get("Location") or ""
            if not callback.startswith(CONFIG["redirect_uri"] + "?"):
                raise FlowFailed(f"login post: redirected to {callback}, not to the relying party")
            params = parse_qs(urlsplit(callback).query)
            if params.get("state") != [state] or "code" not in params:
                raise FlowFailed("login post: no code for this state in the redirect")
            token = self._step(
                "token",
                "POST",
                "/token",
                (200,),
                data=urlencode(
                    {
                        "grant_type": "authorization_code",
                        "code": params["code"][0],
                        "redirect_uri": CONFIG["redirect_uri"],
                        "code_verifier": verifier,
                    }
                ),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                client=self.relying_party,
                auth=(CONFIG["client_id"], CONFIG["client_secret"]),
            )
            if "id_token" not in (token.text or ""):
                raise FlowFailed("token: no id_token in the response")
        except FlowFailed as failure:
            _results["failures"].append((time.time(), str(failure)))
            return
        _results["flows"].append((time.time(), time.perf_counter() - start))

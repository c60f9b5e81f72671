"""Issue 10 §3: the same work whether or not an account exists. Forgot-password (a real
account or none), an email change and activation step 2 (a free address or one another
account has) take the same time: the per-account work (token, mail, the owner check) runs
after the answer, in the outbound queue. Each is measured with at least 50 samples of both
kinds, interleaved in random order (so a loaded 2-core machine slows both alike), and the
timings are compared with a Mann-Whitney U test written here (no SciPy needed); a second
round is measured before a difference counts, so one burst of load cannot fail it."""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from datetime import date

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import sign_in_to_account
from tests.helpers.oidc import csrf_token

SAMPLES = 60
WARM_UP = 5
# Significance level of "the two kinds differ". A real difference (the ~4 ms the issue
# measured) gives p far below it in both rounds; equal timings fail both rounds by chance
# about 10^-4.
ALPHA = 0.01

pytestmark = pytest.mark.settings(
    ratelimit={"enabled": False},
    # No worker thread: what is measured is the answer alone, and the queued work (which the
    # server's worker starts only once the answer has gone out: outbound.wake_after_the_answer)
    # adds no noise to the samples of either kind. Made synchronous again, forgot-password
    # fails here with p around 1e-10.
    outbound={"worker": False},
)


def mann_whitney_p_value(first: list[float], second: list[float]) -> float:
    """Two-sided Mann-Whitney U test (normal approximation with tie correction, fine for
    samples of 50 and more): the chance of ranks this far apart if both kinds took the same
    time. Written here, so the test needs no SciPy."""
    n1, n2 = len(first), len(second)
    ranked = sorted([(value, 0) for value in first] + [(value, 1) for value in second])
    ranks = [0.0] * len(ranked)
    ties = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    rank_sum = sum(rank for rank, (_, kind) in zip(ranks, ranked, strict=True) if kind == 0)
    u = rank_sum - n1 * (n1 + 1) / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(variance)
    return math.erfc(z / math.sqrt(2))


def interleaved(kinds: dict[str, Callable[[], float]], rng: random.Random) -> dict[str, list[float]]:
    """SAMPLES timings of each kind, the kinds in random order within each round."""
    for measure in kinds.values():
        for _ in range(WARM_UP):
            measure()
    timings: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(SAMPLES):
        order = list(kinds)
        rng.shuffle(order)
        for name in order:
            timings[name].append(kinds[name]())
    return timings


def assert_same_time(kinds: dict[str, Callable[[], float]]) -> None:
    rng = random.Random(20261202)
    rounds = []
    for _ in range(2):
        timings = interleaved(kinds, rng)
        (a, first), (b, second) = timings.items()
        p = mann_whitney_p_value(first, second)
        rounds.append((p, statistics.median(first) * 1000, statistics.median(second) * 1000))
        if p >= ALPHA:
            return
    raise AssertionError(f"{a} and {b} differ in time in both rounds: (p, median ms, median ms) = {rounds}")


def timed(request: Callable[[], object], expect: int = 200) -> float:
    started = time.perf_counter()
    response = request()
    elapsed = time.perf_counter() - started
    assert response.status_code == expect, response.status_code
    return elapsed


def test_forgot_password_takes_the_same_time_for_a_real_account(app, make_member):
    member = make_member()

    def forgot(identifier: str) -> Callable[[], float]:
        def measure() -> float:
            browser = app.test_client()
            token = csrf_token(browser.get("/recovery/forgot").text)
            data = {"csrf_token": token, "identifier": identifier}
            return timed(lambda: browser.post("/recovery/forgot", data=data))

        return measure

    assert_same_time({"real account": forgot(member.email), "no account": forgot("nobody-here@example.test")})


def test_an_email_change_takes_the_same_time_whether_the_address_is_taken(app, make_member):
    member = make_member()
    other = make_member()
    browser = app.test_client()
    sign_in_to_account(browser, member)
    counter = iter(range(10_000))

    def change_to(address: Callable[[], str]) -> Callable[[], float]:
        def measure() -> float:
            token = csrf_token(browser.get("/account/profile/email").text)
            data = {"csrf_token": token, "email": address(), "current_password": DEMO_PASSWORD}
            return timed(lambda: browser.post("/account/profile/email", data=data), expect=303)

        return measure

    assert_same_time(
        {
            "free address": change_to(lambda: f"free-{next(counter)}@example.test"),
            "another account's": change_to(lambda: other.email),
        }
    )


def test_activation_step_two_takes_the_same_time_whether_the_address_is_taken(app, make_member):
    taken = make_member()
    numbers = iter(range(10_000))

    def record():
        n = next(numbers)
        return make_member(
            password=None,
            email=None,
            email_verified=False,
            membership_number=f"{40000000000 + n:011d}",
            nik=f"{3271010101850000 + n:016d}",
            birth_date=date(1985, 6, 15),
        )

    def step_two(address: Callable[[], str]) -> Callable[[], float]:
        def measure() -> float:
            member = record()
            browser = app.test_client()
            token = csrf_token(browser.get("/activate").text)
            verified = browser.post(
                "/activate",
                data={
                    "csrf_token": token,
                    "membership_number": member.membership_number,
                    "nik": member.nik,
                    "birth_date": "1985-06-15",
                },
            )
            assert verified.status_code == 303, verified.status_code
            token = csrf_token(browser.get("/activate/account").text)
            data = {
                "csrf_token": token,
                "email": address(),
                "password": "seven purple lanterns over Bandung",
                "confirm": "seven purple lanterns over Bandung",
            }
            return timed(lambda: browser.post("/activate/account", data=data), expect=303)

        return measure

    assert_same_time(
        {
            "free address": step_two(lambda: f"new-{next(numbers)}@example.test"),
            "another account's": step_two(lambda: taken.email),
        }
    )

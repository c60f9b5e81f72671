"""What the Argon2id parameters cost: CPU time of one verify for idp's parameters and the other
sets OWASP's Password Storage Cheat Sheet lists as equivalent, and RFC 9106's second
recommendation, on this machine's core. Prints a Markdown table (docs/performance.md).

    taskset -c 0 .venv/bin/python bench/argon2_costs.py

The memory cost is also what each hash in progress holds: a worker hashing in four threads at
once needs four times m.
"""

from __future__ import annotations

import statistics
import time

from argon2 import PasswordHasher, Type

# (m in KiB, t, p, where the set comes from)
PARAMETER_SETS = [
    (19456, 2, 1, "idp's default; OWASP's first choice"),
    (47104, 1, 1, "OWASP"),
    (12288, 3, 1, "OWASP"),
    (9216, 4, 1, "OWASP"),
    (7168, 5, 1, "OWASP"),
    (65536, 3, 4, "RFC 9106 §4, second recommendation (p=4: one core does all four lanes here)"),
]


def verify_cpu_seconds(memory_cost: int, time_cost: int, parallelism: int, rounds: int = 9) -> float:
    hasher = PasswordHasher(memory_cost=memory_cost, time_cost=time_cost, parallelism=parallelism, type=Type.ID)
    stored = hasher.hash("kapal layar 1 berlabuh di senja")
    hasher.verify(stored, "kapal layar 1 berlabuh di senja")
    spent = []
    for _ in range(rounds):
        start = time.process_time()
        hasher.verify(stored, "kapal layar 1 berlabuh di senja")
        spent.append(time.process_time() - start)
    return statistics.median(spent)


def main() -> None:
    base = None
    print("| m (MiB) | t | p | verify, CPU ms | verifies/s per core | relative cost | source |")
    print("|---|---|---|---|---|---|---|")
    for memory_cost, time_cost, parallelism, source in PARAMETER_SETS:
        seconds = verify_cpu_seconds(memory_cost, time_cost, parallelism)
        base = base or seconds
        print(
            f"| {memory_cost / 1024:g} | {time_cost} | {parallelism} | {seconds * 1000:.1f} | "
            f"{1 / seconds:.0f} | {seconds / base:.2f} | {source} |"
        )


if __name__ == "__main__":
    main()

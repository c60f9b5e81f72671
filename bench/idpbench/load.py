"""The load generators, run on the load core: wrk (plain endpoints, with a Lua script for
per-request tokens) and locust headless (the sign-in, which follows cookies and a CSRF form)."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from idpbench.system import BENCH_DIR, ProcessGroup, require_tool, venv_tool

WRK_SCRIPT = BENCH_DIR / "wrk" / "requests.lua"


@dataclass
class LoadResult:
    """What one timed phase measured: completed requests (or sign-ins) and their latency."""

    completed: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    detail: dict = field(default_factory=dict)
    # Filled by the harness from /proc: the server's CPU time during the phase (CpuMeter).
    cpu: dict = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "per_second": round(self.per_second, 2),
            "completed": self.completed,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            **self.cpu,
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    token_file: Path | None = None
    # once: each token in one request only (codes, rotating refresh tokens); cycle: reused.
    mode: str = "cycle"


class Wrk:
    def __init__(self, processes: ProcessGroup, cpu: int, connections: int) -> None:
        self.executable = require_tool("wrk", "apt-get install wrk")
        self.processes = processes
        self.cpu = cpu
        self.connections = connections

    def run(self, base_url: str, spec: RequestSpec, seconds: float) -> LoadResult:
        headers = dict(spec.headers)
        if spec.body and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        threads = 1  # one load core: one event loop
        command = [
            self.executable,
            "-t",
            str(threads),
            "-c",
            str(self.connections),
            "-d",
            f"{max(1, round(seconds))}s",
            # A slow endpoint under 32 connections queues for seconds; wrk's default 2 s timeout
            # would drop exactly the slow answers from the latency figures.
            "--timeout",
            "60s",
            "-s",
            str(WRK_SCRIPT),
            base_url + spec.path,
            "--",
            spec.method,
            spec.path,
            spec.body,
            "\n".join(f"{name}: {value}" for name, value in headers.items()),
            str(spec.token_file or ""),
            spec.mode,
            str(threads),
        ]
        output = self.processes.run(command, cpu=self.cpu, timeout=seconds + 120)
        line = next((text for text in output.splitlines() if text.startswith("BENCH_RESULT ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
        raw = json.loads(line.split(" ", 1)[1])
        errors = raw["errors"]
        failed = errors["status"] + errors["timeout"] + errors["connect"]
        latency = raw["latency_us"]
        return LoadResult(
            completed=raw["requests"] - errors["status"],
            errors=failed,
            seconds=raw["duration_us"] / 1e6,
            p50_ms=latency["p50"] / 1000,
            p99_ms=latency["p99"] / 1000,
            mean_ms=latency["mean"] / 1000,
            detail={"wrk_errors": errors} if failed else {},
        )


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


class Locust:
    def __init__(self, processes: ProcessGroup, cpu: int, workdir: Path) -> None:
        self.executable = venv_tool("locust")
        self.processes = processes
        self.cpu = cpu
        self.workdir = workdir
        self.runs = 0

    def sign_in(
        self,
        base_url: str,
        config: dict,
        users: int,
        seconds: float,
        warmup: float = 0,
        limit: int | None = None,
        on_measuring=None,
    ) -> LoadResult:
        """Run the sign-in flow (bench/locustfile.py) for ``warmup + seconds`` (or until
        ``limit`` sign-ins were started). One continuous run: sign-ins completed after the
        warm-up count, so flows in progress at the start of the window are not lost and the
        browsers are not all in step. ``on_measuring`` is called when the window opens."""
        self.runs += 1
        output = self.workdir / f"locust-{self.runs}.json"
        config_file = self.workdir / f"locust-{self.runs}-config.json"
        config_file.write_text(json.dumps({**config, "output": str(output), "limit": limit}))
        log = self.workdir / f"locust-{self.runs}.log"
        command = [
            self.executable,
            "--locustfile",
            str(BENCH_DIR / "locustfile.py"),
            "--headless",
            "--users",
            str(users),
            # Browsers arrive spread over the warm-up, so their flows are not in lock-step.
            "--spawn-rate",
            str(max(1.0, users / warmup) if warmup else users),
            "--run-time",
            f"{max(1, round(warmup + seconds))}s",
            "--host",
            base_url,
            "--only-summary",
            "--stop-timeout",
            "0",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ]
        env = {**os.environ, "BENCH_SIGNIN_CONFIG": str(config_file)}
        started = time.monotonic()
        process = self.processes.start(command, cpu=self.cpu, env=env, log=log)
        try:
            if on_measuring is not None:
                while process.poll() is None and time.monotonic() - started < warmup:
                    time.sleep(0.05)
                on_measuring()
            process.wait(timeout=warmup + seconds + 120)
        finally:
            self.processes.stop(process)
        if not output.exists():
            raise RuntimeError(
                f"locust wrote no result ({time.monotonic() - started:.0f} s):\n"
                f"{log.read_text(errors='replace')[-2000:]}"
            )
        raw = json.loads(output.read_text())
        if not raw["flows"] and not raw["failures"] and "Traceback" in log.read_text(errors="replace"):
            raise RuntimeError(f"locust failed:\n{log.read_text(errors='replace')[-1500:]}")
        window_start = (raw["started"] or time.time()) + (warmup if limit is None else 0)
        window_end = raw["stopped"] or time.time()
        latencies = [latency for end, latency in raw["flows"] if end >= window_start]
        failed = sum(1 for end, _reason in raw["failures"] if end >= window_start)
        reasons: dict[str, int] = {}
        for _end, reason in raw["failures"]:
            reasons[reason] = reasons.get(reason, 0) + 1
        detail = {
            "attempts": raw["attempts"],
            "completed_in_run": len(raw["flows"]),
            "steps_p50_ms": {
                step: round(statistics.median(t for end, t in times if end >= window_start) * 1000, 2)
                for step, times in raw["steps"].items()
                if any(end >= window_start for end, _t in times)
            },
        }
        if reasons:
            detail["failures"] = reasons
        return LoadResult(
            completed=len(latencies),
            errors=failed,
            seconds=max(window_end - window_start, 1e-9),
            p50_ms=_percentile(latencies, 0.50) * 1000,
            p99_ms=_percentile(latencies, 0.99) * 1000,
            mean_ms=(statistics.fmean(latencies) * 1000) if latencies else 0.0,
            detail=detail,
        )

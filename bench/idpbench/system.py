"""Processes the harness starts (pinned to a core), their cleanup, and what /proc says of them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BENCH_DIR.parent
VENV_BIN = Path(sys.executable).parent


class MissingTool(Exception):
    """A program the run needs is not installed; the message is the one line to print."""


def require_tool(name: str, hint: str) -> str:
    """The path of ``name`` (on PATH or in the virtualenv), or MissingTool naming the fix."""
    found = shutil.which(name) or (str(VENV_BIN / name) if (VENV_BIN / name).exists() else None)
    if found is None:
        raise MissingTool(f"bench: {name} is not installed ({hint})")
    return found


def venv_tool(name: str) -> str:
    return require_tool(name, "run `make bench`, which installs the bench extras")


class ProcessGroup:
    """Every process the run starts, each in a session of its own, so that stopping one stops
    its children (gunicorn workers) too and nothing outlives the run."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen] = []

    def start(
        self,
        args: list[str],
        *,
        cpu: int | None = None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen:
        command = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [str(a) for a in args]
        output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child writes to it after we return
        try:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=cwd or PROJECT_DIR,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if log:
                output.close()
        self._running.append(process)
        return process

    def run(self, args: list[str], *, cpu: int | None = None, env=None, timeout: float = 600) -> str:
        """Run to completion and return standard output; a failure raises with its output."""
        command = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [str(a) for a in args]
        process = subprocess.Popen(
            command,
            env=env,
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        self._running.append(process)
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            self.stop(process)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:6])} … failed ({process.returncode}):\n{err.strip()[-3000:]}")
        return out

    def stop(self, process: subprocess.Popen, timeout: float = 10) -> None:
        if process in self._running:
            self._running.remove(process)
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)

    def stop_all(self) -> None:
        for process in list(reversed(self._running)):
            self.stop(process)


def install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM unwind the stack, so every `finally` (processes, databases) runs."""

    def _interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT too: a shell starts background jobs with it ignored, and Python keeps that.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)


def child_pids(parent: int) -> list[int]:
    """Direct children of ``parent`` (the kernel here has no /proc/<pid>/task/*/children)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may contain spaces.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent:
            children.append(int(entry.name))
    return sorted(children)


def resident_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def machine_description() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
    }


def git_revision() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {
        "commit": git("rev-parse", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "idp", "templates", "migrations")),
    }


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def core_busy_seconds(cpu: int) -> float:
    """Time core ``cpu`` spent running anything (every process, interrupts, steal)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in line.split()[1:9])
            return (user + nice + system + irq + softirq + steal) / _TICKS
    return 0.0


class CpuMeter:
    """How much of the server core a phase used, and how much other processes took from it.

    Wall-clock rates on a shared machine move with everyone else's work; CPU seconds per
    request do much less, so the report gives both."""

    def __init__(self, pids: list[int], cpu: int) -> None:
        self.pids = pids
        self.cpu = cpu

    def __enter__(self) -> CpuMeter:
        self._wall = time.monotonic()
        self._ours = process_cpu_seconds(self.pids)
        self._core = core_busy_seconds(self.cpu)
        return self

    def __exit__(self, *_exc) -> None:
        self.wall = time.monotonic() - self._wall
        self.ours = process_cpu_seconds(self.pids) - self._ours
        self.core = core_busy_seconds(self.cpu) - self._core

    def as_dict(self, requests: int) -> dict:
        return {
            "server_cpu_seconds": round(self.ours, 3),
            "server_cpu_ms_per_request": round(1000 * self.ours / requests, 3) if requests else None,
            "server_core_busy": round(self.ours / self.wall, 3) if self.wall else None,
            # Time other processes ran on the server's core: the figures are skewed by it.
            "others_on_server_core": round(max(0.0, self.core - self.ours) / self.wall, 3) if self.wall else None,
        }

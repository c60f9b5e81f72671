"""Sampling profiles of the server under load (py-spy, non-blocking, from the load core),
summarised as the share of samples spent in each function (inclusive and self)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from idpbench.system import PROJECT_DIR, ProcessGroup, venv_tool

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*):(?P<line>\d+)\)$")


class Profiler:
    def __init__(self, processes: ProcessGroup, cpu: int, outdir: Path, rate: int) -> None:
        self.executable = venv_tool("py-spy")
        self.processes = processes
        self.cpu = cpu
        self.outdir = outdir
        self.rate = rate

    def start(self, server_pid: int, name: str, seconds: float):
        raw = self.outdir / f"{name}.collapsed.txt"
        process = self.processes.start(
            [
                self.executable,
                "record",
                "--pid",
                str(server_pid),
                "--subprocesses",
                "--nonblocking",
                "--function",
                "--rate",
                str(self.rate),
                "--duration",
                str(max(1, round(seconds))),
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            cpu=self.cpu,
            log=self.outdir / f"{name}.py-spy.log",
        )
        return process, raw

    def finish(self, handle, name: str, top: int = 45) -> Path | None:
        process, raw = handle
        try:
            process.wait(timeout=60)
        except Exception:
            self.processes.stop(process)
        if not raw.exists():
            return None
        summary = self.outdir / f"{name}.summary.txt"
        summary.write_text(summarise(raw, top))
        return summary


def _short(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    try:
        return str(Path(path).relative_to(PROJECT_DIR))
    except ValueError:
        return path.rsplit("/lib/python3", 1)[-1] if "/lib/python3" in path else path


def _label(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    return f"{match['name']} ({_short(match['file'])}:{match['line']})"


def summarise(raw: Path, top: int) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        samples = int(count)
        total += samples
        for label in {_label(f) for f in frames}:
            inclusive[label] += samples
        own[_label(frames[-1])] += samples
    if not total:
        return "no samples\n"
    # The server's own loop frames (gunicorn, granian, threading) enclose everything: left out.
    outer = ("gunicorn/", "granian/", "threading.py", "<module> (gunicorn")
    shown = [(label, n) for label, n in inclusive.most_common() if not any(o in label for o in outer)]
    lines = [f"{total} samples (busy threads only)", "", "inclusive  function"]
    lines += [f"{100 * n / total:8.1f}%  {label}" for label, n in shown[:top]]
    lines += ["", "inclusive  idp's own functions"]
    lines += [f"{100 * n / total:8.1f}%  {label}" for label, n in shown if "(idp/" in label][:top]
    lines += ["", "self       function"]
    lines += [f"{100 * n / total:8.1f}%  {label}" for label, n in own.most_common(top // 2)]
    return "\n".join(lines) + "\n"

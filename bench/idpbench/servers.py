"""The server under test: idp (or the bare endpoint) under gunicorn or granian, on one core.

`idp serve` takes only --bind and --workers today, so the harness runs its own gunicorn with the
same settings (bench/gunicorn_conf.py) and the worker model chosen on its command line.
"""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from idpbench.system import BENCH_DIR, ProcessGroup, child_pids, venv_tool, wait_until

WORKER_MODELS = ("sync", "gthread", "granian")


@dataclass(frozen=True)
class ServerModel:
    name: str  # sync | gthread | granian
    workers: int
    threads: int

    def describe(self) -> str:
        if self.name == "sync":
            return f"gunicorn sync, {self.workers} worker(s)"
        if self.name == "gthread":
            return f"gunicorn gthread, {self.workers} worker(s) x {self.threads} threads"
        return f"granian wsgi, {self.workers} worker(s) x {self.threads} blocking threads"

    def command(self, target_module: str, factory: str, port: int) -> list[str]:
        if self.name in ("sync", "gthread"):
            command = [
                venv_tool("gunicorn"),
                "--config",
                str(BENCH_DIR / "gunicorn_conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                self.name,
                "--no-control-socket",
            ]
            if self.name == "gthread":
                command += ["--threads", str(self.threads)]
            return [*command, f"{target_module}:{factory}()"]
        return [
            venv_tool("granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(self.workers),
            "--blocking-threads",
            str(self.threads),
            "--runtime-threads",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "--factory",
            f"{target_module}:{factory}",
        ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningServer:
    def __init__(self, processes: ProcessGroup, model: ServerModel, process, port: int, log: Path) -> None:
        self.processes = processes
        self.model = model
        self.process = process
        self.port = port
        self.log = log

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The processes that run the application (gunicorn's or granian's workers)."""
        return child_pids(self.process.pid)

    def stop(self) -> None:
        self.processes.stop(self.process)


def start_server(
    processes: ProcessGroup,
    model: ServerModel,
    *,
    app: str,
    cpu: int,
    env: dict[str, str],
    log: Path,
    ready_path: str,
    port: int,
) -> RunningServer:
    """Start idp (app="idp") or the bare endpoint (app="bare") and wait until it answers."""
    if app == "idp":
        command = model.command("idp", "create_app", port)
    else:
        command = model.command("bare_app", "create_app", port)
        env = {**env, "PYTHONPATH": str(BENCH_DIR)}
    process = processes.start(command, cpu=cpu, env=env, log=log)
    server = RunningServer(processes, model, process, port, log)

    def answers() -> bool:
        if process.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(f"{server.base_url}{ready_path}", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    if not wait_until(answers, timeout=60, interval=0.2) or process.poll() is not None:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        processes.stop(process)
        raise RuntimeError(f"{model.describe()} for {app} did not start:\n{tail}")
    # Workers must all be up before a measurement (gunicorn starts them one by one).
    wait_until(lambda: len(server.worker_pids()) >= model.workers, timeout=30)
    return server

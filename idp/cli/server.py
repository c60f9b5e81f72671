"""`idp serve`: the provider under gunicorn, configured by the [serve] settings."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from idp import ConfigError, create_app
from idp.cli.base import provider_app
from idp.cli.main_group import main
from idp.logs import gunicorn_logging
from idp.runtime import settings as settings_of
from idp.settings import ServeSettings

METRICS_FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@main.command()
@click.option("--bind", metavar="HOST:PORT", help="Address to listen on (overrides serve.bind).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (overrides serve.workers).")
@click.option("--threads", type=click.IntRange(min=1), help="Threads per worker (overrides serve.threads).")
def serve(bind: str | None, workers: int | None, threads: int | None) -> None:
    """Run the provider under gunicorn with the configured settings ([serve] in the TOML file;
    the options here override them)."""
    given = {"bind": bind, "workers": workers, "threads": threads}
    overrides = {"serve": {name: value for name, value in given.items() if value is not None}}
    # Before anything imports prometheus_client: it picks its multi-process mode at import.
    metrics_folder, made_here = prepare_metrics_folder()
    try:
        # Build the app once here, so bad settings or an un-migrated database stop with one
        # line now rather than in every worker after gunicorn has started.
        with provider_app(overrides) as app:
            chosen = settings_of(app).serve
            level = settings_of(app).logging.level
        check_tls_files(chosen)
        ProviderServer(chosen, overrides, level).run()
    finally:
        if made_here:
            shutil.rmtree(metrics_folder, ignore_errors=True)


def prepare_metrics_folder() -> tuple[Path, bool]:
    """The folder where the workers keep their metric values (prometheus_client's
    multi-process mode), emptied: the one PROMETHEUS_MULTIPROC_DIR names, else a new temporary
    one (removed at exit). Returns it and whether it was made here."""
    named = os.environ.get(METRICS_FOLDER_VARIABLE)
    if not named:
        folder = Path(tempfile.mkdtemp(prefix="idp-metrics-"))
        os.environ[METRICS_FOLDER_VARIABLE] = str(folder)
        return folder, True
    folder = Path(named)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Values of an earlier run would be added to this one's.
        for stale in folder.glob("*.db"):
            stale.unlink()
    except OSError as error:
        raise ConfigError(f"{METRICS_FOLDER_VARIABLE}: {named}: {error.strerror or error}") from None
    return folder, False


def check_tls_files(serve_settings: ServeSettings) -> None:
    for name in ("certfile", "keyfile"):
        path = getattr(serve_settings, name)
        if not path:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            raise ConfigError(f"serve.{name}: cannot read {path}: {error.strerror or error}") from None


def _child_exit(_server: Any, worker: Any) -> None:
    # A worker's live gauges go with it; its counters stay in the sums.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class ProviderServer(BaseApplication):
    """gunicorn, configured here and not from its own command line or environment."""

    def __init__(self, serve: ServeSettings, overrides: dict[str, dict[str, Any]], log_level: str = "INFO") -> None:
        self.overrides = overrides
        self.options: dict[str, Any] = {
            "bind": serve.bind,
            "workers": serve.workers,
            "threads": serve.threads,
            "worker_class": "gthread" if serve.threads > 1 else "sync",
            "timeout": serve.timeout_seconds,
            "graceful_timeout": serve.graceful_timeout_seconds,
            "keepalive": serve.keepalive_seconds,
            "proc_name": "idp",
            # gunicorn >= 25 opens a control socket at one fixed per-user path, so a second
            # server (tests, `make run` beside a real one) would clash over it. Not needed.
            "control_socket_disable": True,
            # Which proxy to believe about the client address and scheme is
            # server.trusted_proxies' decision alone (ProxyFix in create_app); by default
            # gunicorn would also take X-Forwarded-Proto from any local connection.
            "forwarded_allow_ips": "",
            "secure_scheme_headers": {},
            "logconfig_dict": gunicorn_logging(log_level),
            "child_exit": _child_exit,
        }
        if serve.certfile:
            self.options.update(certfile=serve.certfile, keyfile=serve.keyfile)
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        # In each worker: its own app, engine and connections (nothing shared across fork),
        # with the same command-line overrides the settings were checked with.
        return create_app(self.overrides)

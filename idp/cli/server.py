"""`idp serve`: the provider under gunicorn."""

from __future__ import annotations

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from idp import create_app
from idp.cli.base import provider_app
from idp.cli.main_group import main


@main.command()
@click.option("--bind", default="127.0.0.1:5000", show_default=True, metavar="HOST:PORT", help="Address to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
def serve(bind: str, workers: int) -> None:
    """Run the provider under gunicorn with the configured settings."""
    # Build the app once here, so bad settings or an un-migrated database stop with one
    # line now rather than in every worker after gunicorn has started.
    with provider_app():
        pass
    ProviderServer(bind=bind, workers=workers).run()


class ProviderServer(BaseApplication):
    """gunicorn, configured here and not from its own command line or environment."""

    def __init__(self, bind: str, workers: int) -> None:
        self.options = {
            "bind": bind,
            "workers": workers,
            "proc_name": "idp",
            # gunicorn >= 25 opens a control socket at one fixed per-user path, so a second
            # server (tests, `make run` beside a real one) would clash over it. Not needed.
            "control_socket_disable": True,
            # Which proxy to believe about the client address and scheme is
            # server.trusted_proxies' decision alone (ProxyFix in create_app); by default
            # gunicorn would also take X-Forwarded-Proto from any local connection.
            "forwarded_allow_ips": "",
            "secure_scheme_headers": {},
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        # In each worker: its own app, engine and connections (nothing shared across fork).
        return create_app()

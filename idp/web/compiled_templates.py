"""Compiled page templates, shared by every app in the process.

Jinja compiles each template to Python once per environment, and every app has its own. A
server process builds one app, but the test suite builds one per test, and compiling the same
templates again was most of what its first page cost. Jinja's bytecode cache keys an entry by
the template's name and file and checks the source's checksum on every load, so a changed
template (development's auto-reload) is compiled afresh rather than served stale. The code
also depends on the environment's syntax settings and extensions, which ``create_app`` sets
alike for every app; an environment set up otherwise must not use this cache."""

from __future__ import annotations

import threading

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class ProcessBytecodeCache(BytecodeCache):
    """Compiled templates in this process's memory, as marshalled code objects."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)  # resets itself when the checksum differs

    def dump_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            self._compiled[bucket.key] = bucket.bytecode_to_string()


SHARED = ProcessBytecodeCache()


def init_app(app: Flask) -> None:
    """Must run before anything touches ``app.jinja_env``, which reads the options once."""
    app.jinja_options = {**app.jinja_options, "bytecode_cache": SHARED}

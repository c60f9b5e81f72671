"""URL builders shared by every app the suite builds in one process.

Werkzeug generates and compiles a Python function per route and app to build its URLs: about
half of what creating an idp app costs, and the suite creates one per test. The function is
the same for the same rule, so one compiled copy serves every app: it takes the rule it
belongs to as its first argument (Werkzeug binds it to each rule), and reads the rule's
converters from there at call time."""

from __future__ import annotations

from typing import ClassVar

from flask import Flask
from werkzeug.routing import Rule


class RuleWithSharedBuilders(Rule):
    _builders: ClassVar[dict[tuple, object]] = {}

    def _compile_builder(self, append_unknown: bool = True):
        defaults = self.defaults or {}
        # A default for a part of the path is converted into the builder's code: not shared.
        if any(is_dynamic and part in defaults for is_dynamic, part in self._trace):
            return super()._compile_builder(append_unknown)
        key = (append_unknown, self.rule, tuple(self._trace), tuple(defaults))
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = super()._compile_builder(append_unknown)
        return builder


def share_url_builders() -> None:
    Flask.url_rule_class = RuleWithSharedBuilders

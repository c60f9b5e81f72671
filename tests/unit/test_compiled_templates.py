"""The process-wide cache of compiled templates: shared by apps, never stale."""

from __future__ import annotations

from jinja2 import DictLoader, Environment

from idp.web.compiled_templates import ProcessBytecodeCache


def _environment(cache: ProcessBytecodeCache, source: str) -> Environment:
    return Environment(loader=DictLoader({"page.html": source}), bytecode_cache=cache)


def test_a_second_environment_loads_the_compiled_template_instead_of_compiling_it():
    cache = ProcessBytecodeCache()
    first = _environment(cache, "Halo {{ name }}")
    assert first.get_template("page.html").render(name="Siti") == "Halo Siti"

    second = _environment(cache, "Halo {{ name }}")
    compiled = []
    original_compile = second.compile
    second.compile = lambda *args, **kwargs: compiled.append(args) or original_compile(*args, **kwargs)
    assert second.get_template("page.html").render(name="Budi") == "Halo Budi"
    assert compiled == []  # loaded from the cache


def test_a_changed_template_is_compiled_afresh_not_served_stale():
    cache = ProcessBytecodeCache()
    assert _environment(cache, "Halo {{ name }}").get_template("page.html").render(name="Siti") == "Halo Siti"
    changed = _environment(cache, "Selamat datang, {{ name }}")
    assert changed.get_template("page.html").render(name="Siti") == "Selamat datang, Siti"

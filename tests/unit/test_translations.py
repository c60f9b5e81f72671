"""The message catalogs: complete, compiled, in step with the sources, and used by the pages.

How to add or change a string: docs/i18n.md.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, path_of

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "idp" / "translations"
POT = TRANSLATIONS / "messages.pot"
LOCALES = ("id", "en")
FIX = (
    "extract, update, translate and compile as described in docs/i18n.md: "
    "pybabel extract -F babel.cfg -k _l -k lazy_gettext --sort-by-file -o idp/translations/messages.pot . ; "
    "pybabel update -i idp/translations/messages.pot -d idp/translations --no-fuzzy-matching ; "
    "(fill in id/LC_MESSAGES/messages.po) ; pybabel compile -d idp/translations"
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def _mo_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"


def _read_po(path: Path, locale: str | None = None):
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _msgids(catalog) -> set[str]:
    return {message.id for message in catalog if message.id}


def _messages(catalog) -> dict:
    """msgid (and context) -> msgstr, without the header entry."""
    return {(message.context, message.id): message.string for message in catalog if message.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set[str]:
    """What the extract command of docs/i18n.md finds in the sources today (into a temp dir)."""
    output = tmp_path_factory.mktemp("extract") / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "--quiet",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(output),
            str(ROOT),
        ]
    )
    return _msgids(_read_po(output))


# (a) complete ------------------------------------------------------------------------------


def test_every_template_msgid_has_an_indonesian_translation():
    template = _read_po(POT)
    indonesian = _read_po(_po_path("id"), "id")
    assert _msgids(template), "the .pot is empty"
    missing = sorted(
        msgid for msgid in _msgids(template) if not (indonesian.get(msgid) and indonesian.get(msgid).string)
    )
    assert not missing, f"no Indonesian msgstr for {missing}; {FIX}"


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_no_fuzzy_entries_and_matches_the_template(locale: str):
    catalog = _read_po(_po_path(locale), locale)
    assert not catalog.fuzzy, f"{locale}: the catalog header is marked fuzzy, so it would not compile"
    fuzzy = sorted(message.id for message in catalog if message.id and message.fuzzy)
    assert not fuzzy, f"{locale}: fuzzy entries {fuzzy}: check the translation and remove the fuzzy flag"
    assert _msgids(catalog) == _msgids(_read_po(POT)), f"{locale}: .po differs from the .pot; {FIX}"


def test_english_catalog_leaves_the_source_strings_alone():
    english = _read_po(_po_path("en"), "en")
    translated = {message.id: message.string for message in english if message.id and message.string}
    # An English msgstr would silently replace the source text; keep them empty.
    assert not translated


def test_indonesian_keeps_placeholders_and_passes_babel_checks():
    indonesian = _read_po(_po_path("id"), "id")
    for message in indonesian:
        if not message.id:
            continue
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(PLACEHOLDER.findall(message.id)), message.id
    problems = [(message.id, [str(e) for e in errors]) for message, errors in indonesian.check()]
    assert not problems


def test_key_words_are_the_agreed_indonesian_terms():
    indonesian = _read_po(_po_path("id"), "id")
    assert indonesian.get("Sign in").string == "Masuk"
    assert indonesian.get("Password").string == "Kata sandi"
    assert indonesian.get("Allow").string == "Izinkan"
    assert indonesian.get("Deny").string == "Tolak"
    assert "nomor kepesertaan" in indonesian.get("Email or membership number").string


# (b) compiled ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_committed_mo_matches_the_po(locale: str):
    assert _mo_path(locale).is_file(), f"{_mo_path(locale)} is missing; run: pybabel compile -d idp/translations"
    compiled = io.BytesIO()
    write_mo(compiled, _read_po(_po_path(locale), locale))
    compiled.seek(0)
    with _mo_path(locale).open("rb") as handle:
        committed = read_mo(handle)
    assert _messages(committed) == _messages(read_mo(compiled)), (
        f"{locale}: messages.mo is stale; run: pybabel compile -d idp/translations"
    )


# (c) in step with the sources --------------------------------------------------------------


def test_babel_cfg_finds_the_lazy_gettext_strings_of_the_forms(extracted: set[str]):
    # `_l(...)` in idp/web/forms.py is only found because the keyword is named.
    assert {"Email or membership number", "Password", "Allow", "Deny"} <= extracted
    assert "Never share your password or codes with anyone, including our staff." in extracted


@pytest.mark.parametrize("locale", LOCALES)
def test_no_string_in_the_sources_is_missing_from_the_catalog(extracted: set[str], locale: str):
    catalog_ids = _msgids(_read_po(_po_path(locale), locale))
    missing = sorted(extracted - catalog_ids)
    assert not missing, f"{locale}: new strings not in messages.po: {missing}; {FIX}"


def test_template_is_in_step_with_the_sources(extracted: set[str]):
    template_ids = _msgids(_read_po(POT))
    assert extracted == template_ids, (
        f"messages.pot is stale (new: {sorted(extracted - template_ids)}, "
        f"gone: {sorted(template_ids - extracted)}); {FIX}"
    )


# (d) used by the pages ---------------------------------------------------------------------


def _login_page(client, make_client, headers=None, **extra):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra=extra)
    started = client.get(request.url(), headers=headers or {})
    assert started.status_code == 303, (started.status_code, started.text[:300])
    page = client.get(path_of(started.headers["Location"]), headers=headers or {})
    assert page.status_code == 200, page.status_code
    assert 'data-testid="login-form"' in page.text
    return page.text


def _assert_indonesian(html: str):
    assert '<html lang="id"' in html
    assert "<h1>Masuk</h1>" in html
    assert 'data-testid="login-submit">Masuk</button>' in html
    assert "Kata sandi" in html
    assert "Email atau nomor kepesertaan" in html
    assert "Sign in" not in html
    assert "Password" not in html


def _assert_english(html: str):
    assert '<html lang="en"' in html
    assert "<h1>Sign in</h1>" in html
    assert 'data-testid="login-submit">Sign in</button>' in html
    assert "Password" in html
    assert "Email or membership number" in html
    assert "Masuk" not in html
    assert "Kata sandi" not in html


def test_login_page_in_indonesian_for_ui_locales_id(client, make_client):
    _assert_indonesian(_login_page(client, make_client, headers={"Accept-Language": "en"}, ui_locales="id"))


def test_login_page_in_english_for_ui_locales_en(client, make_client):
    _assert_english(_login_page(client, make_client, ui_locales="en"))


def test_first_supported_ui_locale_wins(client, make_client):
    _assert_english(_login_page(client, make_client, ui_locales="fr en-US id"))


def test_login_page_follows_accept_language_without_ui_locales(client, make_client):
    _assert_english(_login_page(client, make_client, headers={"Accept-Language": "en"}))


def test_login_page_defaults_to_indonesian(client, make_client):
    _assert_indonesian(_login_page(client, make_client))


def test_unsupported_browser_language_falls_back_to_indonesian(client, make_client):
    _assert_indonesian(_login_page(client, make_client, headers={"Accept-Language": "fr, de;q=0.5"}))


def test_consent_page_in_indonesian(client, make_client, make_member):
    member = make_member()
    rp, _ = make_client(first_party=False, name="Klaim Online")
    request = AuthorizationRequest(rp.client_id, scope="openid email", extra={"ui_locales": "id"})
    started = client.get(request.url())
    logged_in = Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    assert logged_in.status_code == 303, logged_in.status_code
    page = client.get(path_of(logged_in.headers["Location"]))
    assert 'data-testid="consent-form"' in page.text
    assert "Izinkan Klaim Online menggunakan akun Anda?" in page.text
    assert "Melihat alamat email Anda" in page.text
    assert 'value="Izinkan"' in page.text and 'value="Tolak"' in page.text

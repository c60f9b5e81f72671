"""idp.settings.load_settings: defaults < TOML file < environment < create_app mapping, and
one-line ConfigErrors that name the key for every bad input."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from idp.settings import PROJECT_ROOT, ConfigError, Settings, load_settings

PRODUCTION = {
    "server": {
        "issuer": "https://login.example.test",
        "development": False,
        "secret_key": "s" * 32,
    },
    "database": {"url": "postgresql+psycopg://idp@db/idp"},
    "mail": {"backend": "smtp"},
}


@pytest.fixture
def clean_environ(monkeypatch):
    """load_settings() and create_app() read os.environ: keep the caller's IDP_* variables out."""
    for name in list(os.environ):
        if name.startswith("IDP_"):
            monkeypatch.delenv(name)


def write_toml(tmp_path: Path, text: str, name: str = "idp.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def config_error(*, overrides=None, environ=None) -> str:
    """The message of the ConfigError that loading raises; it is always one line."""
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides, environ={} if environ is None else environ)
    message = str(caught.value)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    return message


# Defaults ----------------------------------------------------------------------------------


def test_defaults_are_the_development_defaults():
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.server.development is True
    assert settings.server.issuer == "http://127.0.0.1:5000"
    assert settings.server.secret_key == ""
    assert settings.server.trusted_proxies == 0
    assert settings.server.instance_path == str(PROJECT_ROOT / "instance")
    assert Path(settings.server.instance_path).is_absolute()
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'instance' / 'idp.sqlite3'}"
    assert settings.tokens.authorization_code_ttl_seconds == 60
    assert settings.i18n.default_locale == "id"
    assert settings.i18n.supported_locales == ("id", "en")
    assert settings.logging.level == "INFO"
    assert settings.issuer_is_https is False


def test_os_environ_is_read_when_no_environ_is_given(clean_environ, monkeypatch):
    monkeypatch.setenv("IDP_TOKENS__ID_TOKEN_TTL_SECONDS", "321")
    assert load_settings().tokens.id_token_ttl_seconds == 321


def test_settings_are_frozen():
    settings = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.server.issuer = "https://elsewhere.example.test"  # type: ignore[misc]


def test_database_url_wins_over_the_sqlite_default():
    settings = load_settings({"database": {"url": "postgresql+psycopg://idp@db/idp"}}, environ={})
    assert settings.database_url == "postgresql+psycopg://idp@db/idp"


def test_production_requires_an_explicit_database_url():
    without_database = {"server": PRODUCTION["server"]}
    with pytest.raises(ConfigError) as raised:
        load_settings(without_database, environ={})
    assert str(raised.value).startswith("database.url:")


def test_valid_production_settings_load():
    settings = load_settings(PRODUCTION, environ={})
    assert settings.server.development is False
    assert settings.issuer_is_https is True


# Precedence ---------------------------------------------------------------------------------


def test_precedence_defaults_file_environment_overrides(tmp_path):
    path = write_toml(
        tmp_path,
        '[tokens]\naccess_token_ttl_seconds = 300\nid_token_ttl_seconds = 300\n[logging]\nlevel = "WARNING"\n',
    )
    environ = {"IDP_CONFIG": path}

    from_file = load_settings(environ=environ)
    assert from_file.tokens.access_token_ttl_seconds == 300
    assert from_file.tokens.id_token_ttl_seconds == 300
    assert from_file.tokens.authorization_code_ttl_seconds == 60  # default kept

    environ["IDP_TOKENS__ACCESS_TOKEN_TTL_SECONDS"] = "120"
    from_env = load_settings(environ=environ)
    assert from_env.tokens.access_token_ttl_seconds == 120
    assert from_env.tokens.id_token_ttl_seconds == 300  # the file still counts for other keys

    from_overrides = load_settings({"tokens": {"access_token_ttl_seconds": 90}}, environ=environ)
    assert from_overrides.tokens.access_token_ttl_seconds == 90
    assert from_overrides.tokens.id_token_ttl_seconds == 300
    assert from_overrides.logging.level == "WARNING"


def test_environment_without_a_file_overrides_the_defaults():
    settings = load_settings(environ={"IDP_TOKENS__ACCESS_TOKEN_TTL_SECONDS": "120"})
    assert settings.tokens.access_token_ttl_seconds == 120


def test_empty_idp_config_means_no_file():
    assert load_settings(environ={"IDP_CONFIG": ""}) == Settings()


def test_validation_applies_to_the_merged_result(tmp_path):
    # The file alone is unsafe (production with http); the environment repairs it.
    path = write_toml(tmp_path, '[server]\ndevelopment = false\nissuer = "http://idp.example.test"\n')
    environ = {
        "IDP_CONFIG": path,
        "IDP_SERVER__ISSUER": "https://idp.example.test",
        "IDP_SERVER__SECRET_KEY": "k" * 40,
        "IDP_DATABASE__URL": "postgresql+psycopg://idp@db/idp",
        "IDP_MAIL__BACKEND": "smtp",
    }
    assert load_settings(environ=environ).server.issuer == "https://idp.example.test"


# Environment parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        (" true ", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_environment_booleans(text, expected):
    assert load_settings(environ={"IDP_DATABASE__ECHO": text}).database.echo is expected


@pytest.mark.parametrize(("text", "expected"), [("120", 120), (" 45 ", 45), ("0", 0)])
def test_environment_integers(text, expected):
    assert load_settings(environ={"IDP_SERVER__TRUSTED_PROXIES": text}).server.trusted_proxies == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("id,en", ("id", "en")), ("en, id", ("en", "id")), ("id", ("id",)), ("id,,en,", ("id", "en"))],
)
def test_environment_lists(text, expected):
    settings = load_settings(environ={"IDP_I18N__SUPPORTED_LOCALES": text})
    assert settings.i18n.supported_locales == expected


def test_environment_strings_are_taken_as_they_are():
    settings = load_settings(environ={"IDP_TOKENS__ACCESS_TOKEN_AUDIENCE": "urn:x,y"})
    assert settings.tokens.access_token_audience == "urn:x,y"


def test_environment_names_are_case_insensitive_after_the_prefix():
    assert load_settings(environ={"IDP_tokens__Id_Token_TTL_seconds": "77"}).tokens.id_token_ttl_seconds == 77


def test_unrelated_environment_variables_are_ignored():
    environ = {
        "IDP_CONFIG": "",
        "IDP_TEST_DATABASE_URL": "postgresql://elsewhere",  # no double underscore: not a setting
        "PATH": "/usr/bin",
        "XIDP_SERVER__ISSUER": "ftp://nope",
    }
    assert load_settings(environ=environ) == Settings()


def test_toml_types_are_used_directly(tmp_path):
    path = write_toml(
        tmp_path,
        "[server]\ntrusted_proxies = 2\n[database]\necho = true\n"
        '[i18n]\nsupported_locales = ["en", "id"]\ndefault_locale = "en"\n',
    )
    settings = load_settings(environ={"IDP_CONFIG": path})
    assert settings.server.trusted_proxies == 2
    assert settings.database.echo is True
    assert settings.i18n.supported_locales == ("en", "id")
    assert settings.i18n.default_locale == "en"


# Errors: unknown names ----------------------------------------------------------------------


def test_unknown_section_in_file(tmp_path):
    path = write_toml(tmp_path, '[serverr]\nissuer = "https://x.example"\n')
    message = config_error(environ={"IDP_CONFIG": path})
    assert "serverr" in message and "unknown section" in message and path in message


def test_unknown_section_in_environment():
    message = config_error(environ={"IDP_SERVERR__ISSUER": "https://x.example"})
    assert "serverr" in message and "environment" in message


def test_unknown_section_in_overrides():
    message = config_error(overrides={"nope": {"x": 1}})
    assert "nope" in message and "overrides" in message


def test_top_level_key_in_file_is_an_unknown_section(tmp_path):
    path = write_toml(tmp_path, 'issuer = "https://x.example"\n')
    assert "issuer" in config_error(environ={"IDP_CONFIG": path})


def test_section_that_is_not_a_table(tmp_path):
    path = write_toml(tmp_path, "server = 1\n")
    message = config_error(environ={"IDP_CONFIG": path})
    assert "server" in message and "table" in message


def test_unknown_key_in_file(tmp_path):
    path = write_toml(tmp_path, "[tokens]\naccess_token_ttl = 60\n")
    message = config_error(environ={"IDP_CONFIG": path})
    assert "tokens.access_token_ttl" in message and "unknown setting" in message and path in message


def test_unknown_key_in_environment():
    message = config_error(environ={"IDP_TOKENS__ACCESS_TOKEN_TTL": "60"})
    assert "tokens.access_token_ttl" in message and "environment" in message


def test_unknown_key_in_overrides():
    message = config_error(overrides={"server": {"isuer": "https://x.example"}})
    assert "server.isuer" in message and "overrides" in message


# Errors: wrong types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[tokens]\naccess_token_ttl_seconds = "ten"\n', "tokens.access_token_ttl_seconds"),
        ("[tokens]\naccess_token_ttl_seconds = 1.5\n", "tokens.access_token_ttl_seconds"),
        ("[server]\ntrusted_proxies = true\n", "server.trusted_proxies"),
        ("[server]\ndevelopment = 1\n", "server.development"),
        ('[server]\ndevelopment = "maybe"\n', "server.development"),
        ("[server]\nissuer = 5\n", "server.issuer"),
        ("[i18n]\nsupported_locales = [1, 2]\n", "i18n.supported_locales"),
        ('[i18n]\nsupported_locales = {id = "x"}\n', "i18n.supported_locales"),
        ("[logging]\nlevel = []\n", "logging.level"),
    ],
)
def test_wrong_type_in_file(tmp_path, toml, key):
    path = write_toml(tmp_path, toml)
    assert key in config_error(environ={"IDP_CONFIG": path})


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("IDP_TOKENS__ACCESS_TOKEN_TTL_SECONDS", "ten", "tokens.access_token_ttl_seconds"),
        ("IDP_TOKENS__ACCESS_TOKEN_TTL_SECONDS", "", "tokens.access_token_ttl_seconds"),
        ("IDP_SERVER__DEVELOPMENT", "maybe", "server.development"),
        ("IDP_DATABASE__ECHO", "", "database.echo"),
    ],
)
def test_wrong_type_in_environment(variable, value, key):
    assert key in config_error(environ={variable: value})


def test_wrong_type_in_overrides():
    assert "session.idle_timeout_seconds" in config_error(overrides={"session": {"idle_timeout_seconds": "soon"}})


def test_wrong_value_is_shown_escaped_on_one_line():
    message = config_error(environ={"IDP_SERVER__TRUSTED_PROXIES": "1\n2"})
    assert "server.trusted_proxies" in message and "'1\\n2'" in message


# Errors: unsafe or impossible values ---------------------------------------------------------


@pytest.mark.parametrize(
    "issuer",
    ["ftp://idp.example.test", "idp.example.test", "https://", "", "javascript:alert(1)"],
)
def test_issuer_must_be_an_absolute_http_url(issuer):
    message = config_error(overrides={"server": {"issuer": issuer}})
    assert message.startswith("server.issuer:")


def test_issuer_must_not_end_with_a_slash():
    for issuer in ("https://idp.example.test/", "http://127.0.0.1:5000/", "https://x.example/idp/"):
        message = config_error(overrides={"server": {"issuer": issuer}})
        assert message.startswith("server.issuer:") and "slash" in message


def test_issuer_with_a_path_is_fine():
    assert (
        load_settings({"server": {"issuer": "https://x.example/idp"}}, environ={}).server.issuer
        == "https://x.example/idp"
    )


@pytest.mark.parametrize("issuer", ["https://x.example?a=1", "https://x.example#top"])
def test_issuer_must_not_have_query_or_fragment(issuer):
    assert config_error(overrides={"server": {"issuer": issuer}}).startswith("server.issuer:")


def test_production_requires_https_issuer():
    message = config_error(overrides={"server": {**PRODUCTION["server"], "issuer": "http://login.example.test"}})
    assert message.startswith("server.issuer:") and "https" in message


def test_production_with_the_default_issuer_names_the_issuer():
    # What an operator sees after setting only IDP_SERVER__DEVELOPMENT=false.
    assert config_error(environ={"IDP_SERVER__DEVELOPMENT": "false"}).startswith("server.issuer:")


PRODUCTION_PROBLEMS = {
    "server.issuer": "server.issuer: must use https outside development mode",
    "server.secret_key": "server.secret_key: required outside development mode",
    "database.url": "database.url: required outside development mode (use PostgreSQL)",
    "mail.backend": "mail.backend: must be smtp outside development mode",
}


def test_production_mode_alone_names_everything_it_lacks_in_one_line():
    # A container of the production image started without any configuration.
    message = config_error(environ={"IDP_SERVER__DEVELOPMENT": "false"})
    assert message == "; ".join(PRODUCTION_PROBLEMS.values())


@pytest.mark.parametrize(
    ("section", "key", "unsafe"),
    [
        ("server", "issuer", "http://login.example.test"),
        ("server", "secret_key", ""),
        ("database", "url", ""),
        ("mail", "backend", "outbox"),
    ],
)
def test_production_names_exactly_what_is_missing(section, key, unsafe):
    config = {name: dict(values) for name, values in PRODUCTION.items()}
    config[section][key] = unsafe
    assert config_error(overrides=config) == PRODUCTION_PROBLEMS[f"{section}.{key}"]


def test_production_lists_several_problems_in_the_order_of_the_file():
    config = {**PRODUCTION, "database": {"url": ""}, "mail": {"backend": "outbox"}}
    assert (
        config_error(overrides=config)
        == f"{PRODUCTION_PROBLEMS['database.url']}; {PRODUCTION_PROBLEMS['mail.backend']}"
    )


def test_production_requires_a_secret_key():
    server = {"issuer": "https://login.example.test", "development": False}
    message = config_error(overrides={"server": server})
    assert message.startswith("server.secret_key:") and "required" in message


@pytest.mark.parametrize("development", [True, False])
def test_secret_key_must_be_at_least_32_characters(development):
    server = {**PRODUCTION["server"], "development": development, "secret_key": "s" * 31}
    message = config_error(overrides={"server": server})
    assert message.startswith("server.secret_key:") and "32" in message
    server["secret_key"] = "s" * 32
    assert load_settings({**PRODUCTION, "server": server}, environ={}).server.secret_key == "s" * 32


def test_secret_key_is_not_shown_in_the_message():
    secret = "short-but-secret"
    assert secret not in config_error(overrides={"server": {"secret_key": secret}})


def test_trusted_proxies_must_not_be_negative():
    assert config_error(overrides={"server": {"trusted_proxies": -1}}).startswith("server.trusted_proxies:")


@pytest.mark.parametrize("path", ["instance", "./instance", ""])
def test_instance_path_must_be_absolute(path):
    assert config_error(overrides={"server": {"instance_path": path}}).startswith("server.instance_path:")


def test_authorization_code_ttl_at_most_600():
    message = config_error(overrides={"tokens": {"authorization_code_ttl_seconds": 601}})
    assert message.startswith("tokens.authorization_code_ttl_seconds:") and "600" in message
    assert load_settings({"tokens": {"authorization_code_ttl_seconds": 600}}, environ={})


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("tokens", "authorization_code_ttl_seconds"),
        ("tokens", "access_token_ttl_seconds"),
        ("tokens", "id_token_ttl_seconds"),
        ("session", "idle_timeout_seconds"),
        ("session", "absolute_timeout_seconds"),
        ("session", "interaction_ttl_seconds"),
    ],
)
def test_lifetimes_must_be_positive(section, key):
    assert config_error(overrides={section: {key: 0}}).startswith(f"{section}.{key}:")


def test_signing_alg_must_be_rs256_or_es256():
    message = config_error(overrides={"tokens": {"default_id_token_signing_alg": "HS256"}})
    assert message.startswith("tokens.default_id_token_signing_alg:")
    assert load_settings({"tokens": {"default_id_token_signing_alg": "ES256"}}, environ={})


def test_access_token_audience_must_not_be_empty():
    assert config_error(overrides={"tokens": {"access_token_audience": ""}}).startswith("tokens.access_token_audience:")


def test_retired_keys_must_outlive_the_tokens():
    message = config_error(overrides={"keys": {"retired_key_publish_seconds": 599}})
    assert message.startswith("keys.retired_key_publish_seconds:")


def test_default_locale_must_be_supported():
    message = config_error(overrides={"i18n": {"default_locale": "fr"}})
    assert message.startswith("i18n.default_locale:")
    message = config_error(environ={"IDP_I18N__SUPPORTED_LOCALES": "en"})
    assert message.startswith("i18n.default_locale:")


def test_supported_locales_must_not_be_empty():
    assert config_error(overrides={"i18n": {"supported_locales": []}}).startswith("i18n.supported_locales:")


@pytest.mark.parametrize("level", ["VERBOSE", "", "CRITICAL", "info "])
def test_bad_log_level(level):
    assert config_error(overrides={"logging": {"level": level}}).startswith("logging.level:")


@pytest.mark.parametrize("level", ["DEBUG", "info", "Warning", "ERROR"])
def test_good_log_levels(level):
    assert load_settings({"logging": {"level": level}}, environ={}).logging.level == level


# Errors: the file itself --------------------------------------------------------------------


def test_missing_config_file(tmp_path):
    path = tmp_path / "absent.toml"
    message = config_error(environ={"IDP_CONFIG": str(path)})
    assert message.startswith("IDP_CONFIG:") and str(path) in message and "does not exist" in message


@pytest.mark.parametrize(
    "text",
    ["[server\nissuer = 1\n", "[server]\nissuer = \n", "[server]\nissuer = 'a'\nissuer = 'b'\n", 'x = """\n'],
)
def test_invalid_toml(tmp_path, text):
    path = write_toml(tmp_path, text)
    message = config_error(environ={"IDP_CONFIG": path})
    assert message.startswith("IDP_CONFIG:") and path in message and "not valid TOML" in message


# create_app: bad configuration stops start-up with one clear line ----------------------------


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"server": {"issuer": "https://idp.example.test/"}}, "server.issuer"),
        ({"server": {"development": False}}, "server.issuer"),
        ({"tokens": {"authorization_code_ttl_seconds": 3600}}, "tokens.authorization_code_ttl_seconds"),
        ({"bogus": {}}, "bogus"),
    ],
)
def test_create_app_refuses_bad_configuration_with_one_line(clean_environ, config, key):
    from idp import create_app

    with pytest.raises(ConfigError) as caught:
        create_app(config, check_schema=False)
    message = str(caught.value)
    assert key in message and "\n" not in message


def test_create_app_reads_the_environment(clean_environ, monkeypatch):
    from idp import create_app

    monkeypatch.setenv("IDP_SERVER__DEVELOPMENT", "false")
    with pytest.raises(ConfigError) as caught:
        create_app(check_schema=False)
    assert str(caught.value).startswith("server.issuer:")


def test_create_app_refuses_an_unmigrated_database(clean_environ, monkeypatch, tmp_path):
    """The database check is a ConfigError too (DatabaseNotReady), so the CLI prints one line."""
    import idp.db
    from idp import DatabaseNotReady, create_app

    engines = []
    make_engine = idp.db.make_engine

    def recording_make_engine(*args, **kwargs):
        engines.append(make_engine(*args, **kwargs))
        return engines[-1]

    monkeypatch.setattr(idp.db, "make_engine", recording_make_engine)
    config = {
        "server": {"instance_path": str(tmp_path / "instance"), "secret_key": "k" * 40},
        "database": {"url": f"sqlite:///{tmp_path / 'empty.sqlite3'}"},
    }
    try:
        with pytest.raises(DatabaseNotReady) as caught:
            create_app(config)
    finally:
        for engine in engines:
            engine.dispose()
    assert isinstance(caught.value, ConfigError)
    message = str(caught.value)
    assert message.startswith("database:") and "idp db upgrade" in message and "\n" not in message


# Lockout, rate limits, mail, passwords, recovery ----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"lockout": {"max_failures": 0}}, "lockout.max_failures"),
        ({"lockout": {"window_seconds": -1}}, "lockout.window_seconds"),
        ({"lockout": {"base_duration_seconds": 600, "max_duration_seconds": 300}}, "lockout.max_duration_seconds"),
        ({"lockout": {"permanent_after": -1}}, "lockout.permanent_after"),
        ({"ratelimit": {"storage_uri": "memcached://localhost"}}, "ratelimit.storage_uri"),
        ({"ratelimit": {"login_per_ip": "lots"}}, "ratelimit.login_per_ip"),
        ({"ratelimit": {"token_per_client": ""}}, "ratelimit.token_per_client"),
        ({"mail": {"backend": "carrier-pigeon"}}, "mail.backend"),
        ({"mail": {"smtp_security": "ssl"}}, "mail.smtp_security"),
        ({"mail": {"smtp_port": 70000}}, "mail.smtp_port"),
        ({"mail": {"from_address": "nobody"}}, "mail.from_address"),
        ({"passwords": {"min_length": 4}}, "passwords.min_length"),
        ({"recovery": {"reset_token_ttl_seconds": 59}}, "recovery.reset_token_ttl_seconds"),
        ({"i18n": {"timezone": "Mars/Olympus_Mons"}}, "i18n.timezone"),
    ],
)
def test_bad_protection_settings_name_the_key(overrides, key):
    assert config_error(overrides=overrides).startswith(f"{key}:")


def test_production_requires_smtp_mail():
    outbox = {**PRODUCTION, "mail": {"backend": "outbox"}}
    assert config_error(overrides=outbox).startswith("mail.backend:")


def test_rate_limit_strings_from_the_environment():
    settings = load_settings(environ={"IDP_RATELIMIT__LOGIN_PER_IP": "3 per second; 20 per hour"})
    assert settings.ratelimit.login_per_ip == "3 per second; 20 per hour"


# Second factors ([security]) -------------------------------------------------------------------


def test_security_defaults():
    security = load_settings(environ={}).security
    assert security.require_mfa is False
    assert security.remember_browser_days == 0
    assert security.fresh_check_minutes == 10
    assert security.email_code_ttl_seconds == 600
    assert security.email_code_max_tries == 5
    assert security.email_code_resend_seconds == 60


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"security": {"remember_browser_days": -1}}, "security.remember_browser_days"),
        ({"security": {"remember_browser_days": 400}}, "security.remember_browser_days"),
        ({"security": {"fresh_check_minutes": 0}}, "security.fresh_check_minutes"),
        ({"security": {"client_required_acr": ["portal"]}}, "security.client_required_acr"),
        ({"security": {"client_required_acr": ["=urn:idp:acr:mfa"]}}, "security.client_required_acr"),
        ({"security": {"client_required_acr": ["portal=urn:example:loa:4"]}}, "security.client_required_acr"),
        (
            {"security": {"client_required_acr": ["portal=urn:idp:acr:mfa", "portal=urn:idp:acr:pwd"]}},
            "security.client_required_acr",
        ),
        ({"security": {"totp_issuer_name": "Acme: sign-in"}}, "security.totp_issuer_name"),
        ({"security": {"totp_issuer_name": " "}}, "security.totp_issuer_name"),
        ({"security": {"email_code_ttl_seconds": 3600}}, "security.email_code_ttl_seconds"),
        ({"security": {"email_code_max_tries": 0}}, "security.email_code_max_tries"),
        ({"security": {"email_code_resend_seconds": 5}}, "security.email_code_resend_seconds"),
        ({"security": {"require_mfa": "sometimes"}}, "security.require_mfa"),
    ],
)
def test_bad_second_factor_settings_name_the_key(overrides, key):
    assert config_error(overrides=overrides).startswith(f"{key}:")


def test_client_required_acr_now_lives_on_the_client_record():
    # The former setting stops start-up with one line saying where the value lives now,
    # from the environment as from the file.
    message = config_error(environ={"IDP_SECURITY__CLIENT_REQUIRED_ACR": "portal=urn:idp:acr:mfa"})
    assert message.startswith("security.client_required_acr:") and "environment" in message
    assert "idp clients update CLIENT_ID --require-acr" in message and "\n" not in message


# [ui] ----------------------------------------------------------------------------------------


def test_ui_defaults_show_the_shipped_logo_and_no_support_link():
    ui = load_settings(environ={}).ui
    assert (ui.brand_name, ui.logo_path, ui.support_url) == ("", "logo.svg", "")
    assert (PROJECT_ROOT / "static" / ui.logo_path).is_file()


def test_ui_settings_from_the_environment():
    ui = load_settings(
        environ={
            "IDP_UI__BRAND_NAME": "Jaminan Sosial Pekerja",
            "IDP_UI__LOGO_PATH": "",
            "IDP_UI__SUPPORT_URL": "tel:+62215551234",
        }
    ).ui
    assert (ui.brand_name, ui.logo_path, ui.support_url) == ("Jaminan Sosial Pekerja", "", "tel:+62215551234")


@pytest.mark.parametrize(
    "overrides",
    [
        {"ui": {"logo_path": "/etc/passwd"}},
        {"ui": {"logo_path": "../idp/settings.py"}},
        {"ui": {"logo_path": "no-such-logo.svg"}},
        {"ui": {"support_url": "javascript:alert(1)"}},
        {"ui": {"support_url": "help.example.test"}},
        {"ui": {"support_url": "https://"}},
        {"ui": {"brand_name": 3}},
    ],
)
def test_bad_ui_settings_name_the_key(overrides):
    (key,) = overrides["ui"]
    assert config_error(overrides=overrides).startswith(f"ui.{key}:")


# Password hash cost -------------------------------------------------------------------------


@pytest.mark.parametrize(("memory", "time_cost"), [(19456, 2), (12288, 3), (9216, 4), (7168, 5), (47104, 1)])
def test_production_accepts_each_owasp_argon2id_set(memory, time_cost):
    config = {**PRODUCTION, "passwords": {"hash_memory_kib": memory, "hash_time_cost": time_cost}}
    settings = load_settings(config, environ={})
    assert (settings.passwords.hash_memory_kib, settings.passwords.hash_time_cost) == (memory, time_cost)


@pytest.mark.parametrize(("memory", "time_cost"), [(19456, 1), (6144, 6), (1024, 1)])
def test_production_refuses_a_hash_cost_below_owasp(memory, time_cost):
    config = {**PRODUCTION, "passwords": {"hash_memory_kib": memory, "hash_time_cost": time_cost}}
    assert config_error(overrides=config).startswith("passwords.hash_memory_kib and hash_time_cost: below OWASP")


def test_development_may_hash_cheaply_but_within_argon2s_own_bounds():
    assert load_settings({"passwords": {"hash_memory_kib": 1024, "hash_time_cost": 1}}, environ={})
    assert config_error(overrides={"passwords": {"hash_time_cost": 0}}) == (
        "passwords.hash_time_cost: must be between 1 and 16"
    )
    assert config_error(overrides={"passwords": {"hash_memory_kib": 16, "hash_parallelism": 4}}) == (
        "passwords.hash_memory_kib: must be between 8 x hash_parallelism and 4194304"
    )

"""Settings: one frozen dataclass per TOML section, each field documented beside its default.

Precedence, lowest first: the defaults below, the TOML file named by ``IDP_CONFIG``,
environment variables ``IDP_<SECTION>__<KEY>``, then the mapping given to ``create_app``.
Unknown keys, values of the wrong type and unsafe production values raise
``ConfigError`` with one line naming the key, which the CLI prints without a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# templates/, static/ and migrations/ are at the top of a checkout, beside idp/ (the layout
# of docs/architecture.md); a wheel has no checkout around it and carries them inside the
# package instead (setup.py), which is the only way idp/templates can exist.
_PACKAGE_DIR = PROJECT_ROOT / "idp"
RESOURCE_ROOT = _PACKAGE_DIR if (_PACKAGE_DIR / "templates").is_dir() else PROJECT_ROOT
ENV_PREFIX = "IDP_"


class ConfigError(Exception):
    """A configuration value is missing, unknown or unsafe. The message is one line."""


def doc(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING):
    """A dataclass field carrying its documentation, so the example file can be checked."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class ServerSettings:
    issuer: str = doc(
        "The one canonical issuer URL: discovery, ID tokens and access tokens all carry exactly "
        "this string. https is required outside development.",
        "http://127.0.0.1:5000",
    )
    secret_key: str = doc(
        "Secret for CSRF tokens and for the key that encrypts private signing keys at rest. "
        "Required outside development; at least 32 characters. Changing it makes stored "
        "signing keys unreadable (rotate keys after changing it).",
        "",
    )
    development: bool = doc(
        "Development mode: allows an http issuer and a generated secret key. Never in production.",
        True,
    )
    trusted_proxies: int = doc(
        "How many reverse-proxy hops to trust for the client address (X-Forwarded-For). "
        "0 trusts none: the socket address is used, so a client cannot forge its address.",
        0,
    )
    instance_path: str = doc(
        "Folder for the embedded SQLite database and the development mail outbox. "
        "An absolute path (the default is the instance folder of the checkout).",
        str(PROJECT_ROOT / "instance"),
    )


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = doc(
        "SQLAlchemy database URL. Empty means SQLite at <instance_path>/idp.sqlite3. "
        "Required outside development. Production: postgresql+psycopg://user@host/dbname.",
        "",
    )
    echo: bool = doc("Log every SQL statement (debugging only).", False)
    connect_timeout_seconds: int = doc(
        "How long to wait for a new PostgreSQL connection before the request is answered "
        '"temporarily unavailable" (503).',
        5,
    )


@dataclass(frozen=True)
class TokenSettings:
    authorization_code_ttl_seconds: int = doc("How long an authorization code may be exchanged after it is issued.", 60)
    access_token_ttl_seconds: int = doc(
        "Lifetime of JWT access tokens. Benefit services verify them offline, so a revoked "
        "token stays usable there until it expires: keep this short.",
        600,
    )
    id_token_ttl_seconds: int = doc("Lifetime of ID tokens.", 600)
    access_token_audience: str = doc(
        "The `aud` of every access token: the benefit-services resource that verifies them.",
        "urn:benefit-services",
    )
    require_pkce_for_confidential_clients: bool = doc(
        "Whether confidential clients must also use PKCE (public clients always must). "
        "RFC 9700 recommends PKCE for every client.",
        False,
    )
    default_id_token_signing_alg: str = doc(
        "Signing algorithm for clients registered without one: RS256 or ES256.", "RS256"
    )
    # --- refresh tokens, client assertions (issue 9) ---
    access_token_signing_alg: str = doc(
        "Signing algorithm of access tokens: RS256 (what most resource servers expect) or ES256 "
        "(smaller tokens, faster signing).",
        "RS256",
    )
    refresh_token_idle_seconds: int = doc(
        "A refresh token not used for this long expires (each use rotates it and starts the idle time again).",
        1209600,
    )
    refresh_token_absolute_seconds: int = doc(
        "However often it is used, a chain of refresh tokens ends this long after the sign-in "
        "that started it; the member must sign in again.",
        2592000,
    )
    client_assertion_max_lifetime_seconds: int = doc(
        "private_key_jwt (RFC 7523): the longest `exp - now` (and `exp - iat`) a client "
        "assertion may have; longer ones are refused.",
        300,
    )
    jwks_uri_timeout_seconds: int = doc(
        "How long to wait for a client's jwks_uri to answer before its assertion is refused.", 3
    )
    jwks_uri_max_bytes: int = doc("The largest JWKS accepted from a client's jwks_uri.", 65536)
    jwks_uri_cache_seconds: int = doc(
        "How long a client's fetched JWKS is reused (an unknown kid fetches it again at once).", 300
    )


@dataclass(frozen=True)
class SessionSettings:
    idle_timeout_seconds: int = doc("A sign-in session ends after this long without a request from the browser.", 1800)
    absolute_timeout_seconds: int = doc(
        "A sign-in session ends this long after the member signed in, however active.", 43200
    )
    interaction_ttl_seconds: int = doc(
        "How long a member has to finish the login and consent pages of one authorization "
        "request before it must be started again.",
        900,
    )


@dataclass(frozen=True)
class KeySettings:
    retired_key_publish_seconds: int = doc(
        "After `idp keys rotate`, how long the previous keys stay in the JWKS so tokens they "
        "signed still verify. Must exceed the longest token lifetime.",
        86400,
    )
    # --- rotation ahead of use, per-process cache (issue 9) ---
    publish_ahead_seconds: int = doc(
        "After `idp keys rotate`, the new key is in the JWKS at once but signs only after "
        "this long, so relying parties that cache the JWKS (it says max-age=300) know it first.",
        600,
    )
    cache_seconds: int = doc(
        "How long each process reuses the signing keys it read (imported, with the JWKS body "
        "precomputed and the access tokens it verified with them remembered) before reading "
        "them again: a rotation made elsewhere shows within this.",
        5,
    )


@dataclass(frozen=True)
class PasswordSettings:
    min_length: int = doc(
        "Shortest password accepted. NIST SP 800-63B rev 4 asks for 15 where the password is "
        "the only factor; 12 suits members who add a second factor.",
        12,
    )
    blocklist_words: tuple[str, ...] = doc(
        "Words no password may contain, whatever the letter case (each also without its spaces "
        "and dots): the program's name, the provider's host, the organisation. At least 3 "
        "characters each. Commonly used passwords, the member's own identifiers, repetitive "
        "and sequential strings and keyboard walks are refused anyway.",
        factory=tuple,
    )
    min_strength_score: int = doc(
        "The lowest zxcvbn strength score (0 to 4) a new password needs; 3 means about 10^8 "
        "guesses or more. 0 turns the estimator off (the rules above still apply).",
        3,
    )
    hash_memory_kib: int = doc(
        "Argon2id memory per password hash, in KiB. Outside development the parameters must be "
        "at least one of OWASP's argon2id sets: memory at least 7168 and memory times "
        "hash_time_cost at least 35840 (19456 x 2, 12288 x 3, 9216 x 4, 7168 x 5). A change "
        "applies to new hashes; each member's hash is renewed at their next sign-in.",
        19456,
    )
    hash_time_cost: int = doc("Argon2id passes over the memory per hash (1 to 16).", 2)
    hash_parallelism: int = doc("Argon2id lanes per hash (1 to 16).", 1)


@dataclass(frozen=True)
class RecoverySettings:
    reset_token_ttl_seconds: int = doc(
        "How long a password-reset link works (60 to 86400; as short as 60 for drills and tests).", 1800
    )


@dataclass(frozen=True)
class ActivationSettings:
    verification_ttl_seconds: int = doc(
        "How long an email verification link works: the one that finishes self-activation and "
        "the one that confirms a new email address (single use; a newer link voids older ones).",
        86400,
    )


@dataclass(frozen=True)
class LockoutSettings:
    max_failures: int = doc(
        "Failed sign-ins (per account, or per identifier when no account exists) within the window that start a lock.",
        5,
    )
    window_seconds: int = doc("The window in which failures are counted.", 900)
    base_duration_seconds: int = doc(
        "Length of the first lock; each further lock doubles it, up to max_duration_seconds.", 300
    )
    max_duration_seconds: int = doc("The longest a lock can grow to.", 86400)
    permanent_after: int = doc(
        "After this many locks the account stays locked until an operator unlocks it "
        "(`idp members unlock`). 0 turns this off.",
        0,
    )


@dataclass(frozen=True)
class SecuritySettings:
    require_mfa: bool = doc(
        "Make a second factor mandatory for every member: one without a factor enrolls one at "
        "the next sign-in, before anything is issued.",
        False,
    )
    remember_browser_days: int = doc(
        'Offer "remember this browser" on the second-factor page for this many days '
        "(0: not offered). A remembered browser skips the second factor at sign-in until the "
        "member resets the password or removes a factor; it never satisfies a relying party "
        "that asks for a level above password.",
        0,
    )
    fresh_check_minutes: int = doc(
        "Adding or removing a factor and regenerating recovery codes need a second-factor "
        "check (or, without a factor, a sign-in) within this many minutes.",
        10,
    )
    totp_issuer_name: str = doc(
        "The name authenticator apps show beside the member's account (no colon).", "Member sign-in"
    )
    email_code_ttl_seconds: int = doc("How long an emailed sign-in code works (60 to 600).", 600)
    email_code_max_tries: int = doc("Wrong entries allowed for one emailed code before it is void.", 5)
    email_code_resend_seconds: int = doc("The shortest time between two emailed codes for one sign-in.", 60)


@dataclass(frozen=True)
class RateLimitSettings:
    enabled: bool = doc("Apply the rate limits below (turn off only for load tests).", True)
    storage_uri: str = doc(
        "Where counters live: memory:// for one process; redis://host:6379/0 when several "
        "processes or hosts serve idp, so they share the counts.",
        "memory://",
    )
    key_prefix: str = doc("Prefix of every rate-limit key, so several idp installations can share one Redis.", "idp")
    on_storage_error: str = doc(
        "What the rate-limited (credential) endpoints do while the storage (Redis) cannot be "
        "reached: deny answers 503 with Retry-After (no unlimited guessing); allow serves them, "
        "counted in each process's memory until the storage is back. Either way a warning is "
        "logged and idp_dependency_errors_total rises.",
        "deny",
    )
    login_per_ip: str = doc(
        "Password submissions per client IP (Flask-Limiter syntax, limits separated by ';').",
        "10 per minute; 100 per hour",
    )
    second_factor_per_ip: str = doc("Second-factor code submissions per client IP.", "10 per minute; 100 per hour")
    forgot_password_per_ip: str = doc("Forgot-password requests per client IP.", "5 per minute; 30 per hour")
    email_code_per_ip: str = doc("Requests to email a sign-in code, per client IP.", "5 per minute; 30 per hour")
    activation_per_ip: str = doc(
        "Self-activation submissions (membership number, NIK and birth date; the new account; "
        "mailing the link again) per client IP.",
        "5 per minute; 30 per hour",
    )
    token_per_client: str = doc(
        "Token endpoint requests per client, counted only once the client has authenticated (a "
        "public client, which anyone can name, per client and address), so requests that merely "
        "name a client cannot use up its budget. A national program's portal is one client for "
        "every member: 6000 a minute is 100 a second, above what a few cores sign in "
        "(docs/performance.md); raise it with the fleet.",
        "6000 per minute",
    )
    client_auth_failures_per_ip: str = doc(
        "Failed client authentications at the token endpoint per client IP; over it the "
        "endpoint answers 429 with Retry-After before checking anything.",
        "20 per minute; 200 per hour",
    )
    client_auth_failures_per_ip_and_client: str = doc(
        "Failed client authentications per client IP and claimed client id.", "10 per minute; 50 per hour"
    )
    authorize_per_ip: str = doc(
        "Anonymous page requests that do work per client IP: /authorize, the held sign-in "
        "(/interaction/…) and its resumption. Generous: many members share one address "
        "behind a carrier's NAT.",
        "300 per minute; 3000 per hour",
    )
    links_per_ip: str = doc(
        "Opening mailed links (password reset, activation, email confirmation) per client IP, "
        "so link tokens cannot be guessed in bulk.",
        "20 per minute; 200 per hour",
    )
    email_per_identifier: str = doc(
        "Mail anyone can cause: password-reset links per account, and verification links and "
        "in-use notices per address. Extra mails are dropped silently (the page answers the "
        "same), so the limit cannot be used to learn or flood an inbox. Each purpose counts "
        "apart; security notices are never dropped.",
        "5 per hour",
    )
    email_codes_per_member: str = doc(
        "Emailed sign-in codes per account. Only asked for after the right password, so it "
        "cannot be used up by someone without it; counted apart from the reset links.",
        "10 per hour",
    )


@dataclass(frozen=True)
class MailSettings:
    backend: str = doc(
        "outbox: write each message to outbox_dir (development); smtp: send through smtp_host.",
        "outbox",
    )
    from_address: str = doc("The From header of every message.", "Member sign-in <no-reply@localhost>")
    outbox_dir: str = doc("Folder for the outbox backend. Empty means <instance_path>/outbox.", "")
    smtp_host: str = doc("SMTP server host name.", "localhost")
    smtp_port: int = doc("SMTP server port (587 for STARTTLS, 465 for TLS).", 587)
    smtp_security: str = doc("starttls, tls (implicit, port 465) or none (only for a local relay).", "starttls")
    smtp_username: str = doc("SMTP user name; empty means no login.", "")
    smtp_password: str = doc("SMTP password (prefer the environment variable to the file).", "")
    smtp_timeout_seconds: int = doc("How long to wait for the SMTP server.", 10)


@dataclass(frozen=True)
class OutboundSettings:
    worker: bool = doc(
        "Run a thread in every server process that does queued work (mail, and forgot-password "
        "requests, whose work must not show in the answer). Off only where something else runs "
        "the queue.",
        True,
    )
    poll_seconds: int = doc(
        "How often an idle worker looks for work queued by other processes or due for a retry "
        "(work queued in its own process wakes it at once).",
        2,
    )
    max_attempts: int = doc("Tries of one job (a mail, say) before it is given up, logged and audited.", 8)
    retry_base_seconds: int = doc(
        "Wait before the second try; each further try waits twice as long, up to retry_max_seconds.", 15
    )
    retry_max_seconds: int = doc("The longest wait between two tries.", 3600)
    lease_seconds: int = doc(
        "How long a process may work on a job before another may take it over (a process that "
        "died mid-job lets it go).",
        120,
    )


# A body that most JSON gateways take as is; each string value may name {to}, {text} and
# {sender}, replaced after the template is parsed (so no value can change the JSON's shape).
DEFAULT_SMS_BODY_TEMPLATE = '{"to": "{to}", "from": "{sender}", "text": "{text}"}'


@dataclass(frozen=True)
class SmsSettings:
    backend: str = doc(
        "How text messages (SMS sign-in codes, number verification) are sent: outbox writes each "
        "to outbox_dir (development, tests); http posts JSON to http_url (a gateway); none: no "
        "SMS (the SMS factor and number verification are not offered). Empty: outbox in "
        "development mode, none otherwise.",
        "",
    )
    outbox_dir: str = doc("Folder for the outbox backend. Empty means <instance_path>/sms-outbox.", "")
    http_url: str = doc("The gateway's https URL that takes one message per POST (backend http).", "")
    http_auth: str = doc(
        "How idp authenticates to the gateway: bearer (Authorization: Bearer http_token), basic "
        "(http_username and http_password) or none.",
        "bearer",
    )
    http_token: str = doc("The bearer token (prefer the environment variable to the file).", "")
    http_username: str = doc("User name for basic authentication.", "")
    http_password: str = doc("Password for basic authentication (prefer the environment variable).", "")
    http_body_template: str = doc(
        "The JSON body of each POST; in its string values {to} (E.164), {text} and {sender} are "
        "replaced, so the body fits the gateway (see docs/sms.md for common providers).",
        DEFAULT_SMS_BODY_TEMPLATE,
    )
    http_timeout_seconds: int = doc(
        "How long to wait for the gateway (1 to 30); a gateway that does not answer in time is "
        "tried again later through the queue.",
        10,
    )
    sender: str = doc("The sender id or number the gateway sends from, for {sender}; empty if it needs none.", "")
    acr: str = doc(
        "The level a password and an SMS code reach: urn:idp:acr:pwd+email (as emailed codes: "
        "NIST SP 800-63B calls SMS a restricted authenticator) or urn:idp:acr:mfa (as an app).",
        "urn:idp:acr:pwd+email",
    )
    code_ttl_seconds: int = doc("How long an SMS code works (60 to 600).", 300)
    code_max_tries: int = doc("Wrong entries allowed for one SMS code before it is void (1 to 10).", 5)
    code_resend_seconds: int = doc("The shortest time between two SMS codes for one sign-in or check.", 60)
    sign_in_per_number: str = doc(
        "SMS sign-in codes sent to one number (only ever asked for after the right password, or "
        "by the member signed in), counted apart from every other purpose.",
        "10 per hour; 30 per day",
    )
    verification_per_number: str = doc(
        "Codes sent to one number to verify it (asked for by the signed-in member, or at "
        "activation after the record check), counted apart from sign-in codes.",
        "5 per hour; 10 per day",
    )


@dataclass(frozen=True)
class RetentionSettings:
    audit_days: int = doc("How long audit events are kept (days); older ones are deleted by the purge.", 400)
    finished_jobs_days: int = doc("How long finished queue jobs (mail sent or given up) are kept (days).", 7)
    purge_interval_seconds: int = doc(
        "How often each server process deletes what is no longer kept (expired interactions, "
        "sessions, codes, links, lockout counters of unknown identifiers, old audit events and "
        "jobs; `idp db purge` does the same once). 0: never in the server (run the command "
        "from a timer instead).",
        3600,
    )


@dataclass(frozen=True)
class I18nSettings:
    default_locale: str = doc("Language of the pages when the browser asks for none we have.", "id")
    supported_locales: tuple[str, ...] = doc("Languages the pages are offered in.", factory=lambda: ("id", "en"))
    timezone: str = doc(
        "Time zone for times shown to members (e.g. until when a lock lasts) until a member "
        "chooses WIB, WITA or WIT on the profile page; also for times in mails to them.",
        "Asia/Jakarta",
    )


@dataclass(frozen=True)
class UiSettings:
    brand_name: str = doc(
        "The program's name, shown with the logo in the header and the title of every hosted "
        'page, so members know whose page they are on. Empty: the words "Member account" '
        "in the page's language.",
        "",
    )
    logo_path: str = doc(
        "The logo beside the name: a file under the static/ folder of the installation, as a "
        "relative path (an SVG or PNG about 32 px high). Empty: no logo.",
        "logo.svg",
    )
    support_url: str = doc(
        "Where members get help (https:, http:, mailto: or tel:), linked from the footer of "
        "every hosted page. Empty: no link.",
        "",
    )


@dataclass(frozen=True)
class ServeSettings:
    """How `idp serve` runs gunicorn. Its command-line options override these."""

    bind: str = doc("Where `idp serve` listens: HOST:PORT, [IPv6]:PORT, or unix:/path/to/socket.", "127.0.0.1:5000")
    workers: int = doc(
        "Worker processes. More than one needs ratelimit.storage_uri on Redis (each process would "
        "count alone in memory), unless rate limits are off.",
        1,
    )
    threads: int = doc(
        "Threads per worker process: 1 is gunicorn's sync worker, more its gthread worker. Sync "
        "spends the least CPU and memory per sign-in (docs/performance.md): add processes, not "
        "threads, and keep a buffering proxy (nginx) in front, since a sync worker serves one "
        "connection at a time.",
        1,
    )
    timeout_seconds: int = doc("A worker silent for this long (a request stuck) is killed and replaced.", 30)
    graceful_timeout_seconds: int = doc(
        "After SIGTERM, how long workers may finish the requests in progress before they are killed.", 30
    )
    keepalive_seconds: int = doc("How long an idle keep-alive connection (from the reverse proxy) is kept open.", 5)
    certfile: str = doc(
        "PEM certificate chain for serving https directly, without a TLS-terminating proxy. "
        "Empty: plain http. Needs keyfile.",
        "",
    )
    keyfile: str = doc("PEM private key of certfile. Empty: plain http. Needs certfile.", "")


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = doc("Serve Prometheus metrics at /metrics.", True)
    bearer_token: str = doc(
        "When set, /metrics answers only requests with `Authorization: Bearer <token>` (at least "
        "32 characters; compared in constant time). Empty: anyone who reaches the process may read them.",
        "",
    )


@dataclass(frozen=True)
class LoggingSettings:
    level: str = doc("Log level: DEBUG, INFO, WARNING or ERROR.", "INFO")


@dataclass(frozen=True)
class LogoutSettings:
    backchannel_timeout_seconds: int = doc(
        "How long one back-channel logout delivery waits for a relying party (to connect, and "
        "between bytes of its answer) before the try counts as failed and is retried later. "
        "Keep it well below outbound.lease_seconds.",
        5,
    )
    logout_token_ttl_seconds: int = doc(
        "Lifetime of a back-channel logout token (its exp); each try signs a new one.", 120
    )


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    tokens: TokenSettings = field(default_factory=TokenSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    keys: KeySettings = field(default_factory=KeySettings)
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    recovery: RecoverySettings = field(default_factory=RecoverySettings)
    activation: ActivationSettings = field(default_factory=ActivationSettings)
    lockout: LockoutSettings = field(default_factory=LockoutSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    ratelimit: RateLimitSettings = field(default_factory=RateLimitSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    i18n: I18nSettings = field(default_factory=I18nSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logout: LogoutSettings = field(default_factory=LogoutSettings)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{Path(self.server.instance_path) / 'idp.sqlite3'}"

    @property
    def issuer_is_https(self) -> bool:
        return urlsplit(self.server.issuer).scheme == "https"


SECTIONS: dict[str, type] = {f.name: typing.get_type_hints(Settings)[f.name] for f in dataclasses.fields(Settings)}


def documented_keys() -> dict[str, list[str]]:
    """Every section and key that exists, for the check on config.example.toml."""
    return {section: [f.name for f in dataclasses.fields(cls)] for section, cls in SECTIONS.items()}


def load_settings(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and ``overrides``."""
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}

    config_path = environ.get("IDP_CONFIG")
    if config_path:
        _merge(raw, _read_toml(Path(config_path)), source=config_path)
    _merge(raw, _from_environment(environ), source="environment")
    if overrides:
        _merge(raw, overrides, source="overrides")

    sections = {}
    for section, cls in SECTIONS.items():
        sections[section] = _build_section(section, cls, raw[section])
    settings = Settings(**sections)
    _validate(settings)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"IDP_CONFIG: file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"IDP_CONFIG: {path} is not valid TOML: {error}") from None


def _from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        found.setdefault(section.lower(), {})[key.lower()] = value
    return found


# Settings that no longer exist, and where their value lives now: a configuration that still
# has one stops start-up saying so, rather than being silently ignored.
MOVED_SETTINGS = {
    ("security", "client_required_acr"): (
        "a client's required level is now on the client record: "
        "run `idp clients update CLIENT_ID --require-acr ACR` for each entry and remove this key"
    ),
}


def _merge(raw: dict[str, dict[str, Any]], layer: Mapping[str, Any], source: str) -> None:
    for section, values in layer.items():
        if section not in SECTIONS:
            raise ConfigError(f"[{section}] ({source}): unknown section")
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}] ({source}): must be a table of keys")
        known = {f.name for f in dataclasses.fields(SECTIONS[section])}
        for key, value in values.items():
            if (section, key) in MOVED_SETTINGS:
                raise ConfigError(f"{section}.{key}: {MOVED_SETTINGS[(section, key)]} (set in {source})")
            if key not in known:
                raise ConfigError(f"{section}.{key} ({source}): unknown setting")
            raw[section][key] = value


def _build_section(section: str, cls: type, values: dict[str, Any]):
    hints = typing.get_type_hints(cls)
    converted = {key: _convert(f"{section}.{key}", hints[key], value) for key, value in values.items()}
    return cls(**converted)


def _convert(name: str, expected: Any, value: Any) -> Any:
    """Coerce a TOML or environment value to the field's type, or say what is wrong."""
    origin = typing.get_origin(expected)
    if expected is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if expected is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{name}: expected a whole number, got {value!r}")
    if expected is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ConfigError(f"{name}: expected a list of strings, got {value!r}")
    if isinstance(expected, types.UnionType):  # pragma: no cover - no such field yet
        raise ConfigError(f"{name}: unsupported type")
    raise ConfigError(f"{name}: unsupported type {expected!r}")  # pragma: no cover


def _validate(settings: Settings) -> None:
    server = settings.server
    issuer = urlsplit(server.issuer)
    if issuer.scheme not in {"http", "https"} or not issuer.netloc:
        raise ConfigError(f"server.issuer: {server.issuer!r} is not an absolute http(s) URL")
    if issuer.query or issuer.fragment:
        raise ConfigError("server.issuer: must not have a query or fragment")
    if server.issuer.endswith("/"):
        raise ConfigError("server.issuer: must not end with a slash (it is compared exactly)")
    if not server.development:
        problems = _production_problems(settings)
        if problems:
            raise ConfigError("; ".join(problems))
    if server.secret_key and len(server.secret_key) < 32:
        raise ConfigError(SHORT_SECRET_KEY)
    if not 1 <= settings.database.connect_timeout_seconds <= 60:
        raise ConfigError("database.connect_timeout_seconds: must be between 1 and 60")
    if server.trusted_proxies < 0:
        raise ConfigError("server.trusted_proxies: must be 0 or more")
    if not Path(server.instance_path).is_absolute():
        # Flask refuses a relative instance path with a traceback; say so in one line instead.
        raise ConfigError(f"server.instance_path: {server.instance_path!r} is not an absolute path")

    tokens = settings.tokens
    for name in ("authorization_code_ttl_seconds", "access_token_ttl_seconds", "id_token_ttl_seconds"):
        if getattr(tokens, name) <= 0:
            raise ConfigError(f"tokens.{name}: must be more than 0")
    if tokens.authorization_code_ttl_seconds > 600:
        raise ConfigError("tokens.authorization_code_ttl_seconds: at most 600 (RFC 6749 §4.1.2)")
    if tokens.default_id_token_signing_alg not in {"RS256", "ES256"}:
        raise ConfigError("tokens.default_id_token_signing_alg: must be RS256 or ES256")
    if not tokens.access_token_audience:
        raise ConfigError("tokens.access_token_audience: must not be empty")
    if tokens.access_token_signing_alg not in {"RS256", "ES256"}:
        raise ConfigError("tokens.access_token_signing_alg: must be RS256 or ES256")
    for name in (
        "refresh_token_idle_seconds",
        "refresh_token_absolute_seconds",
        "client_assertion_max_lifetime_seconds",
        "jwks_uri_timeout_seconds",
        "jwks_uri_max_bytes",
    ):
        if getattr(tokens, name) <= 0:
            raise ConfigError(f"tokens.{name}: must be more than 0")
    if tokens.refresh_token_absolute_seconds < tokens.refresh_token_idle_seconds:
        raise ConfigError("tokens.refresh_token_absolute_seconds: must be at least refresh_token_idle_seconds")
    if tokens.jwks_uri_cache_seconds < 0 or settings.keys.publish_ahead_seconds < 0:
        raise ConfigError("tokens.jwks_uri_cache_seconds and keys.publish_ahead_seconds: must be 0 or more")
    if not 0 <= settings.keys.cache_seconds <= 60:
        raise ConfigError("keys.cache_seconds: must be between 0 and 60")

    session = settings.session
    for name in ("idle_timeout_seconds", "absolute_timeout_seconds", "interaction_ttl_seconds"):
        if getattr(session, name) <= 0:
            raise ConfigError(f"session.{name}: must be more than 0")

    if settings.keys.retired_key_publish_seconds < max(tokens.access_token_ttl_seconds, tokens.id_token_ttl_seconds):
        raise ConfigError("keys.retired_key_publish_seconds: must be at least the longest token lifetime")

    i18n = settings.i18n
    if not i18n.supported_locales:
        raise ConfigError("i18n.supported_locales: must name at least one language")
    if i18n.default_locale not in i18n.supported_locales:
        raise ConfigError("i18n.default_locale: must be one of i18n.supported_locales")

    if not 8 <= settings.passwords.min_length <= 64:
        raise ConfigError("passwords.min_length: must be between 8 and 64")
    if not 0 <= settings.passwords.min_strength_score <= 4:
        raise ConfigError("passwords.min_strength_score: must be between 0 and 4")
    short = [word for word in settings.passwords.blocklist_words if len(word.strip()) < 3]
    if short:
        raise ConfigError(f"passwords.blocklist_words: {short[0]!r} is shorter than 3 characters")
    if not 60 <= settings.recovery.reset_token_ttl_seconds <= 86400:
        raise ConfigError("recovery.reset_token_ttl_seconds: must be between 60 and 86400")
    if not 300 <= settings.activation.verification_ttl_seconds <= 7 * 86400:
        raise ConfigError("activation.verification_ttl_seconds: must be between 300 and 604800")

    lockout = settings.lockout
    for name in ("max_failures", "window_seconds", "base_duration_seconds", "max_duration_seconds"):
        if getattr(lockout, name) <= 0:
            raise ConfigError(f"lockout.{name}: must be more than 0")
    if lockout.max_duration_seconds < lockout.base_duration_seconds:
        raise ConfigError("lockout.max_duration_seconds: must be at least base_duration_seconds")
    if lockout.permanent_after < 0:
        raise ConfigError("lockout.permanent_after: must be 0 (off) or more")

    _validate_security(settings.security)
    _validate_rate_limits(settings.ratelimit)
    _validate_serve(settings.serve)
    problem = shared_rate_limits_problem(settings.serve.workers, settings.ratelimit)
    if problem:
        raise ConfigError(problem)
    if settings.metrics.bearer_token and len(settings.metrics.bearer_token) < 32:
        raise ConfigError("metrics.bearer_token: must be at least 32 characters")
    if not 1 <= settings.logout.backchannel_timeout_seconds < settings.outbound.lease_seconds:
        raise ConfigError("logout.backchannel_timeout_seconds: must be at least 1 and below outbound.lease_seconds")
    if not 10 <= settings.logout.logout_token_ttl_seconds <= 3600:
        raise ConfigError("logout.logout_token_ttl_seconds: must be between 10 and 3600")

    mail = settings.mail
    if mail.backend not in {"outbox", "smtp"}:
        raise ConfigError("mail.backend: must be outbox or smtp")
    if mail.smtp_security not in {"starttls", "tls", "none"}:
        raise ConfigError("mail.smtp_security: must be starttls, tls or none")
    if not 0 < mail.smtp_port < 65536:
        raise ConfigError("mail.smtp_port: must be a port number")
    if "@" not in mail.from_address:
        raise ConfigError("mail.from_address: must contain an email address")
    outbound = settings.outbound
    for name in ("poll_seconds", "max_attempts", "retry_base_seconds", "retry_max_seconds", "lease_seconds"):
        if getattr(outbound, name) <= 0:
            raise ConfigError(f"outbound.{name}: must be more than 0")
    if outbound.retry_max_seconds < outbound.retry_base_seconds:
        raise ConfigError("outbound.retry_max_seconds: must be at least retry_base_seconds")

    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(i18n.timezone)
    except Exception:
        raise ConfigError(f"i18n.timezone: unknown time zone {i18n.timezone!r}") from None

    _validate_ui(settings.ui)
    _validate_password_hash(settings.passwords)
    _validate_sms(settings.sms, settings.server.development)
    retention = settings.retention
    if retention.audit_days < 1 or retention.finished_jobs_days < 1:
        raise ConfigError("retention.audit_days and retention.finished_jobs_days: must be at least 1")
    if retention.purge_interval_seconds < 0:
        raise ConfigError("retention.purge_interval_seconds: must be 0 (off) or more")

    if settings.logging.level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("logging.level: must be DEBUG, INFO, WARNING or ERROR")


SHORT_SECRET_KEY = "server.secret_key: must be at least 32 characters"


# OWASP Password Storage Cheat Sheet, argon2id: m=47104 t=1, 19456/2, 12288/3, 9216/4, 7168/5
# (KiB, passes), all meant as equal in strength. Below them only in development (tests).
MIN_PRODUCTION_HASH_MEMORY_KIB = 7168
MIN_PRODUCTION_HASH_WORK = 7168 * 5


def _production_problems(settings: Settings) -> list[str]:
    """Everything production mode lacks, so that a server started with only
    ``server.development = false`` (the Docker image) names all of it in one line."""
    problems = []
    if urlsplit(settings.server.issuer).scheme != "https":
        problems.append("server.issuer: must use https outside development mode")
    if not settings.server.secret_key:
        problems.append("server.secret_key: required outside development mode")
    elif len(settings.server.secret_key) < 32:
        problems.append(SHORT_SECRET_KEY)
    if not settings.database.url:
        problems.append("database.url: required outside development mode (use PostgreSQL)")
    if settings.mail.backend != "smtp":
        problems.append("mail.backend: must be smtp outside development mode")
    if settings.sms.backend == "outbox":
        problems.append("sms.backend: must be http or none outside development mode")
    passwords = settings.passwords
    if (
        passwords.hash_memory_kib < MIN_PRODUCTION_HASH_MEMORY_KIB
        or passwords.hash_memory_kib * passwords.hash_time_cost < MIN_PRODUCTION_HASH_WORK
    ):
        problems.append(
            "passwords.hash_memory_kib and hash_time_cost: below OWASP's argon2id floor outside development "
            f"mode (memory at least {MIN_PRODUCTION_HASH_MEMORY_KIB} KiB, memory x time at least "
            f"{MIN_PRODUCTION_HASH_WORK})"
        )
    return problems


def _validate_password_hash(passwords: PasswordSettings) -> None:
    for name in ("hash_time_cost", "hash_parallelism"):
        if not 1 <= getattr(passwords, name) <= 16:
            raise ConfigError(f"passwords.{name}: must be between 1 and 16")
    # Argon2's own lower bound is 8 KiB per lane; 4 GiB is far beyond any sensible server.
    if not 8 * passwords.hash_parallelism <= passwords.hash_memory_kib <= 4 * 1024 * 1024:
        raise ConfigError("passwords.hash_memory_kib: must be between 8 x hash_parallelism and 4194304")


def _validate_ui(ui: UiSettings) -> None:
    if ui.logo_path:
        logo = Path(ui.logo_path)
        if logo.is_absolute() or ".." in logo.parts:
            raise ConfigError(f"ui.logo_path: {ui.logo_path!r} must be a relative path under static/")
        if not (RESOURCE_ROOT / "static" / logo).is_file():
            raise ConfigError(f"ui.logo_path: static/{ui.logo_path} does not exist")
    if ui.support_url:
        support = urlsplit(ui.support_url)
        if support.scheme not in {"https", "http", "mailto", "tel"} or not (support.netloc or support.path):
            raise ConfigError(f"ui.support_url: {ui.support_url!r} is not an https:, http:, mailto: or tel: address")


def _validate_security(security: SecuritySettings) -> None:
    if not 0 <= security.remember_browser_days <= 365:
        raise ConfigError("security.remember_browser_days: must be between 0 (off) and 365")
    if not 1 <= security.fresh_check_minutes <= 120:
        raise ConfigError("security.fresh_check_minutes: must be between 1 and 120")
    name = security.totp_issuer_name
    if not name.strip() or ":" in name or len(name) > 60:
        raise ConfigError("security.totp_issuer_name: must be 1 to 60 characters without a colon")
    if not 60 <= security.email_code_ttl_seconds <= 600:
        raise ConfigError("security.email_code_ttl_seconds: must be between 60 and 600")
    if not 1 <= security.email_code_max_tries <= 10:
        raise ConfigError("security.email_code_max_tries: must be between 1 and 10")
    if not 10 <= security.email_code_resend_seconds <= security.email_code_ttl_seconds:
        raise ConfigError("security.email_code_resend_seconds: must be between 10 and email_code_ttl_seconds")


def shared_rate_limits_problem(workers: int, ratelimit: RateLimitSettings) -> str | None:
    """Several worker processes must count rate limits (and mail budgets) in one shared
    storage: with memory:// each would count alone, multiplying every limit by their number."""
    if workers > 1 and ratelimit.enabled and ratelimit.storage_uri.startswith("memory://"):
        return (
            f"ratelimit.storage_uri: {workers} worker processes cannot share memory:// counts; "
            "use a redis:// URL, or serve.workers = 1"
        )
    return None


def _validate_serve(serve: ServeSettings) -> None:
    bind = serve.bind
    if bind.startswith("unix:"):
        if not bind[len("unix:") :]:
            raise ConfigError("serve.bind: unix: needs a socket path")
    else:
        host, _, port = bind.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"serve.bind: {bind!r} is not HOST:PORT or unix:/path")
    if not 1 <= serve.workers <= 64:
        raise ConfigError("serve.workers: must be between 1 and 64")
    if not 1 <= serve.threads <= 64:
        raise ConfigError("serve.threads: must be between 1 and 64")
    for name in ("timeout_seconds", "graceful_timeout_seconds", "keepalive_seconds"):
        if getattr(serve, name) <= 0:
            raise ConfigError(f"serve.{name}: must be more than 0")
    if bool(serve.certfile) != bool(serve.keyfile):
        raise ConfigError("serve.certfile and serve.keyfile: set both (https) or neither (http)")


def _validate_rate_limits(ratelimit: RateLimitSettings) -> None:

    if ratelimit.on_storage_error not in {"deny", "allow"}:
        raise ConfigError("ratelimit.on_storage_error: must be deny or allow")
    scheme = ratelimit.storage_uri.split("://", 1)[0]
    if scheme not in {"memory", "redis", "rediss", "redis+sentinel", "redis+cluster"}:
        raise ConfigError("ratelimit.storage_uri: use memory:// or a redis:// URL")
    for name in (
        "login_per_ip",
        "second_factor_per_ip",
        "forgot_password_per_ip",
        "email_code_per_ip",
        "activation_per_ip",
        "token_per_client",
        "client_auth_failures_per_ip",
        "client_auth_failures_per_ip_and_client",
        "authorize_per_ip",
        "links_per_ip",
        "email_per_identifier",
        "email_codes_per_member",
    ):
        _check_rate_limit(f"ratelimit.{name}", getattr(ratelimit, name))


SMS_BACKENDS = ("outbox", "http", "none")
SMS_LEVELS = ("urn:idp:acr:pwd+email", "urn:idp:acr:mfa")


def sms_backend(sms: SmsSettings, development: bool) -> str:
    """The backend in force: the configured one, or (empty) outbox in development, else none."""
    return sms.backend or ("outbox" if development else "none")


def _check_rate_limit(name: str, value: str) -> None:
    from limits import parse_many

    try:
        if not parse_many(value):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a rate limit like '10 per minute'") from None


def _validate_sms(sms: SmsSettings, development: bool) -> None:
    if sms.backend and sms.backend not in SMS_BACKENDS:
        raise ConfigError("sms.backend: must be outbox, http or none (or empty)")
    if sms.acr not in SMS_LEVELS:
        raise ConfigError(f"sms.acr: must be one of {', '.join(SMS_LEVELS)}")
    if sms.http_auth not in {"bearer", "basic", "none"}:
        raise ConfigError("sms.http_auth: must be bearer, basic or none")
    if not 1 <= sms.http_timeout_seconds <= 30:
        raise ConfigError("sms.http_timeout_seconds: must be between 1 and 30")
    if not 60 <= sms.code_ttl_seconds <= 600:
        raise ConfigError("sms.code_ttl_seconds: must be between 60 and 600")
    if not 1 <= sms.code_max_tries <= 10:
        raise ConfigError("sms.code_max_tries: must be between 1 and 10")
    if not 10 <= sms.code_resend_seconds <= sms.code_ttl_seconds:
        raise ConfigError("sms.code_resend_seconds: must be between 10 and code_ttl_seconds")
    for name in ("sign_in_per_number", "verification_per_number"):
        _check_rate_limit(f"sms.{name}", getattr(sms, name))
    try:
        body = json.loads(sms.http_body_template)
    except ValueError:
        raise ConfigError("sms.http_body_template: is not JSON") from None
    if not isinstance(body, dict) or "{text}" not in sms.http_body_template or "{to}" not in sms.http_body_template:
        raise ConfigError("sms.http_body_template: must be a JSON object naming {to} and {text}")
    if sms_backend(sms, development) != "http":
        return
    url = urlsplit(sms.http_url)
    if url.scheme not in {"https", "http"} or not url.netloc:
        raise ConfigError("sms.http_url: must be an absolute https URL when sms.backend is http")
    if url.scheme == "http" and not development:
        raise ConfigError("sms.http_url: must use https outside development mode")
    if sms.http_auth == "bearer" and not sms.http_token:
        raise ConfigError("sms.http_token: required when sms.http_auth is bearer")
    if sms.http_auth == "basic" and not (sms.http_username and sms.http_password):
        raise ConfigError("sms.http_username and sms.http_password: required when sms.http_auth is basic")

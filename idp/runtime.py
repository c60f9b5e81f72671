"""What ``create_app`` builds once per app and the rest of idp uses: the settings, the keys that
protect secrets at rest, the mailer and the authorization server. One typed object per app,
found with ``runtime()``; nothing else reads ``app.extensions`` by string."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app

from idp.security.crypto import SecretBox, derive_key
from idp.settings import Settings

EXTENSION_NAME = "idp"

# Purposes the keys below are derived for (HKDF info): a value encrypted for one purpose
# cannot be decrypted as another. Changing a purpose makes what it protects unreadable.
SIGNING_KEY_PURPOSE = "signing-keys"
TOTP_SEED_PURPOSE = "totp-seed"
EMAIL_CODE_KEY_PURPOSE = "email-code"
OUTBOUND_PAYLOAD_PURPOSE = "outbound-jobs"


@dataclass(frozen=True)
class SecretsAtRest:
    """Keys derived from ``server.secret_key`` for what idp stores encrypted or keyed."""

    signing_keys: SecretBox  # private signing keys (AES-GCM)
    totp_seeds: SecretBox  # authenticator-app seeds (AES-GCM)
    code_digest_key: bytes  # HMAC key of the digests of sent codes (email, SMS)
    outbound_payloads: SecretBox  # the input of queued jobs (AES-GCM)

    @classmethod
    def from_secret(cls, secret: str) -> SecretsAtRest:
        return cls(
            signing_keys=SecretBox(secret, SIGNING_KEY_PURPOSE),
            totp_seeds=SecretBox(secret, TOTP_SEED_PURPOSE),
            code_digest_key=derive_key(secret, EMAIL_CODE_KEY_PURPOSE),
            outbound_payloads=SecretBox(secret, OUTBOUND_PAYLOAD_PURPOSE),
        )


class Mailer(Protocol):
    """idp.services.mailer's OutboxMailer or SmtpMailer."""

    def send(self, email: Any) -> None: ...


class SmsGateway(Protocol):
    """idp.services.sms's OutboxSmsGateway or HttpSmsGateway."""

    def send(self, message: Any) -> None: ...

    def describe(self) -> str: ...


class Waker(Protocol):
    """idp.services.outbound.Worker: woken when work is queued in this process."""

    def wake(self) -> None: ...

    def stop(self, timeout: float = 5) -> None: ...


class MailBudget(Protocol):
    """idp.services.mail_budget.MailBudget (named here only as what it does: the services it
    lives among use this module, and dependencies point one way)."""

    def allow(self, recipient_key: str) -> bool: ...


class TextBudget(Protocol):
    """idp.services.text_messages.SmsBudget: texts per number and purpose."""

    def allow(self, purpose: str, number: str) -> bool: ...


@dataclass
class Runtime:
    settings: Settings
    secrets: SecretsAtRest
    mailer: Mailer
    mail_budget: MailBudget | None = None
    # None when SMS is off (sms.backend none); the budget counts texts per number and purpose.
    sms_gateway: SmsGateway | None = None
    sms_budget: TextBudget | None = None
    outbound_worker: Waker | None = None
    # idp.oauth.server.IdpAuthorizationServer, set by its init_app (which imports this module,
    # so this one names it only in words: dependencies point one way).
    authorization_server: Any = None


def install(app: Flask, runtime_: Runtime) -> None:
    app.extensions[EXTENSION_NAME] = runtime_


def runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions[EXTENSION_NAME]


def settings(app: Flask | None = None) -> Settings:
    """The app's settings (a frozen dataclass per TOML section)."""
    return runtime(app).settings

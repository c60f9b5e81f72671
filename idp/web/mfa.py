"""Second-factor glue for the hosted pages: settings and keys, which checks a sign-in still
needs, the QR code, and the mails (sign-in codes, factor changes, second-factor locks)."""

from __future__ import annotations

from dataclasses import dataclass

import segno
from flask import current_app
from sqlalchemy.orm import Session

from idp.models import Interaction, Member
from idp.models.authentication import (
    ACR_PASSWORD,
    ACR_PASSWORD_EMAIL_CODE,
    acr_satisfies,
    stronger_acr,
)
from idp.models.factors import FACTOR_EMAIL, FACTOR_TOTP
from idp.services import notifications
from idp.services import second_factor as factors
from idp.services.lockout import LockStarted
from idp.web.lockout import lockout_policy
from idp.web.origin import request_origin
from idp.web.ratelimits import allow_mail_to
from idp.web.remember import is_remembered


def security_settings():
    return current_app.extensions["idp.settings"].security


def totp_box():
    return current_app.extensions["idp.totp_box"]


def code_context() -> factors.CodeContext:
    return factors.CodeContext(
        box=totp_box(),
        email_code_key=current_app.extensions["idp.email_code_key"],
        email_code_max_tries=security_settings().email_code_max_tries,
        policy=lockout_policy(),
    )


def policy_floor() -> str | None:
    """security.require_mfa: any second factor (an emailed code is the weakest) for everyone."""
    return ACR_PASSWORD_EMAIL_CODE if security_settings().require_mfa else None


def target_acr(interaction: Interaction) -> str | None:
    """The level this interaction's sign-in must reach: the relying party's, or the policy's."""
    return stronger_acr(interaction.required_acr, policy_floor())


def challenge_due(db: Session, member: Member, interaction: Interaction) -> tuple[bool, bool]:
    """After a right password: (whether a second factor is due, whether a remembered browser
    lets this sign-in skip it). A relying party asking for more than a password always gets a
    real check; a remembered browser satisfies the member's own factor and the policy."""
    kinds = factors.active_kinds(db, member.id)
    if not acr_satisfies(ACR_PASSWORD, interaction.required_acr):
        return True, False
    if not kinds:
        return security_settings().require_mfa, False
    if is_remembered(member):
        return False, True
    return True, False


@dataclass(frozen=True)
class ChallengePlan:
    # Methods that, passed, complete the step at the target level (strongest first).
    methods: list[str]
    # The member's email factor, offered only to prove it is them before setting up an app
    # (the target is above what an emailed code reaches and there is no app yet).
    email_before_enrolment: bool
    # No usable factor at all: the member sets one up now (after the password alone).
    must_enrol: bool


def plan(db: Session, member: Member, target: str | None) -> ChallengePlan:
    usable = factors.usable_methods(db, member)
    email_completes = acr_satisfies(ACR_PASSWORD_EMAIL_CODE, target)
    methods = [m for m in usable if m != factors.METHOD_EMAIL or email_completes]
    email_first = factors.METHOD_EMAIL in usable and not email_completes and factors.METHOD_TOTP not in usable
    return ChallengePlan(
        methods=methods,
        email_before_enrolment=email_first,
        must_enrol=not usable,
    )


def enrol_choices(member: Member, target: str | None, kinds: set[str]) -> dict[str, bool]:
    """Which factors the enrolment page offers for this target."""
    return {
        FACTOR_TOTP: True,
        FACTOR_EMAIL: FACTOR_EMAIL not in kinds
        and factors.email_factor_possible(member)
        and acr_satisfies(ACR_PASSWORD_EMAIL_CODE, target),
    }


def send_email_code(db: Session, member: Member, transaction: str, requested_by: str | None) -> None:
    """Issue a code for the transaction and mail it (raises EmailCodeTooSoon). Over the
    per-recipient mail limit the mail is dropped silently, like every throttled mail."""
    settings = security_settings()
    code = factors.issue_email_code(
        db,
        member,
        transaction,
        current_app.extensions["idp.email_code_key"],
        settings.email_code_ttl_seconds,
        settings.email_code_resend_seconds,
        request_origin(),
    )
    email = notifications.email_code(member, code, requested_by, settings.email_code_ttl_seconds, request_origin())
    if email is not None and allow_mail_to(f"member:{member.id}"):
        notifications.send(email)


def notify_factor_changed(member: Member, change: str, kind: str | None) -> None:
    # Security notices have a budget of their own, so sign-in codes cannot crowd them out.
    email = notifications.factor_changed(member, change, kind, request_origin())
    if email is not None and allow_mail_to(f"member:{member.id}:notice"):
        notifications.send(email)


def notify_second_factor_lock(member: Member, started: LockStarted) -> None:
    email = notifications.second_factor_lock_notice(member, started.locked_until, request_origin())
    if email is not None and allow_mail_to(f"member:{member.id}:notice"):
        notifications.send(email)


def qr_data_uri(uri: str) -> str:
    """The QR code as an SVG data: URI for an <img>, drawn here (no external service; the CSP
    allows data: images, and an image's SVG needs no inline style on the page)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4)


def masked_email(address: str | None) -> str:
    """m•••@example.test: enough for the member to recognise the address."""
    if not address or "@" not in address:
        return ""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"

"""Assurance: which level (``acr``) a sign-in reaches, which level a request requires, whether
a second-factor challenge is due, and what the challenge offers. The one home of these rules.

Framework-free: every input is an explicit value (the level a session reached, whether a
remembered browser stood in for the factor, the factors a member has), never a Flask
session or request.

Levels, weakest first (OpenID Connect Core §2; documented in docs/tokens.md). Each level
satisfies every level before it::

    urn:idp:acr:pwd         a password
    urn:idp:acr:pwd+email   a password and a code sent by email. Its own level because
                            NIST SP 800-63B does not accept email as a strong factor.
    urn:idp:acr:mfa         a password and an authenticator app (or a recovery code)
    urn:idp:acr:phr         phishing-resistant: a passkey (WebAuthn), after a password or on
                            its own with user verification. The browser binds a passkey to
                            idp's origin, so no fake page can relay it (NIST SP 800-63B §5.2.5).

A code by SMS reaches urn:idp:acr:pwd+email unless the operator sets ``sms.acr`` to
urn:idp:acr:mfa (NIST SP 800-63B treats the phone network as a restricted authenticator).

Methods: each way of proving oneself, with the level it reaches and its ``amr`` values
(RFC 8176), in ``METHODS``. Adding a factor means adding its line there (and a level to
``LEVELS`` when it reaches a new one).

What a request requires (``Requirement``) comes from three sources:
- ``acr_values``: voluntary, in order of preference; the first known value is the target;
- the ``claims`` parameter's ``id_token.acr``: essential (a floor that is never answered
  below) or voluntary (like ``acr_values``);
- the client's own registered level (always essential), and ``security.require_mfa``
  (the policy: any second factor for everyone; a remembered browser satisfies it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ACR_PASSWORD = "urn:idp:acr:pwd"
ACR_PASSWORD_EMAIL_CODE = "urn:idp:acr:pwd+email"
ACR_PASSWORD_AUTHENTICATOR = "urn:idp:acr:mfa"
ACR_PHISHING_RESISTANT = "urn:idp:acr:phr"
# What discovery advertises, weakest first.
LEVELS = (ACR_PASSWORD, ACR_PASSWORD_EMAIL_CODE, ACR_PASSWORD_AUTHENTICATOR, ACR_PHISHING_RESISTANT)
ACR_VALUES = LEVELS
# security.require_mfa asks for any second factor: the weakest level above a password.
POLICY_LEVEL = ACR_PASSWORD_EMAIL_CODE

METHOD_PASSWORD = "password"
METHOD_TOTP = "totp"
METHOD_EMAIL = "email"
METHOD_RECOVERY = "recovery"
METHOD_PASSKEY = "passkey"
# A passkey on its own (discoverable, user verified): the sign-in without a password.
METHOD_PASSKEY_SIGN_IN = "passkey_sign_in"
METHOD_SMS = "sms"


@dataclass(frozen=True)
class Method:
    """One way to prove oneself. ``factor`` is the kind of enrolled factor it uses (None for
    the password and for recovery codes, which are a fallback, not a factor of their own);
    ``several`` whether a member may enrol more than one of that kind."""

    name: str
    acr: str
    amr: tuple[str, ...]
    factor: str | None = None
    several: bool = False


# Strongest second factor first: the order the challenge page offers them in. RFC 8176 has
# no value for an emailed code: it is a one-time password sent out of band, hence "otp"; the
# difference in strength is carried by acr, which is what a relying party should check. A
# recovery code is a look-up secret, not a generated one-time password: no "otp".
# A passkey proves possession of a key ("pop"; without attestation idp cannot tell a hardware
# key, "hwk", from a synced software one, "swk") after a user-presence test ("user"); on its
# own it needs user verification (a PIN or biometric on the device), so it is "mfa" too.
METHODS: dict[str, Method] = {
    METHOD_PASSWORD: Method(METHOD_PASSWORD, ACR_PASSWORD, ("pwd",)),
    METHOD_PASSKEY: Method(
        METHOD_PASSKEY, ACR_PHISHING_RESISTANT, ("pwd", "pop", "user", "mfa"), factor="passkey", several=True
    ),
    METHOD_TOTP: Method(METHOD_TOTP, ACR_PASSWORD_AUTHENTICATOR, ("pwd", "otp", "mfa"), factor="totp", several=True),
    METHOD_EMAIL: Method(METHOD_EMAIL, ACR_PASSWORD_EMAIL_CODE, ("pwd", "otp", "mfa"), factor="email"),
    # RFC 8176 "sms": confirmation by text message. The level of an emailed code by default
    # (NIST SP 800-63B §5.1.3.3 calls the phone network "restricted"); sms.acr may raise it.
    METHOD_SMS: Method(METHOD_SMS, ACR_PASSWORD_EMAIL_CODE, ("pwd", "sms", "mfa"), factor="sms"),
    METHOD_RECOVERY: Method(METHOD_RECOVERY, ACR_PASSWORD_AUTHENTICATOR, ("pwd", "mfa")),
    METHOD_PASSKEY_SIGN_IN: Method(METHOD_PASSKEY_SIGN_IN, ACR_PHISHING_RESISTANT, ("pop", "user", "mfa")),
}
# The second factors, strongest first (what a member can enrol and be challenged with).
SECOND_FACTOR_METHODS = tuple(method for method in METHODS.values() if method.factor is not None)


# The levels an operator may give SMS codes (sms.acr).
SMS_LEVELS = (ACR_PASSWORD_EMAIL_CODE, ACR_PASSWORD_AUTHENTICATOR)


def set_sms_level(acr: str) -> None:
    """The level SMS codes reach in this installation (``sms.acr``, set by ``create_app``):
    the operator's policy, one per process like the rest of ``METHODS``."""
    if acr not in SMS_LEVELS:
        raise ValueError(f"SMS codes cannot reach {acr!r}")
    METHODS[METHOD_SMS] = dataclasses.replace(METHODS[METHOD_SMS], acr=acr)


class UnmetRequirement(Exception):
    """An essential acr names only levels idp does not have."""


# --- comparing levels -------------------------------------------------------------------------


def rank(acr: str | None) -> int:
    """The position of a level among LEVELS (weakest 0); -1 for none or an unknown value."""
    try:
        return LEVELS.index(acr) if acr else -1
    except ValueError:
        return -1


def satisfies(achieved: str | None, required: str | None) -> bool:
    """Whether a sign-in at level ``achieved`` meets ``required`` (None: no requirement).
    An unknown required value is never met."""
    if required is None:
        return True
    needed = rank(required)
    return needed >= 0 and rank(achieved) >= needed


def stronger(first: str | None, second: str | None) -> str | None:
    """The stronger of two known levels (None counts as no requirement)."""
    return first if rank(first) >= rank(second) else second


def reaches(method: str, required: str | None) -> bool:
    return satisfies(METHODS[method].acr, required)


# --- what a request requires ------------------------------------------------------------------


@dataclass(frozen=True)
class AcrClaim:
    """The ``id_token.acr`` member of the claims request parameter."""

    essential: bool
    values: tuple[str, ...]


@dataclass(frozen=True)
class Requirement:
    # The level an interactive sign-in aims for (None: any, a password included).
    target: str | None = None
    # The level below which nothing is issued, even without interaction: an essential acr
    # claim or the client's registration. Always at most ``target``.
    floor: str | None = None
    # security.require_mfa's level (None when off). A remembered browser satisfies it.
    policy: str | None = None

    @property
    def challenge_target(self) -> str | None:
        """The level the second-factor step of a sign-in must reach."""
        return stronger(self.target, self.policy)


def challenge_target(required: str | None, require_mfa: bool) -> str | None:
    """The level a held request's second-factor step must reach: the level the relying party
    requires (kept on the interaction), or the policy's when that is stronger."""
    return Requirement(target=required, policy=POLICY_LEVEL if require_mfa else None).challenge_target


def requirement(
    acr_values: Sequence[str],
    acr_claim: AcrClaim | None,
    client_required: str | None,
    require_mfa: bool,
) -> Requirement:
    """Combine the sources (see the module docstring). Raises UnmetRequirement for an
    essential acr claim naming only levels idp does not have."""
    preferred = _first_known(acr_values)
    essential = voluntary = None
    if acr_claim is not None:
        known = [value for value in acr_claim.values if value in LEVELS]
        if acr_claim.essential:
            if acr_claim.values and not known:
                raise UnmetRequirement("none of the requested acr values is supported")
            # Any listed value is acceptable: the weakest one is what must be met.
            essential = min(known, key=rank) if known else None
        else:
            voluntary = _first_known(known)
    floor = stronger(essential, client_required)
    target = stronger(stronger(preferred, voluntary), floor)
    return Requirement(target=target, floor=floor, policy=POLICY_LEVEL if require_mfa else None)


def _first_known(values: Iterable[str]) -> str | None:
    return next((value for value in values if value in LEVELS), None)


# --- a signed-in session against a requirement ------------------------------------------------


def needs_step_up(achieved: str | None, remembered: bool, required: Requirement) -> bool:
    """Whether a signed-in session must pass a second factor before this request is answered:
    its level is below the target, or below the policy's (unless a remembered browser stood
    in for the factor at sign-in)."""
    if not satisfies(achieved, required.target):
        return True
    return not satisfies(achieved, required.policy) and not remembered


def meets_floor(achieved: str | None, remembered: bool, required: Requirement) -> bool:
    """Whether the session may be answered without interaction (prompt=none) at its own
    level: acr_values is voluntary (Core §3.1.2.1), so the lower level is issued and the ID
    token says which; an essential acr, a client's registered level or the policy is never
    answered below its level."""
    policy_met = satisfies(achieved, required.policy) or remembered
    return satisfies(achieved, required.floor) and policy_met


# --- after a right password -------------------------------------------------------------------


@dataclass(frozen=True)
class AfterPassword:
    # A second factor must pass before anything is issued.
    challenge: bool
    # A remembered browser stood in for the member's own factor (and the policy).
    remembered: bool


def after_password(target: str | None, enrolled: set[str], remembered: bool, require_mfa: bool) -> AfterPassword:
    """What follows a right password. A relying party asking for more than a password always
    gets a real check; a remembered browser satisfies only the member's own factor and the
    policy; a member without a factor is challenged (to enrol one) only under the policy."""
    if not satisfies(ACR_PASSWORD, target):
        return AfterPassword(challenge=True, remembered=False)
    if not enrolled:
        return AfterPassword(challenge=require_mfa, remembered=False)
    if remembered:
        return AfterPassword(challenge=False, remembered=True)
    return AfterPassword(challenge=True, remembered=False)


# --- the challenge ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengePlan:
    # Methods that, passed, complete the step at the target level (strongest first).
    methods: list[str]
    # Methods below the target, offered only to prove it is the member before they set up a
    # factor that reaches it (e.g. an emailed code before an app a relying party requires).
    proof_methods: list[str]
    # No usable method at all: the member sets one up now (after the password alone).
    must_enrol: bool

    @property
    def email_before_enrolment(self) -> bool:
        return METHOD_EMAIL in self.proof_methods

    def offers(self, method: str) -> bool:
        return method in self.methods or method in self.proof_methods


def plan(usable: Sequence[str], target: str | None) -> ChallengePlan:
    """``usable``: the methods the member can pass now, strongest first. A recovery code below
    the target (a passkey is asked for) is always a proof: the way back for a member who lost
    the device, who then sets up a new factor that reaches the target."""
    methods = [method for method in usable if reaches(method, target)]
    factor_reaches = any(_is_factor(method) and reaches(method, target) for method in usable)
    proof = [
        method for method in usable if not reaches(method, target) and (not _is_factor(method) or not factor_reaches)
    ]
    return ChallengePlan(methods=methods, proof_methods=proof, must_enrol=not usable)


def enrol_choices(target: str | None, enrolled: set[str], possible: set[str]) -> dict[str, bool]:
    """Which factor kinds the enrolment page offers: those that reach the target, that the
    member can have (``possible``: e.g. emailed codes need a verified address) and that they
    do not have yet (unless several of the kind are allowed)."""
    return {
        method.factor: method.factor in possible
        and reaches(method.name, target)
        and (method.several or method.factor not in enrolled)
        for method in SECOND_FACTOR_METHODS
    }


def _is_factor(method: str) -> bool:
    return METHODS[method].factor is not None

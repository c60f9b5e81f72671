"""The typed models. Importing this package registers every table on ``Base.metadata``."""

from idp.models.audit import AuditEvent
from idp.models.client import Client
from idp.models.factors import EmailCode, RecoveryCode, SecondFactor
from idp.models.flows import (
    BrowserSession,
    EmailVerificationToken,
    Interaction,
    PasswordResetToken,
)
from idp.models.grants import (
    AuthorizationCode,
    ClientAssertionJti,
    Consent,
    IssuedToken,
    RefreshToken,
    SessionClient,
)
from idp.models.keys import SigningKey
from idp.models.lockout import LoginThrottle
from idp.models.member import Member
from idp.models.outbound import OutboundJob
from idp.models.passkeys import Passkey, PasskeyChallenge
from idp.models.resource_server import ResourceServer

__all__ = [
    "AuditEvent",
    "AuthorizationCode",
    "BrowserSession",
    "Client",
    "ClientAssertionJti",
    "Consent",
    "EmailCode",
    "EmailVerificationToken",
    "Interaction",
    "IssuedToken",
    "LoginThrottle",
    "Member",
    "OutboundJob",
    "Passkey",
    "PasskeyChallenge",
    "PasswordResetToken",
    "RecoveryCode",
    "RefreshToken",
    "ResourceServer",
    "SecondFactor",
    "SessionClient",
    "SigningKey",
]

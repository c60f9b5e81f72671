"""RFC 7662 introspection, for registered resource servers: what an access token says, if it
is one of ours, live, and meant for the asking resource server's audience.

``active: false`` — and nothing else — for anything else: malformed, expired, revoked, not
signed by our keys (a well-formed JWT from another issuer or key included), another
audience's token, and refresh tokens (a resource server has no business holding one)."""

from __future__ import annotations

from idp.models import ResourceServer
from idp.oauth.tokens import check_access_token

INACTIVE = {"active": False}
# Claims a resource server needs (RFC 7662 §2.2, RFC 9068 §2.2).
PASSED_CLAIMS = ("iss", "sub", "client_id", "scope", "aud", "exp", "iat", "jti", "acr", "amr", "auth_time")


def introspect(resource_server: ResourceServer, token: str | None) -> dict:
    if not token or token.count(".") != 2:
        return dict(INACTIVE)
    checked = check_access_token(token)
    if checked is None or checked.record.revoked_at is not None:
        return dict(INACTIVE)
    audiences = checked.claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if resource_server.audience not in audiences:
        return dict(INACTIVE)
    answer = {"active": True, "token_type": "Bearer"}
    answer.update({name: checked.claims[name] for name in PASSED_CLAIMS if name in checked.claims})
    return answer

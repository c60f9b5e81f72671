"""RFC 7009 token revocation: an authenticated client revokes its own access or refresh
tokens. Unknown, malformed and other clients' tokens answer 200 like the rest (nothing to
learn by probing). Revoking a refresh token ends its family and the access tokens issued from
it; revoking a JWT access token marks its jti revoked until it expires (UserInfo and
introspection refuse it; offline verifiers cannot know)."""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc7009 import RevocationEndpoint

from idp.clock import utcnow
from idp.db import get_session
from idp.models import IssuedToken, RefreshToken
from idp.oauth.grants import TOKEN_ENDPOINT_AUTH_METHODS
from idp.oauth.tokens import check_access_token
from idp.services import audit, refresh_tokens


@dataclass(frozen=True)
class FoundToken:
    kind: str  # "access_token" or "refresh_token"
    record: IssuedToken | RefreshToken

    def check_client(self, client) -> bool:
        return self.record.client_id == client.client_id


class IdpRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def authenticate_token(self, request, client) -> FoundToken | None:
        self.check_params(request, client)
        found = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if found is None or not found.check_client(client):
            return None
        return found

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        # The hint only orders the look-ups (RFC 7009 §2.1); both kinds are tried.
        lookups = [self._refresh, self._access]
        if token_type_hint == "access_token":
            lookups.reverse()
        for lookup in lookups:
            found = lookup(token_string)
            if found is not None:
                return found
        return None

    @staticmethod
    def _refresh(token_string: str) -> FoundToken | None:
        record = refresh_tokens.find(get_session(), token_string)
        return FoundToken("refresh_token", record) if record is not None else None

    @staticmethod
    def _access(token_string: str) -> FoundToken | None:
        if token_string.count(".") != 2:
            return None
        checked = check_access_token(token_string)
        return FoundToken("access_token", checked.record) if checked is not None else None

    def revoke_token(self, token: FoundToken, request) -> None:
        db = get_session()
        if token.kind == "refresh_token":
            refresh_tokens.revoke_family(db, token.record.family_id)
        elif token.record.revoked_at is None:
            token.record.revoked_at = utcnow()
        audit.record(
            db,
            "token_revoked",
            "success",
            member_id=token.record.member_id,
            client_id=token.record.client_id,
            kind=token.kind,
        )
        db.commit()

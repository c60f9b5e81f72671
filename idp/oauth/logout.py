"""RP-Initiated Logout 1.0 (§2, §3): what a logout request asks for, checked.

The relying party names itself with ``client_id`` or an ``id_token_hint`` (both: they must
agree). ``post_logout_redirect_uri`` is honoured only when it is registered, exactly, for that
client; otherwise the member stays on idp's "you are signed out" page (never an error: the
logout itself still happens). ``state`` goes back only with that redirect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from idp.db import get_session
from idp.models import Client
from idp.oauth.id_token_hint import HintNotOurs, IdTokenHint, read_id_token_hint
from idp.services.clients import find_client

LOGOUT_PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint")


class LogoutRequestInvalid(Exception):
    """The request cannot be honoured as sent (an error page, never a redirect)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class LogoutRequest:
    client_id: str | None
    client_name: str | None
    hint: IdTokenHint | None
    # Registered for the client, exactly; None: end on idp's own page.
    redirect_uri: str | None
    state: str | None
    ui_locales: str | None

    def as_pending(self) -> dict:
        """What is kept while the member confirms (the hint is not needed any more)."""
        return {
            "client_id": self.client_id,
            "client_name": self.client_name,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "ui_locales": self.ui_locales,
        }

    @classmethod
    def from_pending(cls, pending: Mapping) -> LogoutRequest:
        return cls(
            client_id=pending.get("client_id"),
            client_name=pending.get("client_name"),
            hint=None,
            redirect_uri=pending.get("redirect_uri"),
            state=pending.get("state"),
            ui_locales=pending.get("ui_locales"),
        )


def read_logout_request(values: Mapping[str, str], repeated: set[str]) -> LogoutRequest:
    """Check a logout request's parameters (``repeated``: those sent more than once)."""
    twice = sorted(repeated & set(LOGOUT_PARAMETERS))
    if twice:
        raise LogoutRequestInvalid("invalid_request", f"Repeated parameter: {', '.join(twice)}.")
    hint = None
    if values.get("id_token_hint"):
        try:
            hint = read_id_token_hint(values["id_token_hint"])
        except HintNotOurs:
            raise LogoutRequestInvalid(
                "invalid_request", "The id_token_hint was not issued by this provider."
            ) from None
    client_id = values.get("client_id") or None
    if client_id and hint is not None and client_id not in hint.audiences:
        raise LogoutRequestInvalid("invalid_request", "The client_id is not an audience of the id_token_hint.")
    if client_id is None and hint is not None and len(hint.audiences) == 1:
        client_id = hint.audiences[0]
    client = _client(client_id)
    if client_id and client is None:
        raise LogoutRequestInvalid("invalid_client", "Unknown client_id.")
    wanted = values.get("post_logout_redirect_uri") or None
    redirect_uri = wanted if client is not None and wanted in client.post_logout_redirect_uris else None
    return LogoutRequest(
        client_id=client.client_id if client else None,
        client_name=client.name if client else None,
        hint=hint,
        redirect_uri=redirect_uri,
        state=(values.get("state") or None) if redirect_uri else None,
        ui_locales=values.get("ui_locales") or None,
    )


def _client(client_id: str | None) -> Client | None:
    return find_client(get_session(), client_id)

"""The token endpoint: called by relying parties, never by a browser session."""

from __future__ import annotations

from idp.extensions import csrf
from idp.oauth.server import get_server
from idp.web.protocol import bp


@bp.post("/token")
@csrf.exempt  # Clients authenticate themselves; there is no browser session to forge.
def token():
    # Rate limited around client authentication (``web.ratelimits.client_authentication_limits``):
    # per client only once it has authenticated, failures per address.
    response = get_server().create_token_response()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response

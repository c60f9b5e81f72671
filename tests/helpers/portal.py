"""The demo benefits portal as a relying party of a live idp: registered as a third-party
client (so the member is asked for consent), and built to talk to that idp."""

from __future__ import annotations

from examples.benefits_portal.app import create_app as create_portal
from idp.db import get_session
from idp.services.clients import NewClient, create_client

PORTAL_CLIENT_ID = "benefits-portal"


def register_portal(idp_app, portal_url: str, logout: bool = False) -> str:
    """Register the portal with idp; returns its client secret. ``logout``: with its
    post-logout redirect URI and back-channel logout URI, as `idp demo seed` registers it."""
    with idp_app.app_context():
        db = get_session()
        _, secret = create_client(
            db,
            NewClient(
                name="Benefits Portal",
                redirect_uris=[f"{portal_url}/callback"],
                scopes=["openid", "profile", "email", "membership", "benefits:read"],
                first_party=False,
                client_id=PORTAL_CLIENT_ID,
                # As `idp demo seed` registers it: refresh tokens by its registered policy.
                grant_types=["authorization_code", "refresh_token"],
                always_issue_refresh_token=True,
                post_logout_redirect_uris=[f"{portal_url}/signed-out"] if logout else [],
                backchannel_logout_uri=f"{portal_url}/backchannel-logout" if logout else None,
            ),
        )
        db.commit()
    return secret


def portal_for(issuer: str, portal_url: str, secret: str):
    """The portal's Flask app, signing members in at ``issuer``."""
    return create_portal(
        {
            "IDP_ISSUER": issuer,
            "PORTAL_CLIENT_ID": PORTAL_CLIENT_ID,
            "PORTAL_CLIENT_SECRET": secret,
            "PORTAL_BASE_URL": portal_url,
            "PORTAL_ENV_FILE": "/nonexistent",
        }
    )

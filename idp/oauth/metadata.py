"""OpenID Provider metadata (Discovery 1.0 §3, RFC 8414): only what is implemented."""

from __future__ import annotations

from idp.models.client import SUPPORTED_GRANT_TYPES, TOKEN_ENDPOINT_AUTH_METHODS
from idp.oauth.claims import CLAIMS_SUPPORTED
from idp.security.jose import SUPPORTED_SIGNING_ALGS
from idp.services.assurance import ACR_VALUES
from idp.services.clients import SUPPORTED_SCOPES

# What private_key_jwt assertions may be signed with (asymmetric only: no HS*, no none).
CLIENT_ASSERTION_ALGS = ("RS256", "PS256", "ES256")


def provider_metadata(issuer: str, ui_locales: tuple[str, ...]) -> dict:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": list(SUPPORTED_GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_SIGNING_ALGS),
        "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGS),
        "revocation_endpoint": f"{issuer}/revoke",
        "revocation_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGS),
        # Resource servers authenticate with the credentials `idp resource-servers create` gives.
        "introspection_endpoint": f"{issuer}/introspect",
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": list(ui_locales),
        "claim_types_supported": ["normal"],
        "authorization_response_iss_parameter_supported": True,
        # RP-Initiated Logout 1.0 and Back-Channel Logout 1.0 (logout tokens carry sub and sid).
        "end_session_endpoint": f"{issuer}/logout",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "frontchannel_logout_session_supported": False,
    }

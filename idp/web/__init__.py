"""The HTTP face of idp: thin blueprints that parse the request, call a service, and render or
redirect. Grouped by who they serve:

- ``protocol/``: the OpenID Connect and OAuth endpoints relying parties and resource servers
  call (discovery, JWKS, authorize, token, UserInfo), and their CORS;
- ``signin/``: the hosted sign-in of one authorization request (login, second factor,
  enrolment, consent), and the record of who is signed in to this browser;
- ``account/``: the signed-in member's own pages (overview, profile, security, sessions);
- ``selfservice/``: what a member does without signing in (forgotten password, activation);
- here: what every page shares (the server-side session, page rendering, forms, rate limits,
  the requester's address, security headers, the cross-site post check, request ids, the
  answer when a dependency is away), home, health and metrics.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from idp.web import (
        cross_site_posts,
        health,
        home,
        language_switch,
        metrics,
        page_context,
        request_ids,
        request_input,
        security_headers,
        server_session,
        unavailable,
    )
    from idp.web.account import overview, profile, security, sessions
    from idp.web.protocol import bp as protocol_bp
    from idp.web.protocol import cors, discovery, introspection, userinfo
    from idp.web.selfservice import activation, recovery
    from idp.web.signin import interaction, passkeys, second_factor

    # First, so every later hook and log line has the request's id.
    request_ids.init_app(app)
    # Before any view reads the request: NUL and invalid UTF-8 are refused for every route.
    request_input.init_app(app)
    server_session.init_app(app)
    unavailable.init_app(app)
    for blueprint in (
        protocol_bp,
        interaction.bp,
        second_factor.bp,
        passkeys.bp,
        health.bp,
        home.bp,
        recovery.bp,
        activation.bp,
        overview.bp,
        profile.bp,
        security.bp,
        sessions.bp,
    ):
        app.register_blueprint(blueprint)
    page_context.init_app(app)
    language_switch.init_app(app)
    security_headers.init_app(app)
    cross_site_posts.init_app(app)
    cors.init_app(app)
    # The fast paths of the public documents, UserInfo and introspection go in front of
    # Flask, and inside the metrics timer.
    discovery.init_app(app)
    userinfo.init_app(app)
    introspection.init_app(app)
    metrics.init_app(app)

"""What every hosted page shows around its own content: the program's name, logo and support
address (the [ui] settings), and the provider's own host, which the login page names so a
member can compare it with the address bar before typing a password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, has_request_context, url_for
from flask_babel import lazy_gettext as _l

from idp.runtime import settings


def url_host(url: str | None) -> str:
    """The host (and port) of an absolute URL, without any user part; for a native app's
    private-scheme redirect URI (com.example.app:/callback), its scheme."""
    parts = urlsplit(url or "")
    return parts.netloc.rpartition("@")[2] or parts.scheme


def init_app(app: Flask) -> None:
    current = settings(app)
    ui = current.ui
    provider_host = url_host(current.server.issuer)

    @app.context_processor
    def page_identity() -> dict:
        return {
            # An empty brand_name shows generic words in the page's language, never English
            # on an Indonesian page.
            "brand_name": ui.brand_name or _l("Member account"),
            # Mails are rendered by the outbound worker too, where no request can build a URL.
            "logo_url": url_for("static", filename=ui.logo_path) if ui.logo_path and has_request_context() else None,
            "support_url": ui.support_url or None,
            "provider_host": provider_host,
        }

    app.add_template_filter(url_host, "url_host")

"""``python -m examples.benefits_portal``: serve the portal with the development server."""

import logging
import sys
from urllib.parse import urlsplit

from .app import create_app
from .config import MissingSetting

DEFAULT_PORT = 5001


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app = create_app()
    except MissingSetting as error:
        sys.exit(f"benefits portal: {error}")
    # Listen on the port PORTAL_BASE_URL names, so the redirect URI registered
    # at idp and the address served always agree. Loopback only: this is the
    # development server.
    port = urlsplit(app.config["PORTAL_BASE_URL"]).port or DEFAULT_PORT
    app.run(host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()

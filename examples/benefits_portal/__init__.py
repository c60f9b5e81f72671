"""Benefits portal: an example relying party and resource server for idp."""

from .app import create_app

__all__ = ["create_app"]

"""Who is asking: the requester's address and user agent, for the audit trail and the
session list."""

from __future__ import annotations

from flask import request

from idp.services.audit import RequestOrigin


def requester() -> RequestOrigin:
    # request.remote_addr is the socket peer unless server.trusted_proxies enabled ProxyFix,
    # so a client cannot choose its own address with X-Forwarded-For.
    return RequestOrigin(ip_address=request.remote_addr, user_agent=request.user_agent.string or None)

"""Flask extensions, created here and bound to an app in ``create_app``."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
# Keyed by the socket address unless server.trusted_proxies enabled ProxyFix, so a client
# cannot pick its own key with X-Forwarded-For. Storage comes from ratelimit.storage_uri.
# A moving window: no burst of twice the limit across a window boundary.
limiter = Limiter(key_func=get_remote_address, strategy="moving-window")

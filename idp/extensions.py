"""Flask extensions, created here and bound to an app in ``create_app``."""

from __future__ import annotations

from flask_babel import Babel
from flask_wtf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()

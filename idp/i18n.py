"""The language and the time zone of a page.

Language, the first that applies:

1. the language this browser chose with the page's language switch during this flow (one
   authorization request's interaction): a member's explicit choice beats the relying
   party's hint for the flow it was made in;
2. the relying party's ``ui_locales`` for this flow (or on ``/authorize`` itself);
3. this browser's language: the switch's last choice, the profile page's, or else the
   signed-in member's stored language (set at sign-in; a choice made with the switch in
   this browser survives the sign-in);
4. the browser's Accept-Language;
5. ``i18n.default_locale``.

Time zone: the signed-in member's (WIB, WITA or WIT, chosen on the profile page), else
``i18n.timezone``. Times shown to members name their zone (``clock_time``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from flask import g, has_request_context, request, session
from flask_babel import format_datetime, format_timedelta, get_timezone
from flask_babel import lazy_gettext as _l

from idp.clock import utcnow
from idp.runtime import settings

# The session keys this module owns.
_LOCALE_KEY = "locale"  # this browser's language
_CHOICE_KEY = "locale_choice"  # {"locale": ..., "flow": interaction uid or None}: an explicit choice
_ZONE_KEY = "time_zone"  # the signed-in member's time zone (None: the default)

# Each language named in itself (an autonym is never translated: a member looking for their
# language must recognise it on a page in the other one).
LANGUAGE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}

# The zones of Indonesia a member may choose, with the abbreviation members know them by.
TIME_ZONES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
TIME_ZONE_LABELS = {
    "Asia/Jakarta": _l("WIB: western Indonesia (Sumatra, Java, West and Central Kalimantan)"),
    "Asia/Makassar": _l("WITA: central Indonesia (Bali, Nusa Tenggara, Sulawesi, the rest of Kalimantan)"),
    "Asia/Jayapura": _l("WIT: eastern Indonesia (Maluku, Papua)"),
}


# --- language -----------------------------------------------------------------------------


def select_locale() -> str:
    supported = settings().i18n.supported_locales
    stored = session if has_request_context() and session else {}
    choice = stored.get(_CHOICE_KEY)
    flow = g.get("language_flow") if has_request_context() else None
    if isinstance(choice, dict) and flow and choice.get("flow") == flow and choice.get("locale") in supported:
        return choice["locale"]
    requested = g.get("ui_locales") or request.args.get("ui_locales")
    for tag in (requested or "").split():
        language = tag.split("-")[0].lower()
        if language in supported:
            return language
    chosen = stored.get(_LOCALE_KEY)
    if chosen in supported:
        return chosen
    return request.accept_languages.best_match(supported) or settings().i18n.default_locale


def follow_flow(uid: str, ui_locales: str | None) -> None:
    """The page belongs to the flow ``uid``, whose relying party asked for ``ui_locales``."""
    g.language_flow = uid
    g.ui_locales = ui_locales


def choose_locale(locale: str, flow: str | None) -> None:
    """The member chose ``locale`` with the switch (during the flow ``flow``, if any): this
    browser's pages follow it from now on, and it beats the relying party's ui_locales for
    the rest of that flow."""
    session[_LOCALE_KEY] = locale
    session[_CHOICE_KEY] = {"locale": locale, "flow": flow}


def chose_locale_in(flow: str) -> bool:
    """Whether the member chose the language with the switch during the flow ``flow``."""
    choice = session.get(_CHOICE_KEY)
    return isinstance(choice, dict) and choice.get("flow") == flow


def remember_locale(locale: str) -> None:
    """The member saved ``locale`` on the profile page: this browser's pages follow it (unless
    a relying party asks for another with ui_locales)."""
    session[_LOCALE_KEY] = locale
    session[_CHOICE_KEY] = {"locale": locale, "flow": None}


def carried_over() -> dict:
    """What of the language survives the sign-in's new session (read before it is cleared)."""
    return {key: session[key] for key in (_LOCALE_KEY, _CHOICE_KEY) if key in session}


def signed_in(locale: str, time_zone: str | None, carried: dict) -> None:
    """A member signed in: their time zone applies; their stored language too, unless this
    browser chose one explicitly (then that choice stays, for the rest of the flow and after)."""
    if carried.get(_CHOICE_KEY):
        session.update(carried)
    else:
        session[_LOCALE_KEY] = locale
    session[_ZONE_KEY] = time_zone


# --- time zone ----------------------------------------------------------------------------


def select_timezone() -> str:
    zone = session.get(_ZONE_KEY) if has_request_context() and session else None
    return zone if zone in TIME_ZONES else settings().i18n.timezone


def remember_time_zone(time_zone: str | None) -> None:
    """The member saved ``time_zone`` on the profile page (or did so in another browser, and
    this one's account pages noticed): the pages follow at once."""
    if session.get(_ZONE_KEY) != time_zone:
        session[_ZONE_KEY] = time_zone


def clock_time(moment: datetime) -> str:
    """``moment`` in the page's zone, with the zone's name (2 Des 2026 09.22.17 WIB): Indonesia
    has three, and the server runs on UTC."""
    zone = get_timezone()
    name = TIME_ZONES.get(getattr(zone, "key", None) or getattr(zone, "zone", None) or str(zone))
    return f"{format_datetime(moment, 'medium')} {name or format_datetime(moment, 'ZZZZ')}"


def clock_time_in(moment: datetime, time_zone: str | None, locale: str) -> str:
    """``moment`` for one member, whoever's request is being answered (a mail: their zone, else
    i18n.timezone; never the zone of the browser that caused it)."""
    zone = ZoneInfo(time_zone if time_zone in TIME_ZONES else settings().i18n.timezone)
    name = TIME_ZONES.get(zone.key) or babel_dates.format_datetime(moment, "ZZZZ", tzinfo=zone, locale=locale)
    return f"{babel_dates.format_datetime(moment, 'medium', tzinfo=zone, locale=locale)} {name}"


def time_until(moment: datetime) -> str:
    """How long until ``moment``, in words of the page's language (5 minutes, 2 hours)."""
    remaining = max(moment - utcnow(), timedelta(minutes=1))
    return format_timedelta(remaining, granularity="minute")

"""Times on the hosted pages name their zone (Indonesia has three; the server runs on UTC), a lock
says how long is left, and a member chooses WIB, WITA or WIT on the profile page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent, Member
from tests.helpers.account import sign_in_to_account, submit
from tests.helpers.oidc import AuthorizationRequest, csrf_token, login_page_uid

ENGLISH = {"Accept-Language": "en"}


def _text(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:p|span|div)>', html, re.S)
    assert match, f"no {testid}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def _clock(moment: datetime, zone: str) -> str:
    """The clock time as an English page shows it (9:22:17 AM), in ``zone``."""
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%I:%M:%S %p").lstrip("0")


@pytest.mark.settings(lockout={"max_failures": 2})
def test_a_lock_says_until_when_in_which_zone_and_how_long_is_left(client, rp, make_member, moving_clock):
    member = make_member()
    uid = login_page_uid(client.get(AuthorizationRequest(rp.client_id, extra={"ui_locales": "en"}).url()))
    page = client.get(f"/interaction/{uid}")
    for attempt in range(3):
        answer = client.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": f"wrong {attempt}"},
        )
    assert answer.status_code == 423
    locked = _text(answer.text, "account_locked")
    with client.application.app_context():
        until = get_session().scalars(select(AuditEvent).where(AuditEvent.event == "lock_started")).one()
    locked_until = datetime.fromisoformat(re.search(r'"locked_until": "([^"]+)"', until.detail_json).group(1))
    # WIB by default (i18n.timezone), never the server's UTC.
    assert f"{_clock(locked_until, 'Asia/Jakarta')} WIB" in locked, locked
    assert _text(answer.text, "lock-ends-in") == "That is in about 5 minutes."


@pytest.mark.settings(i18n={"timezone": "Asia/Jayapura"})
def test_the_configured_zone_is_the_default(client, make_member):
    member = make_member(locale="en")
    sign_in_to_account(client, member)
    sessions = client.get("/account/sessions")
    assert _text(sessions.text, "session-last-seen").endswith(" WIT")
    profile = client.get("/account/profile")
    assert re.search(r'checked[^>]*value="Asia/Jayapura"|value="Asia/Jayapura"[^>]*checked', profile.text)


def test_a_member_chooses_their_zone_and_the_pages_follow(app, client, make_member, moving_clock):
    member = make_member(locale="en")
    sign_in_to_account(client, member)
    profile = client.get("/account/profile")
    # WIB, WITA and WIT, as one group of radio buttons with a legend; WIB by default.
    assert re.search(r"<fieldset class=\"choices\">\s*<legend>Show times in</legend>", profile.text)
    assert re.findall(r'type="radio" value="([^"]+)"', profile.text) == [
        "Asia/Jakarta",
        "Asia/Makassar",
        "Asia/Jayapura",
    ]
    assert re.search(r'checked[^>]*value="Asia/Jakarta"|value="Asia/Jakarta"[^>]*checked', profile.text)

    saved = submit(client, "/account/profile", "/account/profile/time-zone", {"time_zone": "Asia/Makassar"})
    assert saved.status_code == 303
    done = client.get("/account/profile")
    assert 'data-testid="time_zone_saved"' in done.text
    sessions = client.get("/account/sessions")
    last_seen = _text(sessions.text, "session-last-seen")
    assert last_seen.endswith(" WITA"), last_seen
    with app.app_context():
        db = get_session()
        assert db.get(Member, member.id).time_zone == "Asia/Makassar"
        assert (
            db.scalars(select(AuditEvent.event).where(AuditEvent.member_id == member.id))
            .all()
            .count("time_zone_changed")
            == 1
        )

    # Stored with the member: a new sign-in in another browser shows it too, and a browser
    # signed in before follows on its next account page.
    other = app.test_client()
    sign_in_to_account(other, member)
    assert _text(other.get("/account/sessions").text, "session-last-seen").endswith(" WITA")
    submit(other, "/account/profile", "/account/profile/time-zone", {"time_zone": "Asia/Jayapura"})
    assert _text(client.get("/account/sessions").text, "session-last-seen").endswith(" WIT")


@pytest.mark.parametrize("zone", ["UTC", "Europe/Amsterdam", "", "Asia/Jakarta; DROP"])
def test_only_the_three_zones_of_indonesia(app, client, make_member, zone):
    member = make_member(locale="en")
    sign_in_to_account(client, member)
    refused = submit(client, "/account/profile", "/account/profile/time-zone", {"time_zone": zone})
    assert refused.status_code == 400
    # Said, announced and tied to the group of choices.
    assert 'id="time-zone-error" role="alert" data-testid="time_zone_invalid"' in refused.text
    assert '<fieldset class="choices" aria-describedby="time-zone-error">' in refused.text
    with app.app_context():
        assert get_session().get(Member, member.id).time_zone is None


def test_the_time_left_rounds_to_words(app, moving_clock):
    from idp.clock import utcnow
    from idp.i18n import time_until

    now = utcnow()
    with app.test_request_context(headers=ENGLISH):
        assert time_until(now + timedelta(minutes=4, seconds=40)) == "5 minutes"
        assert time_until(now + timedelta(hours=2, minutes=5)) == "2 hours"
        assert time_until(now - timedelta(seconds=5)) == "1 minute"  # never "0" or in the past
    with app.test_request_context(headers={"Accept-Language": "id"}):
        assert time_until(now + timedelta(minutes=15)) == "15 menit"


@pytest.mark.settings(lockout={"max_failures": 2})
def test_a_lock_notice_mail_uses_the_member_s_zone_not_the_browser_s(app, client, rp, make_member, outbox):
    member = make_member(locale="en")
    with app.app_context():
        db = get_session()
        db.get(Member, member.id).time_zone = "Asia/Jayapura"
        db.commit()
    uid = login_page_uid(client.get(AuthorizationRequest(rp.client_id).url()))
    page = client.get(f"/interaction/{uid}")
    for attempt in range(2):
        client.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": f"wrong {attempt}"},
        )
    notices = [mail for mail in outbox() if mail.to == member.email]
    assert len(notices) == 1
    # Both times in the notice (locked until, when) name the member's zone.
    assert notices[0].text.count(" WIT") == 2, notices[0].text
    assert " WIB" not in notices[0].text

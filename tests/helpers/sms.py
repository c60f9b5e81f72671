"""A member's phone for the SMS tests: the texts idp wrote to its outbox (sms.backend =
outbox, the development default) or posted to a gateway, the code in them, and the pages a
member goes through to verify a number and to sign in with a code by SMS."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from idp.runtime import runtime
from idp.services.outbound import drain
from tests.helpers.account import sign_in_to_account
from tests.helpers.oidc import csrf_token
from tests.helpers.second_factor import post_code, recovery_codes_on

PHONE = "+6281234567890"
# The WebOTP line that ends every code message: "@<issuer host> #<code>".
WEBOTP_LINE = re.compile(r"\n@(?P<host>[^\s#]+) #(?P<code>\d{6})$")


@dataclass(frozen=True)
class Text:
    to: str
    text: str
    purpose: str

    @property
    def code(self) -> str:
        match = WEBOTP_LINE.search(self.text)
        assert match, self.text
        return match.group("code")


def texts(app, to: str | None = None) -> list[Text]:
    """Every text idp wrote to the outbox so far (to ``to`` only, if given), oldest first.
    What was queued goes out first, as the server's worker would do."""
    drain(app)
    folder = Path(runtime(app).settings.server.instance_path) / "sms-outbox"
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = json.loads(path.read_text(encoding="utf-8"))
        found.append(Text(to=record["to"], text=record["text"], purpose=record["purpose"]))
    return [text for text in found if to is None or text.to == to]


def last_code(app, to: str = PHONE) -> str:
    sent = texts(app, to)
    assert sent, f"no text to {to}"
    return sent[-1].code


def verify_phone_on_profile(app, client, code_of=None) -> None:
    """On the profile page: send a code to the stored number, type it back. ``code_of(number)``
    reads the newest code sent to a number (default: the outbox's)."""
    page = client.get("/account/profile")
    assert 'data-testid="phone-verify-form"' in page.text, page.text[:2000]
    sent = client.post("/account/profile/phone/send", data={"csrf_token": csrf_token(page.text)})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/account/profile/phone"), sent.status_code
    number = _stored_phone(page.text)
    done = submit_phone_code(client, code_of(number) if code_of else last_code(app, number))
    assert done.status_code == 303, done.text[:1000]


def submit_phone_code(client, code: str):
    page = client.get("/account/profile/phone")
    return client.post("/account/profile/phone", data={"csrf_token": csrf_token(page.text), "code": code})


def _stored_phone(profile_html: str) -> str:
    match = re.search(r'name="phone"[^>]*value="([^"]+)"', profile_html) or re.search(
        r'value="([^"]+)"[^>]*name="phone"', profile_html
    )
    assert match, "no phone on the profile page"
    return match.group(1)


def enrol_sms(client) -> list[str]:
    """Turn on codes by SMS on the Security page (fresh check passed); the recovery codes shown."""
    page = client.get("/account/security/")
    assert 'data-testid="add-sms"' in page.text, page.text[:3000]
    done = client.post("/account/security/sms", data={"csrf_token": csrf_token(page.text)})
    assert done.status_code in (200, 303), done.text[:500]
    return recovery_codes_on(done.text) if done.status_code == 200 else []


def member_with_sms_factor(app, make_member, phone: str = PHONE, code_of=None, **fields):
    """A member whose number is verified (on the profile page) and who uses codes by SMS.
    Returns (member, recovery codes)."""
    member = make_member(phone=phone, **fields)
    browser = app.test_client()
    sign_in_to_account(browser, member)
    verify_phone_on_profile(app, browser, code_of)
    return member, enrol_sms(browser)


def send_sms_code(client, uid: str):
    page = client.get(f"/interaction/{uid}/sms-code")
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    return client.post(f"/interaction/{uid}/sms-code/send", data={"csrf_token": csrf_token(page.text)})


def submit_sms_code(client, uid: str, code: str, remember: bool = False):
    return post_code(client, uid, "sms-code", "sms-code", code, remember)

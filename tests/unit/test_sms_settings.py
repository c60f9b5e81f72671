"""The [sms] settings: what the backend is when nothing is set, and each wrong value refused in
one line naming the key."""

from __future__ import annotations

import pytest

from idp.settings import ConfigError, load_settings, sms_backend
from tests.unit.test_settings import PRODUCTION

GATEWAY = {"backend": "http", "http_url": "https://sms.example.test/v1/messages", "http_token": "t"}


def test_development_writes_to_the_outbox_and_production_sends_nothing_until_a_gateway_is_set():
    development = load_settings(environ={})
    assert sms_backend(development.sms, development.server.development) == "outbox"
    production = load_settings(PRODUCTION, environ={})
    assert sms_backend(production.sms, production.server.development) == "none"
    with_gateway = load_settings({**PRODUCTION, "sms": GATEWAY}, environ={})
    assert sms_backend(with_gateway.sms, False) == "http"


@pytest.mark.parametrize(
    ("sms", "production", "key"),
    [
        ({"backend": "carrier-pigeon"}, False, "sms.backend:"),
        ({"backend": "outbox"}, True, "sms.backend: must be http or none outside development mode"),
        ({"acr": "urn:idp:acr:pwd"}, False, "sms.acr:"),
        ({"http_auth": "digest"}, False, "sms.http_auth:"),
        ({"http_timeout_seconds": 0}, False, "sms.http_timeout_seconds:"),
        ({"code_ttl_seconds": 30}, False, "sms.code_ttl_seconds:"),
        ({"code_max_tries": 0}, False, "sms.code_max_tries:"),
        ({"code_resend_seconds": 900}, False, "sms.code_resend_seconds:"),
        ({"sign_in_per_number": "lots"}, False, "sms.sign_in_per_number:"),
        ({"verification_per_number": ""}, False, "sms.verification_per_number:"),
        ({"http_body_template": "{not json"}, False, "sms.http_body_template: is not JSON"),
        ({"http_body_template": '{"to": "{to}"}'}, False, "sms.http_body_template: must be a JSON object naming"),
        ({"backend": "http"}, False, "sms.http_url:"),
        ({**GATEWAY, "http_url": "http://sms.example.test/"}, True, "sms.http_url: must use https"),
        ({**GATEWAY, "http_token": ""}, False, "sms.http_token:"),
        ({**GATEWAY, "http_auth": "basic"}, False, "sms.http_username and sms.http_password:"),
    ],
)
def test_wrong_values_are_refused_naming_the_key(sms, production, key):
    base = PRODUCTION if production else {}
    with pytest.raises(ConfigError) as refused:
        load_settings({**base, "sms": sms}, environ={})
    assert key in str(refused.value) and "\n" not in str(refused.value)

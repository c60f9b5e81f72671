"""`idp clients create/update` register a client's logout URIs (RP-Initiated and
Back-Channel Logout 1.0), checked as redirect URIs are, each refusal naming its option."""

from __future__ import annotations

import json

from tests.cli.conftest import assert_failed, assert_succeeded
from tests.cli.test_clients import create


def shown(idp, client_id: str) -> dict:
    return json.loads(assert_succeeded(idp("clients", "show", client_id, "--json")).stdout)


def test_logout_uris_at_registration_and_by_update(idp):
    assert_succeeded(
        create(
            idp,
            "--client-id",
            "klaim",
            "--post-logout-redirect-uri",
            "https://rp.example.test/bye",
            "--post-logout-redirect-uri",
            "https://rp.example.test/bye-en",
            "--backchannel-logout-uri",
            "https://rp.example.test/backchannel",
        )
    )
    described = shown(idp, "klaim")
    assert described["post_logout_redirect_uris"] == ["https://rp.example.test/bye", "https://rp.example.test/bye-en"]
    assert described["backchannel_logout_uri"] == "https://rp.example.test/backchannel"
    assert described["backchannel_logout_session_required"] is False

    updated = assert_succeeded(
        idp(
            "clients",
            "update",
            "klaim",
            "--post-logout-redirect-uri",
            "https://rp.example.test/signed-out",
            "--backchannel-logout-session-required",
        )
    )
    assert updated.stdout == "updated client klaim: post_logout_redirect_uris, backchannel_logout_session_required\n"
    assert shown(idp, "klaim")["post_logout_redirect_uris"] == ["https://rp.example.test/signed-out"]

    cleared = assert_succeeded(
        idp("clients", "update", "klaim", "--no-post-logout-redirect-uris", "--backchannel-logout-uri", "")
    )
    assert cleared.stdout == "updated client klaim: post_logout_redirect_uris, backchannel_logout_uri\n"
    described = shown(idp, "klaim")
    assert described["post_logout_redirect_uris"] == [] and described["backchannel_logout_uri"] is None
    assert assert_succeeded(idp("clients", "update", "klaim", "--backchannel-logout-uri", "")).stdout == (
        "client klaim unchanged\n"
    )


def test_bad_logout_uris_are_refused_naming_the_option(idp):
    assert_failed(
        create(idp, "--post-logout-redirect-uri", "https://rp.example.test/bye#x"), 1, "--post-logout-redirect-uri"
    )
    assert_failed(
        create(idp, "--post-logout-redirect-uri", "http://rp.example.test/bye"), 1, "--post-logout-redirect-uri"
    )
    assert_failed(create(idp, "--backchannel-logout-uri", "http://rp.example.test/bc"), 1, "--backchannel-logout-uri")
    assert_failed(create(idp, "--backchannel-logout-uri", "/relative"), 1, "--backchannel-logout-uri")
    assert_succeeded(create(idp, "--client-id", "local", "--backchannel-logout-uri", "http://127.0.0.1:5001/bc"))
    assert_failed(
        idp("clients", "update", "local", "--backchannel-logout-uri", "ftp://rp.example.test/bc"),
        1,
        "--backchannel-logout-uri",
    )


def test_replacing_and_clearing_the_list_at_once_is_a_usage_error(idp):
    assert_succeeded(create(idp, "--client-id", "both"))
    result = idp(
        "clients",
        "update",
        "both",
        "--post-logout-redirect-uri",
        "https://rp.example.test/x",
        "--no-post-logout-redirect-uris",
    )
    assert result.exit_code != 0 and "exclude each other" in result.output

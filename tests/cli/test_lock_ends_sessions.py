"""`idp members lock` ends the member's sessions: their tokens stop working and every client
with a back-channel logout URI is told (Back-Channel Logout 1.0)."""

from __future__ import annotations

from idp.services.outbound import drain
from tests.cli.conftest import assert_succeeded
from tests.helpers.backchannel import backchannel_receiver
from tests.http.test_backchannel_logout import assert_logout_token, id_token_claims, needs_password_at, sign_in


def test_an_operator_lock_ends_the_sessions_and_tells_the_clients(idp, app, client, make_member, make_client):
    member = make_member(locale="en")
    with backchannel_receiver() as receiver:
        rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
        tokens = sign_in(client, member, rp_client, secret)
        assert_succeeded(idp("members", "lock", member.email, "--reason", "stolen phone"))
        drain(app)
        assert len(receiver.deliveries) == 1
        assert_logout_token(client, receiver.deliveries[0], rp_client, member, id_token_claims(client, tokens)["sid"])
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    assert needs_password_at(client, rp_client)

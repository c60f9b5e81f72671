"""How a client may send its access token to UserInfo (RFC 6750 §2; OpenID Connect Core
§5.3.1): in the Authorization header, by GET or POST, or in a form-encoded POST body; once,
and never in the query string."""

from __future__ import annotations

from tests.http.test_userinfo_fast_path import bearer, signed_in_tokens


def test_a_token_in_a_form_encoded_post_body_reads_userinfo(client, make_member, rp):
    member = make_member()
    token = signed_in_tokens(client, member, rp)["access_token"]

    posted = client.post("/userinfo", data={"access_token": token})

    assert posted.status_code == 200, posted.text
    assert posted.json["sub"] == member.subject
    assert posted.json == client.get("/userinfo", headers=bearer(token)).json
    assert posted.headers["Cache-Control"] == "no-store"


def test_a_bad_token_in_the_body_is_refused_as_in_the_header(client, make_member, rp):
    token = signed_in_tokens(client, make_member(), rp)["access_token"]
    flipped = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    refused = client.post("/userinfo", data={"access_token": flipped})

    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert (
        refused.headers["WWW-Authenticate"]
        == client.get("/userinfo", headers=bearer(flipped)).headers["WWW-Authenticate"]
    )


def test_a_token_sent_twice_is_an_invalid_request(client, make_member, rp):
    token = signed_in_tokens(client, make_member(), rp)["access_token"]

    both = client.post("/userinfo", headers=bearer(token), data={"access_token": token})
    twice = client.post("/userinfo", data={"access_token": [token, token]})

    for refused in (both, twice):
        assert refused.status_code == 400, refused.text
        assert refused.json["error"] == "invalid_request"
        assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"')
        assert refused.headers["Cache-Control"] == "no-store"


def test_a_token_in_the_query_string_or_a_json_body_is_not_read(client, make_member, rp):
    token = signed_in_tokens(client, make_member(), rp)["access_token"]

    in_query = client.get(f"/userinfo?access_token={token}")
    in_json = client.post("/userinfo", json={"access_token": token})

    for refused in (in_query, in_json):
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"

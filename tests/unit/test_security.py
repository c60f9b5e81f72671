"""idp.security (passwords, tokens, encryption at rest, JOSE) and identifier normalization."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

import pytest

from idp.security import crypto, jose, passwords, tokens
from idp.services.identifiers import Identifier, normalize_email, normalize_identifier


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Passwords ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def default_hash_parameters():
    """The defaults, whatever an app made earlier in this process configured (the suite's apps
    hash cheaply: tests/conftest.py)."""
    passwords.configure(*passwords.DEFAULT_PARAMETERS)
    yield
    passwords.configure(*passwords.DEFAULT_PARAMETERS)


@pytest.fixture(scope="module")
def password_hash(default_hash_parameters) -> str:
    return passwords.hash_password("correct horse battery staple")


def test_hash_is_argon2id_with_the_configured_cost(password_hash):
    assert password_hash.startswith("$argon2id$")
    assert "$m=19456,t=2,p=1$" in password_hash


def test_hashes_are_salted():
    assert passwords.hash_password("same password") != passwords.hash_password("same password")


def test_verify_accepts_the_password_and_refuses_others(password_hash):
    assert passwords.verify_password("correct horse battery staple", password_hash) is True
    assert passwords.verify_password("correct horse battery stapl", password_hash) is False
    assert passwords.verify_password("Correct horse battery staple", password_hash) is False
    assert passwords.verify_password("", password_hash) is False


def test_verify_without_a_hash_is_false():
    assert passwords.verify_password("anything", None) is False


def test_overlong_password_is_refused_without_hashing(password_hash):
    assert passwords.verify_password("x" * (passwords.MAX_PASSWORD_LENGTH * 4 + 1), password_hash) is False


@pytest.mark.parametrize(
    ("typed_at_sign_up", "typed_at_sign_in"),
    [
        ("\ufb01le-cabinet", "file-cabinet"),  # ligature "ﬁ" vs "fi"
        ("file-cabinet", "\ufb01le-cabinet"),
        ("ｐａｓｓｗｏｒｄ１２３", "password123"),  # full-width forms
        ("Cafe\u0301 au lait", "Caf\u00e9 au lait"),  # combining accent vs precomposed
    ],
)
def test_passwords_are_compared_after_nfkc_normalization(typed_at_sign_up, typed_at_sign_in):
    hashed = passwords.hash_password(typed_at_sign_up)
    assert passwords.verify_password(typed_at_sign_in, hashed) is True


def test_normalize_is_nfkc():
    assert passwords.normalize("\ufb01") == "fi"
    assert passwords.normalize("plain") == "plain"


def test_fresh_hash_needs_no_rehash(password_hash):
    assert passwords.needs_rehash(password_hash) is False


def test_hash_with_lower_cost_or_other_variant_needs_rehash():
    from passlib.hash import argon2

    cheaper = argon2.using(type="ID", memory_cost=8192, time_cost=1, parallelism=1).hash("pw")
    assert passwords.verify_password("pw", cheaper) is True  # still accepted ...
    assert passwords.needs_rehash(cheaper) is True  # ... and renewed at the next sign-in
    argon2i = argon2.using(type="I", memory_cost=19456, time_cost=2, parallelism=1).hash("pw")
    assert passwords.needs_rehash(argon2i) is True


# Tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_bytes", [16, 32, 48])
def test_random_token_carries_the_requested_entropy(num_bytes):
    token = tokens.random_token(num_bytes)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(b64url_decode(token)) == num_bytes


def test_random_token_defaults_to_256_bits_and_does_not_repeat():
    assert len(b64url_decode(tokens.random_token())) == 32
    assert len({tokens.random_token() for _ in range(1000)}) == 1000


def test_digest_is_stable_sha256_hex():
    assert tokens.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert tokens.digest("abc") == tokens.digest("abc")
    assert tokens.digest("abc") != tokens.digest("abd")
    assert tokens.digest("é") == hashlib.sha256("é".encode()).hexdigest()


def test_matches_digest():
    secret = tokens.random_token()
    stored = tokens.digest(secret)
    assert tokens.matches_digest(secret, stored) is True
    assert tokens.matches_digest(secret + "x", stored) is False
    assert tokens.matches_digest(secret, stored.upper()) is False
    assert tokens.matches_digest("", stored) is False


def test_constant_time_equals():
    assert tokens.constant_time_equals("état", "état") is True
    assert tokens.constant_time_equals("état", "etat") is False


# Encryption at rest -------------------------------------------------------------------------

SECRET = "a-server-secret-key-of-at-least-32-characters"


def test_secret_box_round_trip():
    box = crypto.SecretBox(SECRET, "signing-keys")
    for plaintext in (b"", b"private key", bytes(range(256)) * 10):
        token = box.encrypt(plaintext)
        assert isinstance(token, str) and re.fullmatch(r"[A-Za-z0-9_=-]+", token)
        assert box.decrypt(token) == plaintext
        # A second box with the same secret and purpose (a restart) reads it too.
        assert crypto.SecretBox(SECRET, "signing-keys").decrypt(token) == plaintext


def test_secret_box_uses_a_fresh_nonce_each_time():
    box = crypto.SecretBox(SECRET, "signing-keys")
    assert box.encrypt(b"same") != box.encrypt(b"same")
    assert b"same" not in base64.urlsafe_b64decode(box.encrypt(b"same"))


def test_wrong_secret_cannot_decrypt():
    token = crypto.SecretBox(SECRET, "signing-keys").encrypt(b"private key")
    with pytest.raises(crypto.DecryptionError):
        crypto.SecretBox(SECRET + "!", "signing-keys").decrypt(token)


def test_other_purpose_cannot_decrypt():
    token = crypto.SecretBox(SECRET, "signing-keys").encrypt(b"private key")
    with pytest.raises(crypto.DecryptionError):
        crypto.SecretBox(SECRET, "totp-seeds").decrypt(token)


@pytest.mark.parametrize("position", [0, 11, 12, 20, -16, -1], ids=["nonce0", "nonce11", "ct0", "ct8", "tag0", "tag15"])
def test_tampered_ciphertext_is_refused(position):
    box = crypto.SecretBox(SECRET, "signing-keys")
    raw = bytearray(base64.urlsafe_b64decode(box.encrypt(b"private key material")))
    raw[position] ^= 0x01
    with pytest.raises(crypto.DecryptionError):
        box.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("keep", [12, 20, 27])
def test_truncated_ciphertext_is_refused(keep):
    box = crypto.SecretBox(SECRET, "signing-keys")
    raw = base64.urlsafe_b64decode(box.encrypt(b"private key material"))
    with pytest.raises(crypto.DecryptionError):
        box.decrypt(base64.urlsafe_b64encode(raw[:keep]).decode())


# JOSE ---------------------------------------------------------------------------------------

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def rfc7638_thumbprint(jwk: dict) -> str:
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def signing_key(request):
    return jose.generate_signing_key(request.param)


def test_generated_key_kid_is_the_rfc7638_thumbprint(signing_key):
    kid, public, private, _ = signing_key
    assert kid == public["kid"] == private["kid"]
    assert kid == rfc7638_thumbprint(public) == rfc7638_thumbprint(private)


def test_generated_public_jwk_has_no_private_members(signing_key):
    kid, public, private, _ = signing_key
    assert not PRIVATE_MEMBERS & set(public)
    assert "d" in private
    assert public["use"] == "sig" and public["alg"] in jose.SUPPORTED_SIGNING_ALGS
    if public["alg"] == "RS256":
        assert public["kty"] == "RSA" and len(b64url_decode(public["n"])) * 8 == 2048
    else:
        assert public["kty"] == "EC" and public["crv"] == "P-256"


def test_generated_keys_differ():
    assert jose.generate_signing_key("ES256")[0] != jose.generate_signing_key("ES256")[0]


def test_unsupported_alg_is_refused():
    with pytest.raises(ValueError):
        jose.generate_signing_key("HS256")


def test_sign_and_verify_round_trip(signing_key):
    kid, public, private, _ = signing_key
    claims = {"iss": "https://idp.example.test", "sub": "abc", "exp": int(time.time()) + 60, "name": "Siti Rahayu"}
    token = jose.sign_jwt(private, claims, typ="at+jwt")
    header, decoded = jose.verify_jwt(token, {"keys": [public]})
    assert header == {"alg": public["alg"], "kid": kid, "typ": "at+jwt"}
    assert decoded == claims


def test_dumps_jwk_is_canonical(signing_key):
    _, public, _, _ = signing_key
    assert jose.dumps_jwk(public) == jose.dumps_jwk(dict(reversed(list(public.items()))))
    assert json.loads(jose.dumps_jwk(public)) == public


def _unsigned_parts(header: dict, claims: dict) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"


def test_verify_refuses_alg_none(signing_key):
    kid, public, _, _ = signing_key
    token = _unsigned_parts({"alg": "none", "typ": "JWT", "kid": kid}, {"sub": "attacker"}) + "."
    with pytest.raises(jose.InvalidJWT):
        jose.verify_jwt(token, {"keys": [public]})


def test_verify_refuses_hs256_even_keyed_with_the_public_key(signing_key):
    kid, public, _, _ = signing_key
    signing_input = _unsigned_parts({"alg": "HS256", "typ": "JWT", "kid": kid}, {"sub": "attacker"})
    # The classic algorithm confusion: the public key (as published) used as an HMAC secret.
    for secret in (jose.dumps_jwk(public).encode(), b"secret"):
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(jose.InvalidJWT):
            jose.verify_jwt(f"{signing_input}.{b64url(signature)}", {"keys": [public]})


def test_verify_refuses_a_token_signed_by_another_key(signing_key):
    kid, public, _, _ = signing_key
    other_private = jose.generate_signing_key(public["alg"]).private_jwk
    with pytest.raises(jose.InvalidJWT):
        jose.verify_jwt(jose.sign_jwt(other_private, {"sub": "x"}), {"keys": [public]})
    # Even when the other key claims our kid.
    forged = {**other_private, "kid": kid}
    with pytest.raises(jose.InvalidJWT):
        jose.verify_jwt(jose.sign_jwt(forged, {"sub": "x"}), {"keys": [public]})


def test_verify_refuses_altered_claims(signing_key):
    _, public, private, _ = signing_key
    header, _, signature = jose.sign_jwt(private, {"sub": "member-1"}).split(".")
    altered = f"{header}.{b64url(json.dumps({'sub': 'member-2'}).encode())}.{signature}"
    with pytest.raises(jose.InvalidJWT):
        jose.verify_jwt(altered, {"keys": [public]})


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "a.b"])
def test_verify_refuses_garbage(signing_key, token):
    _, public, _, _ = signing_key
    with pytest.raises(jose.InvalidJWT):
        jose.verify_jwt(token, {"keys": [public]})


def test_load_private_key_keeps_the_kid(signing_key):
    kid, _, private, _ = signing_key
    assert jose.load_private_key(private).kid == kid


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The tokens joserfc parsed and verified."""
    seen: list[str] = []
    real = jose.jwt.decode

    def counted(token, *args, **kwargs):
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jose.jwt, "decode", counted)
    return seen


def test_verified_tokens_verify_each_token_once(signing_key, decodes):
    kid, public, private, _ = signing_key
    verified = jose.VerifiedTokens(jose.import_key_set({"keys": [public]}))
    token = jose.sign_jwt(private, {"sub": "member-1", "aud": ["a", "b"]}, typ="at+jwt")
    answers = [verified.verify(token) for _ in range(3)]
    assert decodes == [token]
    assert answers[0] == ({"alg": public["alg"], "kid": kid, "typ": "at+jwt"}, {"sub": "member-1", "aud": ["a", "b"]})
    assert answers[0] == answers[1] == answers[2]
    answers[0][1]["sub"] = "changed by a caller"
    assert verified.verify(token)[1]["sub"] == "member-1", "each caller gets its own copy"


def test_verified_tokens_refuse_what_does_not_verify_every_time(signing_key, decodes):
    _, public, private, _ = signing_key
    verified = jose.VerifiedTokens(jose.import_key_set({"keys": [public]}))
    header, claims, signature = jose.sign_jwt(private, {"sub": "member-1"}).split(".")
    assert verified.verify(f"{header}.{claims}.{signature}")[1] == {"sub": "member-1"}
    # The same header and claims with another signature, and other claims under the same
    # signature: neither is taken for the token that verified.
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    other_claims = b64url(json.dumps({"sub": "member-2"}).encode())
    for forged in (f"{header}.{claims}.{flipped}", f"{header}.{other_claims}.{signature}"):
        for _ in range(2):
            with pytest.raises(jose.InvalidJWT):
                verified.verify(forged)
    assert len(decodes) == 5, "a refused token is not remembered: checked again each time"


def test_verified_tokens_keep_verifying_once_full(signing_key, decodes):
    _, public, private, _ = signing_key
    verified = jose.VerifiedTokens(jose.import_key_set({"keys": [public]}), capacity=2)
    tokens = [jose.sign_jwt(private, {"sub": f"member-{n}"}) for n in range(4)]
    for _ in range(2):
        assert [verified.verify(token)[1]["sub"] for token in tokens] == [f"member-{n}" for n in range(4)]
    assert decodes == tokens + tokens[2:], "the first two are remembered, the others verified each time"
    with pytest.raises(jose.InvalidJWT):
        jose.VerifiedTokens(jose.import_key_set({"keys": []})).verify(tokens[0])


# Identifiers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("siti@example.test", Identifier("email", "siti@example.test")),
        ("  Siti.Rahayu@Example.TEST \n", Identifier("email", "siti.rahayu@example.test")),
        ("12345678901", Identifier("membership_number", "12345678901")),
        (" 123 4567 8901 ", Identifier("membership_number", "12345678901")),
        ("123-4567-8901", Identifier("membership_number", "12345678901")),
        ("1234-5678 901", Identifier("membership_number", "12345678901")),
        ("\t12345678901\n", Identifier("membership_number", "12345678901")),
        ("1234567890", Identifier("unrecognised", "1234567890")),  # 10 digits
        ("123456789012", Identifier("unrecognised", "123456789012")),  # 12 digits
        ("3171010101900001", Identifier("unrecognised", "3171010101900001")),  # a NIK is not a login name
        ("1234567890a", Identifier("unrecognised", "1234567890a")),
        ("  Siti Rahayu ", Identifier("unrecognised", "siti rahayu")),
        ("", Identifier("unrecognised", "")),
    ],
)
def test_normalize_identifier(typed, expected):
    assert normalize_identifier(typed) == expected


def test_identifier_digest_is_stable_and_kind_specific():
    email = normalize_identifier(" Siti@Example.test")
    assert email.digest == normalize_identifier("siti@example.test ").digest
    assert email.digest == tokens.digest("email:siti@example.test")
    assert "siti" not in email.digest
    number = normalize_identifier("123-4567-8901")
    assert number.digest == normalize_identifier("12345678901").digest
    assert number.digest != Identifier("unrecognised", "12345678901").digest


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("Siti@Example.TEST", "siti@example.test"), ("  a.b+c@sub.example.co.id ", "a.b+c@sub.example.co.id")],
)
def test_normalize_email(typed, expected):
    assert normalize_email(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "siti",
        "siti@",
        "@example.test",
        "siti@example",
        "si ti@example.test",
        "a@b@example.test",
        "x" * 250 + "@example.test",
    ],
)
def test_normalize_email_refuses_invalid_addresses(typed):
    with pytest.raises(ValueError):
        normalize_email(typed)

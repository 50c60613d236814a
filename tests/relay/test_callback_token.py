from __future__ import annotations

import pytest

from relay.callback_token import CallbackClaims, CallbackTokenError, CallbackTokens
from tests.relay.harness import Clock

CLAIMS = CallbackClaims(delivery_id="d-1", repo="org/repo", pr_number=12, head_sha="a" * 40)


def test_a_minted_token_verifies_back_to_its_binding() -> None:
    tokens = CallbackTokens(b"k" * 32, ttl=3600)
    assert tokens.verify(tokens.mint(CLAIMS, issued_at=Clock()())) == CLAIMS


def test_a_token_under_another_key_or_altered_is_refused() -> None:
    clock = Clock()
    token = CallbackTokens(b"x" * 32, ttl=3600).mint(CLAIMS, issued_at=clock())
    with pytest.raises(CallbackTokenError, match="not valid"):
        CallbackTokens(b"k" * 32, ttl=3600).verify(token)
    genuine = CallbackTokens(b"k" * 32, ttl=3600).mint(CLAIMS, issued_at=clock())
    header, body, signature = genuine.split(".")
    with pytest.raises(CallbackTokenError):
        CallbackTokens(b"k" * 32, ttl=3600).verify(f"{header}.{body[:-2]}AA.{signature}")


def test_a_token_expires_with_the_status_ttl_from_the_delivery() -> None:
    clock = Clock()
    tokens = CallbackTokens(b"k" * 32, ttl=600, clock=clock)
    token = tokens.mint(CLAIMS, issued_at=clock())
    clock.advance(599)
    assert tokens.verify(token) == CLAIMS
    clock.advance(2)
    with pytest.raises(CallbackTokenError, match="expired"):
        tokens.verify(token)


def test_a_jwt_with_the_right_key_but_another_purpose_is_refused() -> None:
    import jwt

    other = jwt.encode({"aud": "something-else", "iss": "crcr-relay", "exp": 2**31, "iat": 0}, b"k" * 32, "HS256")
    with pytest.raises(CallbackTokenError, match="not valid"):
        CallbackTokens(b"k" * 32, ttl=60).verify(other)

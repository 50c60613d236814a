"""The callback token: what the relay signs into each dispatch so a callback can prove it was asked for.

It is an HS256 JWT under a relay-only key, binding delivery, downstream repo, PR number and head SHA,
and expiring with the dispatch's status TTL. One workflow run redeems it (the outbox records which);
that redemption, not the token itself, is what makes it one-shot.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["CallbackClaims", "CallbackTokenError", "CallbackTokens"]

_AUDIENCE = "crcr-callback"
_ISSUER = "crcr-relay"


class CallbackTokenError(Exception):
    """The token is missing, forged, expired or malformed."""


class CallbackClaims(BaseModel):
    """What a callback token binds."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    repo: str
    pr_number: int
    head_sha: str


class CallbackTokens:
    """Mints and verifies callback tokens with one key."""

    def __init__(self, key: bytes, *, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._ttl = ttl
        self._clock = clock

    def mint(self, claims: CallbackClaims, *, issued_at: float) -> str:
        """A token for `claims`, valid for the TTL from `issued_at` (the delivery's arrival)."""
        body = {
            "iss": _ISSUER,
            "aud": _AUDIENCE,
            "iat": int(issued_at),
            "exp": int(issued_at + self._ttl),
            "dlv": claims.delivery_id,
            "repo": claims.repo,
            "pr": claims.pr_number,
            "sha": claims.head_sha,
        }
        return jwt.encode(body, self._key, algorithm="HS256")

    def verify(self, token: str) -> CallbackClaims:
        try:
            body = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=_AUDIENCE,
                issuer=_ISSUER,
                # PyJWT reads the system time itself; expiry is checked below against the injected clock.
                options={"require": ["exp", "iat", "aud", "iss"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise CallbackTokenError(f"callback_token is not valid: {exc}") from exc
        if not isinstance(body.get("exp"), int) or body["exp"] <= self._clock():
            raise CallbackTokenError("callback_token has expired: the dispatch is too old to report on")
        try:
            return CallbackClaims(
                delivery_id=body.get("dlv"), repo=body.get("repo"), pr_number=body.get("pr"), head_sha=body.get("sha")
            )
        except ValidationError as exc:
            raise CallbackTokenError("callback_token lacks its delivery, repo, PR or SHA binding") from exc

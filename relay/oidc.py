"""Verifying the OIDC bearer token a downstream CI job sends with its callback.

The token's signature is checked against the issuer's published keys (JWKS), then issuer, audience
and lifetime. Its `repository` claim is the one identity the relay trusts. Keys are cached; a token
signed with an unknown key id triggers one early refresh (issuers rotate keys), at most once per
cool-down so forged key ids cannot make the relay hammer the issuer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx2
import jwt
from pydantic import BaseModel, ConfigDict

from relay.allowlist import is_repo_name
from relay.config import OidcIssuer, OidcSettings, check_service_url

__all__ = ["OidcError", "OidcUnavailable", "OidcVerifier", "VerifiedIdentity"]

_REFRESH_COOLDOWN = 30.0


class OidcError(Exception):
    """The bearer token is not acceptable; the message says why."""


class OidcUnavailable(Exception):
    """The issuer's keys cannot be fetched right now; the caller may try again."""


class VerifiedIdentity(BaseModel):
    """What a verified token proves."""

    model_config = ConfigDict(frozen=True)

    repository: str
    issuer: str
    run_id: int | None = None
    run_attempt: int | None = None


class _Keys:
    def __init__(self, keys: jwt.PyJWKSet, fetched_at: float) -> None:
        self.by_kid = {key.key_id: key for key in keys.keys if key.key_id}
        self.fetched_at = fetched_at


class OidcVerifier:
    def __init__(
        self, settings: OidcSettings, *, http: httpx2.AsyncClient, clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._issuers = {issuer.issuer: issuer for issuer in settings.issuers}
        self._http = http
        self._clock = clock
        self._keys: dict[str, _Keys] = {}

    async def verify(self, token: str) -> VerifiedIdentity:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise OidcError("the bearer token is not a JWT") from exc
        if header.get("alg") != "RS256":
            raise OidcError(f"the bearer token is signed with {header.get('alg')!r}; only RS256 is accepted")
        kid = header.get("kid")
        issuer = self._issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise OidcError(f"issuer {unverified.get('iss')!r} is not trusted")
        if not isinstance(kid, str):
            raise OidcError("the bearer token names no signing key (kid)")
        key = await self._key(issuer, kid)
        claims = self._decode(token, key, issuer.issuer)
        repository = claims.get("repository")
        if not isinstance(repository, str) or not is_repo_name(repository):
            raise OidcError("the token has no repository claim")
        return VerifiedIdentity(
            repository=repository,
            issuer=issuer.issuer,
            run_id=_int(claims.get("run_id")),
            run_attempt=_int(claims.get("run_attempt")),
        )

    def _decode(self, token: str, key: jwt.PyJWK, issuer: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._settings.audience,
                issuer=issuer,
                # Times are checked below against the injected clock, which PyJWT cannot use.
                options={
                    "require": ["exp", "iat", "iss", "aud"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise OidcError(f"wrong audience: the token must be requested for {self._settings.audience!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise OidcError("the token's signature does not verify against the issuer's keys") from exc
        except jwt.PyJWTError as exc:
            raise OidcError(f"the token is invalid: {exc}") from exc
        now, leeway = self._clock(), self._settings.leeway_seconds
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] + leeway <= now:
            raise OidcError("the token has expired; request a fresh one right before the callback")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] - leeway > now:
            raise OidcError("the token is not valid yet")
        if not isinstance(claims.get("iat"), int | float) or claims["iat"] - leeway > now:
            raise OidcError("the token was issued in the future")
        return claims

    async def _key(self, issuer: OidcIssuer, kid: str) -> jwt.PyJWK:
        now = self._clock()
        cached = self._keys.get(issuer.issuer)
        stale = cached is None or now - cached.fetched_at >= self._settings.jwks_cache_seconds
        missing = cached is not None and kid not in cached.by_kid and now - cached.fetched_at >= _REFRESH_COOLDOWN
        if stale or missing:
            cached = self._keys[issuer.issuer] = _Keys(await self._fetch(issuer), now)
        assert cached is not None
        key = cached.by_kid.get(kid)
        if key is None:
            raise OidcError(f"the issuer publishes no key {kid!r}")
        return key

    async def _fetch(self, issuer: OidcIssuer) -> jwt.PyJWKSet:
        jwks_url = issuer.jwks_url
        if jwks_url is None:
            discovery = await self._get_json(issuer.issuer.rstrip("/") + "/.well-known/openid-configuration")
            try:
                jwks_url = check_service_url(str(discovery["jwks_uri"]))
            except (KeyError, ValueError) as exc:
                raise OidcUnavailable(f"{issuer.issuer} publishes no usable jwks_uri") from exc
        try:
            return jwt.PyJWKSet.from_dict(await self._get_json(jwks_url))
        except jwt.PyJWTError as exc:
            raise OidcUnavailable(f"{jwks_url} holds no usable keys: {exc}") from exc

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, timeout=10.0)
            response.raise_for_status()
            body = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise OidcUnavailable(f"cannot read {url}: {exc}") from exc
        if not isinstance(body, dict):
            raise OidcUnavailable(f"{url} is not a JSON object")
        return body


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None

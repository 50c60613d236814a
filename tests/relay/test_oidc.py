from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from relay.config import OidcIssuer, OidcSettings
from relay.oidc import OidcError, OidcUnavailable, OidcVerifier
from tests.relay.harness import Clock, client
from tests.relay.oidc_issuer import AUDIENCE, OidcIssuerEmulator
from tests.relay.servers import bind

pytestmark = pytest.mark.anyio


def _settings(issuer: OidcIssuerEmulator, **extra: object) -> OidcSettings:
    return OidcSettings.model_validate({"issuers": [{"issuer": issuer.url}], **extra})


async def test_a_valid_token_proves_its_repository_and_run(issuer: OidcIssuerEmulator) -> None:
    async with client() as http:
        identity = await OidcVerifier(_settings(issuer), http=http).verify(
            issuer.token("org/repo", run_id=77, run_attempt=2)
        )
    assert (identity.repository, identity.issuer, identity.run_id, identity.run_attempt) == (
        "org/repo",
        issuer.url,
        77,
        2,
    )


async def test_the_issuers_keys_are_fetched_once_and_cached(issuer: OidcIssuerEmulator) -> None:
    async with client() as http:
        verifier = OidcVerifier(_settings(issuer), http=http)
        for _ in range(3):
            await verifier.verify(issuer.token("org/repo"))
    assert issuer.jwks_requests == 1


async def test_an_unknown_key_id_refreshes_the_keys_at_most_once_per_cool_down(
    issuer: OidcIssuerEmulator, forger_key: rsa.RSAPrivateKey
) -> None:
    clock = Clock()
    async with client() as http:
        verifier = OidcVerifier(_settings(issuer), http=http, clock=clock)
        await verifier.verify(issuer.token("org/repo"))
        clock.advance(31)
        for _ in range(3):
            with pytest.raises(OidcError, match="publishes no key 'rotated'"):
                await verifier.verify(issuer.token("org/repo", key=forger_key, kid="rotated", now=clock()))
    assert issuer.jwks_requests == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"audience": "sigstore"}, "wrong audience"),
        ({"issuer": "https://token.example.org"}, "issuer 'https://token.example.org' is not trusted"),
        ({"lifetime": -120}, "expired"),
        ({"repository": "not a repo"}, "no repository claim"),
    ],
)
async def test_a_token_is_refused_with_the_reason(
    issuer: OidcIssuerEmulator, overrides: dict[str, object], message: str
) -> None:
    repository = str(overrides.pop("repository", "org/repo"))
    async with client() as http:
        with pytest.raises(OidcError, match=message):
            await OidcVerifier(_settings(issuer), http=http).verify(issuer.token(repository, **overrides))  # type: ignore[arg-type]


async def test_a_token_signed_with_another_key_under_a_known_key_id_is_forged(
    issuer: OidcIssuerEmulator, forger_key: rsa.RSAPrivateKey
) -> None:
    async with client() as http:
        with pytest.raises(OidcError, match="signature does not verify"):
            await OidcVerifier(_settings(issuer), http=http).verify(issuer.token("org/repo", key=forger_key))


async def test_symmetric_and_unsigned_tokens_are_refused(issuer: OidcIssuerEmulator) -> None:
    claims = {"iss": issuer.url, "aud": AUDIENCE, "repository": "org/repo", "exp": 2**31, "iat": 0}
    hs256 = jwt.encode(claims, "guessable-secret-of-32-bytes-len", algorithm="HS256", headers={"kid": issuer.kid})
    unsigned = jwt.encode(claims, "", algorithm="none")
    async with client() as http:
        verifier = OidcVerifier(_settings(issuer), http=http)
        for token in (hs256, unsigned):
            with pytest.raises(OidcError, match="only RS256"):
                await verifier.verify(token)


async def test_leeway_tolerates_small_clock_skew_only(issuer: OidcIssuerEmulator) -> None:
    clock = Clock()
    async with client() as http:
        verifier = OidcVerifier(_settings(issuer, leeway_seconds=30), http=http, clock=clock)
        await verifier.verify(issuer.token("org/repo", now=clock() + 20))
        with pytest.raises(OidcError, match=r"issued in the future|not valid yet"):
            await verifier.verify(issuer.token("org/repo", now=clock() + 90))


async def test_an_unreachable_issuer_is_unavailable_not_a_refusal(issuer: OidcIssuerEmulator) -> None:
    sock, dead = bind()
    sock.close()
    settings = OidcSettings(issuers=(OidcIssuer(issuer=issuer.url, jwks_url=f"{dead}/jwks"),))
    async with client() as http:
        with pytest.raises(OidcUnavailable, match="cannot read"):
            await OidcVerifier(settings, http=http).verify(issuer.token("org/repo"))

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.relay.github_emulator import GitHubEmulator
from tests.relay.harness import APP_ID, REPOS, Harness, running_relay
from tests.relay.oidc_issuer import OidcIssuerEmulator
from tests.relay.servers import serve


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def app_key_pem(app_key: rsa.RSAPrivateKey) -> str:
    return _pem(app_key)


@pytest.fixture(scope="session")
def oidc_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def forger_key() -> rsa.RSAPrivateKey:
    """A key nobody trusts, for forged tokens."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def github(app_key: rsa.RSAPrivateKey) -> AsyncIterator[GitHubEmulator]:
    emulator = GitHubEmulator(app_id=APP_ID, public_key=app_key.public_key(), installed=REPOS)
    async with serve(emulator.app) as url:
        emulator.url = url
        yield emulator
        emulator.release()


@pytest.fixture
async def issuer(oidc_key: rsa.RSAPrivateKey) -> AsyncIterator[OidcIssuerEmulator]:
    emulator = OidcIssuerEmulator(oidc_key)
    async with serve(emulator.app) as url:
        emulator.url = url
        yield emulator


StartRelay = Callable[..., AbstractAsyncContextManager[Harness]]


@pytest.fixture
def start_relay(tmp_path: Path, github: GitHubEmulator, issuer: OidcIssuerEmulator, app_key_pem: str) -> StartRelay:
    """`async with start_relay(**config_sections) as h:` runs a relay against the emulators."""

    def start(**options: Any) -> AbstractAsyncContextManager[Harness]:
        return running_relay(tmp_path, github, issuer, app_key_pem, **options)

    return start

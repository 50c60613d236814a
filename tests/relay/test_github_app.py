from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from relay.github_app import GitHubApp, GitHubError, classify_response
from tests.relay.github_emulator import GitHubEmulator
from tests.relay.harness import APP_ID, Clock, client
from tests.relay.servers import serve

# -- classifying errors (pure) -------------------------------------------------------------------


def _response(status: int, headers: dict[str, str] | None = None, message: str = "nope") -> httpx2.Response:
    return httpx2.Response(status, headers=headers or {}, json={"message": message})


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (500, {}, True, None),
        (502, {"retry-after": "7"}, True, 7.0),
        (429, {}, True, None),
        (403, {"retry-after": "60"}, True, 60.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1090"}, True, 90.0),
        (403, {}, False, None),
        (404, {}, False, None),
        (422, {}, False, None),
        (401, {}, False, None),
    ],
)
def test_errors_are_retryable_only_for_outages_and_rate_limits(
    status: int, headers: dict[str, str], retryable: bool, retry_after: float | None
) -> None:
    error = classify_response(_response(status, headers), action="dispatch", now=1000.0)
    assert (error.status, error.retryable, error.retry_after) == (status, retryable, retry_after)
    assert "dispatch" in str(error) and "nope" in str(error)


def test_a_secondary_rate_limit_without_retry_after_waits_a_minute() -> None:
    response = _response(403, message="You have exceeded a secondary rate limit. Please wait a few minutes.")
    error = classify_response(response, action="dispatch", now=0.0)
    assert (error.retryable, error.retry_after) == (True, 60.0)


def test_a_retry_after_date_counts_from_now() -> None:
    headers = {"retry-after": "Thu, 01 Jan 1970 00:20:00 GMT"}
    assert classify_response(_response(429, headers), action="x", now=1000.0).retry_after == 200.0


# -- against the emulator ------------------------------------------------------------------------


@pytest.fixture
async def timed_github(app_key: rsa.RSAPrivateKey) -> AsyncIterator[tuple[GitHubEmulator, Clock]]:
    clock = Clock()
    emulator = GitHubEmulator(app_id=APP_ID, public_key=app_key.public_key(), installed=["a/one", "a/two"], clock=clock)
    async with serve(emulator.app) as url:
        emulator.url = url
        yield emulator, clock


def _app(github: GitHubEmulator, pem: str, http: httpx2.AsyncClient, clock: Clock) -> GitHubApp:
    return GitHubApp(app_id=APP_ID, private_key=pem, api_url=github.url, http=http, refresh_margin=300, clock=clock)


@pytest.mark.anyio
async def test_the_app_jwt_is_rs256_from_the_app_and_lives_under_ten_minutes(
    app_key: rsa.RSAPrivateKey, app_key_pem: str
) -> None:
    clock = Clock()
    async with client() as http:
        app = GitHubApp(app_id=APP_ID, private_key=app_key_pem, api_url="https://x", http=http, clock=clock)
        token = app.app_jwt()
        assert app.app_jwt() == token  # reused while it has time left
    claims = jwt.decode(token, app_key.public_key(), algorithms=["RS256"])
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["iss"] == str(APP_ID)
    assert claims["iat"] <= clock() - 59 and claims["exp"] - claims["iat"] <= 600


@pytest.mark.anyio
async def test_an_installation_token_is_reused_until_its_remaining_life_drops_under_the_margin(
    timed_github: tuple[GitHubEmulator, Clock], app_key_pem: str
) -> None:
    github, clock = timed_github
    async with client() as http:
        app = _app(github, app_key_pem, http, clock)
        first = await app.installation_token("a/one")
        clock.advance(3200)  # 400 s left: more than the 300 s margin
        assert await app.installation_token("a/one") == first
        clock.advance(200)  # 200 s left
        assert await app.installation_token("a/one") != first
        assert github.tokens_minted == [100, 100]
        assert github.installation_lookups == ["a/one"]


@pytest.mark.anyio
async def test_each_repo_uses_its_own_installation(
    timed_github: tuple[GitHubEmulator, Clock], app_key_pem: str
) -> None:
    github, clock = timed_github
    async with client() as http:
        app = _app(github, app_key_pem, http, clock)
        await app.dispatch("a/one", "push", {"delivery_id": "x"})
        await app.dispatch("a/two", "push", {"delivery_id": "x"})
    assert sorted(github.tokens_minted) == [100, 101]
    assert [d.repo for d in github.dispatches] == ["a/one", "a/two"]


@pytest.mark.anyio
async def test_a_repo_without_the_app_is_a_permanent_404(
    timed_github: tuple[GitHubEmulator, Clock], app_key_pem: str
) -> None:
    github, clock = timed_github
    async with client() as http:
        with pytest.raises(GitHubError) as error:
            await _app(github, app_key_pem, http, clock).dispatch("b/none", "push", {})
    assert (error.value.status, error.value.retryable) == (404, False)
    assert "installation on b/none" in str(error.value)


@pytest.mark.anyio
async def test_an_uninstalled_app_is_looked_up_again_next_time(
    timed_github: tuple[GitHubEmulator, Clock], app_key_pem: str
) -> None:
    github, clock = timed_github
    async with client() as http:
        app = _app(github, app_key_pem, http, clock)
        await app.installation_id("a/one")
        github.installations["a/one"] = 999  # reinstalled elsewhere: the old id is gone
        with pytest.raises(GitHubError):
            await app.installation_token("a/one")
        github.installations["a/one"] = 100
        assert await app.installation_token("a/one")
    assert github.installation_lookups == ["a/one", "a/one"]

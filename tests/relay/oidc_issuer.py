"""A local OIDC issuer: a test key pair, a discovery document, a JWKS endpoint, and token minting."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["AUDIENCE", "OidcIssuerEmulator"]

AUDIENCE = "pytorch-cross-repo-ci-relay"


class OidcIssuerEmulator:
    def __init__(self, key: rsa.RSAPrivateKey, *, kid: str = "test-key-1") -> None:
        self.key = key
        self.kid = kid
        self.url = ""
        self.jwks_requests = 0
        self.actions_repository = "org/repo"
        """Whose job the Actions-runtime token endpoint pretends to serve."""
        self.actions_request_token = "runtime-request-token"
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery, methods=["GET"]),
                Route("/jwks", self._jwks, methods=["GET"]),
                Route("/actions-token", self._actions_token, methods=["GET"]),
            ]
        )

    def token(
        self,
        repository: str,
        *,
        audience: str = AUDIENCE,
        issuer: str | None = None,
        now: float | None = None,
        lifetime: float = 300.0,
        run_id: int | None = 5001,
        run_attempt: int | None = 1,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """A token as GitHub Actions mints it, with any field overridable to make it wrong."""
        issued = int(time.time() if now is None else now)
        body: dict[str, Any] = {
            "iss": issuer or self.url,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": int(issued + lifetime),
            "sub": f"repo:{repository}:ref:refs/heads/main",
            "repository": repository,
            "repository_owner": repository.split("/")[0],
            **claims,
        }
        if run_id is not None:
            body["run_id"] = str(run_id)
        if run_attempt is not None:
            body["run_attempt"] = str(run_attempt)
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    async def _discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/jwks"})

    async def _actions_token(self, request: Request) -> JSONResponse:
        """The Actions runtime's ACTIONS_ID_TOKEN_REQUEST_URL: a token for the job, audience on request."""
        if request.headers.get("authorization") != f"bearer {self.actions_request_token}":
            return JSONResponse({"message": "bad request token"}, status_code=401)
        audience = request.query_params.get("audience", "")
        return JSONResponse({"value": self.token(self.actions_repository, audience=audience)})

    async def _jwks(self, request: Request) -> JSONResponse:
        self.jwks_requests += 1
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return JSONResponse({"keys": [public]})

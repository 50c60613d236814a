"""Small pieces both HTTP endpoints share: bounded body reads and JSON error answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["BodyTooLarge", "problem", "read_body"]


class BodyTooLarge(Exception):
    """The request body is over the endpoint's limit."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing early when it declares or turns out larger than `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def problem(status: int, message: str, **extra: object) -> JSONResponse:
    """An error answer whose message says what to fix."""
    return JSONResponse({"error": message, **extra}, status_code=status)

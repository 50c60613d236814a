"""What the relay reads from a GitHub webhook body: a handful of fields, typed.

A `pull_request` body is ~25 KB of which routing needs under 200 bytes. msgspec checks the whole
body's JSON syntax but builds only these fields; building all of it (and freeing it again) was the
largest cost of a webhook on the event loop after the signature check. Everything else in the body
is forwarded to downstream repos as it came.
"""

from __future__ import annotations

import msgspec

__all__ = ["Commit", "EventPayload", "Label", "PayloadError", "PullRequest", "Repository", "decode_payload"]


class PayloadError(ValueError):
    """A signed body that is not the JSON its event must be; the message says where."""


class Repository(msgspec.Struct, frozen=True):
    full_name: str


class Commit(msgspec.Struct, frozen=True):
    sha: str


class Label(msgspec.Struct, frozen=True):
    name: str


class PullRequest(msgspec.Struct, frozen=True):
    number: int
    head: Commit
    labels: tuple[Label, ...] = ()


class EventPayload(msgspec.Struct, frozen=True):
    """The fields of any relayed event; which ones an event must have is for routing to check."""

    action: str | None = None
    repository: Repository | None = None
    pull_request: PullRequest | None = None
    label: Label | None = None
    after: str | None = None
    """A push's new head (forty zeros when the push deleted the ref)."""


_DECODER = msgspec.json.Decoder(EventPayload)


def decode_payload(body: bytes) -> EventPayload:
    """The routed fields of a webhook body; PayloadError when it is not UTF-8 JSON of the right shape."""
    # msgspec checks the UTF-8 of the strings it builds, not of those it skips; an ASCII body needs
    # no check at all, and checking it is ASCII costs a tenth of decoding it.
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            raise PayloadError("body is not UTF-8 JSON") from None
    try:
        return _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise PayloadError(f"body does not fit a GitHub webhook: {exc}") from None
    except msgspec.DecodeError:
        raise PayloadError("body is not UTF-8 JSON") from None

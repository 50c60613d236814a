from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import anyio
import pytest

from relay import intake
from relay.callback_token import CallbackTokens
from relay.journal import Journal, JournalFull, JournalRecord
from relay.webhook import Dispatch, Ignore, LabelAdded, Rerequested, Route, route, signature_matches
from relay.webhook_schema import PayloadError, decode_payload
from tests.relay.conftest import StartRelay
from tests.relay.harness import CALLBACK_KEY, REPOS, WEBHOOK_SECRET, settled
from tests.relay.payloads import pull_request_event, push_event, sign

# -- routing (pure) ------------------------------------------------------------------------------


def _route(event: str, payload: dict[str, Any]) -> Route:
    return route(event, decode_payload(json.dumps(payload).encode()))


@pytest.mark.parametrize("action", ["opened", "reopened", "synchronize", "closed"])
def test_pull_request_actions_that_change_code_or_end_the_pr_dispatch(action: str) -> None:
    decision = _route("pull_request", pull_request_event(action, number=7, sha="f" * 40, labels=("ciflow/crcr/npu",)))
    assert decision == Dispatch("pull_request", action, 7, "f" * 40, ("ciflow/crcr/npu",))


@pytest.mark.parametrize("action", ["edited", "assigned", "unlabeled", "review_requested", "converted_to_draft"])
def test_other_pull_request_actions_are_ignored(action: str) -> None:
    assert isinstance(_route("pull_request", pull_request_event(action)), Ignore)


def test_a_crcr_label_routes_to_the_label_handler_and_any_other_label_is_ignored() -> None:
    labeled = _route("pull_request", pull_request_event("labeled", number=9, label="ciflow/crcr/npu"))
    assert labeled == LabelAdded("ciflow/crcr/npu", 9, "a" * 40)
    assert isinstance(_route("pull_request", pull_request_event("labeled", label="ciflow/trunk")), Ignore)


def test_a_push_dispatches_its_new_head_and_a_deleted_ref_is_ignored() -> None:
    assert _route("push", push_event(after="e" * 40)) == Dispatch("push", None, None, "e" * 40, ())
    assert isinstance(_route("push", push_event(after="0" * 40)), Ignore)


def test_rerequested_check_runs_and_suites_route_to_the_rerun_handler() -> None:
    assert _route("check_run", {"action": "rerequested"}) == Rerequested("check_run")
    assert _route("check_suite", {"action": "rerequested"}) == Rerequested("check_suite")
    assert isinstance(_route("check_run", {"action": "completed"}), Ignore)


def test_a_pull_request_payload_without_its_head_sha_is_a_payload_error_that_names_the_field() -> None:
    event = pull_request_event("opened")
    del event["pull_request"]["head"]["sha"]
    with pytest.raises(PayloadError, match=r"field `sha` - at `\$\.pull_request\.head`"):
        _route("pull_request", event)


def test_an_event_without_the_object_it_routes_on_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="lacks `pull_request`"):
        _route("pull_request", {"action": "opened"})
    with pytest.raises(PayloadError, match="lacks `after`"):
        _route("push", {"ref": "refs/heads/main"})
    with pytest.raises(PayloadError, match="lacks `label`"):
        _route("pull_request", pull_request_event("labeled"))


def test_a_field_of_the_wrong_type_is_a_payload_error_that_names_its_path() -> None:
    event = pull_request_event("opened")
    event["pull_request"]["number"] = "12"
    with pytest.raises(PayloadError, match=r"Expected `int`, got `str` - at `\$\.pull_request\.number`"):
        _route("pull_request", event)


def test_invalid_utf8_is_refused_even_in_a_field_routing_does_not_read() -> None:
    with pytest.raises(PayloadError, match="not UTF-8 JSON"):
        decode_payload(b'{"action": "opened", "comment": "\xff"}')
    with pytest.raises(PayloadError, match="not UTF-8 JSON"):
        decode_payload(b'{"action": "caf\xc3\xa9", "comment": "\xc3"}')  # valid before, truncated after


def test_non_ascii_utf8_is_read_whether_routing_reads_it_or_not() -> None:
    payload = decode_payload('{"action": "café", "comment": "привет"}'.encode())
    assert payload.action == "café"


def test_signature_check_accepts_only_the_exact_hmac_of_the_raw_body() -> None:
    body = b'{"a": 1}'
    assert not signature_matches(b"secret", body, "sha256=" + "ab" * 32)
    real = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert signature_matches(b"secret", body, real)
    assert not signature_matches(b"secret", body + b" ", real)
    assert not signature_matches(b"other", body, real)
    assert not signature_matches(b"secret", body, real.replace("sha256=", "sha1="))


# -- the endpoint over loopback ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_webhook_without_a_signature_is_400_and_with_a_bad_one_is_401(start_relay: StartRelay) -> None:
    async with start_relay(background=False) as h:
        missing = await h.webhook("pull_request", pull_request_event(), signature="")
        bad = await h.webhook("pull_request", pull_request_event(), signature="sha256=" + "0" * 64)
        assert (missing.status_code, bad.status_code) == (400, 401)
        assert "X-Hub-Signature-256" in missing.json()["error"]
        assert "bad signature" in bad.json()["error"]
        assert await h.relay.outbox.for_delivery("anything") == []


@pytest.mark.anyio
async def test_an_event_the_relay_does_not_handle_is_ignored_before_any_signature_check(
    start_relay: StartRelay,
) -> None:
    async with start_relay(background=False) as h:
        answer = await h.webhook("issues", {"action": "opened"}, signature="")
        assert answer.status_code == 200
        assert answer.json()["status"] == "ignored"


@pytest.mark.anyio
async def test_events_from_another_repository_are_ignored(start_relay: StartRelay) -> None:
    async with start_relay(background=False) as h:
        answer = await h.webhook("pull_request", pull_request_event(repo="someone/fork"), delivery="d-fork")
        assert answer.json() == {"status": "ignored", "reason": "repository 'someone/fork' is not the upstream repo"}
        assert await h.relay.outbox.for_delivery("d-fork") == []


@pytest.mark.anyio
async def test_malformed_bodies_and_missing_delivery_ids_are_400(start_relay: StartRelay) -> None:
    async with start_relay(background=False) as h:
        not_json = await h.webhook("push", {}, body=b"{not json")
        assert not_json.status_code == 400
        not_utf8 = await h.webhook("push", {}, body=b'{"after": "\xff"}')
        assert (not_utf8.status_code, not_utf8.json()["error"]) == (400, "body is not UTF-8 JSON")
        not_object = await h.webhook("push", {}, body=b"[1, 2]")
        assert not_object.status_code == 400
        assert not_object.json()["error"] == "body does not fit a GitHub webhook: Expected `object`, got `array`"
        huge = json.dumps(pull_request_event("labeled", label="ciflow/crcr/npu"))[:-1] + ', "size": 1e999}'
        unreadable = await h.webhook("pull_request", {}, body=huge.encode())
        assert unreadable.status_code == 400
        assert "cannot be read" in unreadable.json()["error"]
        no_delivery = await h.http.post(
            f"{h.url}/github/webhook",
            content=b"{}",
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(WEBHOOK_SECRET, b"{}")},
        )
        assert no_delivery.status_code == 400
        assert "X-GitHub-Delivery" in no_delivery.json()["error"]


@pytest.mark.anyio
async def test_a_webhook_is_recorded_for_every_allowlisted_repo_before_the_answer(start_relay: StartRelay) -> None:
    async with start_relay(background=False) as h:
        answer = await h.webhook("pull_request", pull_request_event("synchronize", number=12), delivery="d-1")
        assert answer.status_code == 202
        records = await h.relay.outbox.for_delivery("d-1")
        assert sorted(r.repo for r in records) == sorted(REPOS)
        assert {r.status for r in records} == {"pending"}
        assert {(r.pr_number, r.head_sha, r.event) for r in records} == {(12, "a" * 40, "pull_request")}


@pytest.mark.anyio
async def test_a_redelivered_webhook_adds_nothing_and_dispatches_nothing_twice(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        first = await h.webhook("pull_request", pull_request_event(), delivery="d-re")
        with anyio.fail_after(5):
            await settled(h.relay, "d-re")
        again = await h.webhook("pull_request", pull_request_event(), delivery="d-re")
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json() == {"status": "duplicate", "delivery_id": "d-re"}
        records = await h.relay.outbox.for_delivery("d-re")
        assert [(r.status, r.attempts) for r in records] == [("dispatched", 1)] * len(REPOS)
        assert sorted(d.repo for d in h.github.dispatches) == sorted(REPOS)


@pytest.mark.anyio
async def test_the_answer_does_not_wait_for_any_dispatch(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        for repo in REPOS:
            h.github.hold(repo)
        answer = await h.webhook("push", push_event(), delivery="d-held")
        assert answer.status_code == 202
        with anyio.fail_after(5):
            await h.github.wait_for(lambda: len(h.github.held) == 4)  # every worker is stuck on GitHub
        assert h.github.dispatches == []


@pytest.mark.anyio
async def test_the_dispatch_carries_the_raw_webhook_and_the_flat_keys_within_githubs_limit(
    start_relay: StartRelay,
) -> None:
    async with start_relay() as h:
        event = pull_request_event("opened", number=77, sha="9" * 40)
        await h.webhook("pull_request", event, delivery="d-payload")
        with anyio.fail_after(5):
            await settled(h.relay, "d-payload")
        sent = h.github.dispatched_to("l3org/four")[0]
        payload = sent.client_payload
        assert sent.event_type == "pull_request"
        assert len(payload) <= 10
        assert payload["payload"] == json.loads(json.dumps(event))
        assert {k: payload[k] for k in ("event_type", "delivery_id", "head_sha", "pr_number", "upstream_repo")} == {
            "event_type": "pull_request",
            "delivery_id": "d-payload",
            "head_sha": "9" * 40,
            "pr_number": 77,
            "upstream_repo": "pytorch/pytorch",
        }
        assert payload["callback_url"] == f"{h.url}/github/callback"
        claims = CallbackTokens(CALLBACK_KEY, ttl=60).verify(payload["callback_token"])
        assert (claims.delivery_id, claims.repo, claims.pr_number, claims.head_sha) == (
            "d-payload",
            "l3org/four",
            77,
            "9" * 40,
        )


@pytest.mark.anyio
async def test_a_push_dispatches_as_push_with_no_pr(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        await h.webhook("push", push_event(after="4" * 40), delivery="d-push")
        with anyio.fail_after(5):
            await settled(h.relay, "d-push")
        payload = h.github.dispatched_to("l1org/one")[0].client_payload
        assert (h.github.dispatches[0].event_type, payload["pr_number"], payload["head_sha"]) == (
            "push",
            None,
            "4" * 40,
        )


@pytest.mark.anyio
async def test_check_runs_are_wanted_for_l4_always_and_for_l3_only_with_its_device_label(
    start_relay: StartRelay,
) -> None:
    async with start_relay(background=False) as h:
        await h.webhook("pull_request", pull_request_event(), delivery="plain")
        await h.webhook("pull_request", pull_request_event(labels=("ciflow/crcr/npu",)), delivery="labelled")
        plain = {r.repo: r.check_run_wanted for r in await h.relay.outbox.for_delivery("plain")}
        labelled = {r.repo: r.check_run_wanted for r in await h.relay.outbox.for_delivery("labelled")}
        assert [repo for repo, wanted in plain.items() if wanted] == ["l4org/five"]
        assert sorted(repo for repo, wanted in labelled.items() if wanted) == ["l3org/four", "l4org/five"]


@pytest.mark.anyio
async def test_label_and_rerun_events_are_accepted_for_their_handlers_and_dispatch_nothing(
    start_relay: StartRelay,
) -> None:
    async with start_relay(background=False) as h:
        labeled = await h.webhook(
            "pull_request", pull_request_event("labeled", label="ciflow/crcr/npu"), delivery="d-label"
        )
        rerun = await h.webhook(
            "check_run", {"action": "rerequested", "repository": {"full_name": "pytorch/pytorch"}}, delivery="d-rerun"
        )
        assert labeled.json()["status"] == rerun.json()["status"] == "accepted"
        assert await h.relay.outbox.for_delivery("d-label") == await h.relay.outbox.for_delivery("d-rerun") == []


@pytest.mark.anyio
async def test_a_journal_that_stays_full_answers_503_and_the_redelivery_is_then_accepted(
    start_relay: StartRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "_FULL_WAIT", 0.1)
    async with start_relay(background=False) as h:
        with monkeypatch.context() as full:
            full.setattr(Journal, "append", _always_full)
            refused = await h.webhook("pull_request", pull_request_event(), delivery="d-busy")
        assert refused.status_code == 503
        assert "journal has been full" in refused.json()["error"]
        again = await h.webhook("pull_request", pull_request_event(), delivery="d-busy")
        assert again.status_code == 202


def _always_full(self: Journal, meta: bytes, body: bytes) -> JournalRecord:
    raise JournalFull("no room (test)")

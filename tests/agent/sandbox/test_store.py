import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.sandbox import CommentSeed, IssueNotFound, IssueSeed, SandboxStore

REPO = "octo-org/widgets"
NOON = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


class FrozenClock:
    """A clock that only moves when told to, so same-second writes can be produced on purpose."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOON)


@pytest.fixture
def store(clock: FrozenClock) -> Iterator[SandboxStore]:
    with SandboxStore(clock=clock) as opened:
        yield opened


def _seed(number: int = 1, **fields: object) -> IssueSeed:
    values: dict[str, object] = {
        "repo": REPO,
        "number": number,
        "title": f"issue {number}",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=number - 1),
        "labels": ("oncall: distributed",),
    }
    values.update(fields)
    return IssueSeed.model_validate(values)


def test_put_replaces_an_issue_wholesale_and_keeps_its_id(store: SandboxStore) -> None:
    first = store.put(_seed(comments=(CommentSeed(author="a", body="hi", created_at=NOON),), labels=("a", "b")))
    second = store.put(_seed(labels=("c",)))
    assert second.id == first.id
    assert (second.labels, second.comments) == (("c",), ())


def test_a_seed_keeps_its_own_updated_at_so_replayed_issues_look_as_they_stood(store: SandboxStore) -> None:
    comment = CommentSeed(author="a", body="hi", created_at=datetime(2026, 2, 3, tzinfo=UTC))
    stored = store.put(_seed(comments=(comment,)))
    assert stored.updated_at == datetime(2026, 2, 3, tzinfo=UTC)


def test_set_labels_replaces_the_whole_set_and_an_empty_list_clears_it(store: SandboxStore) -> None:
    store.put(_seed(labels=("a", "b")))
    assert store.set_labels(REPO, 1, ["b", "c"]).labels == ("b", "c")
    assert store.set_labels(REPO, 1, []).labels == ()


def test_update_without_labels_leaves_them_alone(store: SandboxStore) -> None:
    store.put(_seed(labels=("a",)))
    assert store.update(REPO, 1, title="renamed").labels == ("a",)


def test_every_write_moves_updated_at_even_within_one_second(store: SandboxStore) -> None:
    before = store.put(_seed()).updated_at
    times = [
        store.add_labels(REPO, 1, ["x"]).updated_at,
        store.remove_labels(REPO, 1, ["x"]).updated_at,
    ]
    store.add_comment(REPO, 1, author="a", body="b")
    times.append(store.require(REPO, 1).updated_at)
    assert before < times[0] < times[1] < times[2]
    assert times[0] == NOON  # the clock is ahead of the seed, so the first write takes the clock's time


def test_a_write_that_changes_nothing_does_not_move_updated_at(store: SandboxStore) -> None:
    stored = store.put(_seed(labels=("a",)))
    assert store.set_labels(REPO, 1, ["A"]).updated_at == stored.updated_at


def test_label_names_differing_only_in_case_are_one_repository_label(store: SandboxStore) -> None:
    store.put(_seed(labels=("Module: FSDP",)))
    store.put(_seed(2, labels=()))
    assert store.set_labels(REPO, 2, ["module: fsdp"]).labels == ("Module: FSDP",)


def test_closing_records_when_and_why_and_reopening_says_reopened(store: SandboxStore, clock: FrozenClock) -> None:
    store.put(_seed())
    closed = store.update(REPO, 1, state="closed", state_reason="not_planned")
    assert (closed.state, closed.state_reason, closed.closed_at) == ("closed", "not_planned", NOON)
    clock.now += timedelta(minutes=5)
    reopened = store.update(REPO, 1, state="open")
    assert (reopened.state, reopened.state_reason, reopened.closed_at) == ("open", "reopened", None)


def test_create_numbers_issues_after_the_highest_one(store: SandboxStore) -> None:
    store.put(_seed(41))
    created = store.create(REPO, title="new", author="bot", labels=["a"])
    assert (created.number, created.author, created.labels, created.created_at) == (42, "bot", ("a",), NOON)


def test_a_missing_issue_is_reported_not_invented(store: SandboxStore) -> None:
    assert store.get(REPO, 99) is None
    with pytest.raises(IssueNotFound, match="octo-org/widgets#99"):
        store.set_labels(REPO, 99, ["a"])
    with pytest.raises(IssueNotFound):
        store.add_comment(REPO, 99, author="a", body="b")


def test_list_matches_labels_by_whole_name_and_requires_all_of_them(store: SandboxStore) -> None:
    store.put(_seed(1, labels=("oncall: distributed", "bot-triaged")))
    store.put(_seed(2, labels=("oncall: distributed", "triaged")))
    store.put(_seed(3, labels=("oncall: distributed",)))
    triaged, total = store.list_issues(REPO, labels=["triaged"])
    assert ([i.number for i in triaged], total) == ([2], 1)
    both, _ = store.list_issues(REPO, labels=["oncall: distributed", "bot-triaged"])
    assert [i.number for i in both] == [1]


def test_list_orders_filters_and_pages(store: SandboxStore) -> None:
    for number in (1, 2, 3, 4):
        store.put(_seed(number, state="closed" if number == 2 else "open"))
    page, total = store.list_issues(REPO, state="open", descending=False, offset=1, limit=2)
    assert ([i.number for i in page], total) == ([3, 4], 3)
    recent, _ = store.list_issues(REPO, since=datetime(2026, 1, 3, tzinfo=UTC))
    assert [i.number for i in recent] == [4, 3]


def test_labels_of_reports_repository_label_definitions(store: SandboxStore) -> None:
    store.put(_seed(labels=("a", "b")))
    infos = store.labels_of(REPO, 1)
    assert [(i.name, i.color) for i in infos] == [("a", "ededed"), ("b", "ededed")]
    assert len({i.id for i in infos}) == 2


# Each worker says it is ready, then waits for the word to start, so the two really write at once.
_ADDER = """
import sys
from agent.sandbox import SandboxStore
store = SandboxStore(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
for n in range(int(sys.argv[3])):
    store.add_labels("octo-org/widgets", 1, [f"{sys.argv[2]}-{n}"])
"""


def test_two_processes_adding_labels_to_one_issue_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    with SandboxStore(path) as store:
        store.put(_seed(labels=()))
    count = 150
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", _ADDER, str(path), name, str(count)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            for name in ("left", "right")
        ]
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.close()
        assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    with SandboxStore(path) as store:
        labels = set(store.require(REPO, 1).labels)
    assert labels == {f"{name}-{n}" for name in ("left", "right") for n in range(count)}


def test_listing_more_issues_than_one_parameter_slice_keeps_every_label(store: SandboxStore) -> None:
    store.put_many(_seed(number, labels=(f"l{number}",)) for number in range(1, 1202))
    issues = store.issues(REPO)
    assert len(issues) == 1201
    assert all(issue.labels == (f"l{issue.number}",) for issue in issues)

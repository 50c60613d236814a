from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.journal import Journal, JournalFull

HEADER = 36
JOURNAL_ID = 7


def _open(path: Path, capacity: int = 1000, *, next_seq: int = 1, position: int = 0, **kw: int) -> Journal:
    return Journal(
        path, capacity=capacity, journal_id=kw.get("journal_id", JOURNAL_ID), next_seq=next_seq, position=position
    )


def _replayed(journal: Journal) -> list[tuple[int, bytes, bytes]]:
    return [(r.seq, r.meta, r.body) for r in journal.recovered]


def test_unreleased_records_are_replayed_in_order_after_a_restart(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j")
    journal.append(b"m1", b"body one")
    journal.append(b"m2", b"body two")
    journal.close()
    again = _open(tmp_path / "j")
    assert _replayed(again) == [(1, b"m1", b"body one"), (2, b"m2", b"body two")]
    assert again.next_seq == 3


def test_replay_starts_at_the_saved_position_so_released_records_stay_gone(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j")
    first = journal.append(b"m1", b"x" * 10)
    journal.append(b"m2", b"y" * 10)
    journal.release(first.seq)
    journal.close()
    again = _open(tmp_path / "j", next_seq=first.seq + 1, position=first.end)
    assert [seq for seq, _, _ in _replayed(again)] == [2]


def test_a_record_that_does_not_fit_at_the_end_goes_to_the_start_and_is_replayed_from_there(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j", capacity=300)
    first = journal.append(b"", b"a" * 100)
    second = journal.append(b"", b"b" * 100)
    journal.release(first.seq)
    third = journal.append(b"", b"c" * 100)  # no room after the second record; the first one's place is free
    assert third.end == HEADER + 100
    journal.close()
    again = _open(tmp_path / "j", capacity=300, next_seq=second.seq, position=first.end)
    assert [(seq, body[:1]) for seq, _, body in _replayed(again)] == [(2, b"b"), (3, b"c")]


def test_a_full_journal_refuses_a_record_until_older_ones_are_released(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j", capacity=300)
    first = journal.append(b"", b"a" * 100)
    journal.append(b"", b"b" * 100)
    with pytest.raises(JournalFull, match="2 records wait"):
        journal.append(b"", b"c" * 100)
    journal.release(first.seq)
    journal.append(b"", b"c" * 100)
    assert journal.pending == 2


def test_a_record_larger_than_the_journal_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot fit a journal of 300"):
        _open(tmp_path / "j", capacity=300).append(b"", b"x" * 300)


def test_a_torn_record_ends_the_replay_before_it(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j")
    journal.append(b"m1", b"kept")
    torn = journal.append(b"m2", b"half written")
    journal.close()
    fd = os.open(tmp_path / "j", os.O_WRONLY)
    os.pwrite(fd, b"X", torn.end - 1)
    os.close(fd)
    assert [seq for seq, _, _ in _replayed(_open(tmp_path / "j"))] == [1]


def test_records_of_another_database_are_not_replayed(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j")
    journal.append(b"m1", b"from an older database")
    journal.close()
    assert _replayed(_open(tmp_path / "j", journal_id=JOURNAL_ID + 1)) == []


def test_a_smaller_capacity_waits_until_the_records_it_holds_are_replayed(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j", capacity=1000)
    journal.append(b"", b"z" * 600)
    journal.close()
    again = _open(tmp_path / "j", capacity=300)
    assert [seq for seq, _, _ in _replayed(again)] == [1]
    assert again.capacity == 1000


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.one_of(st.integers(min_value=0, max_value=180), st.just(-1)), min_size=1, max_size=60),
)
def test_after_any_appends_and_releases_a_restart_replays_exactly_the_unreleased_records(
    tmp_path_factory: pytest.TempPathFactory, steps: list[int]
) -> None:
    """Sizes append a record of that many body bytes (or find the journal full); -1 releases the oldest."""
    path = tmp_path_factory.mktemp("ring") / "j"
    journal = _open(path, capacity=400)
    live: list[tuple[int, bytes]] = []
    ends: dict[int, int] = {}
    saved = (1, 0)  # what the database would hold: the next seq and the position after the last release
    for step in steps:
        if step < 0:
            if live:
                seq, _ = live.pop(0)
                journal.release(seq)
                saved = (seq + 1, ends[seq])
            continue
        body = bytes([step % 251]) * step
        try:
            record = journal.append(b"m", body)
        except JournalFull:
            continue
        live.append((record.seq, body))
        ends[record.seq] = record.end
    journal.close()
    again = _open(path, capacity=400, next_seq=saved[0], position=saved[1])
    assert [(seq, body) for seq, _, body in _replayed(again)] == live


def test_the_file_grows_with_the_records_not_to_its_capacity_at_once(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j", capacity=64 << 20)
    journal.append(b"m", b"x" * 100)
    assert os.path.getsize(tmp_path / "j") == 1 << 20
    journal.append(b"m", b"y" * (3 << 20))
    assert os.path.getsize(tmp_path / "j") == 4 << 20


def test_after_a_record_that_ends_exactly_at_the_end_replay_continues_at_the_start(tmp_path: Path) -> None:
    journal = _open(tmp_path / "j", capacity=2 * HEADER + 20)
    first = journal.append(b"", b"a" * 10)
    second = journal.append(b"", b"b" * 10)
    assert second.end == journal.capacity
    journal.release(second.seq)
    journal.append(b"", b"c" * 10)
    journal.close()
    again = _open(tmp_path / "j", capacity=2 * HEADER + 20, next_seq=second.seq + 1, position=second.end)
    assert [(seq, body) for seq, _, body in _replayed(again)] == [(first.seq + 2, b"c" * 10)]

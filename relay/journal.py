"""The intake journal: a fixed-size ring file that makes a webhook durable before it is answered.

Appending is one `pwritev`, after the first lap into pages already written, so it rewrites page-cache
pages instead of growing the file (a growing file costs several times more kernel time per record).
Records wait here until the outbox has copied them into SQLite, in batches, and released them.

A record: header (magic, journal id, sequence number, lengths, XXH3 checksum), then metadata and
body. (XXH3 rather than CRC-32: over a 25 KB body it takes half a microsecond of the event loop's
time instead of eight.) The journal id belongs to the database, so records left by an older database
are never replayed; the sequence number and the checksum find where the live records end after a
crash: replay starts at the position the database last saved, takes records while each carries the
next number, and when one does not, looks once at the start of the file, where a record that did not
fit at the end went.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import xxhash

__all__ = ["Journal", "JournalFull", "JournalRecord"]

_HEADER = struct.Struct("<4sQQIIQ")
_MAGIC = b"RLJ2"
_ZEROS = bytes(1 << 20)


def _checksum(seq: int, meta: bytes, body: bytes) -> int:
    return xxhash.xxh3_64_intdigest(body, seed=xxhash.xxh3_64_intdigest(meta, seed=seq))


class JournalFull(Exception):
    """No room for the record until the outbox releases older ones."""


@dataclass(frozen=True)
class JournalRecord:
    seq: int
    end: int
    """Offset just past the record: where replay resumes once it is released."""
    meta: bytes
    body: bytes


@dataclass(frozen=True)
class _Extent:
    seq: int
    start: int


class Journal:
    """Append, release in order, and replay after a restart; all on one thread (the event loop)."""

    def __init__(self, path: Path, *, capacity: int, journal_id: int, next_seq: int, position: int) -> None:
        """Open (making the file if needed); `recovered` then holds the unreleased records."""
        self.path = path
        self.journal_id = journal_id
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = os.fstat(self._fd).st_size
        # Replay within the file as it is: its size may predate a change of capacity.
        self.recovered = self._replay(next_seq, position, size) if size else []
        self.capacity = max(capacity, size if self.recovered else 0)
        self._prepared = size  # bytes of the file written at least once
        self._live: deque[_Extent] = deque()
        start = position
        for record in self.recovered:
            begin = record.end - _HEADER.size - len(record.meta) - len(record.body)
            self._live.append(_Extent(record.seq, begin))
            start = record.end
        self._tail = start if start < self.capacity else 0
        self.next_seq = next_seq + len(self.recovered)

    def _prepare(self, end: int) -> None:
        """Write zeros up to `end` (in steps of 1 MiB), so that later laps only rewrite pages.

        The file grows with the load instead of at start: an idle relay keeps a small journal.
        """
        target = min(self.capacity, -(-end // len(_ZEROS)) * len(_ZEROS))
        while self._prepared < target:
            os.pwrite(self._fd, _ZEROS[: min(len(_ZEROS), target - self._prepared)], self._prepared)
            self._prepared = min(target, self._prepared + len(_ZEROS))

    def _read(self, offset: int, seq: int, size: int) -> JournalRecord | None:
        header = os.pread(self._fd, _HEADER.size, offset)
        if len(header) < _HEADER.size:
            return None
        magic, journal_id, found, meta_len, body_len, checksum = _HEADER.unpack(header)
        end = offset + _HEADER.size + meta_len + body_len
        if magic != _MAGIC or journal_id != self.journal_id or found != seq or end > size:
            return None
        data = os.pread(self._fd, meta_len + body_len, offset + _HEADER.size)
        meta, body = data[:meta_len], data[meta_len:]
        if _checksum(seq, meta, body) != checksum:  # a torn write: the record was never acknowledged
            return None
        return JournalRecord(seq=seq, end=end, meta=meta, body=body)

    def _replay(self, seq: int, offset: int, size: int) -> list[JournalRecord]:
        records: list[JournalRecord] = []
        while True:
            record = self._read(offset, seq, size)
            if record is None and offset != 0:
                record = self._read(0, seq, size)
            if record is None:
                return records
            records.append(record)
            seq, offset = seq + 1, record.end

    def append(self, meta: bytes, body: bytes) -> JournalRecord:
        """Write one record; JournalFull when the unreleased ones leave no room for it."""
        size = _HEADER.size + len(meta) + len(body)
        if size > self.capacity:
            raise ValueError(f"a record of {size} bytes cannot fit a journal of {self.capacity}")
        start = self._place(size)
        if start + size > self._prepared:
            self._prepare(start + size)
        seq = self.next_seq
        header = _HEADER.pack(_MAGIC, self.journal_id, seq, len(meta), len(body), _checksum(seq, meta, body))
        os.pwritev(self._fd, [header, meta, body], start)
        self.next_seq += 1
        self._tail = start + size
        self._live.append(_Extent(seq, start))
        return JournalRecord(seq=seq, end=self._tail, meta=meta, body=body)

    def _place(self, size: int) -> int:
        if not self._live:
            return self._tail if self._tail + size <= self.capacity else 0
        first, last = self._live[0].start, self._live[-1].start
        if last >= first:  # live records are one run [first, tail): room after it, or before it
            if self._tail + size <= self.capacity:
                return self._tail
            if size <= first:
                return 0
        elif self._tail + size <= first:  # wrapped: the room is between the tail and the oldest record
            return self._tail
        raise JournalFull(f"{len(self._live)} records wait to be stored; no room for {size} bytes")

    def release(self, seq: int) -> None:
        """Forget every record up to `seq`: the outbox has stored them."""
        while self._live and self._live[0].seq <= seq:
            self._live.popleft()

    @property
    def pending(self) -> int:
        return len(self._live)

    def sync(self) -> None:
        """Flush the written records to the disk (any thread)."""
        os.fdatasync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

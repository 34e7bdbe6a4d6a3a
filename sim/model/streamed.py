"""A region's outputs that stream: its clubs' weekly series written out while it runs (issue 20).

A region streaming its outputs (`sim.model.region.RegionEngine(outputs="stream")`) keeps each club's
series as a ring of its last `ring` weeks (`sim.kernels.week.close_week` writes row week % ring) and
hands each full ring to a `SeriesSpill`: an unnamed temporary file (no name to clash with, gone when
closed or when the process ends), laid out in blocks of `ring` weeks, each block the clubs' rows one
club after another. A club's series reads back as the very float32 rows an in-memory run holds, so
everything computed from it is the same to the byte.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from sim.kernels.layout import N_SERIES
from sim.model.engine import series_columns

# weeks a streaming region keeps of each club's series: a quarter costs 1.1 KB a club (46 B a member of
# a BNI-world chapter, against 1,830 for 10 years in memory), written out every 13 weeks
STREAM_RING_WEEKS = 13
ROW_BYTES = N_SERIES * np.dtype(np.float32).itemsize
# the spill files have no name (O_TMPFILE); where the file system cannot do that, a name with output
# folders' temporary prefix (`sim.experiments.folders.TEMP_PREFIX`) for the instant before it is unlinked
TEMP_PREFIX = ".clubsim-tmp-"


def _iov_max() -> int:
    """Buffers a pwritev call takes: the system's limit (Linux, macOS: 1024), at least POSIX's 16."""
    try:
        limit = os.sysconf("SC_IOV_MAX")
    except (AttributeError, ValueError, OSError):
        return 16
    return limit if limit > 0 else 1024


IOV_MAX = _iov_max()


class SeriesSpill:
    """Clubs' weekly series rows (float32, `N_SERIES` columns) in an unnamed temporary file in `directory`
    (default: the system's temporary folder), in blocks of `ring` weeks."""

    def __init__(self, clubs: int, ring: int, directory: str | Path | None = None):
        if ring < 1:
            raise ValueError(f"ring must be >= 1, not {ring}")
        self.clubs, self.ring = clubs, ring
        self.weeks = 0  # the weeks written, 0..weeks-1
        self._file = tempfile.TemporaryFile(prefix=TEMP_PREFIX, dir=directory)

    def _offset(self, c: int, week: int) -> int:
        block, row = divmod(week, self.ring)
        return ((block * self.clubs + c) * self.ring + row) * ROW_BYTES

    def write(self, rings: Sequence[np.ndarray], stop: int) -> None:
        """Weeks self.weeks..stop-1 from each club's ring (`rings[c]`: `ring` rows, week w at row w % ring);
        all of them in one block of weeks (a ring holds no more)."""
        first = self.weeks
        if stop <= first:
            return
        if (stop - 1) // self.ring != first // self.ring:
            raise ValueError(f"weeks {first}..{stop - 1} span two blocks of {self.ring} weeks")
        rows = slice(first % self.ring, (stop - 1) % self.ring + 1)
        fd = self._file.fileno()
        if rows.stop - rows.start == self.ring and hasattr(os, "pwritev"):
            # a whole block: the clubs' rings one after another, a system call per IOV_MAX of them (a call
            # per club took 2 % of the BNI world's run)
            for start in range(0, self.clubs, IOV_MAX):
                rings_here = [memoryview(rings[c]) for c in range(start, min(start + IOV_MAX, self.clubs))]
                expected = sum(ring.nbytes for ring in rings_here)
                if os.pwritev(fd, rings_here, self._offset(start, first)) != expected:
                    raise OSError(f"short write to the series spill file at clubs {start} on")
        else:
            for c in range(self.clubs):
                data = rings[c][rows]
                if os.pwrite(fd, data.tobytes(), self._offset(c, first)) != data.nbytes:
                    raise OSError(f"short write to the series spill file at club {c}")
        self.weeks = stop

    def club(self, c: int) -> np.ndarray:
        """Club c's rows for the weeks written, as an in-memory run holds them ((weeks, N_SERIES) float32)."""
        rows = np.empty((self.weeks, N_SERIES), dtype=np.float32)
        fd = self._file.fileno()
        for first in range(0, self.weeks, self.ring):
            last = min(first + self.ring, self.weeks)
            data = os.pread(fd, (last - first) * ROW_BYTES, self._offset(c, first))
            if len(data) != (last - first) * ROW_BYTES:
                raise OSError(f"short read from the series spill file at club {c}, week {first}")
            rows[first:last] = np.frombuffer(data, dtype=np.float32).reshape(last - first, N_SERIES)
        return rows

    def close(self) -> None:
        self._file.close()


class StreamedSeries(Sequence):
    """Each club's weekly series by column (`sim.model.engine.series_columns`), read from a spill when
    asked for: a region's clubs' series as a list would hold them, without holding them."""

    def __init__(self, spill: SeriesSpill):
        self.spill = spill

    def __len__(self) -> int:
        return self.spill.clubs

    def __getitem__(self, c):  # noqa: ANN001 (an int or a slice, as a list's)
        if isinstance(c, slice):
            return [self[k] for k in range(*c.indices(len(self)))]
        if not -len(self) <= c < len(self):
            raise IndexError(c)
        return series_columns(self.spill.club(c % len(self)), self.spill.weeks)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return (self[c] for c in range(len(self)))


class MemberSpill:
    """The member records of members who left, appended to an unnamed temporary file in `directory` in batches
    (one per compaction of a region's records, club after club), with their member ids kept in memory (8 B a
    member who left)."""

    def __init__(self, dtype: np.dtype, clubs: int, directory: str | Path | None = None):
        self.dtype, self.clubs = dtype, clubs
        self._file = tempfile.TemporaryFile(prefix=TEMP_PREFIX, dir=directory)
        self._written = 0  # records in the file
        self._batches: list[tuple[int, np.ndarray, np.ndarray]] = []  # (first record, club starts, ids)

    def write(self, records: list[np.ndarray], ids: list[np.ndarray]) -> None:
        """One batch: club c's records (`records[c]`, a structured array of `dtype`) and their member ids."""
        counts = np.array([len(r) for r in records], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)])
        if starts[-1] == 0:
            return
        data = b"".join(r.tobytes() for r in records)
        if os.pwrite(self._file.fileno(), data, self._written * self.dtype.itemsize) != len(data):
            raise OSError("short write to the member spill file")
        self._batches.append((self._written, starts, np.concatenate(ids).astype(np.int64, copy=False)))
        self._written += int(starts[-1])

    def club(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Club c's records written (a structured array of `dtype`, batch after batch) and their member ids."""
        parts, ids = [np.zeros(0, dtype=self.dtype)], [np.zeros(0, dtype=np.int64)]
        fd, size = self._file.fileno(), self.dtype.itemsize
        for first, starts, batch_ids in self._batches:
            count = int(starts[c + 1] - starts[c])
            if count == 0:
                continue
            data = os.pread(fd, count * size, (first + int(starts[c])) * size)
            if len(data) != count * size:
                raise OSError(f"short read from the member spill file at club {c}")
            parts.append(np.frombuffer(data, dtype=self.dtype).copy())
            ids.append(batch_ids[starts[c]:starts[c + 1]])
        return np.concatenate(parts), np.concatenate(ids)

    def close(self) -> None:
        self._file.close()

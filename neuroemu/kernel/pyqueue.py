"""The pure-Python event queue: same interface and same batches as the C queue, no compiler.

Chosen with ``NEUROEMU_QUEUE=python`` (or ``make_queue("python")``). It is the reference the C
queue is tested against, and it is vectorised enough that the whole suite runs on it.

Design: sorted runs. Each ``push_batch`` becomes one run -- its events sorted by
(time, priority, seq) with numpy -- and runs wait in a ``heapq`` keyed by their first time.
``pop_before(T)`` takes every run that starts before T, cuts each at T with a binary search
(the rest goes back on the heap as a view, no copy), and merges the pieces with one
``np.lexsort``. Single ``push`` calls are buffered as rows and become a run at the next read.
"""
from __future__ import annotations

import heapq

import numpy as np

from neuroemu.kernel.events import (
    INT64_MIN,
    EventBatch,
    EventQueue,
    check_batch,
    check_event,
    check_max_events,
    check_time_end,
    check_tuning,
    empty_batch,
    time_error,
)

__all__ = ["PyQueue"]


def _cut(run: EventBatch, start: int, stop: int | None) -> EventBatch:
    return EventBatch(*(col[start:stop] for col in run))


class PyQueue(EventQueue):
    """The pure-Python backend (numpy and heapq); accepts and ignores the C tuning keywords."""

    backend = "python"

    def __init__(self, **tuning):
        check_tuning(tuning)
        self._heap: list[tuple[int, int, EventBatch]] = []  # (first time, run id, run)
        self._rows: list[tuple[int, int, int, int, int, int]] = []  # unsorted single pushes
        self._next_run = 0
        self._len = 0
        self._seq = 0
        self._horizon = INT64_MIN

    def _add_run(self, run: EventBatch) -> None:
        heapq.heappush(self._heap, (int(run.time[0]), self._next_run, run))
        self._next_run += 1

    def _flush(self) -> None:
        if not self._rows:
            return
        rows = np.array(self._rows, dtype=np.int64)
        self._rows = []
        t, p, s, k, g, y = rows.T
        order = np.lexsort((s, p, t))
        self._add_run(EventBatch(t[order].copy(), p[order].astype(np.int32), s[order].copy(),
                                 k[order].astype(np.int32), g[order].copy(), y[order].copy()))

    def push(self, time, kind, target, payload=0, priority=0):
        """Queue one event; returns its seq number."""
        t, k, g, y, p = check_event(time, kind, target, payload, priority)
        if t < max(self._horizon, 0):
            raise time_error(t, self._horizon)
        seq = self._seq
        self._seq += 1
        self._rows.append((t, p, seq, k, g, y))
        self._len += 1
        return seq

    def push_batch(self, time, kind, target, payload=0, priority=0):
        """Queue n events as one sorted run (see :meth:`EventQueue.push_batch`)."""
        cols, n = check_batch(time, kind, target, payload, priority)
        if n == 0:
            return
        (t, ts), (k, ks), (g, gs), (y, ys), (p, ps) = cols
        bad = np.flatnonzero(t < max(self._horizon, 0))
        if bad.size:
            i = 0 if ts else int(bad[0])
            raise time_error(int(t[0 if ts else i]), self._horizon, i)
        seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        self._len += n
        if ts and ps:  # one time and one priority: already in seq order
            order = np.arange(n)
        else:
            order = np.lexsort((seq, np.broadcast_to(p, n), np.broadcast_to(t, n)))

        def take(col: np.ndarray, scalar: bool) -> np.ndarray:
            return np.repeat(col, n) if scalar else col[order]

        self._add_run(EventBatch(take(t, ts), take(p, ps), seq[order], take(k, ks), take(g, gs),
                                 take(y, ys)))

    def pop_before(self, time_end, max_events=None):
        """Every event with time < time_end, in order (see :meth:`EventQueue.pop_before`)."""
        te = check_time_end(time_end)
        limit = check_max_events(max_events)
        self._flush()
        pieces = []
        heap = self._heap
        while heap and heap[0][0] < te:
            _, rid, run = heapq.heappop(heap)
            k = int(np.searchsorted(run.time, te, side="left"))
            if k == len(run.time):
                pieces.append(run)
            else:
                pieces.append(_cut(run, 0, k))
                heapq.heappush(heap, (int(run.time[k]), rid, _cut(run, k, None)))
        if te > self._horizon:
            self._horizon = te
        if not pieces:
            return empty_batch()
        if len(pieces) == 1:
            out = pieces[0]
        else:
            cat = EventBatch(*(np.concatenate(cols) for cols in zip(*pieces)))
            order = np.lexsort((cat.seq, cat.priority, cat.time))
            out = EventBatch(*(col[order] for col in cat))
        if 0 <= limit < len(out.time):
            self._add_run(_cut(out, limit, None))
            out = _cut(out, 0, limit)
        self._len -= len(out.time)
        return out

    def next_time(self):
        """The earliest pending time in ps, or None when empty."""
        self._flush()
        return self._heap[0][0] if self._heap else None

    def __len__(self):
        """The number of pending events."""
        return self._len

    @property
    def horizon(self):
        """The largest ``time_end`` popped so far (the int64 minimum before any pop)."""
        return self._horizon

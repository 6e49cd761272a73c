"""The event queue: one interface, a C backend and a pure-Python fallback.

Every event in a simulation sits in one queue, ordered by ``(time, priority, seq)``: time is an
integer count of picoseconds (int64, >= 0), a lower priority pops first at equal time, and
``seq`` -- the insertion number the queue hands out, from 0 -- breaks every remaining tie, so the
order is total and runs are deterministic.

Why windows. A call from Python into C costs 100-350 ns, as much as the work it would do for one
event, so a queue driven one event at a time gains only about 2x over ``heapq``. Instead the
kernel moves events in bulk: :meth:`EventQueue.pop_before` returns *every* event before a window
end as one :class:`EventBatch` of numpy arrays in a single call, handlers process the batch
vectorised, and :meth:`EventQueue.push_batch` takes the events they produce as arrays, again in
one call. The window policy (a tick, a lookahead, a barrier) belongs to the loop, not to the
queue; the queue only guarantees causality -- nothing may be pushed into a window already popped
(before :attr:`EventQueue.horizon`).

Why a timing wheel. With windows, the queue never needs the single next event, only "everything
before T" in order. A binary heap still pays O(log n) per event (about 100 ns with thousands
pending: 6-7x heapq at best). The C backend (eventq.c) is a calendar queue over integer time
instead: a ring of buckets of 2**k ps, each an array appended in push order, so a push is an
append, a pop copies whole buckets out, and a bucket is only sorted when its appends were out of
order -- a synchronous chip puts ~20,000 events at exactly one tick time, which then pops with
no sort at all. Far-future events (any int64 time, gaps of 2**62 included) wait in an overflow
that is sorted once and poured into the wheel as it advances. By default the bucket width
follows the popped windows (about one window per bucket) and the ring grows when too many
events land beyond it; pass ``bucket_width``/``buckets``/``adaptive`` to :func:`make_queue` to
fix them. None of this changes the order: both backends return bit-identical batches for any
sequence of operations (tests/test_queue.py checks it).

Backends are chosen by one environment variable, ``NEUROEMU_QUEUE`` (``c``, the default, or
``python``), or by the ``backend`` argument of :func:`make_queue`; each queue reports the one
that runs in :attr:`EventQueue.backend`.
"""
from __future__ import annotations

import os

import numpy as np

from neuroemu.errors import QueueError
from neuroemu.kernel.events import (BACKENDS, DEFAULT_BUCKET_WIDTH, ENV_VAR, EventBatch, EventQueue, check_batch, check_event, check_max_events, check_time_end, check_tuning, empty_batch, time_error)

__all__ = ["BACKENDS", "CQueue", "EventBatch", "EventQueue", "available_backends", "make_queue"]

try:
    from neuroemu.kernel._eventq import ffi as _ffi
    from neuroemu.kernel._eventq import lib as _lib
except ImportError as exc:  # not built: only the Python backend is available
    _ffi = _lib = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


class CQueue(EventQueue):
    """The C backend: a calendar queue over integer time (eventq.c), one C call per batch.

    ``bucket_width``, ``buckets`` and ``adaptive`` tune the wheel (see :func:`check_tuning`);
    they change speed, never the order.
    """

    backend = "c"

    def __init__(self, **tuning):
        if _lib is None:
            raise _not_built()
        width, buckets, adaptive = check_tuning(tuning)
        shift = (width or DEFAULT_BUCKET_WIDTH).bit_length() - 1
        q = _lib.eq_new(shift, buckets, int(adaptive))
        if q == _ffi.NULL:
            raise MemoryError("out of memory creating the C event queue")
        self._q = _ffi.gc(q, _lib.eq_free)
        self._n = _ffi.new("int64_t *")
        self._block = _ffi.new("const void **")
        self._seq = _ffi.new("int64_t *")

    def _fail(self, rc: int, what: str):
        if rc == _lib.EQ_ERR_NOMEM:
            raise MemoryError(f"out of memory in the C event queue ({what}); the queue is now unusable")
        if rc == _lib.EQ_ERR_BROKEN:
            raise QueueError("this event queue is unusable after an earlier out-of-memory error")
        raise QueueError(f"internal: the C event queue rejected its arguments in {what} (code {rc})")

    def push(self, time, kind, target, payload=0, priority=0):
        """Queue one event; returns its seq number."""
        t, k, tg, pl, pr = check_event(time, kind, target, payload, priority)
        rc = _lib.eq_push(self._q, t, pr, k, tg, pl, self._seq)
        if rc:
            if rc == _lib.EQ_ERR_TIME:
                raise time_error(t, self.horizon)
            self._fail(rc, "push")
        return self._seq[0]

    def push_batch(self, time, kind, target, payload=0, priority=0):
        """Queue n events in one C call (see :meth:`EventQueue.push_batch`)."""
        cols, n = check_batch(time, kind, target, payload, priority)
        if n == 0:
            return
        (ta, ts), (ka, ks), (ga, gs), (pa, ps), (ra, rs) = cols
        fb = _ffi.from_buffer
        rc = _lib.eq_push_batch(self._q, n,
                                fb("int64_t[]", ta), 0 if ts else 1,
                                fb("int32_t[]", ra), 0 if rs else 1,
                                fb("int32_t[]", ka), 0 if ks else 1,
                                fb("int64_t[]", ga), 0 if gs else 1,
                                fb("int64_t[]", pa), 0 if ps else 1,
                                self._seq)
        if rc:
            if rc == _lib.EQ_ERR_TIME:
                i = self._seq[0]
                raise time_error(int(ta[0 if ts else i]), self.horizon, i)
            self._fail(rc, "push_batch")

    def pop_before(self, time_end, max_events=None):
        """Every event with time < time_end, in order, from one C call (see
        :meth:`EventQueue.pop_before`)."""
        te = check_time_end(time_end)
        me = check_max_events(max_events)
        rc = _lib.eq_pop_before(self._q, te, me, self._n, self._block)
        if rc:
            self._fail(rc, "pop_before")
        n = self._n[0]
        if n == 0:
            return empty_batch()
        raw = np.frombuffer(_ffi.buffer(self._block[0], 40 * n), dtype=np.uint8).copy()
        i64 = raw[: 32 * n].view(np.int64)
        i32 = raw[32 * n:].view(np.int32)
        return EventBatch(time=i64[:n], priority=i32[:n], seq=i64[n:2 * n], kind=i32[n:],
                          target=i64[2 * n:3 * n], payload=i64[3 * n:])

    def address(self) -> int:
        """The address of this queue's ``eq_queue`` (valid while this object lives), for C code built
        with a copy of eventq.c that pops and pushes it itself (hardware/async_loop.c)."""
        return int(_ffi.cast("uintptr_t", self._q))

    def next_time(self):
        """The earliest pending time in ps, or None when empty."""
        rc = _lib.eq_next_time(self._q, self._n)
        if rc:
            self._fail(rc, "next_time")
        t = self._n[0]
        return None if t < 0 else t

    def __len__(self):
        """The number of pending events."""
        return _lib.eq_len(self._q)

    @property
    def horizon(self):
        """The largest ``time_end`` popped so far (the int64 minimum before any pop)."""
        return _lib.eq_horizon(self._q)

    def stats(self) -> dict[str, int]:
        """The wheel's current geometry and fill, for tests and benchmarks."""
        s = _ffi.new("eq_stats *")
        _lib.eq_get_stats(self._q, s)
        return {name: getattr(s, name) for name in
                ("bucket_shift", "nbuckets", "base", "wheel_events", "overflow_events", "runs",
                 "rebuilds", "adaptive")}

    def retune(self, bucket_width: int, buckets: int) -> None:
        """Re-bucket every pending event into a wheel of ``buckets`` slots of ``bucket_width``
        ps (powers of two). Changes speed only, never the pop order."""
        width, nb, _ = check_tuning({"bucket_width": bucket_width, "buckets": buckets})
        rc = _lib.eq_retune(self._q, width.bit_length() - 1, nb)
        if rc:
            self._fail(rc, "retune")


# ---- selection --------------------------------------------------------------------------------

def _not_built() -> QueueError:
    return QueueError(
        "the C event queue (neuroemu.kernel._eventq) is not built "
        f"({_IMPORT_ERROR}); build it with `pip install -e .` from the project root "
        f"(needs a C compiler and cffi), or set {ENV_VAR}=python to use the pure-Python queue")


def available_backends() -> list[str]:
    """The backends that can run here: ["c", "python"], or ["python"] if C is not built."""
    return [b for b in BACKENDS if b != "c" or _lib is not None]


def make_queue(backend: str | None = None, **tuning) -> EventQueue:
    """A new empty event queue.

    ``backend``: "c" or "python"; None reads ``$NEUROEMU_QUEUE`` (default "c"). ``tuning``:
    ``bucket_width``, ``buckets``, ``adaptive`` (see :func:`check_tuning`). Raises
    :class:`QueueError` for an unknown backend or when "c" is asked for but not built.
    """
    if backend is None:
        name = os.environ.get(ENV_VAR, "c")
        source = f"from the environment variable {ENV_VAR}"
    else:
        name = backend
        source = f"passed as backend= (the default comes from {ENV_VAR})"
    key = name.strip().lower() if isinstance(name, str) else name
    if key == "c":
        return CQueue(**tuning)
    if key == "python":
        from neuroemu.kernel.pyqueue import PyQueue

        return PyQueue(**tuning)
    raise QueueError(f"unknown event-queue backend {name!r} ({source}); "
                     f"valid backends: {', '.join(BACKENDS)}")

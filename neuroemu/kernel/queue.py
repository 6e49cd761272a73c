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

import functools
import operator
import os
from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np

from neuroemu.errors import QueueError

__all__ = [
    "BACKENDS",
    "CQueue",
    "EventBatch",
    "EventQueue",
    "available_backends",
    "make_queue",
]

#: every backend name, in order of preference
BACKENDS = ("c", "python")
#: the environment variable that picks the default backend
ENV_VAR = "NEUROEMU_QUEUE"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

#: bucket width the adaptive C queue starts from (about 1 us)
DEFAULT_BUCKET_WIDTH = 2**20
#: initial number of wheel slots of the C queue
DEFAULT_BUCKETS = 256
_MAX_BUCKETS = 2**20
_TUNING = ("bucket_width", "buckets", "adaptive")

try:
    from neuroemu.kernel._eventq import ffi as _ffi
    from neuroemu.kernel._eventq import lib as _lib
except ImportError as exc:  # not built: only the Python backend is available
    _ffi = _lib = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


class EventBatch(NamedTuple):
    """A window of events, as equal-length numpy arrays sorted by (time, priority, seq).

    ``time`` (int64, ps), ``priority`` (int32, lower first at equal time), ``seq`` (int64,
    the queue's insertion number), ``kind`` (int32), ``target`` (int64), ``payload`` (int64).
    """

    time: np.ndarray
    priority: np.ndarray
    seq: np.ndarray
    kind: np.ndarray
    target: np.ndarray
    payload: np.ndarray


#: dtype of each EventBatch field
BATCH_DTYPES = (np.int64, np.int32, np.int64, np.int32, np.int64, np.int64)


def empty_batch() -> EventBatch:
    """A batch of zero events with the right dtypes (fresh, writable arrays)."""
    return EventBatch(*(np.empty(0, dtype=d) for d in BATCH_DTYPES))


# ---- argument checks shared by both backends (identical errors whichever runs) --------------

def _int_scalar(name: str, value, lo: int, hi: int, what: str) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        raise QueueError(f"{name} must be an integer ({what}), got {value!r} "
                         f"of type {type(value).__name__}") from None
    if not lo <= v <= hi:
        raise QueueError(f"{name} must fit in {what} ({lo} .. {hi}), got {v}")
    return v


def check_time_end(time_end) -> int:
    """``time_end`` as a Python int, or QueueError when it is not an int64."""
    return _int_scalar("time_end", time_end, INT64_MIN, INT64_MAX, "int64 picoseconds")


def check_max_events(max_events) -> int:
    """``max_events`` as an int >= 0, or -1 for None (no limit)."""
    if max_events is None:
        return -1
    return _int_scalar("max_events", max_events, 0, INT64_MAX, "a count >= 0")


def check_event(time, kind, target, payload, priority) -> tuple[int, int, int, int, int]:
    """The fields of one event as ints in range (the time rule is checked by the queue)."""
    return (_int_scalar("time", time, INT64_MIN, INT64_MAX, "int64 picoseconds"),
            _int_scalar("kind", kind, INT32_MIN, INT32_MAX, "int32"),
            _int_scalar("target", target, INT64_MIN, INT64_MAX, "int64"),
            _int_scalar("payload", payload, INT64_MIN, INT64_MAX, "int64"),
            _int_scalar("priority", priority, INT32_MIN, INT32_MAX, "int32"))


_I64, _I32 = np.dtype(np.int64), np.dtype(np.int32)
_RANGE = {_I64: (INT64_MIN, INT64_MAX), _I32: (INT32_MIN, INT32_MAX)}
_COLUMNS = (("time", _I64, "int64 picoseconds"), ("kind", _I32, "int32"), ("target", _I64, "int64"),
            ("payload", _I64, "int64"), ("priority", _I32, "int32"))


@functools.lru_cache(maxsize=1024)
def _scalar_array(value: int, dtype: np.dtype) -> np.ndarray:
    # read-only and shared: batch scalars repeat (kinds, priorities, 0 payloads)
    arr = np.array((value,), dtype=dtype)
    arr.flags.writeable = False
    return arr


def _column(name: str, value, dtype: np.dtype, what: str) -> tuple[np.ndarray, bool]:
    """(contiguous 1-D array of ``dtype``, is_scalar); a scalar becomes a length-1 array."""
    if type(value) is np.ndarray and value.dtype == dtype and value.ndim == 1:
        return (value if value.flags.c_contiguous else np.ascontiguousarray(value)), False
    lo, hi = _RANGE[dtype]
    if type(value) is int:  # fast path for the common broadcast scalar
        if not lo <= value <= hi:
            raise QueueError(f"{name} must fit in {what} ({lo} .. {hi}), got {value}")
        return _scalar_array(value, dtype), True
    try:
        arr = np.asarray(value)
    except (OverflowError, ValueError) as exc:
        raise QueueError(f"{name} must be integers ({what}): {exc}") from None
    if arr.ndim > 1:
        raise QueueError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.size or arr.ndim == 0:
            raise QueueError(f"{name} must be integers ({what}), got dtype {arr.dtype}")
        arr = arr.astype(dtype)
    if arr.dtype != dtype:
        if arr.size:
            amin, amax = int(arr.min()), int(arr.max())
            if amin < lo or amax > hi:
                raise QueueError(f"{name} must fit in {what} ({lo} .. {hi}), "
                                 f"got {amin if amin < lo else amax}")
        arr = arr.astype(dtype)
    if arr.ndim == 0:
        return arr.reshape(1), True
    return np.ascontiguousarray(arr), False


def check_batch(time, kind, target, payload, priority) -> tuple[list[tuple[np.ndarray, bool]], int]:
    """The five columns of a batch as (array, is_scalar) in the order time, kind, target,
    payload, priority, and the batch length n (scalars broadcast; all scalars: n = 1)."""
    cols = [_column("time", time, _I64, "int64 picoseconds"), _column("kind", kind, _I32, "int32"),
            _column("target", target, _I64, "int64"), _column("payload", payload, _I64, "int64"),
            _column("priority", priority, _I32, "int32")]
    n = -1
    for arr, scalar in cols:
        if not scalar:
            if n < 0:
                n = len(arr)
            elif len(arr) != n:
                detail = ", ".join(sorted(f"{name}: {len(a)}" for (name, _, _), (a, sc)
                                          in zip(_COLUMNS, cols) if not sc))
                raise QueueError(f"push_batch arrays must have one length (or be scalars), got {detail}")
    return cols, (1 if n < 0 else n)


def time_error(t: int, horizon: int, index: int | None = None) -> QueueError:
    """The error for an event time that breaks the time rule (t >= 0 and t >= horizon)."""
    where = "" if index is None else f" (element {index} of the batch)"
    if t < 0:
        return QueueError(f"event time must be >= 0 ps, got t={t} ps{where}")
    return QueueError(f"causality: event at t={t} ps is before the popped horizon {horizon} ps{where}; "
                      "events can only be pushed at or after the end of the last popped window")


def check_tuning(tuning: dict) -> tuple[int | None, int, bool]:
    """(bucket_width or None, buckets, adaptive) from the tuning keywords of :func:`make_queue`.

    ``bucket_width``: ps per wheel bucket, a power of two (default: adaptive, starting at
    2**20). ``buckets``: wheel slots, a power of two up to 2**20 (default 256). ``adaptive``:
    retune from the popped windows (default: True unless bucket_width is given). Both backends
    accept and check them; only the C backend uses them.
    """
    unknown = sorted(set(tuning) - set(_TUNING))
    if unknown:
        raise QueueError(f"unknown event-queue tuning option(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(_TUNING)}")
    width = tuning.get("bucket_width")
    if width is not None:
        width = _int_scalar("bucket_width", width, 1, 2**62, "ps, a power of two")
        if width & (width - 1):
            raise QueueError(f"bucket_width must be a power of two (ps), got {width}")
    buckets = _int_scalar("buckets", tuning.get("buckets", DEFAULT_BUCKETS), 1, _MAX_BUCKETS,
                          "a power of two")
    if buckets & (buckets - 1):
        raise QueueError(f"buckets must be a power of two, got {buckets}")
    adaptive = tuning.get("adaptive")
    if adaptive is None:
        adaptive = width is None
    elif not isinstance(adaptive, (bool, np.bool_)):
        raise QueueError(f"adaptive must be True or False, got {adaptive!r}")
    return width, buckets, bool(adaptive)


# ---- the interface --------------------------------------------------------------------------

class EventQueue(ABC):
    """An event queue ordered by (time, priority, seq); see the module docstring.

    Time rule, enforced identically by every backend: an event's time is >= 0 and not before
    :attr:`horizon` (the end of the latest window popped), else :class:`QueueError`.
    """

    #: which implementation runs: "c" or "python"
    backend: str

    @abstractmethod
    def push(self, time: int, kind: int, target: int, payload: int = 0, priority: int = 0) -> int:
        """Queue one event; returns its seq number."""

    @abstractmethod
    def push_batch(self, time, kind, target, payload=0, priority=0) -> None:
        """Queue n events given as array-likes of one length n (any may be a scalar,
        broadcast). Seq numbers follow array order. All times are checked first: on an error
        nothing is queued."""

    @abstractmethod
    def pop_before(self, time_end: int, max_events: int | None = None) -> EventBatch:
        """Remove and return every event with time < time_end, in (time, priority, seq)
        order; with ``max_events``, only the first that many (the rest stay queued). Raises
        :attr:`horizon` to ``time_end`` either way."""

    @abstractmethod
    def next_time(self) -> int | None:
        """The earliest pending time in ps, or None when the queue is empty."""

    @abstractmethod
    def __len__(self) -> int:
        """The number of pending events."""

    @property
    @abstractmethod
    def horizon(self) -> int:
        """The largest ``time_end`` popped so far (the int64 minimum before any pop)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend!r} pending={len(self)} horizon={self.horizon}>"


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

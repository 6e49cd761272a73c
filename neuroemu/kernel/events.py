"""The event-queue interface both backends implement, and the argument checks they share.

Split from :mod:`neuroemu.kernel.queue` so that the C queue and the heapq fallback both import it
and neither imports the other.
"""
from __future__ import annotations

import functools
import operator
from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np

from neuroemu.errors import QueueError

__all__ = ["BACKENDS", "EventBatch", "EventQueue", "check_batch", "check_event", "empty_batch"]

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



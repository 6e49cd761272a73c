"""The clockless window loop in C (hardware/async_loop.c): many windows per call.

:class:`WindowLoopC` binds a :class:`~neuroemu.hardware.asynctn.TrueNorthWindowC` (its routes
bound: one route per neuron, analytic network) and the engine's C event queue, and runs windows
until Python has something to do (:meth:`WindowLoopC.run` returns why); input chunks drawn ahead
are handed to it (:meth:`WindowLoopC.feed`) and queued by it; the spikes fired since the last call
(or their counts per neuron, :meth:`WindowLoopC.count_spikes_into`) and the run's counters are read
back in bulk. The loop itself, and why its record is
the per-window Python loop's, is in :mod:`neuroemu.engine.asyncblock`.
"""
from __future__ import annotations

import weakref

import numpy as np

from neuroemu.errors import NeuroEmuError

try:
    from neuroemu.hardware._async_kernel import ffi as _ffi
    from neuroemu.hardware._async_kernel import lib as _lib
except ImportError:  # pragma: no cover - the engine checks available() first
    _ffi = _lib = None

#: "no time" (INT64_MAX), as the C side reads it
NEVER = 2**63 - 1
#: why :meth:`WindowLoopC.run` returned (async_loop.h)
DONE, FEED, BOUNDARY, STOP, RUNAWAY = 0, 1, 2, 3, 4
#: the run's counters, as the C struct names them
COUNTERS = ("axon_event", "synaptic_op", "neuron_update_active", "neuron_update", "spike", "sent", "checks",
            "windows", "dropped_at_reset", "inputs")


def available() -> bool:
    """Whether the C window loop is built."""
    return _lib is not None and hasattr(_lib, "al_run")


class WindowLoopC:
    """The C window loop over one TrueNorth window kernel and one C event queue (see the module docstring).

    ``kinds``: the queue's event kinds (arrival, input, check), as the engine defines them;
    ``window_ps``/``end_ps``: the window and the run's end; ``has_steps``: stochastic leak steps
    (windows then follow one another); ``max_window_events``/``max_events``: the runaway guards
    (None: none)."""

    def __init__(self, kernel, queue_address: int, kinds: tuple[int, int, int], window_ps: int, end_ps: int,
                 has_steps: bool, max_window_events: int | None, max_events: int | None):
        if not available():
            raise NeuroEmuError("the C window loop (neuroemu.hardware._async_kernel) is not built")
        L = _ffi.new("al_loop *")
        s, x, (touched, cap, spk_n, spk_t, counts) = kernel.c_parts()
        if x.route_axon == _ffi.NULL:
            raise NeuroEmuError("internal: the C window loop needs the kernel's routes bound")
        L.tn, L.x, L.touched, L.cap, L.spk_n, L.spk_t, L.counts = s, x, touched, cap, spk_n, spk_t, counts
        L.queue = _ffi.cast("void *", queue_address)
        L.kind_arrival, L.kind_input, L.kind_check = kinds
        L.has_steps = int(bool(has_steps))
        L.window_ps, L.end = int(window_ps), int(end_ps)
        L.last_w1 = 0
        L.drop_seq = -1
        L.max_window_events = -1 if max_window_events is None else int(max_window_events)
        L.max_events = -1 if max_events is None else int(max_events)
        self._L, self._kernel = L, kernel  # the kernel owns the buffers L points into
        self._feed = ()  # the drawn-ahead input arrays L points into
        self._n, self._counts = int(cap) - 1, None  # the kernel's neurons (touched: one spare entry)
        weakref.finalize(self, _lib.al_release, L)

    def run(self, boundary: int, feed: int, stop: int) -> int:
        """Windows until the next sample ``boundary``, the start ``feed`` of the first input chunk
        not handed to :meth:`feed` or ``stop`` (ps; :data:`NEVER`: none) comes first, or the run ends
        or a guard trips: returns which (:data:`DONE`, :data:`FEED`, :data:`BOUNDARY`,
        :data:`STOP`, :data:`RUNAWAY`). The chunks handed to :meth:`feed` are queued on the way."""
        rc = _lib.al_run(self._L, int(boundary), int(feed), int(stop))
        if rc < 0:
            if rc == _lib.AL_EQUEUE:
                raise NeuroEmuError(f"async window loop: the event queue failed (code {self._L.qerr})")
            raise NeuroEmuError("async kernel: an event's target is out of range" if rc == _lib.AK_EBADARG
                                else "async kernel: out of memory")
        return int(rc)

    def feed(self, chunk_ps: np.ndarray, offsets: np.ndarray, at: np.ndarray, axons: np.ndarray) -> None:
        """Hand the loop input chunks drawn ahead: chunk i is ``at[offsets[i]:offsets[i+1]]`` (ps)
        and its axons, queued (one batch) before the first window at or after ``chunk_ps[i]``.
        The chunks handed before must all be queued (:attr:`fed` equal to their number)."""
        L = self._L
        if L.feed_i != L.feed_n:
            raise NeuroEmuError("internal: input chunks handed to the C window loop before the last ones were queued")
        cols = tuple(np.ascontiguousarray(x, np.int64) for x in (chunk_ps, offsets, at, axons))
        n = len(cols[0])
        if len(cols[1]) != n + 1 or cols[1][0] != 0 or cols[1][-1] != len(cols[2]) or len(cols[2]) != len(cols[3]):
            raise NeuroEmuError("internal: drawn-ahead input chunks with mismatched offsets")
        fb = _ffi.from_buffer
        L.feed_ps, L.feed_off, L.feed_at, L.feed_ax = (fb("int64_t[]", x) for x in cols)
        L.feed_n, L.feed_i = n, 0
        self._feed = cols  # kept alive while L points into them

    def count_spikes_into(self, counts: np.ndarray) -> None:
        """Count the spikes per neuron into ``counts`` (int64, C-contiguous, one per neuron of the
        kernel, kept alive by the caller) instead of recording them: :meth:`take_spikes` then
        returns none."""
        if counts.dtype != np.int64 or not counts.flags.c_contiguous or len(counts) < self._n:
            raise NeuroEmuError("internal: spike counts must be int64, contiguous, one per neuron")
        self._L.spk_count = _ffi.from_buffer("int64_t[]", counts)
        self._counts = counts

    @property
    def fed(self) -> int:
        """How many of the chunks last handed to :meth:`feed` are queued."""
        return int(self._L.feed_i)

    def take_spikes(self, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The spikes fired since the last call, as (neurons, times): each window's sorted by (time,
        neuron), the windows in order (``copy=False``: views of the loop's buffers, valid until the
        next :meth:`run`)."""
        L = self._L
        n = L.rec_n
        if n == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        ids = np.frombuffer(_ffi.buffer(L.rec_id, 8 * n), np.int64)
        times = np.frombuffer(_ffi.buffer(L.rec_t, 8 * n), np.int64)
        L.rec_n = 0
        return (ids.copy(), times.copy()) if copy else (ids, times)

    def counters(self) -> dict[str, int]:
        """The run's totals (:data:`COUNTERS`)."""
        return {name: int(getattr(self._L, name)) for name in COUNTERS}

    @property
    def drop_seq(self) -> int:
        """Arrivals queued with a seq up to this are a finished sample's (-1: none)."""
        return int(self._L.drop_seq)

    @drop_seq.setter
    def drop_seq(self, value: int) -> None:
        self._L.drop_seq = int(value)

    @property
    def next_time(self) -> int:
        """The next window's start as of the last return."""
        return int(self._L.t0)

    @property
    def last_w1(self) -> int:
        """The last window's end (0 before the first)."""
        return int(self._L.last_w1)

    @property
    def runaway(self) -> tuple[int, int]:
        """After :data:`RUNAWAY`: (the window's start, its arrivals)."""
        return int(self._L.w0), int(self._L.n_window)

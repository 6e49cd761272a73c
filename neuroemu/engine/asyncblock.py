"""The fast path of the clockless loop: many windows per C call when no window needs Python.

:class:`~neuroemu.engine.asynccore.AsyncCoreLoop` runs one window per pass through Python (pop,
kernel, queue the checks, emit the spikes): about 45 us of glue per window, as much as the
window's own work on the default workload. When a run needs nothing of Python between windows,
:func:`window_runner` returns a :class:`WindowRun` that runs the same windows in C
(:class:`neuroemu.hardware.asyncloop.WindowLoopC`, hardware/async_loop.c): the window bounds, the
pops from the engine's own C event queue, the TrueNorth window kernel (``ak_tn_run``), the checks
at moved crossings, the spikes' arrivals at their analytic route delay, the dropping of a finished
sample's spikes, the runaway guards, the counters, and the input chunks: Python draws the inputs
BLOCK_TICKS ticks ahead (:meth:`WindowRun._draw_ahead`) and the C loop queues each chunk where the
per-window loop's :meth:`AsyncCoreLoop._feed_chunk` would (one batch, its streams in order: the
same seq numbers). Where only spike counts are kept (no spike trains, no presentation) the C loop
counts the spikes per neuron itself. Python enters only when the inputs drawn ahead are used up,
at a sample boundary (readout and reset, :meth:`AsyncCoreLoop._new_sample`), for a progress report
(every STOP_TICKS ticks, and Ctrl-C is seen), and at the end: the default workload's 1,000 ticks
are one call.

The record is the per-window loop's bit for bit (tests/test_asyncblock.py compares whole records,
window and check counts included, on both queues): the C loop makes the same windows, pops the
same events and queues the same events in the same order (so the same seq numbers), and
``ak_tn_run`` is the kernel the per-window loop calls. A run takes the fast path when all hold
(:func:`ineligible` names the first that does not):

- the C window kernel (a TrueNorth model, ``truenorth_lif``, and the C tick backend) and the C
  event queue (the Python queue is the reference: it runs the per-window loop);
- the analytic network, one route per neuron (no fan-out table), no learning rule, no NVM
  periphery (read noise, DAC pricing), not a split over MPI ranks (a subclass of the loop).

Inputs on cores (``network.inputs: on_cores``) do not keep a run off it: their chunks are drawn
ahead at their packets' arrivals (route latency included, engine/asyncroutes.py) and queued by the
C loop as inputs fed to the axons are (tests/test_asyncroutes.py compares the records).

``NEUROEMU_BLOCK=off`` forces the per-window loop, as it forces the tick loop's per-tick path (one
switch for both block paths). The record's ``tick_backend`` says which ran: ``c+loop`` or ``c``.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from neuroemu.engine.blockrun import BLOCK_TICKS, block_mode
from neuroemu.errors import NeuroEmuError, RunawayError
from neuroemu.hardware.asyncloop import BOUNDARY, DONE, FEED, NEVER, RUNAWAY, STOP, WindowLoopC, available
from neuroemu.networks.workloads import PoissonInput

#: queue event kinds of the clockless core loop: a spike reaching an axon, an input reaching it, a
#: neuron's threshold check, a classify reset's marker (the spikes queued before it are the last
#: sample's: dropped when they pop). The one definition: the C loop is given them (async_loop.h).
#: (The diffuser engine, engine/asyncsim.py, has its own kinds in hardware/asynckernel.py.)
KIND_ARRIVAL, KIND_INPUT, KIND_CHECK, KIND_MARK = 1, 2, 3, 4
#: the C loop returns to Python this often (ticks of model time): to report progress and so that
#: Ctrl-C is seen; rarely enough that the return costs nothing next to the windows between
STOP_TICKS = 1024


def ineligible(loop, subclass: bool) -> str | None:
    """Why ``loop`` (an AsyncCoreLoop; ``subclass``: of a subclass) runs window by window through
    Python, or None when the fast path applies (see the module docstring)."""
    checks = (
        (not block_mode(), "NEUROEMU_BLOCK=off"),
        (loop.ckernel is None, "no C window kernel for this model or tick backend"),
        (not available(), "the C window loop is not built"),
        (getattr(loop.queue, "backend", None) != "c" or not hasattr(loop.queue, "address"), "the Python event queue"),
        (subclass, "a split or hooked loop (a subclass)"),
        (loop.packets is not None, "the packet network"),
        (loop.fanout, "fan-out routes"),
        (loop.learning is not None, "a learning rule"),
        (loop.read_noise is not None or bool(loop._dac), "NVM periphery"),
        (loop.n0 != 0, "a part of the network"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    return None


def window_runner(loop, subclass: bool = False) -> "WindowRun | None":
    """The fast run of ``loop``, or None when it must run window by window (:func:`ineligible`)."""
    return None if ineligible(loop, subclass) is not None else WindowRun(loop)


class WindowRun:
    """Runs an AsyncCoreLoop's windows in C; leaves the loop's counters as its per-window run would."""

    def __init__(self, loop):
        self.loop = loop
        opt = loop.opt
        self.kernel = WindowLoopC(loop.ckernel, loop.queue.address(), (KIND_ARRIVAL, KIND_INPUT, KIND_CHECK),
                                  loop.window_ps, loop.end_ps, loop.model.has_steps, opt.max_window_events,
                                  opt.max_events)
        loop.inputs = [DrawnAhead(s, opt.ticks) if type(s) is PoissonInput else s for s in loop.inputs]
        self._chunk_ticks = None  # the start ticks of the chunks last drawn ahead, and their end
        if not opt.record_spikes and loop.hooks is None and loop.neuron_base == 0 \
                and len(loop.spikes_per_neuron) == loop.arrays.n_neurons:
            # only the counts are kept (the route prices'): the C loop counts them, records none
            self.kernel.count_spikes_into(loop.spikes_per_neuron)

    def run(self, progress) -> int:
        """Every window up to the run's end (the loop's first predictions queued); returns the next
        sample boundary left (the caller reads out a sample ending at the run's end)."""
        loop, k = self.loop, self.kernel
        T, ticks, end, period = loop.T, loop.opt.ticks, loop.end_ps, loop.period_ps
        boundary = period if period else NEVER
        # back in Python every STOP_TICKS, for progress and so that Ctrl-C is seen (the per-window
        # loop reports every tick; a report per tick here would cost a C return per window)
        stop = STOP_TICKS * T
        loop.backend = "c+loop"
        while True:
            k.drop_seq = loop.drop_seq
            if loop.inputs and loop.next_chunk < ticks and (self._chunk_ticks is None
                                                            or k.fed == len(self._chunk_ticks) - 1):
                self._draw_ahead()  # the chunks drawn ahead are all queued: the next ones
            feed = loop.next_chunk * T if loop.inputs and loop.next_chunk < ticks else NEVER
            why = k.run(boundary, feed, stop)
            self._emit()
            if why == FEED:
                continue  # drawn at the top
            elif why == BOUNDARY:
                loop._new_sample(boundary, end)
                boundary = boundary + period if boundary < end else NEVER
            elif why == STOP:
                done_tick = k.next_time // T
                if progress is not None:
                    progress(int(done_tick), ticks)
                stop = (done_tick + STOP_TICKS) * T
            elif why == RUNAWAY:
                self._settle()
                check_runaway(loop, *k.runaway)  # raises: the C loop tests the same limits
                raise NeuroEmuError("internal: the C window loop reported a runaway the guards do not see")
            elif why == DONE:
                break
            else:  # pragma: no cover - the C loop returns only the codes above
                raise NeuroEmuError(f"internal: the C window loop returned {why}")
        self._settle()
        return boundary

    def _draw_ahead(self) -> None:
        """Hand the C loop the input chunks of the next BLOCK_TICKS ticks (it queues each as
        :meth:`AsyncCoreLoop._feed_chunk` would, where the per-window loop queues it): each chunk's
        streams in order, each stream's spikes in its order."""
        loop, T = self.loop, self.loop.T
        chunk = loop.inputs[0].CHUNK  # as _feed_chunk steps
        lo = loop.next_chunk
        hi = min(loop.opt.ticks, lo + chunk * max(1, BLOCK_TICKS // chunk))
        starts = np.arange(lo, hi, chunk, dtype=np.int64)
        n = len(starts)
        parts = [self._stream_block(s, starts, hi, chunk) for s in loop.inputs]
        if len(parts) == 1:
            at, axons, offsets = parts[0]
        else:  # chunk-major, stream-minor: a stable sort by chunk of the streams' spikes laid end to end
            which = np.concatenate([np.repeat(np.arange(n), np.diff(off)) for _, _, off in parts])
            order = np.argsort(which, kind="stable")
            at = np.concatenate([p[0] for p in parts])[order]
            axons = np.concatenate([p[1] for p in parts])[order]
            offsets = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(which, minlength=n), out=offsets[1:])
        self._chunk_ticks = np.append(starts, hi)
        self.kernel.feed(starts * T, offsets, at, axons)
        loop.next_chunk = hi

    def _stream_block(self, stream, starts: np.ndarray, hi: int, chunk: int):
        """One stream's spikes in the chunks from ``starts`` (ps, axons, offsets of each chunk's)."""
        if isinstance(stream, DrawnAhead) and stream.CHUNK == chunk:  # one draw for all the chunks (its own block)
            t, a = stream.events(int(starts[0]), hi)
            return t * self.loop.T, a, np.searchsorted(t // chunk, np.append(starts // chunk, -(-hi // chunk)))
        # else chunk by chunk, as _feed_chunk asks (inputs on cores: at their packets' arrivals)
        got = [self.loop._stream_chunk(stream, int(c), min(hi, int(c) + chunk)) for c in starts]
        off = np.zeros(len(starts) + 1, np.int64)
        np.cumsum([len(t) for t, _ in got], out=off[1:])
        return (np.concatenate([np.asarray(t, np.int64) for t, _ in got]),
                np.concatenate([np.asarray(a, np.int64) for _, a in got]), off)

    def _emit(self) -> None:
        """The spikes since the last return, as :meth:`AsyncCoreLoop._emit` keeps them (their
        arrivals are queued already, in C)."""
        loop = self.loop
        fired, when = self.kernel.take_spikes(copy=False)
        if not len(fired):
            return
        loop._keep_spikes(fired, when, view=True)

    def _settle(self) -> None:
        """The C loop's totals into the loop's ledger and counters (once: at the end or a runaway)."""
        loop, c = self.loop, self.kernel.counters()
        for name in ("axon_event", "synaptic_op", "neuron_update_active", "neuron_update", "spike"):
            loop.ledger.add(name, c[name])
        loop.ledger.add("in_flight_dropped_at_reset", c["dropped_at_reset"])
        loop.spikes_sent += c["sent"]
        loop.inputs_sent += c["inputs"]
        if self._chunk_ticks is not None:  # the chunks queued so far (a runaway may stop part-way)
            loop.next_chunk = int(self._chunk_ticks[self.kernel.fed])
        loop.checks += c["checks"]
        loop.windows += c["windows"]
        loop._last_w1 = self.kernel.last_w1


class DrawnAhead:
    """A Poisson input stream drawn BLOCK_TICKS ticks at a time, as the tick loop's block path draws it,
    and handed out chunk by chunk or a block at once: the same spikes (a draw of many chunks is its
    chunks' draws in order, each chunk's spikes within its ticks). A draw per chunk between two calls
    of the C loop costs about twice as much (its buffers come cold each time)."""

    def __init__(self, stream: PoissonInput, ticks: int):
        self.stream, self.CHUNK, self.ticks = stream, stream.CHUNK, ticks
        self.step = self.CHUNK * max(1, BLOCK_TICKS // self.CHUNK)
        self._lo = self._hi = 0
        self._chunk = self._t = self._a = np.empty(0, np.int64)

    def events(self, tick_lo: int, tick_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The stream's spikes (ticks, axons) in [tick_lo, tick_hi), tick_lo a multiple of CHUNK."""
        if tick_lo < self._lo or tick_hi > self._hi:
            self._lo, self._hi = tick_lo, min(self.ticks, max(tick_hi, tick_lo + self.step))
            self._t, self._a = self.stream.events(self._lo, self._hi)
            self._chunk = self._t // self.CHUNK  # ascending: the chunks come in order
        lo, hi = np.searchsorted(self._chunk, [tick_lo // self.CHUNK, -(-tick_hi // self.CHUNK)])
        return self._t[lo:hi], self._a[lo:hi]


def check_runaway(loop, w0: int, n_window: int) -> None:
    """Raise :class:`RunawayError` with the partial record (up to ``w0``'s tick) when the window
    starting at ``w0`` with ``n_window`` arrivals, or the run so far, passes a runaway guard."""
    opt, ledger = loop.opt, loop.ledger
    storm = opt.max_window_events is not None and n_window > opt.max_window_events
    if not (storm or (opt.max_events is not None and ledger.get("axon_event") > opt.max_events)):
        return
    ticks = w0 // loop.T
    loop.opt = dataclasses.replace(opt, ticks=int(ticks))
    loop.end_ps = ticks * loop.T
    record = loop.finish()
    limit = f"limit {opt.max_window_events:,} per window" if storm else f"limit {opt.max_events:,}"
    raise RunawayError(f"{loop.name}: runaway activity: {ledger.get('axon_event'):,} spikes delivered by "
                       f"{w0 * 1e-12:.6g} s ({limit}); the partial record covers the time before",
                       partial_record=record)

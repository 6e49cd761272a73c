"""The window kernel of the async engine: C (hardware/async_kernel.c) and its Python twin.

A kernel owns nothing but counters and output buffers: the neuron state and the tables are
numpy arrays in a :class:`KernelArrays`, shared with :mod:`neuroemu.engine.asyncsim`. One call,
:meth:`process`, takes a whole window of queue events (numpy arrays in (time, priority, seq)
order) and returns the events to queue and the spikes fired, as numpy arrays -- one crossing
into C per window, never per event (DESIGN: "One kernel").

Inside a window the kernel works through the events one by one in time order, so a neuron
sees its own events (inputs, its threshold checks, its spikes) in exactly the order they
happen; checks that come due before the window's end are kept in a small heap and merged in.
The Python twin, :class:`PyKernel`, does the same IEEE float64 operations in the same order
(libm ``exp``/``log`` through :mod:`math`), so the two give bit-identical records (a test).

Backends are picked like the tick kernels: ``"c"`` or ``"numpy"`` (the Python twin), from the
``tick_backend`` run option, else ``$NEUROEMU_TICK``, else ``"c"``.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neuroemu.errors import NeuroEmuError
from neuroemu.backends import choose_backend

try:
    from neuroemu.hardware._async_kernel import ffi as _ffi
    from neuroemu.hardware._async_kernel import lib as _lib
except ImportError:  # pragma: no cover - reported when asked for
    _ffi = _lib = None

#: event kinds: an input to one neuron, a spike reaching a diffuser, a threshold check
KIND_INPUT, KIND_ARRIVAL, KIND_CHECK = 1, 2, 3
#: queue priorities at equal times: inputs, then arrivals (by source neuron), then checks
INPUT_PRIO = -1
CHECK_PRIO = 2**31 - 1
#: "no time": a neuron that will never reach threshold without input
NEVER = 2**63 - 1

ASYNC_BACKENDS = ("c", "numpy")


def choose_async_backend(name: str | None = None) -> str:
    """The kernel to use: ``name``, else $NEUROEMU_TICK, else "c"."""
    return choose_backend(name, "NEUROEMU_TICK", ASYNC_BACKENDS, _lib is not None, "async kernel", "numpy")



def weight_bits(w: float) -> int:
    """A float64 weight as the int64 payload of a queue event (its raw bits)."""
    return int(np.array(w, np.float64).view(np.int64))


@dataclass
class KernelArrays:
    """Neuron state, parameters and tables of one network (see neuroemu.engine.asyncsim for the model).

    ``u[i] = (V_i - binf[i]) * exp((t - epoch) / tau_ps)`` is constant between inputs; inputs
    before ``r[i]`` (the end of the refractory period) are ignored; ``ver``/``pend`` are the
    version and time of the neuron's live threshold check. ``tgt`` holds ``k_targets`` diffuser
    centres (global neuron ids) per neuron, ``route`` its route id, ``lat`` the chip-to-chip
    latency table and ``row_dy/lo/hi`` the diffuser's rows.
    """

    nc: int
    side: int
    n_chips: int
    k_targets: int
    wrap: bool
    tau_ps: float
    theta: float
    v_reset: float
    ref_ps: int
    spike_weight: float
    u: np.ndarray
    r: np.ndarray
    binf: np.ndarray
    tgt: np.ndarray
    route: np.ndarray
    route_spikes: np.ndarray
    lat: np.ndarray
    row_dy: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    epoch: int = 0

    def __post_init__(self):
        n = len(self.u)
        self.ver = np.zeros(n, np.int64)
        self.pend = np.full(n, NEVER, np.int64)

    @property
    def n(self) -> int:
        """Neurons."""
        return len(self.u)

    def potential(self, t: int) -> np.ndarray:
        """Every neuron's V at time ``t`` ps (>= the last processed event), with no input after it."""
        v = self.binf + self.u * np.exp((self.epoch - t) / self.tau_ps)
        return np.where(t < self.r, self.v_reset, v)


class Output(NamedTuple):
    """What one kernel call produced (views valid until the next call)."""

    time: np.ndarray
    kind: np.ndarray
    target: np.ndarray
    payload: np.ndarray
    prio: np.ndarray
    spike_time: np.ndarray
    spike_neuron: np.ndarray


COUNTERS = ("sops", "spikes", "arrivals", "inputs", "checks", "stale", "failed")


class CKernel:
    """The C window kernel (one call per window)."""

    backend = "c"

    def __init__(self, a: KernelArrays):
        choose_async_backend("c")
        self.a = a
        s = _ffi.new("ak_state *")
        self._keep = []

        def ptr(ctype, arr):
            buf = _ffi.from_buffer(ctype, arr)
            self._keep.append(buf)
            return buf

        s.n, s.nc, s.side, s.n_chips = a.n, a.nc, a.side, a.n_chips
        s.k_targets, s.wrap, s.n_rows = a.k_targets, int(a.wrap), len(a.row_dy)
        s.tau_ps, s.theta, s.v_reset, s.ref_ps = a.tau_ps, a.theta, a.v_reset, a.ref_ps
        s.epoch, s.spike_weight = a.epoch, weight_bits(a.spike_weight)
        s.u, s.r, s.binf = ptr("double[]", a.u), ptr("int64_t[]", a.r), ptr("double[]", a.binf)
        s.ver, s.pend = ptr("int64_t[]", a.ver), ptr("int64_t[]", a.pend)
        s.tgt, s.route = ptr("int32_t[]", a.tgt), ptr("int32_t[]", a.route)
        s.route_spikes, s.lat = ptr("int64_t[]", a.route_spikes), ptr("int64_t[]", a.lat)
        s.row_dy, s.row_lo, s.row_hi = (ptr("int32_t[]", a.row_dy), ptr("int32_t[]", a.row_lo),
                                        ptr("int32_t[]", a.row_hi))
        self._s = _ffi.gc(s, _lib.ak_release)
        self._caps = (-1, -1)
        self._views = ()

    def _check(self, rc: int) -> None:
        if rc == _lib.AK_ENOMEM:
            raise MemoryError("out of memory in the async kernel")
        if rc:
            raise NeuroEmuError("async kernel: an event's target is out of range or its kind unknown")

    def _output(self) -> Output:
        s = self._s
        caps = (s.out_cap, s.spk_cap)
        if caps != self._caps:  # the C buffers moved (grew): view them afresh
            self._caps = caps

            def view(p, dtype, cap):
                if cap == 0:
                    return np.empty(0, dtype)
                return np.frombuffer(_ffi.buffer(p, cap * np.dtype(dtype).itemsize), dtype)

            self._views = (view(s.out_time, np.int64, caps[0]), view(s.out_kind, np.int32, caps[0]),
                           view(s.out_target, np.int64, caps[0]), view(s.out_payload, np.int64, caps[0]),
                           view(s.out_prio, np.int32, caps[0]), view(s.spk_time, np.int64, caps[1]),
                           view(s.spk_neuron, np.int64, caps[1]))
        n, m = s.out_n, s.spk_n
        v = self._views
        return Output(v[0][:n], v[1][:n], v[2][:n], v[3][:n], v[4][:n], v[5][:m], v[6][:m])

    def process(self, batch, window_end: int) -> Output:
        """Handle one window's events; return the events for later and the spikes fired."""
        n = len(batch.time)
        fb = _ffi.from_buffer
        self._check(_lib.ak_process(self._s, n, fb("int64_t[]", batch.time), fb("int32_t[]", batch.priority),
                                    fb("int32_t[]", batch.kind), fb("int64_t[]", batch.target),
                                    fb("int64_t[]", batch.payload), window_end))
        return self._output()

    def predict_all(self) -> Output:
        """The first threshold check of every neuron."""
        self._check(_lib.ak_predict_all(self._s))
        return self._output()

    def rebase(self, new_epoch: int) -> None:
        """Move the epoch (every u rescaled)."""
        _lib.ak_rebase(self._s, new_epoch)
        self.a.epoch = new_epoch

    @property
    def epoch(self) -> int:
        """The current epoch (ps)."""
        return self._s.epoch

    def counters(self) -> dict[str, int]:
        """Counts so far: SOPs, spikes, arrivals, inputs, checks (stale, failed among them)."""
        return {k: int(getattr(self._s, k)) for k in COUNTERS}


class PyKernel:
    """The Python twin of the C kernel: the same steps, for reading and for checking the C one."""

    backend = "numpy"

    def __init__(self, a: KernelArrays):
        self.a = a
        self._c = dict.fromkeys(COUNTERS, 0)
        self._w = a.spike_weight
        self._wbits = weight_bits(a.spike_weight)

    # --- outputs ---
    def _reset(self) -> None:
        self._out: list[tuple[int, int, int, int, int]] = []
        self._spk: list[tuple[int, int]] = []
        self._heap: list[tuple[int, int, int, int]] = []
        self._seq = 0

    def _output(self) -> Output:
        o = np.array(self._out, np.int64).reshape(-1, 5)
        sp = np.array(self._spk, np.int64).reshape(-1, 2)
        return Output(o[:, 0].copy(), o[:, 1].astype(np.int32), o[:, 2].copy(), o[:, 3].copy(),
                      o[:, 4].astype(np.int32), sp[:, 0].copy(), sp[:, 1].copy())

    # --- the neuron, as in async_kernel.c ---
    def _predict(self, i: int) -> int:
        a = self.a
        d = float(a.binf[i]) - a.theta
        if not d > 0.0:
            return NEVER
        x = -float(a.u[i]) / d
        r = int(a.r[i])
        if not x > 0.0:
            return r
        dt = a.tau_ps * math.log(x)
        if dt > 4.0e18:
            return NEVER
        if dt < -4.0e18:
            return r
        tp = a.epoch + math.ceil(dt)
        return r if tp < r else tp

    def _schedule(self, i: int, tp: int, window_end: int) -> None:
        if tp == NEVER:
            return
        a = self.a
        a.ver[i] += 1
        a.pend[i] = tp
        if tp < window_end:
            heapq.heappush(self._heap, (tp, self._seq, i, int(a.ver[i])))
            self._seq += 1
        else:
            self._out.append((tp, KIND_CHECK, i, int(a.ver[i]), CHECK_PRIO))

    def _spike(self, i: int, t: int, window_end: int) -> None:
        a = self.a
        self._c["spikes"] += 1
        self._spk.append((t, i))
        a.ver[i] += 1
        a.pend[i] = NEVER
        rr = t + a.ref_ps
        a.r[i] = rr
        a.u[i] = (a.v_reset - float(a.binf[i])) * math.exp((rr - a.epoch) / a.tau_ps)
        a.route_spikes[a.route[i]] += 1
        src = i // a.nc
        for k in range(a.k_targets):
            c = int(a.tgt[i * a.k_targets + k])
            when = t + int(a.lat[src * a.n_chips + c // a.nc])
            self._out.append((when, KIND_ARRIVAL, c, self._wbits, i))
        self._schedule(i, self._predict(i), window_end)

    def _excite(self, i: int, t: int, g: float, window_end: int) -> None:
        a = self.a
        if float(a.u[i]) >= (a.theta - float(a.binf[i])) * g:
            self._spike(i, t, window_end)
            return
        tp = self._predict(i)
        if tp < int(a.pend[i]):
            self._schedule(i, tp, window_end)

    def _diffuse(self, t: int, centre: int, w: float, window_end: int) -> None:
        a = self.a
        side, nc = a.side, a.nc
        chip, pos = divmod(centre, nc)
        r0, c0 = divmod(pos, side)
        g = math.exp((t - a.epoch) / a.tau_ps)
        c = w * g
        for dy, dlo, dhi in zip(a.row_dy.tolist(), a.row_lo.tolist(), a.row_hi.tolist()):
            rr, lo, hi = r0 + dy, c0 + dlo, c0 + dhi
            if a.wrap:
                rr %= side
                if lo < 0:
                    segs = [(lo + side, side - 1), (0, hi)]
                elif hi >= side:
                    segs = [(lo, side - 1), (0, hi - side)]
                else:
                    segs = [(lo, hi)]
            else:
                if rr < 0 or rr >= side:
                    continue
                lo, hi = max(lo, 0), min(hi, side - 1)
                if lo > hi:
                    continue
                segs = [(lo, hi)]
            base = chip * nc + rr * side
            for lo, hi in segs:
                self._c["sops"] += hi - lo + 1
                sl = slice(base + lo, base + hi + 1)
                live = t >= a.r[sl]
                if w > 0.0:
                    for x in np.flatnonzero(live).tolist():
                        a.u[base + lo + x] += c
                        self._excite(base + lo + x, t, g, window_end)
                else:
                    a.u[sl][live] += c

    def _handle(self, t: int, kind: int, target: int, payload: int, window_end: int) -> None:
        a = self.a
        if not 0 <= target < a.n:
            raise NeuroEmuError("async kernel: an event's target is out of range or its kind unknown")
        if kind == KIND_CHECK:
            self._c["checks"] += 1
            if payload != int(a.ver[target]):
                self._c["stale"] += 1
                return
            a.pend[target] = NEVER
            tp = self._predict(target)
            if tp <= t:
                self._spike(target, t, window_end)
            else:
                self._c["failed"] += 1
                self._schedule(target, tp, window_end)
            return
        w = float(np.array(payload, np.int64).view(np.float64))
        if kind == KIND_ARRIVAL:
            self._c["arrivals"] += 1
            self._diffuse(t, target, w, window_end)
        elif kind == KIND_INPUT:
            self._c["inputs"] += 1
            self._c["sops"] += 1
            if t < int(a.r[target]):
                return
            g = math.exp((t - a.epoch) / a.tau_ps)
            a.u[target] += w * g
            if w > 0.0:
                self._excite(target, t, g, window_end)
        else:
            raise NeuroEmuError("async kernel: an event's target is out of range or its kind unknown")

    # --- the interface ---
    def process(self, batch, window_end: int) -> Output:
        """Handle one window's events; return the events for later and the spikes fired."""
        self._reset()
        times, kinds = batch.time.tolist(), batch.kind.tolist()
        targets, payloads = batch.target.tolist(), batch.payload.tolist()
        j, n = 0, len(times)
        while True:
            if j < n and (not self._heap or times[j] <= self._heap[0][0]):
                self._handle(times[j], kinds[j], targets[j], payloads[j], window_end)
                j += 1
            elif self._heap:
                t, _, i, ver = heapq.heappop(self._heap)
                self._handle(t, KIND_CHECK, i, ver, window_end)
            else:
                break
        return self._output()

    def predict_all(self) -> Output:
        """The first threshold check of every neuron."""
        self._reset()
        for i in range(self.a.n):
            tp = self._predict(i)
            self.a.pend[i] = NEVER
            self._schedule(i, tp, -(2**63))
        return self._output()

    def rebase(self, new_epoch: int) -> None:
        """Move the epoch (every u rescaled)."""
        a = self.a
        a.u *= math.exp((a.epoch - new_epoch) / a.tau_ps)
        a.epoch = new_epoch

    @property
    def epoch(self) -> int:
        """The current epoch (ps)."""
        return self.a.epoch

    def counters(self) -> dict[str, int]:
        """Counts so far: SOPs, spikes, arrivals, inputs, checks (stale, failed among them)."""
        return dict(self._c)


def make_kernel(arrays: KernelArrays, backend: str | None = None):
    """The window kernel over ``arrays``: C, or the Python twin (see :func:`choose_async_backend`)."""
    return CKernel(arrays) if choose_async_backend(backend) == "c" else PyKernel(arrays)
